"""The one interface every data source implements: run a named query with parameters, and the
capabilities only some have, declared; and the cancellation signal the sources of one command
share."""

from __future__ import annotations

import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from usertrack.core import pseudonyms
from usertrack.core.errors import Cancelled

if TYPE_CHECKING:
    from datetime import datetime

    import duckdb

    from usertrack.queries.library import Query


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

    def __post_init__(self) -> None:
        if pseudonyms.active():  # --anonymize: the names beside emails, to be shown as neither
            pseudonyms.learn(self.columns, self.rows)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A Result kept between commands (engines/cache.py) is unpickled, not made: learn too.
        self.__dict__.update(state)
        self.__post_init__()

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

    def __post_init__(self) -> None:
        if pseudonyms.active():  # --anonymize: each batch's names learnt before it is written
            self.batches = _learning(self.columns, self.batches)


def _learning(
    columns: list[str], batches: Iterable[list[tuple[Any, ...]]]
) -> Iterator[list[tuple[Any, ...]]]:
    for batch in batches:
        pseudonyms.learn(columns, batch)
        yield batch


@contextmanager
def stream_rows(source: Source, query: Query, params: Mapping[str, Any]) -> Iterator[RowStream]:
    """The rows of `query` on `source` as a RowStream, open while the block runs: streamed by
    an engine that can (the local events store, PostgreSQL), else its whole `run` result as
    one batch (the PostHog API, a cached answer): Source.stream."""
    with source.stream(query, params) as rows:
        yield rows


