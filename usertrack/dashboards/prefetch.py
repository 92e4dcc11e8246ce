"""A dashboard's PostHog queries sent together, in a few requests, before its panels compute.

PostHog throttles HogQL queries at 120 an hour per personal API key by default
(posthog/rate_limit.py HogQLQueryThrottle): the weekly dashboard's panels, each sending its own
queries (and the classification of each moment its three), would spend a quarter of it. The
queries a dashboard's panels send depend on their options, the period and the rules, not on
what PostHog answers, nor on what the app's database answers; so the panels are first
rehearsed: computed with every query answered empty (the database's too, each with the columns
its text names) and the PostHog ones written down. Those are then sent as at most
`MAX_BUNDLES` bundles (usertrack.engines.posthog.bundle: many query files in one HogQL request,
each answered as if sent alone), side by side as PostHog runs 3 queries of a project at once;
while PostHog runs them the panels are rehearsed again, the database's queries run for real,
once (their answers are kept for the run itself), so the user waits for the longer of the two,
not their sum. The panels then compute on those answers: the same query files with the same
values, so the same figures as each panel's command. A query the rehearsals did not foresee
(one whose values depend on an answer), or one a bundle cannot hold, is sent alone when the
panel asks for it, and is counted like every other. Nothing of the rehearsals is shown or
kept: their notices go nowhere, and what the panels shared in them is dropped.

Only for a live PostHog source (the demo and an events export read the events locally)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from usertrack.core.bounds import return_freed_memory
from usertrack.engines.base import CancelToken, Result, Source, cancel_scope, current_token
from usertrack.engines.concurrency import Background, stop_all

if TYPE_CHECKING:
    from datetime import datetime

    from usertrack.engines.posthog import PostHogHTTPSource
    from usertrack.queries.library import Query
    from usertrack.workspace import Workspace

    Job = tuple[Query, dict[str, Any]]

# PostHog runs 3 queries of a project at once: as many bundles, each about a third of the work.
MAX_BUNDLES = 3
# Queries the analyses ask only about an empty answer, to say why: the event names of a range
# (usertrack.analytics.names, for "no event named X"), a range's nodes
# (usertrack.analytics.paths.run, for a --from/--to no event has). Every answer of the rehearsal is
# empty, so it asks them all; they are left to the run, which sends them (each counted) only when an
# answer is empty.
ABOUT_EMPTY = ("posthog/event_names", "posthog/path_events")
# An answer of more rows than this is read from PostHog's JSON into an Arrow table and kept in
# the result cache as one (its columns' buffers: no Python value per cell pickled, which took
# seconds of CPU at 200,000 users for answers a later command may never read); a panel that
# takes Arrow (a facts query's, usertrack.analytics.common.ARROW_OVER) is given the table, any
# other its rows, as the cache gives a caller that asked for no Arrow table.
ARROW_OVER = 10_000


def _key(query: Query, params: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        query.folder,
        query.sql,
        query.insight,
        tuple(sorted((k, repr(v)) for k, v in params.items())),
    )


class Rehearsed(Source):
    """One source of the workspace while a dashboard computes: answers what was fetched ahead
    (`answers`); while `rehearsing`, writes down each PostHog query it is asked (`wanted`) and
    answers it empty. Everything else is the source behind it: how it runs, whether it is
    live, its cache and what it knows besides query files. Its queries all come through `run`
    (streamed ones too: the base's `stream`), none in a bundle of the cache's (`run_many`)."""

    def __init__(self, behind: Source, *, live: bool) -> None:
        self._behind = behind
        self.kind = behind.kind
        self.dialect = behind.dialect
        self.description = behind.description
        self.max_concurrent = behind.max_concurrent
        self.arrow_results = behind.arrow_results
        self.parses_with_pyarrow = behind.parses_with_pyarrow
        self.memory_only = behind.memory_only
        self.ttl_seconds = behind.ttl_seconds
        self.refresh = behind.refresh
        self.live = live  # PostHog's API: written down while rehearsing
        self.rehearsing = False
        # The first, database-free rehearsal (see `rehearsed`): a source that is not PostHog's
        # answers every query empty without asking it, keeping or counting nothing
        self.database_free = False
        self.answers: dict[tuple[Any, ...], Result] = {}
        # What the bundles answered (`keep`), as PostHog's source gave it: one of more than
        # ARROW_OVER rows as an Arrow table, handed as such to a panel that takes one (a facts
        # query's rows go into DuckDB as columns) and made rows once for one that does not
        self.fetched: dict[tuple[Any, ...], Result] = {}
        self.wanted: dict[tuple[Any, ...], tuple[Query, dict[str, Any]]] = {}
        # How many times the rehearsal asked each query (by query and values): the run's panels
        # are the same and ask it as many times, so a large answer is let go at its last ask
        # rather than held to the end of the run (see `_last`)
        self.asked: dict[tuple[Any, ...], int] = {}
        self._lock = threading.Lock()

    @property
    def behind(self) -> Source:
        """The workspace's own source, which this one stands in front of."""
        return self._behind

    @property
    def is_live(self) -> bool:
        return self._behind.is_live

    @property
    def inner(self) -> Source:
        return self._behind.inner

    def peek(self, query: Query, params: Mapping[str, Any]) -> Result | None:
        return self._behind.peek(query, params)

    def store_answer(self, query: Query, params: Mapping[str, Any], result: Result) -> None:
        self._behind.store_answer(query, params, result)

    def group_types(self) -> dict[str, int] | None:
        return self._behind.group_types()

    def first_event(self) -> datetime | None:
        return self._behind.first_event()

    def facts_query(self, query: Query) -> Query:
        return self._behind.facts_query(query)

    def __repr__(self) -> str:
        return f"Rehearsed({self._behind!r})"

    def run(
        self, query: Query, params: Mapping[str, Any], *, arrow_over: int | None = None
    ) -> Result:
        """`arrow_over` passed on as it was given (a query asked without it, without it)."""
        if self.rehearsing and self.database_free and not self.live:
            return _empty(query, self.dialect)
        more = {} if arrow_over is None else {"arrow_over": arrow_over}
        asked = _key(query, params)
        key = (*asked, tuple(sorted(more.items())))
        with self._lock:
            if self.rehearsing:
                self.asked[asked] = self.asked.get(asked, 0) + 1
            if key in self.answers:
                found = self.answers[key]
                self._last(asked, found)
                return found
            fetched = self.fetched.get(asked)
            last = fetched is not None and self._last(asked, fetched)
        if fetched is not None:
            # as the result cache answers its entry: as it is to a caller that takes Arrow
            if arrow_over is not None and self.arrow_results:
                return fetched
            rows = _rows(fetched)
            if not last:
                with self._lock:
                    self.answers[key] = rows
            return rows
        if self.rehearsing and self.live:
            cached = self._behind.peek(query, params)
            if cached is not None:
                with self._lock:
                    self.answers[key] = cached
                return cached
            with self._lock:
                self.wanted.setdefault(key, (query, dict(params)))
            return _empty(query)
        result = self._behind.run(query, params, **more)
        with self._lock:
            self.answers[key] = result  # the database's, answered once for rehearsal and run
        return result

    def _last(self, asked: tuple[Any, ...], answer: Result) -> bool:
        """Whether this is the run's last ask of a large answer the rehearsal asked for (the run's
        panels are the rehearsal's and ask it as many times): then every form of it is dropped,
        to go when its panel is done with it rather than be held to the end of the run beside
        the panels still computing (at 200,000 users the weekly dashboard's answers fetched
        ahead are 190 MB of Arrow tables, the database's per-user ones some 500,000 rows as
        Python values). Asked once more, it is asked of the source behind (the result cache,
        the database). Called under the lock."""
        if self.rehearsing or asked not in self.asked or not _large(answer):
            return False
        self.asked[asked] -= 1
        if self.asked[asked] > 0:
            return False
        del self.asked[asked]
        self.fetched.pop(asked, None)
        for key in [k for k in self.answers if k[:-1] == asked]:
            del self.answers[key]
        return True

    def close(self) -> None:
        self._behind.close()


def _large(result: Result) -> bool:
    """An answer worth letting go: one of more than ARROW_OVER rows (as rows or Arrow)."""
    rows = result.arrow.num_rows if result.arrow is not None else len(result.rows)
    return rows > ARROW_OVER


def _empty(query: Query, dialect: str = "hogql") -> Result:
    """`query` answered with no row, its columns the ones its text names (the code that reads
    an answer by its columns, a per-user query's `email`, then goes on as it will in the run)."""
    if dialect == "postgres":
        from usertrack.engines.postgres.sqlcheck import select_names

        return Result(columns=select_names(query.sql) or [], rows=[])
    from usertrack.engines.posthog.bundle import select_columns
    from usertrack.engines.posthog.values import strip_sql

    return Result(columns=select_columns(strip_sql(query.sql)) or [], rows=[])


def _http(source: Source) -> PostHogHTTPSource | None:
    """The PostHog API source under any result cache, or None (the events are local)."""
    from usertrack.engines.posthog import PostHogHTTPSource

    inner = source.inner
    return inner if isinstance(inner, PostHogHTTPSource) else None


def bundles(source: Rehearsed) -> list[list[Job]]:
    """What the rehearsal wrote down (and forgets), dealt into at most MAX_BUNDLES bundles of
    about equal work; none without a PostHog API source behind `source`."""
    from usertrack.engines.posthog.values import per_person_columns, strip_sql

    wanted = [job for job in source.wanted.values() if job[0].id not in ABOUT_EMPTY]
    source.wanted.clear()
    if _http(source.behind) is None or not wanted:
        return []

    # The per-person queries answer a row per person (and scan every event): weigh them more.
    def weight(job: Job) -> int:
        return 3 if job[0].per_user or per_person_columns(strip_sql(job[0].sql)) else 1

    # In an order of their own, not the order the rehearsal's panels (threads) asked them in:
    # the same dashboard sends the same bundles each run, which PostHog's query cache (keyed by
    # the text and values) can answer again, and its parser reads once.
    def order(job: Job) -> tuple[Any, ...]:
        query, params = job
        return (-weight(job), query.id, tuple(sorted((k, repr(v)) for k, v in params.items())))

    dealt: list[list[Job]] = [[] for _ in range(MAX_BUNDLES)]
    loads = [0] * MAX_BUNDLES
    for job in sorted(wanted, key=order):
        lightest = loads.index(min(loads))
        dealt[lightest].append(job)
        loads[lightest] += weight(job)
    return [b for b in dealt if b]


def send(
    source: Rehearsed, dealt: list[list[Job]], failed: CancelToken
) -> list[Background[list[Result | None]]]:
    """Each bundle sent from now, on a thread of its own (each is one request, async, polled
    until PostHog has answered it); `failed` cancelled when one fails."""
    api = _http(source.behind)
    assert api is not None

    def answer(jobs: list[Job]) -> list[Result | None]:
        try:
            return api.run_bundle(jobs, arrow_over=ARROW_OVER)
        except BaseException:
            failed.cancel()
            raise

    return [Background(partial(answer, jobs), "usertrack-bundle") for jobs in dealt]


def keep(
    source: Rehearsed,
    dealt: list[list[Job]],
    sending: list[Background[list[Result | None]]],
) -> None:
    """Wait for the bundles' answers and keep each (and put it in the result cache: one of more
    than ARROW_OVER rows as an Arrow table). A bundle's failure is raised, not the others'
    being stopped by it (usertrack.core.errors.Cancelled); theirs only when the command was."""
    from usertrack.core.errors import Cancelled

    answered: list[list[Result | None]] = []
    stopped: Cancelled | None = None
    for each in sending:
        try:
            answered.append(each.result())
        except Cancelled as e:  # another bundle failed, or the command was stopped
            stopped = stopped or e
    if stopped is not None:
        raise stopped
    for jobs, results in zip(dealt, answered, strict=True):
        for (query, params), result in zip(jobs, results, strict=True):
            if result is None:
                continue  # sent alone when a panel asks for it
            source.behind.store_answer(query, params, result)  # an Arrow table as one
            source.fetched[_key(query, params)] = result
    # Reading the answers (PostHog's JSON a window at a time, each window's Python values made
    # Arrow pieces, the pieces joined) left 200 to 300 MB freed in the C library's heaps at
    # 200,000 users, between the tables kept: given back before the panels compute on them.
    return_freed_memory()


def _rows(result: Result) -> Result:
    """`result` with its rows as Python values (the panels asked for no Arrow table)."""
    if result.arrow is None:
        return result
    from dataclasses import replace

    from usertrack.engines.postgres.pg_copy import as_rows

    return replace(result, rows=as_rows(result.arrow), arrow=None)


@contextmanager
def rehearsed(
    ws: Workspace, rehearse: Callable[[Workspace], None], progress: Callable[[str], None]
) -> Iterator[bool]:
    """Within (as True): the workspace's sources answer what the rehearsal (`rehearse`, the panels
    computed on a quiet view of `ws`: its notices go nowhere, and what its panels share is its
    own) made them fetch ahead. Without a live PostHog source, nothing is done (as False).

    The rehearsal is done twice. First with the database answered empty too (no query of it
    asked): about a second at 200,000 users, which writes down the PostHog queries, and the
    bundles are sent at once. Then as the run will be, the database's queries run for real
    (their answers kept for the run) while PostHog works on the bundles: the user waits for the
    longer of the two, not their sum. No PostHog query of the weekly dashboard has values that
    depend on a database answer (each panel's depend on its options, the period and the rules),
    so both write down the same ones; one the second asks that the first did not is left to the
    run, which sends it alone (counted). A bundle that fails stops the second rehearsal and its
    error is the command's; a failure or Ctrl-C here stops the bundles."""
    posthog = ws.sources.get("posthog")
    if posthog is None or _http(posthog) is None:
        yield False
        return
    before = dict(ws.sources)
    wrapped = {kind: Rehearsed(s, live=kind == "posthog") for kind, s in before.items()}
    ws.sources.update(wrapped)

    def quietly(database_free: bool) -> None:
        # nothing computed on empty answers is shared with the run, nor the first with the second
        shared: dict[Any, Any] | None = {} if ws.scope.shared is not None else None
        for each in wrapped.values():  # each counts what it is asked
            each.rehearsing, each.database_free = True, database_free
            each.asked.clear()
        try:
            rehearse(ws.scoped(ws.scope.but(shared=shared), quiet=True))
        finally:
            for each in wrapped.values():
                each.rehearsing = each.database_free = False

    try:
        quietly(database_free=True)
        dealt = bundles(wrapped["posthog"])
        if dealt:
            count = sum(len(jobs) for jobs in dealt)
            progress(f"sending the panels' {count} PostHog queries in {len(dealt)} requests")
        # the bundles and the database's work stop together when a bundle fails
        failed = CancelToken().cancelled_with(current_token())
        with cancel_scope(failed):
            sending = send(wrapped["posthog"], dealt, failed)
        try:
            with cancel_scope(failed):
                quietly(database_free=False)
            wrapped["posthog"].wanted.clear()  # left to the run, each sent alone
            # what the rehearsal's work freed (its panels on empty answers, the database's
            # answers read): about 100 MB at 200,000 users, given back before the panels
            return_freed_memory()
            keep(wrapped["posthog"], dealt, sending)
        except BaseException:
            stop_all(sending)  # what is still being sent
            raise
        yield True
    finally:
        for kind, source in before.items():
            ws.sources[kind] = source
