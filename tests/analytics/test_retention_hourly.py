"""`usertrack retention --period hour`: cohorts of UTC hours (PostHog's `period: "Hour"`,
toStartOfHour), on the local engine (where the per-day shortcut steps aside) and live, with
--persons cells, --cumulative and --min-occurrences, the table's labels and what is refused."""

from __future__ import annotations

import json
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
    run_ok,
    write_export,
)
from tests.cli_runner import run
from usertrack.engines.local import retention_rollups

AS_OF = "2026-06-02T12:00:00"
HOURS = ["--period", "hour", "--periods", "4", "--start", "signup"]

EVENTS = [
    # h1: signs up at 08:15, back at 09:05 (hour 1) and 11:59 (hour 3), twice at 11:00 and 11:59
    ("signup", "2026-06-02T08:15:00", "h1"),
    ("ping", "2026-06-02T09:05:00", "h1"),
    ("ping", "2026-06-02T11:00:00", "h1"),
    ("ping", "2026-06-02T11:59:59", "h1"),
    # h2: signs up on the last second of 08:00's hour, back on the first of 09:00's
    ("signup", "2026-06-02T08:59:59", "h2"),
    ("ping", "2026-06-02T09:00:00", "h2"),
    # h3: the 10:00 cohort, never back; an event after the as-of is not counted
    ("signup", "2026-06-02T10:30:00", "h3"),
    ("ping", "2026-06-02T12:30:00", "h3"),
    # h4: signed up the day before: not a first-timer of these hours
    ("signup", "2026-06-01T08:30:00", "h4"),
    ("ping", "2026-06-02T09:30:00", "h4"),
]
RECORDS = [
    record(n, event, datetime.fromisoformat(when).replace(tzinfo=UTC), who, who,
           f"{who}@example.com")
    for n, (event, when, who) in enumerate(EVENTS, 1)
]  # fmt: skip

# By hand: 08:00 = {h1, h2}: hour 1 both, hour 2 none, hour 3 h1. 09:00 none. 10:00 = {h3}.
# 11:00 none.
COHORTS = [
    ("2026-06-02T08:00:00Z", 2, [2, 2, 0, 1]),
    ("2026-06-02T09:00:00Z", 0, [0, 0, 0]),
    ("2026-06-02T10:00:00Z", 1, [1, 0]),
    ("2026-06-02T11:00:00Z", 0, [0]),
]


def cohorts(doc: dict[str, Any]) -> list[tuple[str, int, list[int]]]:
    return [(c["start"], c["size"], c["retained"]) for c in doc["cohorts"]]


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


cli_json = partial(run_json, "retention", as_of=AS_OF)