class Source(ABC):
    """A place queries run: an engine (PostHog's query API: posthog_http; the local events
    store: posthog_local; PostgreSQL: postgres) or a wrapper in front of one (the result
    cache: cache.py).

    `kind` is the folder of queries/ this source runs ("posthog" or "neon"); `dialect` is the
    language of those files ("hogql" or "postgres"). `run` binds `params` as values, never as text,
    and wraps every driver exception in a `usertrack.core.errors.UsertrackError` naming the query.

    What only some engines can do is declared here too, with what the others answer: a flag
    (`is_live`, `has_facts`, `keeps_answers`, ...) or a value (`max_concurrent`, ...) to ask,
    and methods that answer None ("not here") where every caller has another way anyway, else
    raise NotImplementedError on an engine whose flag says it cannot. A caller asks these;
    it never probes a source for an attribute. A wrapper says which of them it passes on.
    """

    kind: str
    dialect: str
    description: str  # one line for humans, with no secrets: "demo PostgreSQL", "PostHog ..."

    # How many of its queries a command runs side by side (profiles.lanes); None: no bound.
    max_concurrent: int | None = 1
    # run(..., arrow_over=N) may answer a result of more than N rows as an Arrow table
    # (Result.arrow); without `arrow_results`, callers leave arrow_over out.
    arrow_results: bool = False
    # Its runs parse rows with pyarrow whatever their number (PostgreSQL's COPY).
    parses_with_pyarrow: bool = False
    # It holds nothing but memory: a process about to end may leave it unclosed (drop_kept).
    memory_only: bool = False
    # A result cache's time-to-live in seconds; 0: no cache in front of the engine.
    ttl_seconds: int = 0
    # --refresh: answers are recalculated, never taken from a cache.
    refresh: bool = False

    @abstractmethod
    def run(
        self, query: Query, params: Mapping[str, Any], *, arrow_over: int | None = None
    ) -> Result: ...

    @abstractmethod
    def close(self) -> None: ...

    @contextmanager
    def stream(self, query: Query, params: Mapping[str, Any]) -> Iterator[RowStream]:
        """The rows of `query` as they arrive, in batches, while the block runs; here the
        whole `run` result as one batch (an engine that streams says so by its own)."""
        result = self.run(query, params)
        yield RowStream(result.columns, [result.rows] if result.rows else [], result.meta)

    @property
    def is_live(self) -> bool:
        """Whether this is PostHog's own query API: it works the figures out in place (a
        summary query, not every person's rows) and counts each query against the project's
        rate limit. False for the local events store and for PostgreSQL."""
        return False

    @property
    def inner(self) -> Source:
        """The engine under any wrapper (the result cache): this source itself for an engine."""
        return self

    # ---------------------------------------------------------------- a result cache in front

    def peek(self, query: Query, params: Mapping[str, Any]) -> Result | None:
        """The fresh cached answer `run` would give without asking, or None (no cache here)."""
        return None

    def store_answer(self, query: Query, params: Mapping[str, Any], result: Result) -> None:
        """Cache `result`, answered for `query` by other means; nothing where no cache is."""
        return None

    # ---------------------------------------------------------------- what the data holds

    def first_event(self) -> datetime | None:
        """When the data starts (its earliest event), UTC, where that is known at no cost (a
        local events store); None otherwise, and for one without events."""
        return None

    def group_types(self) -> dict[str, int] | None:
        """The project's group types, name -> group_type_index (PostHog's API lists them, the
        events store holds them); None for an engine without events (PostgreSQL)."""
        return None

    def list_saved(
        self, kind: str, search: str | None = None, most: int = 1_000
    ) -> tuple[list[dict[str, Any]], int]:
        """The project's saved insights, dashboards or feature flags (`kind`: "insights",
        "dashboards" or "feature_flags"), at most `most`, each as PostHog's API writes it, and
        how many there are; `search` keeps those whose name (a flag's key too) contains it.
        PostHog's API lists all three; the local events store holds feature flags only (the
        demo's); none elsewhere."""
        return [], 0

    def facts_query(self, query: Query) -> Query:
        """`query` as an analysis reads it on this engine: as written, but on the local events
        store (a packed facts file in its per-event form)."""
        return query

    # ---------------------------------------------------------------- answers kept by the store

    @property
    def keeps_answers(self) -> bool:
        """Whether answers that depend on the store alone are kept beside it under its stamp
        (the local events store: usertrack.engines.local.storecache): `kept` and `keep` work
        here."""
        return False

    def kept(self, what: str, values: Mapping[str, Any], text: bool = False) -> Any:
        """Where the answer `what` with `values` is kept and what is kept there (None: not
        yet); None: none kept."""
        raise NotImplementedError(f"{self!r} keeps no answers: ask keeps_answers")

    def keep(self, name: str, table: Any) -> None:
        """Keep the Arrow table (or text) `table` under `name`, a name of `kept`'s."""
        raise NotImplementedError(f"{self!r} keeps no answers: ask keeps_answers")

    # ---------------------------------------------------------------- several queries at once

    @property
    def answers_bundles(self) -> bool:
        """Whether `run_bundle` answers several query files in one request (PostHog's API: one
        query of the hourly budget instead of one each)."""
        return False

    def run_bundle(
        self,
        jobs: Sequence[tuple[Query, Mapping[str, Any]]],
        *,
        asynchronous: bool = True,
        arrow_over: int | None = None,
    ) -> list[Result | None]:
        """Each job's Result as `run` would give it, from one request; None for a job to be
        sent alone."""
        raise NotImplementedError(f"{self!r} answers no bundle: ask answers_bundles")

    @property
    def runs_bundles(self) -> bool:
        """Whether `run_many` sends the jobs it cannot answer at once as bundles (the result
        cache in front of PostHog's API)."""
        return False

    def run_many(
        self, jobs: list[tuple[Query, Mapping[str, Any]]], *, arrow_over: int | None = None
    ) -> list[Result]:
        """Each job's answer, as `run` gives it, several sent in one request."""
        raise NotImplementedError(f"{self!r} sends no bundle: ask runs_bundles")

    # ---------------------------------------------------------------- facts in the engine's store
    # The local events store works an analysis out in its own DuckDB, next to the events: the
    # per-person facts never cross into Python. Elsewhere (`has_facts` False) the facts come
    # back as rows of `run`, loaded into an in-memory DuckDB; the methods that answer None
    # answer None there, the others raise NotImplementedError.

    @property
    def has_facts(self) -> bool:
        """Whether an analysis's facts are worked out in this engine's own DuckDB (the local
        events store): `facts_cursor`, `facts_into`, `facts_sql`, `facts_reduced`,
        `analysis_rows`, `segment_persons_into` work here."""
        return False

    def _without_facts(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"{self!r} holds no facts of its own ({what}): ask has_facts")

    def facts_cursor(
        self, query: Query, params: Mapping[str, Any], table: str, *, keep: bool = False
    ) -> duckdb.DuckDBPyConnection:
        """A new cursor on the store holding the rows of `query` as its temporary table
        `table` (the caller closes it). `keep`: the rows are kept between commands where the
        engine keeps answers (`keeps_answers`), and read back while its data is unchanged."""
        raise self._without_facts("facts_cursor")

    def facts_into(
        self,
        cur: duckdb.DuckDBPyConnection,
        query: Query,
        params: Mapping[str, Any],
        table: str,
        *,
        keep: bool = False,
    ) -> None:
        """The rows of `query` as the temporary table `table` of `cur`, a facts_cursor's
        (`keep`: as facts_cursor's)."""
        raise self._without_facts("facts_into")

    def facts_sql(
        self, query: Query, params: Mapping[str, Any]
    ) -> tuple[duckdb.DuckDBPyConnection, str, dict[str, Any]]:
        """A new cursor on the store (the caller closes it), the DuckDB text of `query` and its
        bound values, to run as a subquery of an analysis's own statements."""
        raise self._without_facts("facts_sql")

    def facts_reduced(
        self, query: Query, params: Mapping[str, Any], sql: str, values: Mapping[str, Any]
    ) -> Any:
        """The Arrow table of usertrack's own statement `sql` over the rows of `query` (each
        `{facts}` of it), run in the store."""
        raise self._without_facts("facts_reduced")

    def analysis_rows(
        self, sql: str, values: Mapping[str, Any], tables: Mapping[str, Any], where: str
    ) -> list[tuple[Any, ...]]:
        """The rows of usertrack's own analysis statement `sql` in the store, with `tables`
        (name -> Arrow table) beside the store's."""
        raise self._without_facts("analysis_rows")

    def segment_persons_into(
        self, cur: duckdb.DuckDBPyConnection, query: Query, params: Mapping[str, Any], table: str
    ) -> None:
        """segment_persons.sql's rows as the temporary table `table` of `cur`."""
        raise self._without_facts("segment_persons_into")

    def has_tables(self, names: tuple[str, ...]) -> bool:
        """Whether the store has every table of `names`; False without a store."""
        return False

    def path_codes(
        self,
        query: Query,
        params: Mapping[str, Any],
        *,
        persons: bool = False,
        among: list[str] | None = None,
    ) -> tuple[dict[str, Any], list[tuple[int, Any]]] | None:
        """path_events.sql's nodes from the store's path table where it answers the file;
        None otherwise (here: no store)."""
        return None

    def segment_persons(
        self, query: Query, params: Mapping[str, Any], *, arrow: bool = False
    ) -> Result | None:
        """segment_persons.sql's rows from the store's per-person tables where they answer
        the file; None otherwise (here: no store)."""
        return None

    def segment_persons_of(
        self, query: Query, params: Mapping[str, Any], ids: list[str]
    ) -> list[tuple[Any, ...]] | None:
        """`segment_persons`' rows of the persons `ids` alone; None where it would not answer
        (here: no store)."""
        return None

    def run_grouped(
        self, query: Query, bare: Query, params: Mapping[str, Any], groups: Any, rest: int
    ) -> Result | None:
        """`query` run once for every --by-segment group, each row after its group's number;
        None where the store does not answer it so (here: no store)."""
        return None


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
        # The tokens that follow this one (`cancelled_with`), held weakly: a command's token
        # lives as long as the process (`alerts --watch`, the MCP server), and each piece of
        # work that followed it would otherwise be kept for good once done.
        self._followers: list[weakref.WeakMethod[Callable[[], None]]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
            followers = [cancel for link in self._followers if (cancel := link()) is not None]
        for cancel in followers:
            cancel()
        for callback in callbacks:
            # On a thread of its own: a database cancel request may wait on the network, and the
            # caller (the failing command) must not.
            threading.Thread(target=_quietly, args=(callback,), daemon=True).start()

    def cancelled_with(self, outer: CancelToken | None) -> CancelToken:
        """This token, cancelled too when `outer` is (the token of the work it is part of: an
        alerts pass's work ahead, a dashboard's lane), never the other way round."""
        if outer is not None:
            link = weakref.WeakMethod(self.cancel)
            with outer._lock:
                follow = not outer._event.is_set()
                if follow:
                    outer._followers = [f for f in outer._followers if f() is not None]
                    outer._followers.append(link)
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
