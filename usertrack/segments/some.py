"""The profile of some people only (`--persons`: the few thousand behind one number): every
per-user query kept to their emails where it runs, joined, and `queries/join/profile.sql` over
that join.

It is the whole profile's, person for person, when profile.sql computes each row from its own
row of `joined` alone (usertrack.segments.kept.row_by_row: no aggregate, window or subquery),
as the shipped file does: the full outer join on email keeps a person's row whatever the
other emails, so keeping each query's rows to the emails keeps exactly their joined rows.
Otherwise (an edited profile.sql reading other rows) the whole profile is built.

A query that keeps itself to a list of emails (declaring `segment_only` and `segment_emails`, as
queries/neon/runs.sql does) is given the emails and reads only their rows before it counts
anything. Any other is kept to the emails by the join's own key (usertrack.core.emails) over its
rows: as the rows of a bound array on PostgreSQL; in a bound list on the events store. On
PostHog either is sent the emails only up to by_segment's MAX_LISTED (PostHog prints a list
into the ClickHouse query, parsed up to max_query_size bytes): past that, its queries run over
everyone, as in the whole build, and only their rows of these emails are read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.engines.base import Result, Source
from usertrack.queries.library import Param, Query, QueryLibrary, resolve_params

if TYPE_CHECKING:
    from usertrack.engines.local.source import LocalPostHogSource

EMAILS_PARAM = "usertrack_emails"
# A per-user query declaring both keeps itself to the emails (keeps_itself): the names the
# tools queries use for a segment's people.
ONLY_PARAM, ONLY_EMAILS_PARAM = "segment_only", "segment_emails"
# The most emails bound into a live PostHog query (by_segment.MAX_LISTED's reason, the same
# bound: ClickHouse's max_query_size).
MAX_LIVE_EMAILS = 5_000


def keeps_itself(query: Query) -> bool:
    """Whether `query` keeps itself to a list of emails: it declares ONLY_PARAM and
    ONLY_EMAILS_PARAM (queries/neon/runs.sql: only the users whose normalized email is in the
    list, read before anything is counted, where a wrapped query counts everyone first)."""
    return {ONLY_PARAM, ONLY_EMAILS_PARAM} <= query.param_names


def exact(library: QueryLibrary) -> bool:
    """Whether a profile of some people is the whole profile's rows of them (see the module)."""
    from usertrack.queries.library import shipped
    from usertrack.segments.kept import row_by_row

    query = library.get("join/profile")
    # the shipped file is (tests/segments/test_persons_profile.py): known without parsing it in
    # DuckDB
    return shipped(query) or row_by_row(query.sql, "joined")


def some_users_query(query: Query, listed: str) -> Query:
    """`query` (a per-user query) kept to the emails bound as EMAILS_PARAM, compared as the
    join compares them (usertrack.core.emails). `listed`: 'array' (PostgreSQL), 'rows' (the events
    store: one hash join) or 'has' (PostHog)."""
    from usertrack.core.emails import email_key_sql

    body = query.sql.rstrip().rstrip(";")
    key = email_key_sql(query.dialect, "usertrack_some.email")
    if listed == "array":
        # a hash join of the array's rows: `= ANY(array)` compares every row with each email
        test = f"{key} IN (SELECT unnest(CAST(%({EMAILS_PARAM})s AS text[])))"
    elif listed == "rows":
        test = f"{key} IN (SELECT arrayJoin({{{EMAILS_PARAM}}}))"
    else:
        test = f"has({{{EMAILS_PARAM}}}, {key})"
    sql = f"SELECT * FROM (\n{body}\n) AS usertrack_some\nWHERE {test}"
    return dataclasses.replace(
        query,
        sql=sql,
        params=(*query.params, Param(EMAILS_PARAM, None, 0)),
        sql_line=query.sql_line - 1,  # the body moved one line down: errors keep the file's line
    )


def _listed(source: Source, query: Query, count: int) -> str | None:
    """How `query` on `source` is sent a list of `count` emails; None: it runs over everyone."""
    from usertrack.engines.local.source import LocalPostHogSource

    if query.dialect == "postgres":
        return "array"
    if isinstance(source, LocalPostHogSource):
        return "rows"
    return "has" if count <= MAX_LIVE_EMAILS else None


