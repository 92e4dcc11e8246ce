"""The funnel's attempts on integer times (microseconds) and step ranks, worked out by hand.

The CLI tests (test_funnel.py) cover the definitions on a hand-made export; these pin the
step lookup of `later_steps` for a funnel that repeats an event, and the window's inclusive end.
"""

from __future__ import annotations

import pytest

from usertrack.analytics.funnel.run import later_steps, person_progress

# a -> b -> a: "a" is steps 1 and 3; an event is known by its first step's index (its rank).
STEPS = ["a", "b", "a"]
A, B = 0, 1


def test_later_steps_lists_the_steps_an_event_may_advance_furthest_first() -> None:
    assert later_steps(STEPS) == [(2,), (1,), (2,)]
    assert later_steps(["x", "x", "y", "x"]) == [(3, 1), (3, 1), (2,), (3, 1)]


def test_a_repeated_event_fills_the_later_step_of_the_same_attempt() -> None:
    # a@0 starts an attempt, b@10 is its step 2, a@20 its step 3 (not a new attempt).
    assert person_progress([(0, A), (10, B), (20, A)], later_steps(STEPS), 100) == [0, 10, 20]


def test_the_window_counts_from_the_attempts_first_step_inclusive() -> None:
    later = later_steps(STEPS)
    events = [(0, A), (5, A), (10, B), (20, A)]
    # a@5 cannot be step 3 (no attempt has reached step 2 yet): a second attempt. b@10 advances
    # the most recent one (from 5); a@20 is 15 after it: inside a window of 15 ...
    assert person_progress(events, later, 15) == [5, 10, 20]
    # ... outside one of 14, so a@20 starts a third attempt and the one from 5 stays the
    # furthest (step 2), ahead of the one from 0 (step 1).
    assert person_progress(events, later, 14) == [5, 10]


def test_no_step_one_event_reaches_nothing() -> None:
    assert person_progress([(3, B)], later_steps(STEPS), 100) == []


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("steps", [["a", "b", "c", "d"], ["a", "b"], ["a", "b", "a"]])
def test_the_progress_table_gives_every_persons_attempts(seed: int, steps: list[str]) -> None:
    """_progress_table works most persons out in DuckDB (events that are the steps in order,
    once each, one attempt) and the rest through person_progress: every person's row is what
    person_progress gives from their events, over random events with ties, repeats, steps out
    of order, the window's edge, a person without step 1 and events without a person."""
    import random
    from datetime import datetime, timedelta
    from itertools import groupby

    from usertrack.analytics.funnel import run as funnels
    from usertrack.checks.sandbox import connect

    rng = random.Random(seed)
    names = [*sorted(set(steps)), "other"]
    window = timedelta(minutes=50)
    start = datetime(2026, 6, 1)
    events = []
    for p in [*(f"p{i:03d}" for i in range(300)), None]:
        if rng.random() < 0.6:  # the common shape: the steps in order, once each
            count = rng.randrange(1, len(steps) + 1)
            when = start + timedelta(minutes=rng.randrange(0, 600))
            for name in steps[:count]:
                when += timedelta(minutes=rng.choice([0, 0, 5, 20, 40]))
                events.append((p, when, name))
        else:
            for _ in range(rng.randrange(1, 8)):
                when = start + timedelta(minutes=rng.choice([0, 10, 25, 50, 51, 90]))
                events.append((p, when, rng.choice(names)))
    con = connect()
    con.execute("CREATE TABLE facts (person_id VARCHAR, timestamp TIMESTAMP, event VARCHAR)")
    con.executemany("INSERT INTO facts VALUES (?, ?, ?)", events)
    funnels._progress_table(con, steps, window)
    got = con.execute("SELECT * FROM progress").fetchall()

    rank = {}
    for i, name in enumerate(steps):
        rank.setdefault(name, i)
    later = later_steps(steps)
    limit = window // timedelta(microseconds=1)
    epoch = datetime(1970, 1, 1)
    stepped = sorted(
        ((p, (w - epoch) // timedelta(microseconds=1), rank[e]) for p, w, e in events if e in rank),
        key=lambda r: (r[0] is None, r[0] or "", r[1], r[2]),
    )
    want = []
    for person, rows in groupby(stepped, key=lambda r: r[0]):
        reached = person_progress([(t, k) for _, t, k in rows], later, limit)
        if reached:
            at = [epoch + timedelta(microseconds=t) for t in reached]
            want.append((person, len(reached), *at, *[None] * (len(steps) - len(reached))))
    assert got == want
    assert len(want) > 100


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("steps", [["a", "b", "c", "d"], ["a", "b"], ["a", "b", "a"]])
def test_a_strict_funnel_gives_every_persons_attempts(seed: int, steps: list[str]) -> None:
    """A strict funnel's _progress_table (the events that can change progress, then every
    person worked out in DuckDB when each step is its own event) gives every person what
    shaped_progress gives from all their events: other events between steps, ties with them,
    restarts, the window's edge, a person without step 1 and events without a person."""
    import random
    from datetime import datetime, timedelta
    from itertools import groupby

    from usertrack.analytics.funnel import run as funnels
    from usertrack.analytics.funnel.order import OTHER, Shape, shaped_progress
    from usertrack.checks.sandbox import connect

    rng = random.Random(seed)
    names = [*sorted(set(steps)), "other", "more"]
    window = timedelta(minutes=50)
    start = datetime(2026, 6, 1)
    events = []
    for p in [*(f"p{i:03d}" for i in range(300)), None]:
        when = start + timedelta(minutes=rng.randrange(0, 600))
        for _ in range(rng.randrange(1, 12)):
            when += timedelta(minutes=rng.choice([0, 0, 5, 25, 50]))
            name = steps[0] if rng.random() < 0.2 else rng.choice(names)
            events.append((p, when, name))
    con = connect()
    con.execute("CREATE TABLE facts (person_id VARCHAR, timestamp TIMESTAMP, event VARCHAR)")
    con.executemany("INSERT INTO facts VALUES (?, ?, ?)", events)
    shape = Shape("strict")
    funnels._progress_table(con, steps, window, shape)
    got = con.execute("SELECT * FROM progress").fetchall()

    rank = {}
    for i, name in enumerate(steps):
        rank.setdefault(name, i)
    later = later_steps(steps)
    limit = window // timedelta(microseconds=1)
    epoch = datetime(1970, 1, 1)
    ranked = sorted(
        ((p, (w - epoch) // timedelta(microseconds=1), rank.get(e, OTHER)) for p, w, e in events),
        key=lambda r: (r[0] is None, r[0] or "", r[1], r[2]),
    )
    want = []
    for person, rows in groupby(ranked, key=lambda r: r[0]):
        reached = shaped_progress([(t, k) for _, t, k in rows], later, limit, shape, [])
        if reached:
            at = [epoch + timedelta(microseconds=t) for t in reached]
            want.append((person, len(reached), *at, *[None] * (len(steps) - len(reached))))
    assert got == want
    assert sum(1 for row in want if row[1] > 1) > 50
