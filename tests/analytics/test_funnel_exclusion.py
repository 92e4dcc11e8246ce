"""Funnel exclusion steps as PostHog counts them, on hand-made events, locally and over the live
HTTP path (the tests' PostHog: its HogQL printing on ClickHouse).

PostHog's funnel runs a UDF per person: funnel-udf/src/steps.rs in the PostHog/posthog
repository, `AggregateFunnelRow::process_event` and `loop_prop_val`. An event of an exclusion
between steps FROM and TO carries, for each k from FROM to TO-1, the exclusion of "reached k
steps" (posthog/hogql_queries/insights/funnels/base.py, `_get_inner_event_query_for_udf`, and
funnel_udf.py, `_inner_aggregation_query`: `-{i + 1} * exclusion_{i}`). `process_event` then
marks the attempt that reached k steps excluded; a later step event still advances that
excluded state into the furthest step reached (`max_step`) without storing it for the step
after; and `loop_prop_val` answers -1 (no step at all) when the furthest state is excluded.
So an excluded attempt takes one more step, and a clean attempt must go at least as far to
count the person.

Funnel a -> b -> c, `--exclude x` (between steps 1 and 3), as of 2026-06-10:
- q1 (q1@x.io): a 06-01 10:00, b 10:10, x 10:20 (excluded with 2 steps), c 10:30 (one more:
  the furthest state is 3 steps, excluded), then a new clean attempt a 11:00, b 11:10 (2
  steps: short of 3). PostHog: left out of the funnel. Stopping the excluded attempt at the
  exclusion would count q1 at step 2 by the clean attempt.
- q2 (q2@x.io): a 06-02 10:00, x 10:05 (excluded with 1 step), b 10:10 (one more: 2 steps,
  excluded), a 11:00, b 11:10, c 11:20: a clean attempt converts: counted at step 3.
- q3 (q3@x.io): a 06-03 10:00, b 10:10, c 10:20, then x 10:30: converted before the exclusion.
- q4 (q4@x.io): a 06-04 10:00, then b and x both at 10:10: PostHog's UDF reads no exclusion
  among a timestamp's events of different steps (`loop_prop_val`, "We ignore strict steps and
  exclusions in this case"): counted at step 2. Reading x before b would leave q4 out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import live_posthog, record, run_json, write_export
from tests.engine_compare import strip_live_only
from usertrack.analytics.funnel.order import EXCLUDED, Shape, shaped_progress
from usertrack.analytics.funnel.run import later_steps

AS_OF = "2026-06-10T00:00:00"
RANGE = ["--since", "2026-06-01", "--until", "2026-06-09"]
STEPS = ["a", "b", "c"]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


EVENTS: list[tuple[str, datetime, str]] = [
    ("a", at(1, 10), "q1"),
    ("b", at(1, 10, 10), "q1"),
    ("x", at(1, 10, 20), "q1"),
    ("c", at(1, 10, 30), "q1"),
    ("a", at(1, 11), "q1"),
    ("b", at(1, 11, 10), "q1"),
    ("a", at(2, 10), "q2"),
    ("x", at(2, 10, 5), "q2"),
    ("b", at(2, 10, 10), "q2"),
    ("a", at(2, 11), "q2"),
    ("b", at(2, 11, 10), "q2"),
    ("c", at(2, 11, 20), "q2"),
    ("a", at(3, 10), "q3"),
    ("b", at(3, 10, 10), "q3"),
    ("c", at(3, 10, 20), "q3"),
    ("x", at(3, 10, 30), "q3"),
    ("a", at(4, 10), "q4"),
    ("x", at(4, 10, 10), "q4"),
    ("b", at(4, 10, 10), "q4"),
]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = [
        record(n, event, when, pid, pid, f"{pid}@x.io", {})
        for n, (event, when, pid) in enumerate(EVENTS, 1)
    ]
    return write_export(tmp_path_factory.mktemp("exclusion") / "events.jsonl", records)


def persons(doc: dict[str, Any]) -> list[int]:
    return [int(s["persons"]) for s in doc["steps"]]


MINUTE = 60_000_000
A, B, C = 0, 1, 2
EXCLUSION = Shape(exclusions=(("x", 1, 3),))


def progress(events: list[tuple[int, int]]) -> list[int] | None:
    return shaped_progress(events, later_steps(STEPS), 14 * 24 * 60 * MINUTE, EXCLUSION, [(1, 3)])


def test_an_excluded_attempt_takes_one_more_step() -> None:
    # q1 in minutes: the excluded attempt reaches 3 steps, the clean one 2: left out
    q1 = [(0, A), (10, B), (20, EXCLUDED), (30, C), (60, A), (70, B)]
    assert progress([(t * MINUTE, r) for t, r in q1]) is None
    # the same without the last clean step: still left out (furthest excluded)
    assert progress([(t * MINUTE, r) for t, r in q1[:4]]) is None
    # a clean attempt as far as the excluded one counts the person, by that attempt's times
    q2 = [(0, A), (5, EXCLUDED), (10, B), (60, A), (70, B), (80, C)]
    assert progress([(t * MINUTE, r) for t, r in q2]) == [60 * MINUTE, 70 * MINUTE, 80 * MINUTE]


def test_an_exclusion_at_a_steps_timestamp_is_not_read() -> None:
    later = 10 * MINUTE
    assert progress([(0, A), (later, EXCLUDED), (later, B)]) == [0, later]
    # at a timestamp of its own it is read: the attempt is out, with one more step
    assert progress([(0, A), (later - 1, EXCLUDED), (later, B)]) is None


def test_exclusions_as_posthog_counts_them_locally_and_live(export: Path, tmp_path: Path) -> None:
    args = [*STEPS, *RANGE, "--exclude", "x"]
    local = run_json("funnel", args, as_of=AS_OF, USERTRACK_EVENTS=str(export))
    # entered: q2, q3, q4 (q1 is left out); step 2: the same; converted: q2 and q3
    assert persons(local) == [3, 3, 2]
    assert local["excluded"] == 1  # q1
    dropped = run_json("funnel", [*args, "--persons", "3:dropped"], as_of=AS_OF,
                       USERTRACK_EVENTS=str(export))  # fmt: skip
    assert "q4@x.io" in str(dropped) and "q1@x.io" not in str(dropped)
    with live_posthog(export, tmp_path) as (_fake, live_env):
        live_env.pop("USERTRACK_EVENTS", None)
        live = run_json("funnel", args, as_of=AS_OF, **live_env)
    assert strip_live_only([live]) == strip_live_only([local])


def test_exclude_says_how_many_persons_it_left_out(export: Path, tmp_path: Path) -> None:
    """One stderr line, locally and live: q1 alone did x between steps 1 and 3 and is left out."""
    from tests.analytics_helpers import run_ok

    said = "usertrack: --exclude left out 1 person who did x between steps 1 and 3"
    args = [*STEPS, *RANGE, "--exclude", "x", "-f", "json"]
    local = run_ok("funnel", args, as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert said in local.stderr.splitlines(), local.stderr
    with live_posthog(export, tmp_path) as (_fake, live_env):
        live_env.pop("USERTRACK_EVENTS", None)
        live = run_ok("funnel", args, as_of=AS_OF, **live_env)
    assert said in live.stderr.splitlines(), live.stderr


@pytest.mark.parametrize("seed", range(6))
def test_a_strict_funnel_reads_fewer_events_to_the_same_end(seed: int) -> None:
    """strict_events keeps a fraction of a strict funnel's events (none before a person's first
    step 1 or after their last step or exclusion event, the last of each run of other events):
    every person's progress over them is the one over every event, on random timelines dense
    in shared timestamps, runs of other events and exclusions."""
    import random

    import duckdb

    from usertrack.analytics.funnel.order import OTHER, strict_events

    rng = random.Random(seed)
    ranks = [0, 1, 2, OTHER, OTHER, OTHER, EXCLUDED]
    rows = [
        (f"p{p}" if p else None, rng.randrange(40), rng.choice(ranks))
        for p in range(60)
        for _ in range(rng.randrange(25))
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE _step_events (person_id VARCHAR, t BIGINT, rank INTEGER)")
    con.executemany("INSERT INTO _step_events VALUES (?, ?, ?)", rows)
    kept = strict_events(con, (0,))
    later = later_steps(STEPS)
    shape = Shape("strict", (("x", 1, 3),))

    def progress(table: str) -> dict[Any, Any]:
        found: dict[Any, Any] = {}
        rows = con.execute(f"SELECT * FROM {table} ORDER BY person_id, t, rank").fetchall()
        for person in {r[0] for r in rows}:
            timeline = [(t, k) for p, t, k in rows if p == person]
            found[person] = shaped_progress(timeline, later, 10, shape, [(1, 3)])
        return {p: r for p, r in found.items() if r != []}

    fewer = con.execute(f"SELECT count(*) FROM {kept}").fetchone()
    assert fewer is not None and fewer[0] < len(rows)
    assert progress(kept) == progress("_step_events")


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """a -> b with an `x` between for three persons: r1's x has plan pro, r2's plan free, r3's
    no plan; r4 does a and b only."""
    events = [
        ("a", at(1, 10), "r1", {}), ("x", at(1, 10, 5), "r1", {"plan": "pro"}),
        ("b", at(1, 10, 10), "r1", {}),
        ("a", at(2, 10), "r2", {}), ("x", at(2, 10, 5), "r2", {"plan": "free"}),
        ("b", at(2, 10, 10), "r2", {}),
        ("a", at(3, 10), "r3", {}), ("x", at(3, 10, 5), "r3", {}),
        ("b", at(3, 10, 10), "r3", {}),
        ("a", at(4, 10), "r4", {}), ("b", at(4, 10, 10), "r4", {}),
    ]  # fmt: skip
    records = [
        record(n, event, when, pid, pid, f"{pid}@x.io", props)
        for n, (event, when, pid, props) in enumerate(events, 1)
    ]
    return write_export(tmp_path_factory.mktemp("plans") / "events.jsonl", records)


@pytest.mark.parametrize("order", ["ordered", "strict", "any"])
def test_an_exclusion_narrowed_by_a_property_excludes_only_its_events(
    plans: Path, tmp_path: Path, order: str
) -> None:
    """`--exclude x:plan=pro` leaves out r1 alone (PostHog's exclusion entity with a property
    filter); plain `--exclude x` leaves out r1, r2 and r3. In a strict funnel the other x
    events still break the steps (they are events between them), so r2 and r3 stop at step
    1 there. In any order an exclusion event drops what was kept before it, so an excluded
    person counts at step 1 by their b alone. Locally and live alike."""
    args = ["a", "b", *RANGE, "--order", order]
    env = {"USERTRACK_EVENTS": str(plans)}
    expected = {"ordered": [3, 3], "strict": [3, 1], "any": [4, 3]}[order]
    narrowed = run_json("funnel", [*args, "--exclude", "x:plan=pro"], as_of=AS_OF, **env)
    assert persons(narrowed) == expected
    plain = run_json("funnel", [*args, "--exclude", "x"], as_of=AS_OF, **env)
    assert persons(plain) == ([4, 1] if order == "any" else [1, 1])
    ranged = run_json("funnel", [*args, "--exclude", "x:plan=free:1-2"], as_of=AS_OF, **env)
    assert persons(ranged) == expected
    with live_posthog(plans, tmp_path) as (_fake, live_env):
        live_env.pop("USERTRACK_EVENTS", None)
        live = run_json("funnel", [*args, "--exclude", "x:plan=pro"], as_of=AS_OF, **live_env)
    assert strip_live_only([live]) == strip_live_only([narrowed])
