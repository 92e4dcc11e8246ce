"""PostHog's own funnel test cases, their events and asserted numbers, run locally and over the
live HTTP path (the tests' PostHog: its HogQL printing on ClickHouse).

Read in the PostHog/posthog repository:
- posthog/hogql_queries/insights/funnels/test/test_funnel_unordered.py at commit
  75bea9911c811fe98fe8300c22fed23995b6ca41:
  `test_advanced_funnel_multiple_exclusions_between_steps`,
  `test_funnel_exclusions_full_window`, `test_unordered_exclusion_after_completion`,
  `test_funnel_exclusions_invalid_params` and `test_unordered_trend`. The unordered funnel
  discards what an exclusion event interrupts (funnels/funnel_unordered.py, the class
  docstring's "Exclusion Semantics"; its UDF funnel-udf/src/unordered_steps.rs,
  `process_event`, clears every kept event; unordered_trends.rs counts its trends) and
  refuses a partial exclusion (funnels/funnel_udf.py, `get_query`).
- posthog/hogql_queries/insights/funnels/test/test_funnel_trends.py at commit
  1b3b61d46a1b700c06f7ebadf2e2b972d68a5e7e: `test_one_person_in_multiple_periods_and_windows`
  and `test_window_size_one_day` (its `_create_sample_data`). Funnel trends count a person in
  every period in which one of their attempts starts (funnels/funnel_trends.py; the UDF
  funnel-udf/src/trends.rs, `process_event`, keeps an entry per interval of a step-1 event).

Each person is named as PostHog's test names them, their email NAME@x.io. PostHog's test
team is in UTC, as usertrack's periods are.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.analytics_helpers import (
    assert_usage_error,
    live_posthog,
    record,
    run_json,
    write_export,
)
from tests.engine_compare import strip_live_only

Journeys = dict[str, list[tuple[str, datetime]]]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def export_of(journeys: Journeys, path: Path) -> Path:
    records = [
        record(0, event, when, person, person, f"{person}@x.io", {})
        for person, events in journeys.items()
        for event, when in events
    ]
    for n, one in enumerate(records, 1):
        one["uuid"] = f"00000000-0000-0000-0000-{n:012d}"
    return write_export(path / "events.jsonl", records)


def both(export: Path, tmp_path: Path, args: list[str], as_of: str) -> dict[str, Any]:
    """The funnel's JSON locally, checked to be the live path's too."""
    local = run_json("funnel", args, as_of=as_of, USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (_fake, live_env):
        live_env.pop("USERTRACK_EVENTS", None)
        live = run_json("funnel", args, as_of=as_of, **live_env)
    assert strip_live_only([live]) == strip_live_only([local])
    return local


def persons(doc: dict[str, Any]) -> list[int]:
    return [int(s["persons"]) for s in doc["steps"]]


def cell(export: Path, args: list[str], step: int, as_of: str) -> set[str]:
    """The emails of `--persons STEP`: the persons behind that step's number."""
    doc = run_json("funnel", [*args, "--persons", str(step)], as_of=as_of,
                   USERTRACK_EVENTS=str(export))  # fmt: skip
    return {p["email"] for p in doc["persons"]}


# --------------------------------------------------------------------------------------------
# Unordered funnels (--order any) with exclusion steps

UNORDERED_AS_OF = "2021-05-20T00:00:00"
UNORDERED_RANGE = ["--since", "2021-05-01", "--until", "2021-05-14"]


def hours(*events: tuple[str, str]) -> list[tuple[str, datetime]]:
    """Events of 2021-05-01 at HH:MM."""
    return [(event, at(f"2021-05-01T{hhmm}")) for event, hhmm in events]


def test_multiple_exclusions_in_an_unordered_funnel(tmp_path: Path) -> None:
    """test_advanced_funnel_multiple_exclusions_between_steps: counts 5, 2, 1, 1, 1; step 2's
    persons person1 and person4, step 3's person4 alone. usertrack ignored the exclusions of a
    funnel in any order: 5, 5, 5, 5, 5."""
    su, pv, iv, it, pv2 = "user signed up", "$pageview", "insight viewed", "invite teammate", (
        "pageview2")  # fmt: skip
    journeys = {
        "person1": hours((su, "01:00"), ("x", "02:00"), (pv, "03:00"), (iv, "04:00"),
                         ("y", "04:30"), (it, "05:00"), (pv2, "06:00")),
        "person2": hours((su, "01:00"), ("y", "01:30"), (pv, "02:00"), (iv, "04:00"),
                         ("y", "04:30"), (it, "05:00"), ("x", "05:30"), (pv2, "06:00")),
        "person3": hours((su, "01:00"), ("x", "01:30"), (pv, "02:00"), (iv, "04:00"),
                         (it, "05:00"), ("x", "05:30"), (pv2, "06:00")),
        "person4": hours((su, "01:00"), (pv, "02:00"), (iv, "04:00"), (it, "05:00"),
                         (pv2, "06:00")),
        "person5": hours((su, "01:00"), ("x", "01:30"), (pv, "02:00"), ("x", "02:30"),
                         (iv, "04:00"), ("y", "04:30"), (it, "05:00"), ("x", "05:30"),
                         (pv2, "06:00")),
    }  # fmt: skip
    export = export_of(journeys, tmp_path)
    args = [su, pv, iv, it, pv2, *UNORDERED_RANGE, "--order", "any",
            "--exclude", "x", "--exclude", "y"]  # fmt: skip
    assert persons(both(export, tmp_path, args, UNORDERED_AS_OF)) == [5, 2, 1, 1, 1]
    assert cell(export, args, 2, UNORDERED_AS_OF) == {"person1@x.io", "person4@x.io"}
    assert cell(export, args, 3, UNORDERED_AS_OF) == {"person4@x.io"}


