"""PostHog's own funnel test cases, their events and asserted numbers, run locally and over the
live HTTP path (the tests' PostHog: its HogQL printing on ClickHouse).

Read in the PostHog/posthog repository:
- posthog/hogql_queries/insights/funnels/test/test_funnel_unordered.py at commit
  75bea9911c811fe98fe8300c22fed23995b6ca41:
  `test_advanced_funnel_multiple_exclusions_between_steps`,
  `test_funnel_exclusions_full_window`, `test_unordered_exclusion_after_completion` and
  `test_funnel_exclusions_invalid_params`. The unordered funnel discards what an
  exclusion event interrupts (funnels/funnel_unordered.py, the class docstring's "Exclusion
  Semantics"; its UDF funnel-udf/src/unordered_steps.rs, `process_event`, clears every kept
  event) and refuses a partial exclusion (funnels/funnel_udf.py, `get_query`).

Each person is named as PostHog's test names them, their email NAME@x.io. PostHog's test
team is in UTC, as usertrack's periods are.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
