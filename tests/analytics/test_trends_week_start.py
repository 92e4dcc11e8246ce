"""`trends --interval week --week-start sunday`: weeks from Sunday, as a PostHog project whose
week start was never set has them (utils/query_date_range.py), on the local engine and live,
for the counts, the persons and the per-actor maths, a --persons week, a dashboard panel and
the MCP tool; ISO weeks from Monday stay the default.

The range is --since 2026-05-30 (a Saturday) --until 2026-06-09; 2026-05-31 and 2026-06-07
are Sundays."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import (
    assert_usage_error,
    live_posthog,
    record,
    run_json,
    write_export,
)
from tests.cli_runner import run
from usertrack.dashboards.compute import command_lines
from usertrack.dashboards.spec import load

AS_OF = "2026-06-10T12:00:00"
WEEKS = ["$pageview", "--interval", "week", "--since", "2026-05-30", "--until", "2026-06-09"]
SUNDAY = [*WEEKS, "--week-start", "sunday"]

EVENTS = [
    ("2026-05-30T10:00:00", "p1"),  # Saturday: Sunday 05-24's week, Monday 05-25's
    ("2026-05-31T10:00:00", "p1"),  # Sunday: its own week; Monday 05-25's
    ("2026-05-31T23:59:59", "p2"),
    ("2026-06-01T00:00:00", "p2"),  # Monday: Sunday 05-31's week, Monday 06-01's
    ("2026-06-07T12:00:00", "p3"),  # Sunday: its own week; Monday 06-01's
    ("2026-06-08T09:00:00", "p1"),  # Monday: Sunday 06-07's week, Monday 06-08's
]
RECORDS = [
    record(n, "$pageview", datetime.fromisoformat(when).replace(tzinfo=UTC), who, who,
           f"{who}@example.com")
    for n, (when, who) in enumerate(EVENTS, 1)
]  # fmt: skip

cli_json = partial(run_json, "trends", as_of=AS_OF)


def points(doc: dict[str, Any]) -> list[str]:
    return [p[:10] for p in doc["points"]]


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


def test_weeks_from_sunday_on_both_engines(export: Path, tmp_path: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    sunday = cli_json(SUNDAY, **env)
    assert sunday["week_start"] == "sunday"
    assert points(sunday) == ["2026-05-24", "2026-05-31", "2026-06-07"]
    assert sunday["series"][0]["data"] == [1, 3, 2]
    persons = cli_json([*SUNDAY, "--math", "dau"], **env)
    assert persons["series"][0]["data"] == [1, 2, 2]
    # ISO weeks stay the default, and say nothing of their first day
    monday = cli_json(WEEKS, **env)
    assert "week_start" not in monday
    assert points(monday) == ["2026-05-25", "2026-06-01", "2026-06-08"]
    assert monday["series"][0]["data"] == [3, 2, 1]
    per_actor = cli_json([*SUNDAY, "--math", "max_count_per_actor"], **env)
    assert per_actor["series"][0]["data"] == [1, 2, 1]  # p2's two in 05-31's week
    with live_posthog(export, tmp_path) as (_, live):
        assert cli_json(SUNDAY, **live) == sunday
        assert cli_json([*SUNDAY, "--math", "dau"], **live) == persons
        assert cli_json([*SUNDAY, "--math", "max_count_per_actor"], **live) == per_actor
        assert cli_json(WEEKS, **live) == monday


def test_the_persons_of_a_sunday_week(export: Path, tmp_path: Path) -> None:
    def emails(doc: dict[str, Any]) -> list[str]:
        return sorted(r["email"] for r in doc["persons"])

    args = [*SUNDAY, "--persons", "2026-05-31"]
    local = cli_json(args, USERTRACK_EVENTS=str(export))
    assert emails(local) == ["p1@example.com", "p2@example.com"]
    with live_posthog(export, tmp_path) as (_, live):
        assert emails(cli_json(args, **live)) == emails(local)
    # a Monday is no point of Sunday weeks
    assert_usage_error(
        ["trends", *SUNDAY, "--persons", "2026-06-01", "--as-of", AS_OF],
        "--persons",
        USERTRACK_EVENTS=str(export),
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([*WEEKS[:1], "--interval", "hour", "--week-start", "sunday"], "--week-start sunday"),
        ([*WEEKS, "--week-start", "friday"], "--week-start 'friday' is not one of monday, sunday"),
    ],
)
def test_what_week_starts_refuse(export: Path, args: list[str], fragment: str) -> None:
    assert_usage_error(["trends", *args, "--as-of", AS_OF], fragment, USERTRACK_EVENTS=str(export))


def test_a_trends_panel_and_the_mcp_tool_take_week_start(tmp_path: Path) -> None:
    """--week-start, declared once (usertrack/cli/options.py), reaches a trends panel and the
    trends MCP tool."""
    from typer.main import get_command

    from usertrack.cli import app
    from usertrack.mcp import server as mcp_server

    path = tmp_path / "board.yaml"
    path.write_text(
        "title: t\npanels:\n  - analysis: trends\n    title: Weeks\n    events: [$pageview]\n"
        "    interval: week\n    week_start: sunday\n",
        encoding="utf-8",
    )
    (line,) = command_lines(load(path), get_command(app))
    assert sorted(line[:2]) == ["--interval=week", "--week-start=sunday"]
    mcp_server.use_app(app)
    schema = mcp_server.tools(allow_act=False)["trends"].schema["properties"]
    assert schema["week_start"]["type"] == "string"


def test_a_sunday_table(export: Path) -> None:
    table = run(["trends", *SUNDAY, "--as-of", AS_OF, "-f", "md"], home=None,
                USERTRACK_EVENTS=str(export))  # fmt: skip
    assert table.exit_code == 0, table.stderr
    assert "from 2026-05-30" in table.stdout and "2026-06-07" in table.stdout
