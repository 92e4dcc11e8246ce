"""The funnel's attempts on integer times (microseconds) and step ranks, worked out by hand.

The CLI tests (test_funnel.py) cover the definitions on a hand-made export; these pin the
step lookup of `later_steps` for a funnel that repeats an event, and the window's inclusive end.
"""

from __future__ import annotations

from usertrack.analytics.funnel import later_steps, person_progress

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