def test_an_exclusion_over_the_whole_unordered_funnel(tmp_path: Path) -> None:
    """test_funnel_exclusions_full_window: 3 entered, 2 converted (person1 and person3: x came
    between person2's steps)."""
    journeys = {
        "person1": hours(("user signed up", "01:00"), ("paid", "02:00")),
        "person2": hours(("user signed up", "03:00"), ("x", "03:30"), ("paid", "04:00")),
        "person3": hours(("user signed up", "05:00"), ("paid", "06:00")),
    }
    export = export_of(journeys, tmp_path)
    args = ["user signed up", "paid", *UNORDERED_RANGE, "--order", "any", "--exclude", "x"]
    doc = both(export, tmp_path, args, UNORDERED_AS_OF)
    assert persons(doc) == [3, 2]
    assert cell(export, args, 2, UNORDERED_AS_OF) == {"person1@x.io", "person3@x.io"}
    # --compare and --by count the same persons as the funnel alone
    compared = run_json("funnel", [*args, "--compare"], as_of=UNORDERED_AS_OF,
                        USERTRACK_EVENTS=str(export))  # fmt: skip
    assert persons(compared) == [3, 2]
    broken = run_json("funnel", [*args, "--by", "$browser"], as_of=UNORDERED_AS_OF,
                      USERTRACK_EVENTS=str(export))  # fmt: skip
    assert [int(s["persons"]) for s in broken["breakdown"][0]["steps"]] == [3, 2]


def test_an_exclusion_after_the_unordered_funnel_is_done(tmp_path: Path) -> None:
    """test_unordered_exclusion_after_completion: every step counts person1 (x came after all
    three steps)."""
    journeys = {
        "person1": hours(("user signed up", "01:00"), ("paid", "02:00"), ("left", "03:00"),
                         ("x", "04:00"), ("left", "05:00")),
    }  # fmt: skip
    export = export_of(journeys, tmp_path)
    args = ["user signed up", "paid", "left", *UNORDERED_RANGE, "--order", "any",
            "--exclude", "x"]  # fmt: skip
    assert persons(both(export, tmp_path, args, UNORDERED_AS_OF)) == [1, 1, 1]


