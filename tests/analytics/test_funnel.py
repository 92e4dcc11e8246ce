"""The funnel on a hand-made events export: library, CLI and the live HTTP path.

Every expected figure is worked out here from the events below (docs/metrics.md, "Funnel"),
never copied from output. The funnel is signup -> start -> create, over May 2026.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from tests.analytics_helpers import (
    assert_imports_no_terminal_libraries,
    assert_usage_error,
    live_posthog,
    record,
    run_json,
    run_ok,
    write_export,
)
from tests.cli_runner import run
from usertrack.analytics.common import date_range, parse_period, parse_window
from usertrack.core.errors import UsageError

AS_OF = "2026-06-01"
STEPS = ["signup", "start", "create"]
RANGE = ["--since", "2026-05-01", "--until", "2026-05-31"]
D = datetime(2026, 5, 10, tzinfo=UTC)
H = timedelta(hours=1)
DAY = timedelta(days=1)


PERSONS = {
    "p1": "ann@example.com",
    "p2": "bob@example.com",
    "p3": "cat@example.com",
    "p4": "dan@example.com",
    "p5": "eve@example.com",
    "p6": "zed@datagen.dev",
    "p7": "old@example.com",
    "p8": "fay@example.com",
}
EVENTS = [
    # ann, two distinct_ids: start and create share a timestamp (create's time to convert is 0)
    ("signup", D + 10 * H, "a1", "p1", None),
    ("start", D + 10 * H + timedelta(minutes=5), "a2", "p1", "pro"),
    ("create", D + 10 * H + timedelta(minutes=5), "a2", "p1", None),
    # bob skips start: his create fills nothing
    ("signup", D + 9 * H, "b1", "p2", "free"),
    ("create", D + 9 * H + timedelta(minutes=30), "b1", "p2", None),
    # cat: start exactly one day after signup (inside a 1d window), create a second later (outside)
    ("signup", D + 8 * H, "c1", "p3", None),
    ("start", D + DAY + 8 * H, "c1", "p3", None),
    ("create", D + DAY + 8 * H + timedelta(seconds=1), "c1", "p3", None),
    # dan: two attempts; start advances the most recent one (12:00), so 1 h, not 13 h
    ("signup", D, "d1", "p4", "free"),
    ("signup", D + 12 * H, "d1", "p4", "pro"),
    ("start", D + 13 * H, "d1", "p4", None),
    ("create", D + 14 * H, "d1", "p4", None),
    # eve: signup and start at the same second
    ("signup", D + 7 * H, "e1", "p5", "pro"),
    ("start", D + 7 * H, "e1", "p5", None),
    # zed is internal: left out
    ("signup", D, "z1", "p6", None),
    ("start", D + H, "z1", "p6", None),
    ("create", D + 2 * H, "z1", "p6", None),
    # old: signup the second before the range; the range bounds every step
    ("signup", datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC), "o1", "p7", None),
    ("start", datetime(2026, 5, 1, 0, 0, 1, tzinfo=UTC), "o1", "p7", None),
    # fay: a start without a signup
    ("start", D, "f1", "p8", None),
]
RECORDS = [
    record(n, e, when, did, pid, PERSONS[pid], {"plan": plan} if plan else {})
    for n, (e, when, did, pid, plan) in enumerate(EVENTS, 1)
]

# Worked out by hand from EVENTS with a 1-day window: furthest steps ann 3, bob 1, cat 2,
# dan 3, eve 2. Times to convert (> 0 only): start ann 300 s, cat 86400 s, dan 3600 s (eve 0);
# create dan 3600 s (ann 0).
START_TIMES = [300, 3600, 86400]
EXPECTED_STEPS = [
    {"event": "signup", "persons": 5, "conversion_from_previous": 100.0,
     "conversion_from_start": 100.0, "drop_off": 0, "average_seconds_to_convert": None,
     "median_seconds_to_convert": None},
    {"event": "start", "persons": 4, "conversion_from_previous": 80.0,
     "conversion_from_start": 80.0, "drop_off": 1,
     "average_seconds_to_convert": round(sum(START_TIMES) / 3, 1),
     "median_seconds_to_convert": 3600.0},
    {"event": "create", "persons": 2, "conversion_from_previous": 50.0,
     "conversion_from_start": 40.0, "drop_off": 2, "average_seconds_to_convert": 3600.0,
     "median_seconds_to_convert": 3600.0},
]  # fmt: skip
# First touch: ann's first valued event is start (pro); bob free; cat none; dan's first signup
# (free); eve pro.
BREAKDOWN = {"pro": [2, 2, 1], "free": [2, 1, 1], "": [1, 1, 0]}


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


cli_json = partial(run_json, "funnel", as_of=AS_OF)


def test_funnel_through_the_cli(export: Path) -> None:
    doc = cli_json([*STEPS, *RANGE, "--window", "1d", "--by", "plan"], USERTRACK_EVENTS=str(export))
    assert doc["as_of"] == "2026-06-01T00:00:00Z"
    assert doc["window_seconds"] == 86400
    assert doc["steps"] == EXPECTED_STEPS
    got = {b["value"]: [s["persons"] for s in b["steps"]] for b in doc["breakdown"]}
    assert got == BREAKDOWN
    # each value's steps follow the same definitions: free's start is dan's 3600 s
    free = next(b for b in doc["breakdown"] if b["value"] == "free")
    assert free["steps"][1]["median_seconds_to_convert"] == 3600.0
    assert free["steps"][1]["conversion_from_previous"] == 50.0


def test_default_window_lets_cat_convert(export: Path) -> None:
    # 14 days: cat's create, one day and a second after her signup, now counts.
    doc = cli_json([*STEPS, *RANGE], USERTRACK_EVENTS=str(export))
    assert [s["persons"] for s in doc["steps"]] == [5, 4, 3]
    assert doc["window_seconds"] == 14 * 86400
    # create times (> 0): cat 1 s, dan 3600 s
    assert doc["steps"][2]["average_seconds_to_convert"] == round((1 + 3600) / 2, 1)
    assert doc["steps"][2]["median_seconds_to_convert"] == round((1 + 3600) / 2, 1)


def test_dropped_lists_who_stopped(export: Path) -> None:
    args = [*STEPS, *RANGE, "--window", "1d"]
    at_create = cli_json([*args, "--dropped", "create"], USERTRACK_EVENTS=str(export))
    assert at_create["step"] == 3 and at_create["previous_event"] == "start"
    emails = [p["email"] for p in at_create["persons"]]
    # newest first: cat reached start on May 11 08:00, eve on May 10 07:00
    assert emails == ["cat@example.com", "eve@example.com"]
    assert at_create["persons"][0]["reached_previous_at"] == "2026-05-11T08:00:00Z"
    at_start = cli_json([*args, "--dropped", "2"], USERTRACK_EVENTS=str(export))
    assert [p["email"] for p in at_start["persons"]] == ["bob@example.com"]
    csv_out = run(["funnel", *args, "--dropped", "create", "--as-of", AS_OF, "-f", "csv"],
                  USERTRACK_EVENTS=str(export))  # fmt: skip
    assert csv_out.stdout.splitlines()[1].startswith("cat@example.com,p3,")


def test_same_answers_through_the_live_http_path(export: Path, tmp_path: Path) -> None:
    args = [*STEPS, *RANGE, "--window", "1d", "--by", "plan"]
    local = cli_json(args, USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (fake, env):
        live = cli_json(args, **env)
        dropped = cli_json([*STEPS, *RANGE, "--window", "1d", "--dropped", "create"], **env)
        sent = fake.query_texts()
    assert live == local
    assert [p["email"] for p in dropped["persons"]] == ["cat@example.com", "eve@example.com"]
    # the step names and the property travel as bound values, never in the query text
    assert all("signup" not in t and "plan" not in t for t in sent)


def test_table_and_md_say_when_no_one_reached_a_step(export: Path) -> None:
    args = ["funnel", "signup", "nothing_like_this", *RANGE, "--as-of", AS_OF]
    table = run(args, USERTRACK_EVENTS=str(export))
    assert table.exit_code == 0, table.stderr
    assert "no one reached it" in table.stdout
    md = run([*args, "-f", "md"], USERTRACK_EVENTS=str(export))
    assert "| 2 | nothing_like_this | 0 | 0.0% | 0.0% | 5 | - | - |" in md.stdout
    assert "No one reached: nothing_like_this." in md.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--window", "5x"], "--window '5x' is not a window"),
        (["--dropped", "nope"], "--dropped 'nope' is not a step"),
        (["--dropped", "user_signed_up"], "is the first step"),
        (["signup"], "at least two steps"),
        (["--days", "3", "--since", "2026-05-01"], "--days and --since"),
        (["--since", "May"], "--since 'May' is not a date"),
    ],
)
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    assert_usage_error(["funnel", *args, "--as-of", AS_OF], fragment, USERTRACK_EVENTS=str(export))


def test_windows_periods_and_ranges() -> None:
    assert parse_window("14d") == timedelta(days=14)
    assert parse_window("1h") == timedelta(hours=1)
    assert parse_window("30m") == timedelta(minutes=30)
    assert parse_window("2w") == timedelta(days=14)
    assert parse_window("1mo") == timedelta(days=31)  # PostHog's funnel month
    with pytest.raises(UsageError):
        parse_window("0d")
    with pytest.raises(UsageError, match="--period 'year'"):
        parse_period("year")
    as_of = datetime(2026, 6, 1, 12, tzinfo=UTC)
    span = date_range(as_of, until="2026-05-31", since="2026-05-01")
    assert span.start == datetime(2026, 5, 1, tzinfo=UTC)
    assert span.end == datetime(2026, 6, 1, tzinfo=UTC)  # that whole day: up to the next
    assert date_range(as_of, days=7).start == as_of - timedelta(days=7)
    assert date_range(as_of, until="2026-06-05").end == as_of  # never past as_of


def test_analytics_core_does_not_import_rich_or_typer() -> None:
    assert_imports_no_terminal_libraries(
        "usertrack.analytics.funnel.run",
        "usertrack.analytics.retention.run",
        "usertrack.analytics.funnel.render",
        "usertrack.analytics.retention.render",
    )


def test_a_typo_is_named_not_answered_with_zeros(export: Path, tmp_path: Path) -> None:
    """`funnel signup creat` said "no one reached it", and `--by plna` gave one
    breakdown value ''. The answer is unchanged (it is what the data says), with a warning on
    stderr naming the closest name, on the local engine and over the live path alike."""
    args = ["signup", "creat", *RANGE, "--by", "plna", "-f", "json"]
    local = run_ok("funnel", args, as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert _warnings(local.stderr) == [
        "usertrack: warning: step 2 'creat' is no event in the range (did you mean 'create'?)",
        "usertrack: warning: --by 'plna' is no property of these events in the range"
        " (did you mean 'plan'?)",
    ]
    doc = json.loads(local.stdout)
    assert [s["persons"] for s in doc["steps"]] == [5, 0] and "notes" not in doc
    assert [b["value"] for b in doc["breakdown"]] == [""]
    with live_posthog(export, tmp_path) as (_fake, env):
        live = run_ok("funnel", args, as_of=AS_OF, **env)
    assert _warnings(live.stderr) == _warnings(local.stderr) and json.loads(live.stdout) == doc
    # Names the data has: no lookup, no warning, even when no one reached a step in the window.
    fine = run_ok("funnel", [*STEPS, *RANGE, "--by", "plan"], as_of=AS_OF,
                  USERTRACK_EVENTS=str(export))  # fmt: skip
    assert _warnings(fine.stderr) == []


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("usertrack: warning:")]


def test_a_funnel_of_too_many_steps_is_refused_at_once(export: Path) -> None:
    """1,200 steps took 17 GB and two minutes: past 20, one line and exit 2, nothing run."""
    import time

    from tests.analytics_helpers import assert_usage_error

    started = time.monotonic()
    steps = [f"e{i}" for i in range(1200)]
    assert_usage_error(
        ["funnel", *steps], "at most 20 steps, not 1200", USERTRACK_EVENTS=str(export)
    )
    assert time.monotonic() - started < 30


def test_a_cells_people_are_headed_in_words_with_rates_in_percent(demo_home: Path) -> None:
    """A `--persons` table and its Markdown are for people: headers in words, a rate with its
    '%' (JSON and csv keep the profile's column names and numbers)."""
    md = run(["funnel", "--persons", "2", "-f", "md"], demo_home)
    assert md.exit_code == 0, md.stderr
    lines = md.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("| Email |"))
    header, first = lines[at].replace("\\(", "(").replace("\\)", ")"), lines[at + 2]
    assert "| Subscription status (app, now) |" in header, header
    assert "| Run success rate (app, all time) |" in header, header
    assert "| Days since last event in PostHog |" in header and "_" not in header
    rate = header.split("|").index(" Run success rate (app, all time) ")
    assert first.split("|")[rate].strip().endswith("%")
    table = run(["funnel", "--persons", "2"], demo_home)
    assert "subscription_status" not in table.stdout and "run_success_rate" not in table.stdout
    csv = run(["funnel", "--persons", "2", "-f", "csv"], demo_home).stdout
    assert "subscription_status" in csv.splitlines()[0]
