"""A dashboard's panels in two lanes: the database's panels on a thread of their own, the event
analyses on the caller's; the answer in the file's order, the first failure in the file's order."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from usertrack.dashboards.compute import side_by_side
from usertrack.dashboards.spec import Panel
from usertrack.errors import UsageError
from usertrack.sources.base import check_cancelled, pause

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
    here = {seen[i] for i, k in enumerate(KINDS) if k in ("activity", "funnel", "sessions")}
    assert lane == {"usertrack-panels"} and here == {threading.current_thread().name}


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