class _KeptAnswers(Source):
    """A local events store whose answers to these per-user queries (each kept to the cell's
    emails) are kept under the store's stamp (LocalPostHogSource.run_kept): the same cell
    asked again, by another format or a second look, reads them instead of every event."""

    arrow_results = True
    # Its queries side by side (profiles.lanes), each on a cursor of its own: a cell asked the
    # first time waits for the longest of them, not for their sum.
    max_concurrent = None

    def __init__(self, source: LocalPostHogSource, typed: bool) -> None:
        self.source = source
        self.kind = source.kind
        self.dialect = source.dialect
        self.description = source.description
        self.typed = typed

    def close(self) -> None:
        """Nothing: the store is the workspace's, which closes it."""
        return None

    def run(
        self, query: Query, params: Mapping[str, Any], *, arrow_over: int | None = None
    ) -> Result:
        if arrow_over is None:
            return self.source.run(query, params)
        if self.typed:
            # the build reads Arrow (build_some's `typed`): imported now if it is not yet (on
            # another thread, while the database's queries run), so that the kept answers,
            # which run_kept reads only where pyarrow is, are read
            import pyarrow  # noqa: F401
        return self.source.run_kept(query, params, arrow_over=arrow_over)


def kept_answers_of(source: Source, typed: bool) -> Any:
    """`source` as build_some runs it: a local events store as _KeptAnswers (`typed`: the
    build reads Arrow), any other as it is."""
    from usertrack.engines.local.source import LocalPostHogSource

    return _KeptAnswers(source, typed) if isinstance(source, LocalPostHogSource) else source


def build_some(
    library: QueryLibrary,
    sources: Mapping[str, Source],
    *,
    as_of: datetime,
    exclude_domains: Collection[str],
    emails: Collection[str],
    progress: Any = None,
) -> Any:
    """A ProfileRun whose `profile` holds (at least) the whole profile's rows of `emails`;
    call only when `exact(library)`.

    Each result is loaded into the profile's DuckDB as it arrives, on a loader thread of its
    own, while the sources run their other queries (as the whole build loads them). Where
    pyarrow is imported anyway (PostgreSQL's rows are read with it), every result of more
    than a few rows travels as Arrow: no Python value per cell on the way from the events
    store or from COPY, and none for DuckDB to look at."""
    import sys
    from concurrent.futures import Future, ThreadPoolExecutor

    from usertrack.checks.sandbox import connect, release
    from usertrack.segments import profiles

    excluded = profiles.exclude_pattern(exclude_domains)
    params = {"as_of": as_of, "exclude_pattern": excluded}
    wanted = sorted(emails)
    jobs: dict[str, list[profiles.Job]] = {}
    for kind, source in sources.items():
        jobs[kind] = []
        for query in library.in_folder(kind, per_user=True):
            listed = _listed(source, query, len(wanted))
            values = resolve_params(query, params, now_value=as_of)
            if listed is not None and keeps_itself(query):
                values = {**values, ONLY_PARAM: True, ONLY_EMAILS_PARAM: wanted}
            elif listed is not None:
                query = some_users_query(query, listed)
                values = {**values, EMAILS_PARAM: wanted}
            jobs[kind].append((query.id, query, values))
    typed = "pyarrow" in sys.modules or any(s.parses_with_pyarrow for s in sources.values())
    running = {kind: kept_answers_of(source, typed) for kind, source in sources.items()}
    loads: dict[str, Future[str]] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usertrack-load") as loader:
        opened = loader.submit(connect, settings=profiles.PROFILE_SETTINGS, reuse=True)

        def load(key: str, result: Any) -> str:
            return profiles.load_result(opened.result(), library.get(key), result, typed=typed)

        def arrived(key: str, result: Any) -> None:
            loads[key] = loader.submit(load, key, result)

        try:
            results = profiles.run_by_source(
                running, jobs, progress, arrived, profiles.SMALL_RESULT if typed else None
            )
            con = opened.result()
        except BaseException:
            loader.shutdown(cancel_futures=True)  # and wait for the load under way, if any
            if not opened.cancelled() and opened.exception() is None:
                release(opened.result())
            raise
        try:
            # the first failure in query order, as when the results were loaded in turn
            loaded = [
                (library.get(key), loads[key].result(), list(result.columns))
                for key, result in results.items()
            ]
        except BaseException:
            release(con)
            raise
    try:
        profiles.join_per_user(con, loaded, excluded=excluded)
        profile_query = library.get("join/profile")
        profiles.create_profile(con, profile_query, as_of)
        return profiles.profile_run(con, profile_query, as_of, results)
    except BaseException:
        release(con)
        raise
