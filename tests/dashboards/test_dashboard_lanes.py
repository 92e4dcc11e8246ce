"""A dashboard's panels in two lanes: the database's panels on a thread of their own, the event
analyses on the caller's, the database's lane taking the event analyses not yet begun from the
end once its own are done; the answer in the file's order, the first failure in the file's
order."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.core.errors import UsageError
from usertrack.dashboards.compute import side_by_side
from usertrack.dashboards.spec import Panel
from usertrack.engines.base import check_cancelled, pause
from usertrack.segments.history import history_path

KINDS = ["metrics", "activity", "funnel", "segments", "failures", "sessions", "alerts"]


def panels(kinds: list[str]) -> list[Panel]:
    return [Panel(analysis=k, title=k, note="", line=n) for n, k in enumerate(kinds)]


def test_the_database_panels_run_beside_the_others_and_come_back_in_order() -> None:
    seen: dict[int, str] = {}
    both = threading.Barrier(2, timeout=10)  # each lane waits for the other: they overlap

    def outcome(i: int) -> dict[str, Any]:
        seen[i] = threading.current_thread().name
        if i in (0, 1):
            both.wait()
        return {"index": i}

    got = side_by_side(panels(KINDS), outcome)
    assert [p["index"] for p in got] == list(range(len(KINDS)))
    lane = {
        seen[i] for i, k in enumerate(KINDS) if k in ("metrics", "segments", "failures", "alerts")
    }
    assert lane == {"usertrack-panels"} and seen[1] == threading.current_thread().name


def test_the_database_lane_takes_the_last_panels_not_begun() -> None:
    """While this thread computes the first event analysis, the database's lane, done with its
    own panels, takes the others from the end of the file's order; this thread takes the rest
    from the front, and nothing is computed twice."""
    seen: dict[int, list[str]] = {}
    taken = threading.Event()  # the lane has begun the last panel

    def outcome(i: int) -> dict[str, Any]:
        seen.setdefault(i, []).append(threading.current_thread().name)
        if i == 5:
            taken.set()
        if i == 1:  # activity, here: held until the lane has taken sessions
            assert taken.wait(10)
        if i == 2:  # funnel: held, so that this thread ends the run with it
            time.sleep(0.3)
        return {"index": i}

    got = side_by_side(panels(KINDS), outcome)
    assert [p["index"] for p in got] == list(range(len(KINDS)))
    assert all(len(names) == 1 for names in seen.values()) and len(seen) == len(KINDS)
    assert seen[5] == ["usertrack-panels"] and seen[1] == [threading.current_thread().name]


def test_the_churn_panel_begins_first_beside_the_database_panels() -> None:
    """The costliest event analysis (churn) is begun first, on this thread, beside the key
    metrics: the run does not end with it alone on one core. The others follow in the file's
    order, and the answer is in the file's order."""
    kinds = ["metrics", "activity", "funnel", "churn", "segments", "sessions"]
    begun: list[str] = []
    lock = threading.Lock()

    def outcome(i: int) -> dict[str, Any]:
        with lock:
            begun.append(kinds[i])
        if kinds[i] == "metrics":  # waits on its database meanwhile
            time.sleep(0.3)
        return {"index": i}

    got = side_by_side(panels(kinds), outcome)
    assert [p["index"] for p in got] == list(range(len(kinds)))
    events = [k for k in begun if k not in ("metrics", "segments")]
    assert events[0] == "churn", begun
    assert events.index("activity") < events.index("funnel")


def test_the_first_failure_in_the_files_order_is_the_one_raised() -> None:
    def outcome(i: int) -> dict[str, Any]:
        if i == 3:  # segments, on the database's lane, after a while
            time.sleep(0.2)
            raise UsageError("segments failed")
        if i == 5:  # sessions, on this lane: later in the file
            time.sleep(0.4)
            raise UsageError("sessions failed")
        return {}

    with pytest.raises(UsageError, match="segments failed"):
        side_by_side(panels(KINDS), outcome)


