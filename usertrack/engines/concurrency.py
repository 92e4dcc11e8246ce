"""Work run on a thread meanwhile: the one way usertrack starts something beside what it is
doing, waits for its answer, cancels it and lets Ctrl-C through.

`Background(work)` starts `work()` at once on a thread of its own; `result()` waits for its
answer, or raises what it raised, on the caller's thread.

- Cancelling: the work runs under a cancel token of its own (usertrack.engines.base), in a copy
  of the caller's context. That token is cancelled when the caller's token (the one current
  when the work started: the command, a dashboard's lane, an alerts pass) is, and by
  `cancel()`; never the other way round, so the work's failure does not cancel the caller. As
  a context manager, leaving the block by an error or Ctrl-C cancels the work too: its queries
  are cancelled on their servers and its waits end.
- Ctrl-C: the thread is a daemon (nothing holds the process's exit after an error), and the
  waits of `result` and `settle` are short ones in a loop, so a Ctrl-C on the waiting thread
  is raised there at once on every platform (usertrack.core.interrupts then ends the command).

The dashboard's two lanes (usertrack.dashboards.compute.side_by_side) keep their own loop: a
lane takes panels from a shared queue until the other's failure stops it.
"""

from __future__ import annotations

import contextvars
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from usertrack.engines.base import CancelToken, cancel_scope, current_token

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

T = TypeVar("T")

# How long one wait lasts before it is begun again: a Ctrl-C is seen within this.
WAIT_STEP_S = 0.25
# How long a failing or interrupted command waits for its other work to stop after cancelling
# it (a cancelled query or wait ends at once), so that no source is closed under a query still
# winding down; never longer.
CANCEL_GRACE_SECONDS = 1.0


class Background(Generic[T]):
    """`work()` run on a daemon thread from now, under a cancel token of its own that follows
    the caller's (see the module); `result()` gives its answer or raises its error."""

    def __init__(self, work: Callable[[], T], name: str = "usertrack-meanwhile") -> None:
        self._token = CancelToken().cancelled_with(current_token())
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(self._run, work), name=name, daemon=True).start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            with cancel_scope(self._token):
                self._value = work()
        except BaseException as e:  # raised on the caller's thread, by `result`
            self._error = e
        finally:
            self._done.set()

    @property
    def done(self) -> bool:
        """Whether `work()` has ended, with an answer or an error."""
        return self._done.is_set()

    def cancel(self) -> None:
        """Stop the work: its queries are cancelled on their servers, its waits end (it then
        ends with usertrack.core.errors.Cancelled, or its answer if it had one)."""
        self._token.cancel()

    def settle(self, seconds: float | None = None) -> None:
        """Wait until `work()` has ended, whatever its answer (the workspace it reads is then
        left alone when closed); at most `seconds` when given."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            left = WAIT_STEP_S if deadline is None else deadline - time.monotonic()
            if self._done.wait(max(0.0, min(WAIT_STEP_S, left))):
                return
            if deadline is not None and time.monotonic() >= deadline:
                return

    def result(self) -> T:
        """The work's answer, once it has ended; its error raised here when it failed."""
        self.settle()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def __enter__(self) -> Background[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is not None:
            self.cancel()  # the caller gave up: the work's answer is no one's


def stop_all(works: Iterable[Background[Any]]) -> None:
    """Cancel each of `works`, then wait for them to end, CANCEL_GRACE_SECONDS at most in all."""
    started = list(works)
    for each in started:
        each.cancel()
    deadline = time.monotonic() + CANCEL_GRACE_SECONDS
    for each in started:
        each.settle(max(0.0, deadline - time.monotonic()))
