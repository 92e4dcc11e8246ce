"""usertrack.engines.concurrency.Background: work on a thread meanwhile, its answer or its error on
the caller's thread, cancelled with the caller's work (never the other way round) or when the
caller leaves its block early, and a Ctrl-C on the waiting thread raised at once."""

from __future__ import annotations

import _thread
import threading
import time
from contextvars import ContextVar

import pytest

from usertrack.core.errors import Cancelled
from usertrack.engines.base import CancelToken, cancel_scope, pause
from usertrack.engines.concurrency import Background

SEEN: ContextVar[str] = ContextVar("seen", default="unset")


def test_the_answer_and_the_error_come_back_on_the_callers_thread() -> None:
    assert Background(lambda: 6 * 7).result() == 42
    failure = ValueError("no")

    def fail() -> None:
        raise failure

    with pytest.raises(ValueError) as raised:
        Background(fail).result()
    assert raised.value is failure


def test_the_work_runs_on_a_daemon_thread_of_its_name_in_a_copy_of_the_callers_context() -> None:
    SEEN.set("caller")
    work = Background(lambda: (threading.current_thread(), SEEN.get()), "usertrack-test")
    thread, seen = work.result()
    assert thread is not threading.current_thread()
    assert thread.daemon and thread.name == "usertrack-test" and seen == "caller"


def test_the_work_stops_at_once_when_the_callers_work_is_cancelled() -> None:
    outer = CancelToken()
    with cancel_scope(outer):
        work = Background(lambda: pause(10))
    started = time.monotonic()
    outer.cancel()
    with pytest.raises(Cancelled):
        work.result()
    assert time.monotonic() - started < 2


def test_the_works_own_cancel_leaves_the_callers_work_alone() -> None:
    outer = CancelToken()
    with cancel_scope(outer):
        work = Background(lambda: pause(10))
        work.cancel()
        with pytest.raises(Cancelled):
            work.result()
    assert not outer.cancelled


def test_leaving_the_block_by_an_error_cancels_the_work() -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError), Background(lambda: pause(10)) as work:
        raise RuntimeError("the caller failed")
    work.settle(5)
    assert work.done and time.monotonic() - started < 2
    with pytest.raises(Cancelled):
        work.result()


def test_leaving_the_block_as_usual_leaves_the_work_to_finish() -> None:
    def slow() -> str:
        pause(0.3)
        return "finished"

    with Background(slow) as work:
        pass
    assert work.result() == "finished"


def test_settle_waits_at_most_the_seconds_given() -> None:
    work = Background(lambda: pause(10))
    started = time.monotonic()
    work.settle(0.3)
    assert not work.done and 0.25 <= time.monotonic() - started < 2
    work.cancel()
    work.settle()
    assert work.done


def test_ctrl_c_while_waiting_is_raised_at_once_and_stops_the_work() -> None:
    assert threading.current_thread() is threading.main_thread()
    timer = threading.Timer(0.3, _thread.interrupt_main)  # as SIGINT: on the main thread
    # Under Python's own Ctrl-C handler (tests/conftest.py holds every test to leave it so):
    # interrupt_main calls the handler there is, and an ignored one or another's never raises.
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), Background(lambda: pause(10)) as work:
        timer.start()
        work.result()
    assert time.monotonic() - started < 2
    work.settle(5)
    assert work.done
    with pytest.raises(Cancelled):
        work.result()


def test_work_done_under_a_long_lived_token_is_not_kept_by_it() -> None:
    """A command's token lives as long as its process (`alerts --watch`, the MCP server): the
    work that followed it is let go once done, and work still running is still cancelled."""
    import gc
    import weakref

    command = CancelToken()
    with cancel_scope(command):
        done = [Background(lambda: 1, "usertrack-test") for _ in range(50)]
        assert [each.result() for each in done] == [1] * 50
        gone = [weakref.ref(each._token) for each in done]
        running = Background(lambda: pause(30), "usertrack-test")
    del done
    gc.collect()
    assert not [ref for ref in gone if ref() is not None]
    command.cancel()
    with pytest.raises(Cancelled):
        running.result()