def test_a_failure_here_cancels_the_other_lane() -> None:
    stopped = threading.Event()

    def outcome(i: int) -> dict[str, Any]:
        if i == 0:  # metrics: waits on its database, as long as it is let
            try:
                for _ in range(100):
                    pause(0.05)
                    check_cancelled()
            finally:
                stopped.set()
            return {}
        if i == 1:
            raise UsageError("activity failed")
        return {}

    began = time.monotonic()
    with pytest.raises(UsageError, match="activity failed"):
        side_by_side(panels(KINDS), outcome)
    assert stopped.wait(2) and time.monotonic() - began < 3


def test_a_panel_the_lane_took_fails_after_the_panels_before_it() -> None:
    """A panel the database's lane took fails first in time; a panel before it in the file, on
    this thread, fails later: that one is the failure. Nothing after a failed panel begins."""
    begun: list[int] = []
    taken = threading.Event()

    def outcome(i: int) -> dict[str, Any]:
        begun.append(i)
        if i == 5:  # sessions, taken by the lane
            taken.set()
            raise UsageError("sessions failed")
        if i == 1:
            assert taken.wait(10)
            time.sleep(0.2)
            raise UsageError("activity failed")
        return {}

    with pytest.raises(UsageError, match="activity failed"):
        side_by_side(panels(KINDS), outcome)
    assert 2 not in begun  # funnel comes after activity, which failed


def test_the_lanes_panel_that_fails_is_the_failure_when_none_before_it_fails() -> None:
    taken = threading.Event()

    def outcome(i: int) -> dict[str, Any]:
        if i == 5:
            taken.set()
            raise UsageError("sessions failed")
        if i == 1:
            assert taken.wait(10)
        return {}

    with pytest.raises(UsageError, match="sessions failed"):
        side_by_side(panels(KINDS), outcome)


def test_a_failure_here_cancels_the_panel_the_lane_took() -> None:
    stopped = threading.Event()
    taken = threading.Event()

    def outcome(i: int) -> dict[str, Any]:
        if i == 5:  # sessions, taken by the lane: waits on its queries, as long as it is let
            taken.set()
            try:
                for _ in range(100):
                    pause(0.05)
                    check_cancelled()
            finally:
                stopped.set()
            return {}
        if i == 1:
            assert taken.wait(10)
            raise UsageError("activity failed")
        return {}

    began = time.monotonic()
    with pytest.raises(UsageError, match="activity failed"):
        side_by_side(panels(KINDS), outcome)
    assert stopped.wait(2) and time.monotonic() - began < 3


def test_event_panels_computed_on_both_lanes_at_once_say_what_they_say_in_turn(
    fixed_demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The weekly dashboard with its first event analysis held until the database's lane has
    taken the last ones: the event analyses compute on two threads at once, on one workspace
    (its sources' connections, the results shared between panels), and the page is the one
    its panels give one after another."""
    from usertrack.dashboards import compute

    args = ["report", "weekly", "--as-of", "2026-11-12", "-f", "json", "--out", "-", "--no-save"]
    real = compute.side_by_side
    monkeypatch.setattr(
        compute, "side_by_side", lambda panels, outcome: [outcome(i) for i in range(len(panels))]
    )
    history_path(fixed_demo_home).unlink(missing_ok=True)
    in_turn = run(args, fixed_demo_home)
    assert in_turn.exit_code == 0, in_turn.stderr

    names: dict[str, str] = {}
    taken = threading.Event()

    def held(panels: Any, outcome: Any) -> list[dict[str, Any]]:
        events = [i for i, p in enumerate(panels) if p.analysis not in compute.DATABASE_PANELS]

        def timed(i: int) -> dict[str, Any]:
            name = threading.current_thread().name
            names[panels[i].title] = name
            if name == "usertrack-panels" and i in events:
                taken.set()
            if i == events[0]:
                assert taken.wait(30)
            return outcome(i)  # type: ignore[no-any-return]

        return real(panels, timed)

    monkeypatch.setattr(compute, "side_by_side", held)
    history_path(fixed_demo_home).unlink(missing_ok=True)
    both = run(args, fixed_demo_home)
    assert both.exit_code == 0, both.stderr
    assert json.loads(both.stdout)["panels"] == json.loads(in_turn.stdout)["panels"]
    assert names["Sessions and UX"] == "usertrack-panels"
    assert names["Active users and lifecycle"] == threading.current_thread().name
