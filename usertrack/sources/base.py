"""The one interface every data source implements: run a named query with parameters; and the
cancellation signal the sources of one command share."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from usertrack.errors import Cancelled

if TYPE_CHECKING:
    from usertrack.sources.queries import Query


@dataclass(frozen=True)
class Result:
    """Columns and rows of one query's answer. Rows are tuples in column order."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    # Free-form facts about how the rows were obtained (pages fetched, cache hit, ...).
    meta: dict[str, Any] = field(default_factory=dict)
    # The rows as a pyarrow Table instead of `rows` (then empty), when the caller asked a source
    # that can for a large result going straight into DuckDB (LocalPostHogSource.run).
    arrow: Any = None

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


# Rows per batch of a streamed result (Source.stream): a few MB of Python tuples at most.
STREAM_BATCH = 10_000


@dataclass
class RowStream:
    """A query's answer as it arrives: the columns, then the rows in batches (lists of tuples
    in column order), read once. Memory holds one batch, whatever the number of rows."""

    columns: list[str]
    batches: Iterable[list[tuple[Any, ...]]]
    meta: dict[str, Any] = field(default_factory=dict)


@contextmanager
def stream_rows(source: Any, query: Query, params: Mapping[str, Any]) -> Iterator[RowStream]:
    """The rows of `query` on `source` as a RowStream, open while the block runs: streamed by
    a source that can (`stream`: the local events store, PostgreSQL), else its whole `run`
    result as one batch (the PostHog API, a cached answer)."""
    stream = getattr(source, "stream", None)
    if stream is not None:
        with stream(query, params) as rows:
            yield rows
        return
    result = source.run(query, params)
    yield RowStream(result.columns, [result.rows] if result.rows else [], result.meta)


@runtime_checkable
class Source(Protocol):
    """A place queries run.

    `kind` is the folder of queries/ this source runs ("posthog" or "neon"); `dialect` is the
    language of those files ("hogql" or "postgres"). `run` binds `params` as values, never as text,
    and wraps every driver exception in a `usertrack.errors.UsertrackError` naming the query.
    """

    kind: str
    dialect: str
    description: (
        str  # one line for humans, with no secrets: "demo PostgreSQL", "PostHog us.posthog.com"
    )

    def run(self, query: Query, params: Mapping[str, Any]) -> Result: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------------------------
# Cancellation: when one source fails, or the user presses Ctrl-C, the others stop their waits
# (retry backoff, 429 pauses, async polls) at once instead of running out their budgets.


class CancelToken:
    """A one-way switch shared by the sources of one command; `cancel()` wakes every waiter and
    runs the registered callbacks (a database connection's cancel, say)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], object]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            # On a thread of its own: a database cancel request may wait on the network, and the
            # caller (the failing command) must not.
            threading.Thread(target=_quietly, args=(callback,), daemon=True).start()

    def cancelled_with(self, outer: CancelToken | None) -> CancelToken:
        """This token, cancelled too when `outer` is (the token of the work it is part of: an
        alerts pass's work ahead, a dashboard's lane), never the other way round."""
        if outer is not None:
            with outer._lock:
                follow = not outer._event.is_set()
                if follow:
                    outer._callbacks.append(self.cancel)
            if not follow:
                self.cancel()
        return self

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("stopped: another source failed or the command was interrupted")

    def wait(self, seconds: float) -> None:
        """Sleep `seconds`; raise Cancelled as soon as the token is cancelled."""
        if self._event.wait(max(0.0, seconds)):
            self.check()

    @contextmanager
    def on_cancel(self, callback: Callable[[], object]) -> Iterator[None]:
        with self._lock:
            self.check()  # already cancelled: do not start what the callback would stop
            self._callbacks.append(callback)
        try:
            yield
        finally:
            with self._lock, suppress(ValueError):
                self._callbacks.remove(callback)


def _quietly(callback: Callable[[], object]) -> None:
    with suppress(Exception):  # cancelling is best effort; the waiter stops anyway
        callback()


_current: ContextVar[CancelToken | None] = ContextVar("usertrack_cancel_token", default=None)


def current_token() -> CancelToken | None:
    return _current.get()


@contextmanager
def cancel_scope(token: CancelToken) -> Iterator[CancelToken]:
    """Sources run inside this block (on this thread) stop their waits when `token` cancels."""
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)


def pause(seconds: float) -> None:
    """`time.sleep` that a cancelled command interrupts (raising Cancelled)."""
    token = _current.get()
    if token is None:
        time.sleep(max(0.0, seconds))
    else:
        token.wait(seconds)


def check_cancelled() -> None:
    token = _current.get()
    if token is not None:
        token.check()


@contextmanager
def on_cancel(callback: Callable[[], object]) -> Iterator[None]:
    """Run `callback` (from another thread) if the command is cancelled during the block."""
    token = _current.get()
    if token is None:
        yield
        return
    with token.on_cancel(callback):
        yield
