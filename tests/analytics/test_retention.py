"""Retention on a hand-made events export: library definitions, CLI and the live HTTP path.

Every expected figure is worked out here from the events below (docs/metrics.md,
"Retention"). As of Wednesday 2026-06-03 12:00 UTC, three ISO weeks: the cohorts of May 18,
May 25 and June 1 (the week holding as_of).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
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
from usertrack.analytics.common import next_period, period_start

AS_OF = "2026-06-03T12:00:00"
ARGS = ["--period", "week", "--periods", "3", "--start", "signup"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


EMAILS = {"r1": "r1@example.com", "r2": "r2@example.com", "r3": "r3@example.com",
          "r4": "r4@example.com", "r5": "r5@datagen.dev", "r6": "r6@example.com"}  # fmt: skip
EVENTS = [
    # r1: first signup ever on May 10, before the cohorts: not in first-time; recurring May 18
    ("signup", "2026-05-10T10:00:00", "r1", "r1"),
    ("signup", "2026-05-19T10:00:00", "r1", "r1"),
    ("ping", "2026-05-26T10:00:00", "r1", "r1"),
    # r2: signup on the first second of the May 18 week; back in the June 1 week only
    ("signup", "2026-05-18T00:00:00", "r2", "r2"),
    ("ping", "2026-06-02T10:00:00", "r2", "r2"),
    # r3: signup on the last second of the May 18 week, back the next second (week 1), signs up
    # again on May 27 (recurring: also the May 25 cohort), back June 1, and after as_of
    ("signup", "2026-05-24T23:59:59", "r3", "r3"),
    ("ping", "2026-05-25T00:00:00", "r3", "r3"),
    ("signup", "2026-05-27T10:00:00", "r3", "r3"),
    ("ping", "2026-06-01T09:00:00", "r3", "r3"),
    ("ping", "2026-06-03T13:00:00", "r3", "r3"),
    # r4: two distinct_ids of one person: signup as one, back as the other
    ("signup", "2026-05-26T10:00:00", "r4-web", "r4"),
    ("ping", "2026-06-02T10:00:00", "r4-app", "r4"),
    # r5 is internal: left out
    ("signup", "2026-05-19T10:00:00", "r5", "r5"),
    ("ping", "2026-05-26T10:00:00", "r5", "r5"),
    # r6: the current week's cohort
    ("signup", "2026-06-02T08:00:00", "r6", "r6"),
]
RECORDS = [
    record(n, e, at(when), did, pid, EMAILS[pid]) for n, (e, when, did, pid) in enumerate(EVENTS, 1)
]

# By hand. first-time: May 18 = {r2, r3}; week 1 (May 25-31): r3; week 2 (June 1-): r2, r3.
# May 25 = {r4}; week 1: r4. June 1 = {r6}. The June 1 cohort has no later week yet (absent).
FIRST_TIME = [("2026-05-18", 2, [2, 1, 2]), ("2026-05-25", 1, [1, 1]), ("2026-06-01", 1, [1])]
# recurring: May 18 = {r1, r2, r3}; week 1: r1, r3; week 2: r2, r3. May 25 = {r3, r4}; week 1:
# both. June 1 = {r6}.
RECURRING = [("2026-05-18", 3, [3, 2, 2]), ("2026-05-25", 2, [2, 2]), ("2026-06-01", 1, [1])]


def cohorts(doc: dict[str, Any]) -> list[tuple[str, int, list[int]]]:
    return [(c["start"], c["size"], c["retained"]) for c in doc["cohorts"]]


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


cli_json = partial(run_json, "retention", as_of=AS_OF)


def test_first_time_and_recurring_through_the_cli(export: Path) -> None:
    first = cli_json(ARGS, USERTRACK_EVENTS=str(export))
    assert first["as_of"] == "2026-06-03T12:00:00Z"
    assert (first["period"], first["mode"], first["start_event"]) == (
        "week",
        "first-time",
        "signup",
    )
    assert first["return_event"] is None
    assert cohorts(first) == FIRST_TIME
    recurring = cli_json([*ARGS, "--mode", "recurring"], USERTRACK_EVENTS=str(export))
    assert cohorts(recurring) == RECURRING


def test_return_event_and_months(export: Path) -> None:
    # Returning only with signup: first-time May 18 {r2, r3}: week 1 r3 (May 27); week 2 none.
    only = cli_json([*ARGS, "--return", "signup"], USERTRACK_EVENTS=str(export))
    assert cohorts(only)[0] == ("2026-05-18", 2, [2, 1, 0])
    # Months, two periods: May's first-timers r2, r3, r4 (r1's first was May 10: also May!),
    # all four back in June; June's r6.
    months = cli_json(["--period", "month", "--periods", "2", "--start", "signup"],
                      USERTRACK_EVENTS=str(export))  # fmt: skip
    assert cohorts(months) == [("2026-05-01", 4, [4, 3]), ("2026-06-01", 1, [1])]


def test_same_answers_through_the_live_http_path(export: Path, tmp_path: Path) -> None:
    local = cli_json([*ARGS, "--mode", "recurring"], USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (_, env):
        live = cli_json([*ARGS, "--mode", "recurring"], **env)
        first = cli_json(ARGS, **env)
    assert live == local
    assert cohorts(first) == FIRST_TIME


def test_table_and_md(export: Path) -> None:
    table = run(["retention", *ARGS, "--as-of", AS_OF], USERTRACK_EVENTS=str(export))
    assert table.exit_code == 0, table.stderr
    assert "2026-05-18" in table.stdout and "50.0%" in table.stdout  # 1 of 2 in week 1
    md = run(["retention", *ARGS, "--as-of", AS_OF, "-f", "md"], USERTRACK_EVENTS=str(export))
    # week 2 (June 1) holds the as-of: still counting, marked
    assert "| 2026-05-18 | 2 | 2 · 100.0% | 1 · 50.0% | 2 · 100.0% \\* |" in md.stdout
    assert "\\* the week holding the as-of" in md.stdout


def test_cumulative_counts_a_person_up_to_their_last_return(export: Path, tmp_path: Path) -> None:
    """--cumulative: first-time May 18 {r2, r3}: r2 is back in week 2 only, so counts in week 1
    too (2 where the plain count has 1); the same live, where PostHog counts the cohorts."""
    args = [*ARGS, "--cumulative"]
    local = cli_json(args, USERTRACK_EVENTS=str(export))
    assert local["cumulative"] is True
    assert cohorts(local) == [("2026-05-18", 2, [2, 2, 2]), ("2026-05-25", 1, [1, 1]),
                              ("2026-06-01", 1, [1])]  # fmt: skip
    with live_posthog(export, tmp_path) as (_, env):
        assert cli_json(args, **env) == local
    md = run(["retention", *args, "--as-of", AS_OF, "-f", "md"], USERTRACK_EVENTS=str(export))
    assert r"cumulative \(back in that week or a later one\)" in md.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--period", "year"], "--period 'year' is not one of hour, day, week, month"),
        (["--mode", "sometimes"], "--mode 'sometimes'"),
        (["--periods", "0"], "--periods 0"),
        (["--periods", "3", "--since", "2026-05-01"], "--periods and --since both"),
        (["--since", "2026-13-01"], "--since '2026-13-01' is not a date"),
        (["--since", "2026-07-01"], "--since 2026-07-01 is after"),
        (["--period", "day", "--since", "2024-01-01"], "more than 400 days of cohorts"),
        (["--by", "src", "--compare"], "--by and --compare do not go together"),
        (["--by", " "], "--by is empty"),
        (["--start", " "], "--start is empty: name an event, or any for any event"),
        (["--min-occurrences", "0"], "--min-occurrences"),
        (["--min-occurrences", "1001"], "--min-occurrences 1001 must be from 1 to 1000"),
        (["--min-occurrences", "2", "--by-account"], "--min-occurrences and --by-account"),
        (["--week-start", "friday"], "--week-start 'friday' is not one of monday, sunday"),
        (["--by", "person.properties."], "names no person property"),
    ],
)
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    argv = ["retention", *args, "--as-of", AS_OF]
    assert_usage_error(argv, fragment, USERTRACK_EVENTS=str(export))


def test_period_starts() -> None:
    sunday = datetime(2026, 5, 24, 23, 59, 59, tzinfo=UTC)
    assert period_start(sunday, "week") == date(2026, 5, 18)  # ISO weeks start on Monday
    assert period_start(sunday, "month") == date(2026, 5, 1)
    assert period_start(sunday, "day") == date(2026, 5, 24)
    assert next_period(date(2026, 12, 1), "month") == date(2027, 1, 1)
    assert next_period(date(2026, 1, 1), "month", -1) == date(2025, 12, 1)
    assert next_period(date(2026, 5, 18), "week", 2) == date(2026, 6, 1)


def test_a_period_not_begun_is_absent(export: Path) -> None:
    """`--as-of` at a period's first instant (a date is 00:00 UTC) gave every
    cohort a last cell of 0 and a last cohort "size 0" for the period that had not begun."""
    days = run_json(
        "retention",
        ["--period", "day", "--periods", "3", "--start", "signup", "--mode", "recurring"],
        as_of="2026-05-27",
        USERTRACK_EVENTS=str(export),
    )
    # Up to 2026-05-27 00:00: the days are May 24, 25 and 26. May 24: r3 (23:59:59), back on May
    # 25 (r3); May 26: r4 (and r5, internal). May 27 has not begun: no cohort, no cell.
    assert cohorts(days) == [("2026-05-24", 1, [1, 1, 0]), ("2026-05-25", 0, [0, 0]),
                             ("2026-05-26", 1, [1])]  # fmt: skip
    weeks = run_json("retention", ARGS, as_of="2026-06-01", USERTRACK_EVENTS=str(export))
    assert [c["start"] for c in weeks["cohorts"]] == ["2026-05-11", "2026-05-18", "2026-05-25"]


def test_a_typo_in_start_or_return_is_named(export: Path) -> None:
    """`retention --start signed_up` gave every cohort 0 and said nothing."""
    args = ["--period", "week", "--periods", "3", "--start", "sigup", "--return", "pnig"]
    result = run_ok("retention", [*args, "-f", "json"], as_of=AS_OF, USERTRACK_EVENTS=str(export))
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert warnings == [
        "usertrack: warning: --start 'sigup' is no event in the range (did you mean 'signup'?)",
        "usertrack: warning: --return 'pnig' is no event in the range (did you mean 'ping'?)",
    ]
    assert all(c["size"] == 0 for c in json.loads(result.stdout)["cohorts"])
    fine = run_ok("retention", ARGS, as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert "warning:" not in fine.stderr


# ----------------------------------------------------------------- average, points, --compare


def points(doc: dict[str, Any]) -> list[tuple[int, int, int, float | None]]:
    return [(p["period"], p["size"], p["persons"], p["percent"]) for p in doc["average"]]


def test_average_curve_weighs_cohorts_and_leaves_out_the_partial_period(export: Path) -> None:
    # By hand, as of Wednesday June 3: the June 1 week is partial, so every cell in it is left
    # out. first-time period 0: May 18 (2) and May 25 (1), not June 1's: 3 of 3. Period 1: May
    # 18's (May 25 week) only: 1 of 2 (May 25's period 1 is the June 1 week). Period 2: May 18's
    # is the June 1 week: no cohort, so the curve ends at period 1.
    first = cli_json(ARGS, USERTRACK_EVENTS=str(export))
    assert points(first) == [(0, 3, 3, 100.0), (1, 2, 1, 50.0)]
    assert [p["cohorts"] for p in first["average"]] == [2, 1]
    # Wilson's 95% interval of 1 of 2: 9.5% to 90.5%
    assert (first["average"][1]["low"], first["average"][1]["high"]) == (9.5, 90.5)
    # recurring: period 0 May 18 (3) + May 25 (2); period 1 May 18's 2 of 3
    recurring = cli_json([*ARGS, "--mode", "recurring"], USERTRACK_EVENTS=str(export))
    assert points(recurring) == [(0, 5, 5, 100.0), (1, 3, 2, 66.7)]
    assert "day_points" not in first  # weekly cohorts: no day points


def test_day_points_of_daily_cohorts(export: Path) -> None:
    # first-time daily cohorts from May 18, as of June 3 12:00 (June 3 is partial): May 18 {r2}
    # (back June 2: day 15), May 24 {r3} (back May 25: day 1, and June 1), May 26 {r4} (back
    # June 2: day 7), June 2 {r6} (its day 1 is June 3: left out).
    # Day 1: May 18 no, May 24 yes, May 26 no: 1 of 3. Day 7: May 18 (May 25) no, May 24
    # (May 31) no, May 26 (June 2) yes: 1 of 3. Day 14: May 18's (June 1) alone: 0 of 1.
    # Day 30 on: not reached.
    doc = cli_json(
        ["--period", "day", "--since", "2026-05-18", "--start", "signup"],
        USERTRACK_EVENTS=str(export),
    )
    starts = [c["start"] for c in doc["cohorts"]]
    assert (starts[0], starts[-1]) == ("2026-05-18", "2026-06-03")
    got = [(p["day"], p["percent"], p.get("size")) for p in doc["day_points"]]
    assert got == [(1, 33.3, 3), (7, 33.3, 3), (14, 0.0, 1), (30, None, None), (60, None, None),
                   (90, None, None)]  # fmt: skip
    table = run(["retention", "--period", "day", "--since", "2026-05-18", "--start", "signup",
                 "--as-of", AS_OF], USERTRACK_EVENTS=str(export))  # fmt: skip
    shown = " ".join(table.stdout.split())
    # each over fewer than 30 persons: its sample and 95% interval beside it
    assert (
        "day 1 33.3% (1 of 3; 6.1-79.2%) · day 7 33.3% (1 of 3; 6.1-79.2%) ·"
        " day 14 0.0% (0 of 1; 0.0-79.3%) · day 30 not reached"
    ) in shown


COMPARE_ARGS = ["--period", "week", "--periods", "2", "--start", "signup", "--mode", "recurring",
                "--compare"]  # fmt: skip


def test_compare_judges_the_change_per_period(export: Path) -> None:
    # As of Monday June 8 (every week up to June 1's has ended), recurring: this range is May 25
    # {r3, r4} (both back in the June 1 week) and June 1 {r6}; the previous range is May 11
    # (no one) and May 18 {r1, r2, r3} (r1, r3 back the week after; r2, r3 two weeks after).
    # Period 1: 2 of 2 (100%) against 2 of 3 (66.7%): +33.3 points. Pooled 4 of 5 = 0.8;
    # z = (1 - 2/3) / sqrt(0.8 * 0.2 * (1/2 + 1/3)) = 0.9129, p = erfc(0.9129 / sqrt 2) = 0.3613;
    # a range expects 2 * 0.2 = 0.4 persons not retained, under 5: too few to tell.
    doc = run_json("retention", COMPARE_ARGS, as_of="2026-06-08", USERTRACK_EVENTS=str(export))
    assert [c["start"] for c in doc["cohorts"]] == ["2026-05-25", "2026-06-01"]
    compare = doc["compare"]
    assert cohorts({"cohorts": compare["previous_cohorts"]}) == [
        ("2026-05-11", 0, [0, 0, 0, 0]),
        ("2026-05-18", 3, [3, 2, 2]),
    ]
    assert points({"average": compare["previous_average"]}) == [
        (0, 3, 3, 100.0), (1, 3, 2, 66.7), (2, 3, 2, 66.7)]  # fmt: skip
    change = {"period": 1, "percent": 100.0, "previous_percent": 66.7, "change": 33.3,
              "p_value": 0.3613, "verdict": "too few to tell"}  # fmt: skip
    assert compare["changes"] == [change]
    md = run(["retention", *COMPARE_ARGS, "--as-of", "2026-06-08", "-f", "md"],
             USERTRACK_EVENTS=str(export))  # fmt: skip
    assert "| 1 | 100.0% of 2 | 66.7% of 3 | +33.3 pts | 0.361 | too few to tell |" in md.stdout
    csv = run(["retention", *COMPARE_ARGS, "--as-of", "2026-06-08", "-f", "csv"],
              USERTRACK_EVENTS=str(export))  # fmt: skip
    assert "previous,average,3,1,2,66.7" in csv.stdout.replace("\r", "")


def test_the_z_test_and_its_verdicts() -> None:
    from usertrack.analytics.proportions import judged, two_proportion_p, wilson

    # 40 of 100 against 25 of 100: pooled 0.325, z = 0.15 / sqrt(0.325 * 0.675 * 0.02) = 2.2646
    assert two_proportion_p(40, 100, 25, 100) == pytest.approx(0.02354, abs=1e-4)
    assert judged(40, 100, 25, 100)[1] == "changed"
    assert judged(30, 100, 25, 100)[1] == "within noise"
    assert judged(1, 3, 0, 3)[1] == "too few to tell"
    assert two_proportion_p(0, 10, 0, 10) == 1.0
    assert wilson(0, 0) is None
    low, high = wilson(0, 10) or (None, None)
    assert low == 0.0 and high == pytest.approx(27.75, abs=0.01)  # z² / (n + z²)


def test_since_until_and_compare_the_same_live(export: Path, tmp_path: Path) -> None:
    args = [*COMPARE_ARGS, "--mode", "first-time"]
    local = run_json("retention", args, as_of="2026-06-08", USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (_, env):
        live = run_json("retention", args, as_of="2026-06-08", **env)
        days = ["--period", "day", "--since", "2026-05-18", "--until", "2026-05-27", "--start",
                "signup", "--compare"]  # fmt: skip
        live_days = run_json("retention", days, as_of=AS_OF, **env)
    assert live == local
    assert live_days == run_json("retention", days, as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert [c["start"] for c in live_days["cohorts"]][::9] == ["2026-05-18", "2026-05-27"]
    assert live_days["compare"]["previous_cohorts"][0]["start"] == "2026-05-08"


def test_by_a_property_of_the_start_event(tmp_path: Path) -> None:
    # The signups carry src: r2 ad, r3 mail (its May 27 signup says ad: first touch is May 24's),
    # r4 ad, r6 none. first-time weekly as of June 3 12:00 (June 1's week partial):
    # ad: May 18 {r2} [1, 0, 1] and May 25 {r4} [1, 1]; average 2 of 2, then May 18's week 1
    # alone: 0 of 1. mail: May 18 {r3} [1, 1, 1]: 1 of 1, 1 of 1. none: June 1 {r6}: no ended
    # period, no point. By size: ad (2), then '' and mail (1 each, by value); --top 2 puts mail
    # in (other).
    src = {4: "ad", 6: "mail", 8: "ad", 11: "ad"}  # record numbers of the signups
    records = [dict(r, properties={"src": src[n]} if n in src else {})
               for n, r in enumerate(RECORDS, 1)]  # fmt: skip
    path = write_export(tmp_path / "events.jsonl", records)
    doc = cli_json([*ARGS, "--by", "src", "--top", "2"], USERTRACK_EVENTS=str(path))
    assert doc["by"] == "src"
    got = [(b["value"], b["size"], points(b)) for b in doc["breakdown"]]
    assert got == [
        ("ad", 2, [(0, 2, 2, 100.0), (1, 1, 0, 0.0)]),
        ("", 1, []),
        ("(other)", 1, [(0, 1, 1, 100.0), (1, 1, 1, 100.0)]),
    ]
    assert cohorts(doc["breakdown"][0]) == [("2026-05-18", 1, [1, 0, 1]), ("2026-05-25", 1, [1, 1]),
                                            ("2026-06-01", 0, [0])]  # fmt: skip
    assert cohorts(doc) == FIRST_TIME  # the whole answer as without --by
    with live_posthog(path, tmp_path) as (_, env):
        assert (
            run_json("retention", [*ARGS, "--by", "src", "--top", "2"], as_of=AS_OF, **env) == doc
        )
    md = run(["retention", *ARGS, "--by", "src", "--as-of", AS_OF, "-f", "md"],
             USERTRACK_EVENTS=str(path))  # fmt: skip
    assert "| ad | 2 | 100.0% | 0.0% |" in md.stdout
    assert "| \\(none\\) | 1 |  |  |" in md.stdout  # Markdown-escaped parentheses
