"""A dashboard panel takes the options that ask a list across users instead of the command's
answer (`tools --by-user`, `failures --runs`, `sessions --pages`, ...): the panel holds the rows
the command's `-f json` gives, shown as a table in Markdown and HTML, with no chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli_runner import run

BOARD = """\
title: Lists
period:
  days: 7
panels:
  - analysis: tools
    title: Tool calls by user
    by_user: true
  - analysis: failures
    title: Failed runs
    runs: true
  - analysis: sessions
    title: Pages
    pages: true
    top: 5
  - analysis: tools
    title: Power users' code
    executions: true
    segment: power_user
"""

AS_OF = "2026-11-16"


def _command(home: Path, *args: str) -> dict[str, Any]:
    result = run(["-q", *args, "--as-of", AS_OF, "-f", "json"], home=home)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_list_panels_hold_the_commands_rows(fixed_demo_home: Path, tmp_path: Path) -> None:
    board = tmp_path / "lists.yaml"
    board.write_text(BOARD, encoding="utf-8")
    answer = run(
        ["-q", "report", str(board), "-f", "json", "--out", "-", "--as-of", AS_OF],
        home=fixed_demo_home,
    )
    assert answer.exit_code == 0, answer.stderr
    panels = json.loads(answer.stdout)["panels"]
    asked = [
        ("tools", "--by-user", "--days", "7"),
        ("failures", "--runs", "--days", "7"),
        ("sessions", "--pages", "--days", "7", "--top", "5"),
        ("tools", "--executions", "--days", "7", "--segment", "power_user"),
    ]
    for panel, args in zip(panels, asked, strict=True):
        assert panel["data"] == _command(fixed_demo_home, *args), args
        assert panel["data"]["rows"], args
        assert panel["chart_alt"] is None  # a list is read row by row
    assert panels[0]["summary"] == "The first 25 rows: there are more."
    assert panels[2]["data"]["list"] == "pages" and len(panels[2]["data"]["rows"]) == 5
    first = panels[1]["data"]["rows"][0]
    for fmt in ("md", "html"):
        out = tmp_path / f"lists.{fmt}"
        shown = run(["-q", "report", str(board), "--out", str(out), "--as-of", AS_OF],
                    home=fixed_demo_home)  # fmt: skip
        assert shown.exit_code == 0, shown.stderr
        text = out.read_text(encoding="utf-8")
        assert first["email"] in text and str(first["run_id"]) in text, fmt
        assert ("Failed at" in text) and ("Visitors" in text), fmt  # the lists' column headers


def test_two_lists_in_one_panel_are_refused_as_the_command_refuses_them(
    fixed_demo_home: Path, tmp_path: Path
) -> None:
    board = tmp_path / "two.yaml"
    board.write_text(
        "title: Two\npanels:\n  - analysis: tools\n    title: Both\n    by_user: true\n"
        "    custom: true\n"
        "  - analysis: sessions\n    title: Pages of Chrome\n    pages: true\n"
        "    where: [\"properties.$browser = 'Chrome'\"]\n",
        encoding="utf-8",
    )
    refused = run(["-q", "report", str(board), "-f", "json", "--out", "-"], home=fixed_demo_home)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"usertrack: error: {board}:3: panel 'Both': --by-user and --custom do not go together"
    )
    command = run(["-q", "tools", "--by-user", "--custom"], home=fixed_demo_home)
    assert command.exit_code == 2
    assert "--by-user and --custom do not go together" in command.stderr
    board.write_text(board.read_text().replace("    custom: true\n", ""), encoding="utf-8")
    refused = run(["-q", "report", str(board), "-f", "json", "--out", "-"], home=fixed_demo_home)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.strip().endswith(
        "panel 'Pages of Chrome': --pages and --where do not go together"
    )
