"""`--breakdown-limit N`: with --by, keep this many values, one name on every analysis. retention
and trends keep ten by default (PostHog's is 25) and still take `--top`, its old name there, on
the command line and as a dashboard panel's `top`; the MCP tools take `breakdown_limit`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run, run_board, run_json

AS_OF = "2026-11-16"
RETENTION = ["retention", "--by", "$browser"]
TRENDS = ["trends", "$pageview", "--by", "$browser", "--days", "14"]


def _json(home: Path, *args: str) -> dict[str, Any]:
    return run_json(home, *args, "--as-of", AS_OF)


def _values(doc: dict[str, Any]) -> list[str]:
    """The --by values an answer kept (not its rest): retention's curves, trends' series."""
    if "breakdown" in doc:
        return [b["value"] for b in doc["breakdown"] if b["value"] != "(other)"]
    return [s["breakdown"] for s in doc["series"] if not s["other"]]


@pytest.mark.parametrize("command", [RETENTION, TRENDS], ids=["retention", "trends"])
def test_breakdown_limit_keeps_that_many_values_and_top_still_works(
    fixed_demo_home: Path, command: list[str]
) -> None:
    every = _json(fixed_demo_home, *command, "--breakdown-limit", "100")
    assert len(_values(every)) > 2  # the demo has more values than the limit keeps
    kept = _json(fixed_demo_home, *command, "--breakdown-limit", "2")
    assert _values(kept) == _values(every)[:2]
    assert _json(fixed_demo_home, *command, "--top", "2") == kept
    default = _json(fixed_demo_home, *command)
    assert len(_values(default)) == min(10, len(_values(every)))


@pytest.mark.parametrize("command", [RETENTION, TRENDS], ids=["retention", "trends"])
def test_breakdown_limit_and_top_disagreeing_is_a_usage_error(
    fixed_demo_home: Path, command: list[str]
) -> None:
    result = run(
        ["-q", *command, "--breakdown-limit", "2", "--top", "3", "--as-of", AS_OF],
        home=fixed_demo_home,
    )
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert "--top is --breakdown-limit's old name" in result.stderr
    assert "--breakdown-limit 2 and --top 3" in result.stderr
    assert result.stdout == ""
    bad = run(["-q", *command, "--breakdown-limit", "0", "--as-of", AS_OF], home=fixed_demo_home)
    assert bad.exit_code == 2 and "--breakdown-limit" in bad.stderr, bad.stderr


BOARD = """\
title: Breakdown limits
period:
  days: 14
panels:
  - analysis: retention
    title: Old name
    by: $browser
    top: 2
  - analysis: retention
    title: New name
    by: $browser
    breakdown_limit: 2
  - analysis: trends
    title: Old name
    events: [$pageview]
    by: [$browser]
    top: 2
  - analysis: trends
    title: New name
    events: [$pageview]
    by: [$browser]
    breakdown_limit: 2
"""


def test_a_panel_takes_breakdown_limit_and_its_old_name_top(
    fixed_demo_home: Path, tmp_path: Path
) -> None:
    board = tmp_path / "limits.yaml"
    panels = run_board(fixed_demo_home, board, "--as-of", AS_OF, text=BOARD)["panels"]
    old_retention, new_retention, old_trends, new_trends = (p["data"] for p in panels)
    assert len(_values(old_retention)) == 2 and old_retention == new_retention
    assert len(_values(old_trends)) == 2 and old_trends == new_trends


def test_the_mcp_tools_take_breakdown_limit_not_top() -> None:
    from usertrack.cli import app
    from usertrack.mcp import server as mcp_server

    mcp_server.use_app(app)
    tools = mcp_server.tools(allow_act=False)
    for name in ("retention", "trends"):
        schema = tools[name].schema["properties"]
        assert "top" not in schema, name
        limit = schema["breakdown_limit"]
        assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 100), name
        assert "retention and trends keep 10" in limit["description"], name
        assert "--breakdown-limit" in limit["description"], name
