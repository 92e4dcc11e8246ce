"""One range convention for every analysis: from 00:00 of the first day (in the range) up to
00:00 of the day after the last (not in it), the same in JSON and text whichever command
shows it, and a `--compare` period that ends exactly where the range starts.

The events: tests/analytics/test_trends.py's hand-made export, and a pageview at 23:59:59.5 on
06-01, which a range ending at 23:59:59 would leave out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.analytics.test_trends import PV, RECORDS
from tests.analytics_helpers import record, run_json, write_export
from tests.cli_runner import run

MIDNIGHT = "2026-06-04"
# Every analysis that takes a range, with the arguments it needs besides the range.
RANGED = {
    "trends": [PV],
    "funnel": [PV, "signup"],
    "paths": [],
    "sessions": [],
}
# Those that take only --days (a range ending at --as-of).
DAYS_ONLY = {"features": [], "activity": []}
COMPARED = {"trends": [PV], "funnel": [PV, "signup"], "features": [], "activity": []}


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    late = datetime(2026, 6, 1, 23, 59, 59, 500_000, tzinfo=UTC)
    last_second = record(len(RECORDS) + 1, PV, late, "p6", "p6", "p6@example.com")
    return write_export(tmp_path / "events.jsonl", [*RECORDS, last_second])


def _span(doc: dict) -> tuple[str, str]:
    return doc["from"], doc["to"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--days", "2"],
        ["--since", "2026-06-02", "--until", "2026-06-03"],
        ["--days", "2", "--until", "2026-06-03"],
    ],
)
def test_every_analysis_holds_the_same_range_for_the_same_flags(
    export: Path, flags: list[str]
) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    commands = {**RANGED, **(DAYS_ONLY if flags == ["--days", "2"] else {})}
    spans = {
        c: _span(run_json(c, [*a, *flags], as_of=MIDNIGHT, **env)) for c, a in commands.items()
    }
    assert set(spans.values()) == {("2026-06-02T00:00:00Z", "2026-06-04T00:00:00Z")}, spans
    for command, args in commands.items():
        text = run([command, *args, *flags, "--as-of", MIDNIGHT, "-f", "md"], **env)
        assert text.exit_code == 0, text.stderr
        # text names the days the range holds, its last one included (JSON's `to` excludes it)
        assert "2026-06-02 to 2026-06-03 \\(UTC\\)" in text.stdout, command
        assert "23:59" not in text.stdout and "to 2026-06-04" not in text.stdout, command


def test_a_datetime_until_ends_the_range_at_that_moment(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    for command, args in RANGED.items():
        doc = run_json(command, [*args, "--days", "1", "--until", "2026-06-03T12:00:00"],
                       as_of=MIDNIGHT, **env)  # fmt: skip
        assert _span(doc) == ("2026-06-02T12:00:00Z", "2026-06-03T12:00:00Z"), command


@pytest.mark.parametrize("flags", [["--days", "2"], ["--days", "3"]])
def test_the_previous_period_meets_the_range_at_midnight(export: Path, flags: list[str]) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    days = int(flags[1])
    for command, args in COMPARED.items():
        doc = run_json(command, [*args, *flags, "--compare"], as_of=MIDNIGHT, **env)
        start, end = (datetime.fromisoformat(t.rstrip("Z")) for t in _span(doc))
        before = doc["previous"]
        assert before["to"] == doc["from"], command
        assert before["from"] == f"{(start - (end - start)):%Y-%m-%dT%H:%M:%S}Z", command
        assert end - start == timedelta(days=days) and before["from"].endswith("T00:00:00Z")


def test_a_day_is_counted_to_its_last_instant(export: Path) -> None:
    """Half-open ranges lose no event in a day's last second: the previous period of a range
    and a plain run of that period count the same persons, and the two periods add up to the
    run over both."""
    env = {"USERTRACK_EVENTS": str(export)}
    steps = [PV, "signup"]
    compared = run_json("funnel", [*steps, "--days", "2", "--compare"], as_of=MIDNIGHT, **env)
    plain = run_json("funnel", [*steps, "--since", "2026-05-31", "--until", "2026-06-01"],
                     as_of=MIDNIGHT, **env)  # fmt: skip
    assert _span(plain) == _span(compared["previous"])
    assert [s["persons"] for s in plain["steps"]] == [
        s["persons"] for s in compared["previous"]["steps"]
    ]
    spans = [
        ("2026-05-25", "2026-06-01"),
        ("2026-06-02", "2026-06-03"),
        ("2026-05-25", "2026-06-03"),
    ]
    weekly = [PV, "-i", "week"]
    counts = [
        run_json("trends", [*weekly, "--since", a, "--until", b], as_of=MIDNIGHT, **env)
        for a, b in spans
    ]
    counts = [doc["series"][0]["data"] for doc in counts]
    assert sum(counts[0]) + sum(counts[1]) == sum(counts[2]) > 0
    day = run_json("trends", [PV, "--since", "2026-06-01", "--until", "2026-06-01", "-m", "dau"],
                   as_of=MIDNIGHT, **env)  # fmt: skip
    assert day["series"][0]["data"] == [3]  # p1, p2 and p6 (at 23:59:59.5)


def test_a_trends_previous_period_never_overlaps_a_range_within_a_day(export: Path) -> None:
    """PostHog's previous period keeps the range's time of day, so for a range of hours within
    one day it would be the range itself: such a range compares with the hours just before."""
    env = {"USERTRACK_EVENTS": str(export)}
    for interval in ("hour", "day"):
        doc = run_json("trends", [PV, "-i", interval, "--since", "2026-06-02T10:00:00",
                                  "--until", "2026-06-02T12:00:00", "--compare"],
                       as_of=MIDNIGHT, **env)  # fmt: skip
        assert _span(doc) == ("2026-06-02T10:00:00Z", "2026-06-02T12:00:00Z")
        assert _span(doc["previous"]) == ("2026-06-02T08:00:00Z", "2026-06-02T10:00:00Z")


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        ("2026-11-16T00:00", "2026-11-23T00:00", "2026-11-16 to 2026-11-22 (UTC)"),
        ("2026-11-16T00:00", "2026-11-22T23:59:59.999999", "2026-11-16 to 2026-11-22 (UTC)"),
        ("2026-11-22T00:00", "2026-11-23T00:00", "2026-11-22 (UTC)"),
        ("2026-11-16T00:00", "2026-11-22T12:30", "2026-11-16 00:00 UTC to 2026-11-22 12:30 UTC"),
    ],
)
def test_a_range_of_days_is_written_with_its_last_day(start: str, end: str, shown: str) -> None:
    """The weekly page wrote its week's last day (Nov 16 to Nov 22) and every other text the
    day after it (Nov 16 to Nov 23 00:00), so one range read as two."""
    from usertrack.core.style import span

    assert span(datetime.fromisoformat(start), datetime.fromisoformat(end)) == shown


def test_an_analysis_page_writes_its_days_as_the_weekly_page_does(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    for command, args in RANGED.items():
        flags = [*args, "--days", "2", "--as-of", MIDNIGHT]
        doc = run_json(command, [*args, "--days", "2"], as_of=MIDNIGHT, **env)
        assert doc["to"] == "2026-06-04T00:00:00Z"  # JSON keeps the end it holds up to
        page = run([command, *flags, "-f", "html", "--out", "-"], **env)
        assert page.exit_code == 0, page.stderr
        assert '<p class="period">2026-06-02 to 2026-06-03 (UTC)</p>' in page.stdout, command
        assert "<title>usertrack " + command + " 2026-06-02 to 2026-06-03</title>" in page.stdout
