"""A dashboard panel takes the options that ask a list across users instead of the command's
answer (`tools --by-user`, `failures --runs`, `sessions --pages`, ...): the panel holds the rows
the command's `-f json` gives, shown as a table in Markdown and HTML, with no chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli_runner import board_refused, run, run_board, run_json

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
    return run_json(home, *args, "--as-of", AS_OF)


def test_list_panels_hold_the_commands_rows(fixed_demo_home: Path, tmp_path: Path) -> None:
    board = tmp_path / "lists.yaml"
    panels = run_board(fixed_demo_home, board, "--as-of", AS_OF, text=BOARD)["panels"]
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
    assert board_refused(fixed_demo_home, board).strip() == (
        f"usertrack: error: {board}:3: panel 'Both': --by-user and --custom do not go together"
    )
    command = run(["-q", "tools", "--by-user", "--custom"], home=fixed_demo_home)
    assert command.exit_code == 2
    assert "--by-user and --custom do not go together" in command.stderr
    board.write_text(board.read_text().replace("    custom: true\n", ""), encoding="utf-8")
    refused = board_refused(fixed_demo_home, board)
    assert refused.strip().endswith(
        "panel 'Pages of Chrome': --pages and --where do not go together"
    )


ALERTS = """\
title: Alerts
period:
  days: 7
panels:
  - analysis: alerts
    title: Trial users' alerts
    plan: [trialing]
  - analysis: alerts
    title: Active now
    active: true
  - analysis: alerts
    title: Every alert
"""


def test_alerts_panels_take_plan_active_within_and_active(demo_home: Path, tmp_path: Path) -> None:
    board = tmp_path / "alerts.yaml"
    # At the end of today's demo, when people are active (the last hour of the data).
    trial, active, every = (p["data"] for p in run_board(demo_home, board, text=ALERTS)["panels"])
    people = [a for a in trial["alerts"] if a.get("email")]
    assert people and {a["plan"] for a in people} == {"trialing"}
    everyone = [a for a in every["alerts"] if a.get("email")]
    assert {a["plan"] for a in everyone} > {"trialing"}
    # The same pass's alerts, those of other plans left out (the project's own alerts stay).
    assert trial["alerts"] == [
        a for a in every["alerts"] if not a.get("email") or a.get("plan") == "trialing"
    ]
    # Everyone active now, as `alerts --active` lists them (the triggers aside: a panel's
    # "entered a segment" is measured from its period's start).
    command = run_json(demo_home, "alerts", "--active")
    seen = [(p["email"], p["current_page"], p["day_events"]) for p in active["people"]]
    assert seen and seen == [
        (p["email"], p["current_page"], p["day_events"]) for p in command["people"]
    ]
    md = tmp_path / "alerts.md"
    shown = run(["-q", "report", str(board), "--out", str(md)], home=demo_home)
    assert shown.exit_code == 0, shown.stderr
    text = md.read_text(encoding="utf-8")
    assert f"{len(seen)} persons active in the 60 minutes" in text
    assert f"| {seen[0][0]} |" in text
    board.write_text(
        ALERTS.replace("plan: [trialing]", "plan: [trialing]\n    active_within: soon"),
        encoding="utf-8",
    )
    assert board_refused(demo_home, board).strip() == (
        f"usertrack: error: {board}:5: panel \"Trial users' alerts\": --active-within 'soon' is"
        " not a duration like 60s, 10m or 1h"
    )


def test_a_segments_panel_takes_overview(fixed_demo_home: Path, tmp_path: Path) -> None:
    board = tmp_path / "overview.yaml"
    text = "title: Users\npanels:\n  - analysis: segments\n    title: At a glance\n"
    text += "    overview: true\n"
    answer = run_board(fixed_demo_home, board, "--as-of", AS_OF, text=text)
    (panel,) = answer["panels"]
    # The week's end: the dashboard's moment (the ISO week holding --as-of, Monday to Monday).
    command = run_json(fixed_demo_home, "segments", "--overview", "--as-of", answer["to"])
    assert panel["data"] == command
    assert panel["data"]["users"] > 0 and panel["chart_alt"] is None
    md = tmp_path / "overview.md"
    shown = run(["-q", "report", str(board), "--out", str(md), "--as-of", AS_OF],
                home=fixed_demo_home)  # fmt: skip
    assert shown.exit_code == 0, shown.stderr
    assert f"| Users | {panel['data']['users']:,} |" in md.read_text(encoding="utf-8")
    board.write_text(board.read_text() + "    segment: failing\n", encoding="utf-8")
    refused = board_refused(fixed_demo_home, board)
    assert refused.strip().endswith(
        "panel 'At a glance': --overview and --segment do not go together"
    )