def test_a_partial_exclusion_in_an_unordered_funnel_is_refused(tmp_path: Path) -> None:
    """test_funnel_exclusions_invalid_params: PostHog refuses an exclusion over part of an
    unordered funnel ("Partial Exclusions not allowed in unordered funnels")."""
    export = export_of({"person1": hours(("user signed up", "01:00"))}, tmp_path)
    assert_usage_error(
        ["funnel", "user signed up", "paid", "blah", "--order", "any", "--exclude", "x:1-2",
         "--as-of", UNORDERED_AS_OF],
        "--exclude EVENT:FROM-TO", USERTRACK_EVENTS=str(export),
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Conversion over time (--trend)

TREND_AS_OF = "2021-05-20T00:00:00"
THREE = ["step one", "step two", "step three"]


def points(doc: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(str(p["start"]), p["entered"], p["converted"]) for p in doc["trend"]["points"]]


def test_one_person_in_several_periods(tmp_path: Path) -> None:
    """test_one_person_in_multiple_periods_and_windows: user_one enters on 05-01 (converts), on
    05-03 (does not) and on 05-04 (converts) beside user_two (does not). usertrack put user_one
    in one period, their counted attempt's: 05-01 alone."""
    journeys = {
        "user_one": [
            ("step one", at("2021-05-01T01:00")), ("step two", at("2021-05-01T02:00")),
            ("step three", at("2021-05-01T03:00")),
            ("step one", at("2021-05-03T01:00")), ("step two", at("2021-05-03T02:00")),
            ("step one", at("2021-05-04T11:00")), ("step two", at("2021-05-04T12:00")),
            ("step three", at("2021-05-04T13:00")),
        ],
        "user_two": [("step one", at("2021-05-04T18:00"))],
    }  # fmt: skip
    export = export_of(journeys, tmp_path)
    args = [*THREE, "--since", "2021-05-01", "--until", "2021-05-04", "--window", "1d",
            "--trend", "day"]  # fmt: skip
    doc = both(export, tmp_path, args, TREND_AS_OF)
    assert points(doc) == [
        ("2021-05-01", 1, 1),
        ("2021-05-02", 0, 0),
        ("2021-05-03", 1, 0),
        ("2021-05-04", 2, 1),
    ]
    assert doc["trend"]["points"][3]["conversion_rate"] == 50
    # the funnel itself still counts each person once
    assert persons(doc) == [2, 1, 1]
    # a strict funnel and one with an exclusion step no one did: the same periods
    for more in (["--order", "strict"], ["--exclude", "x"]):
        shaped = run_json("funnel", [*args, *more], as_of=TREND_AS_OF,
                          USERTRACK_EVENTS=str(export))  # fmt: skip
        assert points(shaped) == points(doc), more


def test_sample_data_with_a_one_day_window(tmp_path: Path) -> None:
    """test_window_size_one_day on `_create_sample_data`: 05-01 3 entered, 1 converted (33.33);
    05-02 2 entered; 05-06 1 entered; no other period."""
    day = timedelta(days=1)
    first = at("2021-05-01T00:00")
    journeys = {
        "user_one": [("step one", first), ("step two", first + 2 * day),
                     ("step three", first + 4 * day)],
        "user_two": [("step one", first + day), ("step two", first + 3 * day)],
        "user_three": [("step one", first + 5 * day)],
        "user_four": [("step none", first + 5 * day)],
        "user_five": [("step one", at("2021-05-01T01:00")), ("step two", at("2021-05-01T02:00")),
                      ("step three", at("2021-05-01T03:00"))],
        "user_six": [("step one", first), ("step two", first + 2 * day),
                     ("step three", first + 4 * day)],
        "user_seven": [("step one", first + day), ("step two", first + 3 * day)],
    }  # fmt: skip
    export = export_of(journeys, tmp_path)
    args = [*THREE, "--since", "2021-05-01", "--until", "2021-05-07", "--window", "1d",
            "--trend", "day"]  # fmt: skip
    doc = both(export, tmp_path, args, TREND_AS_OF)
    assert points(doc) == [
        ("2021-05-01", 3, 1),
        ("2021-05-02", 2, 0),
        ("2021-05-03", 0, 0),
        ("2021-05-04", 0, 0),
        ("2021-05-05", 0, 0),
        ("2021-05-06", 1, 0),
        ("2021-05-07", 0, 0),
    ]
    assert doc["trend"]["points"][0]["conversion_rate"] == 33.33


def test_an_unordered_funnel_over_time(tmp_path: Path) -> None:
    """test_unordered_trend (test_funnel_unordered.py): event 3 on 8, 4, 2 and 1 of 8 days
    (user_1 to user_4, from 2024-03-01 10:00), then every user events 1 and 2 on the last day;
    an 8-day window. Each day: the persons whose kept events begin there, converted when all
    three steps were kept: 4/4, 1/1, 2/2, 1/1, 3/3, 1/1, 2/2, then 5 entered and 1 converted on
    the last day. usertrack put each person in one period."""
    start = at("2024-03-01T10:00")
    day = timedelta(days=1)
    journeys: Journeys = {
        "user_1": [("event 3", start + i * day) for i in range(8)],
        "user_2": [("event 3", start + i * day) for i in range(0, 8, 2)],
        "user_3": [("event 3", start + i * day) for i in range(0, 8, 4)],
        "user_4": [("event 3", start)],
        "user_5": [],
    }
    for events in journeys.values():
        events += [("event 1", start + 7 * day + timedelta(hours=1)),
                   ("event 2", start + 7 * day + timedelta(hours=2))]  # fmt: skip
    export = export_of(journeys, tmp_path)
    args = ["event 1", "event 2", "event 3", "--since", "2024-03-01", "--until", "2024-03-08",
            "--window", "8d", "--order", "any", "--trend", "day"]  # fmt: skip
    doc = both(export, tmp_path, args, "2024-03-20T00:00:00")
    assert [(e, c) for _, e, c in points(doc)] == [
        (4, 4), (1, 1), (2, 2), (1, 1), (3, 3), (1, 1), (2, 2), (5, 1)
    ]  # fmt: skip


def test_without_exclusions_the_unordered_port_keeps_each_starts_count() -> None:
    """Without an exclusion, PostHog's sliding window (unordered_progress) reaches what the
    most steps done within the window after any one step event give, at the sorted times of
    the first event of each from the earliest such event: on random timelines dense in shared
    timestamps, both ends of the window included."""
    import random

    from usertrack.analytics.funnel.order import unordered_progress

    def from_each_start(events: list[tuple[int, int]], window: int) -> list[int]:
        best: list[int] = []
        for i, (start, _) in enumerate(events):
            firsts: dict[int, int] = {}
            for when, rank in events[i:]:
                if when - start > window:
                    break
                firsts.setdefault(rank, when)
            if len(firsts) > len(best):
                best = sorted(firsts.values())
        return best

    rng = random.Random(7)
    for _ in range(3000):
        n = rng.randrange(2, 5)
        events = sorted((rng.randrange(30), rng.randrange(n)) for _ in range(rng.randrange(1, 12)))
        window = rng.randrange(1, 12)
        assert (unordered_progress(events, window, n) or []) == from_each_start(events, window), (
            events, window, n)  # fmt: skip