def test_hour_cohorts_on_both_engines(export: Path, tmp_path: Path) -> None:
    local = cli_json(HOURS, USERTRACK_EVENTS=str(export))
    assert local["period"] == "hour" and "week_start" not in local
    assert cohorts(local) == COHORTS
    # the hours after the cohort's, averaged over the cohorts whose hour k has ended
    assert [(p["period"], p["size"], p["persons"]) for p in local["average"]] == [
        (0, 3, 3),
        (1, 3, 2),
        (2, 2, 0),
        (3, 2, 1),
    ]
    # --cumulative: h2, back in hour 1 only, is not in hour 3; h1 counts in hours 1 to 3
    cumulative = cli_json([*HOURS, "--cumulative"], USERTRACK_EVENTS=str(export))
    assert cohorts(cumulative)[0] == ("2026-06-02T08:00:00Z", 2, [2, 2, 1, 1])
    # --min-occurrences 2: only h1's two events in 11:00's hour are a return
    twice = cli_json([*HOURS, "--min-occurrences", "2"], USERTRACK_EVENTS=str(export))
    assert cohorts(twice)[0] == ("2026-06-02T08:00:00Z", 2, [2, 0, 0, 1])
    recurring = cli_json([*HOURS, "--mode", "recurring"], USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (_, env):
        assert cli_json(HOURS, **env) == local
        assert cli_json([*HOURS, "--cumulative"], **env) == cumulative
        assert cli_json([*HOURS, "--min-occurrences", "2"], **env) == twice
        assert cli_json([*HOURS, "--mode", "recurring"], **env) == recurring


def test_the_per_day_shortcut_steps_aside_for_hours() -> None:
    """The events store's per-day table cannot tell hours apart: its gate lets hours run the
    file as written, and still takes days, weeks and months."""
    values = {"start_event": "signup", "min_occurrences": 1, "week_start": "monday"}
    assert not retention_rollups.applies({**values, "period": "hour"})
    for period in ("day", "week", "month"):
        assert retention_rollups.applies({**values, "period": period})


def test_hour_cohorts_read_as_day_and_hour(export: Path) -> None:
    md = run_ok("retention", [*HOURS, "-f", "md"], as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert "| Cohort | Size | Hour 0 | Hour 1 | Hour 2 | Hour 3 |" in md.stdout
    assert "| Jun 02 08:00 | 2 | 2 · 100.0% | 2 · 100.0% | 0 · 0.0% | 1 · 50.0% |" in md.stdout
    csv = run_ok("retention", [*HOURS, "-f", "csv"], as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert "range,2026-06-02T08:00,2,3,1,50.0" in csv.stdout.splitlines()
    table = run_ok("retention", HOURS, as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert "Jun 02 10:00" in table.stdout


def test_persons_of_an_hour_cell(export: Path, tmp_path: Path) -> None:
    def emails(doc: dict[str, Any]) -> list[str]:
        return sorted(r["email"] for r in doc["persons"])

    env = {"USERTRACK_EVENTS": str(export)}
    cohort = cli_json([*HOURS, "--persons", "2026-06-02T08:00"], **env)
    assert cohort["cell"] == "2026-06-02T08:00"
    assert emails(cohort) == ["h1@example.com", "h2@example.com"]
    back = cli_json([*HOURS, "--persons", "2026-06-02T08:00:hour3"], **env)
    assert back["cell"] == "2026-06-02T08:00:hour3" and emails(back) == ["h1@example.com"]
    assert emails(cli_json([*HOURS, "--persons", "2026-06-02T08:00:00:1"], **env)) == [
        "h1@example.com",
        "h2@example.com",
    ]
    with live_posthog(export, tmp_path) as (_, live):
        assert cli_json([*HOURS, "--persons", "2026-06-02T08:00:hour3"], **live) == back


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--period", "minute"], "--period 'minute' is not one of hour, day, week, month"),
        (["--period", "hour", "--week-start", "sunday"], "--week-start sunday goes with"),
        ([*HOURS, "--persons", "2026-06-02T08:00:hour4"], "2026-06-02T08:00[:hour1-3]"),
        ([*HOURS, "--persons", "2026-06-02T08:00:day1"], "--persons"),
        ([*HOURS, "--persons", "2026-06-02T07:00"], "--persons"),
    ],
)
def test_what_hours_refuse(export: Path, args: list[str], fragment: str) -> None:
    argv = ["retention", *args, "--as-of", AS_OF]
    assert_usage_error(argv, fragment, USERTRACK_EVENTS=str(export))


def test_an_hourly_panel_answers_as_the_command(fixed_demo_home: Path, tmp_path: Path) -> None:
    """A dashboard panel takes `period: hour` as the command does: its answer is the
    command's at the panel's as-of, and its summary and chart name the cohorts by day and hour."""
    board = tmp_path / "hours.yaml"
    board.write_text(
        "title: Hours\npanels:\n  - analysis: retention\n    title: By the hour\n"
        "    period: hour\n    periods: 6\n    start: any\n    mode: recurring\n",
        encoding="utf-8",
    )
    argv = ["report", str(board), "--no-save"]
    result = run([*argv, "-f", "json", "--out", str(tmp_path / "b.json")], fixed_demo_home)
    assert result.exit_code == 0, result.stderr
    (panel,) = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["panels"]
    data = panel["data"]
    args = ["retention", "--period", "hour", "--periods", "6", "--start", "any", "--mode",
            "recurring", "-f", "json"]  # fmt: skip
    command = run([*args, "--as-of", data["as_of"]], fixed_demo_home)
    assert command.exit_code == 0, command.stderr
    assert data == json.loads(command.stdout)
    assert [c["start"][11:] for c in data["cohorts"]] == [f"{h}:00:00Z" for h in range(18, 24)]
    assert "Latest cohort (" in panel["summary"] and ":00:00Z" not in panel["summary"]
    html = run([*argv, "-f", "html", "--out", str(tmp_path / "b.html")], fixed_demo_home)
    assert html.exit_code == 0, html.stderr
    page = (tmp_path / "b.html").read_text(encoding="utf-8")
    labels = [f"{datetime.fromisoformat(c['start']):%b %d %H:%M}" for c in data["cohorts"]]
    assert labels[0].endswith("18:00") and all(label in page for label in labels)
    assert data["cohorts"][0]["start"] not in page
