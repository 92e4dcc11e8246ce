"""Per-user profiles: run every per-user query on its source, join the answers on email in DuckDB.

Each source aggregates to one row per user where the data lives (PostHog/ClickHouse, Postgres); only
those rows cross the wire. Here they become DuckDB tables, are fully outer-joined on the normalized
email (`usertrack.core.emails`: trimmed of space, tab, CR and LF, lower-cased) so people seen by one
source only are kept, and `queries/join/profile.sql` shapes the join into the profile columns
that segments.yaml rules use.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.core.clock import naive_utc
from usertrack.core.emails import email_key_sql
from usertrack.core.emails import normalize_email as normalize_email  # the public name, kept here
from usertrack.core.errors import QueryError, QueryFileError
from usertrack.engines.base import Result, Source
from usertrack.queries.library import Query, QueryLibrary, resolve_params

if TYPE_CHECKING:
    import duckdb

# Columns the join adds itself; a per-user query may not return them.
RESERVED_COLUMNS = {"email", "in_posthog", "in_neon", "as_of"}

Progress = Callable[[str], None]


@dataclass
class ProfileRun:
    """One profile build: the DuckDB connection holding `profile`, and the raw results."""

    con: duckdb.DuckDBPyConnection
    as_of: datetime
    results: dict[str, Result] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)

    def close(self) -> None:
        from usertrack.checks.sandbox import release

        release(self.con)


def exclude_pattern(domains: Iterable[str]) -> str:
    """A regular expression matching emails of the excluded (internal) domains.

    It travels as one bound string value, which PostHog (re2), PostgreSQL and DuckDB all accept.
    One domain is written without a group: DuckDB then matches it as a plain suffix instead of
    running the regular expression on every event (4 to 6 times faster: at 100,000 users a
    tenth of a second in each events query).
    """
    cleaned = [d.strip().lower().lstrip("@") for d in domains if d and d.strip()]
    if not cleaned:
        return "[^\\s\\S]"  # matches nothing
    if len(cleaned) == 1:
        return "@" + re.escape(cleaned[0]) + "$"
    return "@(" + "|".join(re.escape(d) for d in cleaned) + ")$"


# (result key, query, bound values)
Job = tuple[str, Query, Mapping[str, Any]]
# Told of each result as it arrives: (result key, result).
Arrived = Callable[[str, Result], None]


def run_per_user_queries(
    library: QueryLibrary,
    sources: Mapping[str, Source],
    *,
    as_of: datetime,
    params: Mapping[str, Any],
    progress: Progress | None = None,
    arrived: Arrived | None = None,
    arrow_over: int | None = None,
    bundle: Collection[str] = (),
) -> dict[str, Result]:
    """Run every per-user query of each source folder; the sources run concurrently (those of
    `bundle` as one bundle each where they can: run_by_source)."""
    jobs: dict[str, list[Job]] = {
        kind: [
            (query.id, query, resolve_params(query, params, now_value=as_of))
            for query in library.in_folder(kind, per_user=True)
        ]
        for kind in sources
    }
    return run_by_source(sources, jobs, progress, arrived, arrow_over, bundle)


def run_by_source(
    sources: Mapping[str, Source],
    jobs: Mapping[str, list[Job]],
    progress: Progress | None = None,
    arrived: Arrived | None = None,
    arrow_over: int | None = None,
    bundle: Collection[str] = (),
    as_arrow: Collection[str] = (),
) -> dict[str, Result]:
    """Run every source's jobs, the sources at once, each on as many threads as it runs queries
    side by side (`lanes`: one for PostHog, one per query for PostgreSQL up to its connection
    bound), so a command takes about as long as its slowest query, not the sum. Each source's
    lanes take its jobs in order; the results come back in job order, whatever order they
    finished in. `arrived` is called with each result as soon as it is fetched, on the thread
    that fetched it. A per-user result of more than `arrow_over` rows (default LARGE_RESULT)
    comes as Arrow from a source that can give it, and so does one of the jobs named in
    `as_arrow` (by key), per-user or not. The sources named in `bundle` (the live
    PostHog source of a --by-segment run, whose own queries go beside these) answer their
    per-user queries as one bundle where they can: a query of PostHog's hourly budget instead
    of one each (usertrack.engines.cache CachedSource.run_many over a source with run_bundle).

    The first failure (or Ctrl-C) cancels the others: their queries are cancelled on the
    database, their retry, throttle and poll waits end at once (see
    `usertrack.engines.base.CancelToken`), and the failure is raised without waiting for them
    to wind down.
    """
    import queue
    import threading
    import time

    from usertrack.engines.base import CancelToken, cancel_scope, current_token
    from usertrack.engines.concurrency import CANCEL_GRACE_SECONDS

    token = CancelToken().cancelled_with(current_token())  # and with the work it is part of
    over = LARGE_RESULT if arrow_over is None else arrow_over
    kinds = [k for k in jobs if jobs[k]]
    # Per source: the index of its next job, taken under `taking` by whichever lane is free.
    taking = threading.Lock()
    next_job = dict.fromkeys(kinds, 0)
    done: dict[str, dict[int, Result]] = {kind: {} for kind in kinds}

    def take(kind: str) -> int | None:
        with taking:
            index = next_job[kind]
            if index >= len(jobs[kind]):
                return None
            next_job[kind] = index + 1
            return index

    def run_lane(kind: str) -> None:
        source = sources[kind]
        with cancel_scope(token):
            if kind in together:  # one request for them all (CachedSource.run_many)
                indices = list(iter(lambda: take(kind), None))
                token.check()
                if progress:
                    progress(f"running {len(indices)} queries on {source.description}")
                answers = source.run_many(
                    [(jobs[kind][i][1], jobs[kind][i][2]) for i in indices], arrow_over=over
                )
                for at, result in zip(indices, answers, strict=True):
                    if arrived:
                        arrived(jobs[kind][at][0], result)
                    done[kind][at] = result
                return
            while (index := take(kind)) is not None:
                key, query, values = jobs[kind][index]
                token.check()
                if progress:
                    progress(f"running {query.id} on {source.description}")
                if (query.per_user or key in as_arrow) and source.arrow_results:
                    result = source.run(query, values, arrow_over=over)
                else:
                    result = source.run(query, values)
                if arrived:
                    arrived(key, result)
                done[kind][index] = result

    def collect() -> dict[str, Result]:
        return {
            key: done[kind][index] for kind in kinds for index, (key, _, _) in enumerate(jobs[kind])
        }

    together = {
        kind
        for kind in kinds
        if kind in bundle
        and len(jobs[kind]) > 1
        and _bundles(sources[kind])
        and all(query.per_user for _, query, _ in jobs[kind])
    }
    workers = [
        kind
        for kind in kinds
        for _ in range(1 if kind in together else lanes(sources[kind], len(jobs[kind])))
    ]
    if len(workers) <= 1:
        for kind in kinds:
            run_lane(kind)
        return collect()
    # Daemon threads, not a ThreadPoolExecutor: the interpreter joins an executor's threads at
    # exit, so a source stuck in a connect or an HTTP read (which no signal interrupts) would
    # hold the command for its whole timeout after the error is shown.
    finished: queue.Queue[BaseException | None] = queue.Queue()

    def work(kind: str) -> None:
        try:
            run_lane(kind)
        except BaseException as e:
            finished.put(e)
        else:
            finished.put(None)

    for n, kind in enumerate(workers):
        name = f"usertrack-{kind}-{n}"
        threading.Thread(target=work, args=(kind,), name=name, daemon=True).start()
    waiting = len(workers)
    try:
        while waiting:
            try:
                # A timeout keeps the main thread responsive to Ctrl-C on every platform.
                outcome = finished.get(timeout=0.25)
            except queue.Empty:
                continue
            waiting -= 1
            if outcome is not None:
                # The first to fail is the real failure: the others are only cancelled after it.
                raise outcome
    except BaseException:
        token.cancel()
        # A moment for the others to stop (a cancelled wait ends at once), so the caller does
        # not close a source under a query that is still winding down; never longer.
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while waiting and (left := deadline - time.monotonic()) > 0:
            try:
                finished.get(timeout=left)
                waiting -= 1
            except queue.Empty:
                break
        raise
    return collect()


def _bundles(source: Source) -> bool:
    """Whether `source` answers several queries as one request (Source.runs_bundles: the
    result cache's run_many over the live PostHog source); a wrapper in front of the cache
    says not, so that each query still comes through its own `run`."""
    return source.runs_bundles


def lanes(source: Source, jobs: int) -> int:
    """How many of a source's `jobs` run side by side: its `max_concurrent` (PostgreSQL: one
    connection each, bounded by USERTRACK_DB_CONNECTIONS; None: all of them), else one at a
    time."""
    bound = source.max_concurrent
    return max(1, min(jobs, jobs if bound is None else bound))


def _table_name(query_id: str) -> str:
    return "q_" + re.sub(r"\W", "_", query_id)


# Where the accounts query's rows are loaded (a history snapshot reads them: Classification).
ACCOUNTS_TABLE = _table_name("neon/accounts")


# How per-user rows reach DuckDB, by size (measured on 2 cores): up to SMALL_RESULT rows (one
# user's deep dive) as bound VALUES; up to LARGE_RESULT as numpy object arrays, which DuckDB
# inspects cell by cell (cheap at a few thousand rows, and numpy imports in a third of pyarrow's
# 0.2 s); beyond that as Arrow columns, typed in C++ (2.0 s -> 0.6 s at 100,000 users).
SMALL_RESULT = 20
LARGE_RESULT = 20_000
# The profile connection's settings (usertrack.checks.sandbox.connect locks them once open).
PROFILE_SETTINGS = {"pandas_analyze_sample": LARGE_RESULT}


def load_result(
    con: duckdb.DuckDBPyConnection, query: Query, result: Result, *, typed: bool = False
) -> str:
    """Store one per-user result as a DuckDB table keyed by normalized email; return its name.

    `typed`: a result of more than SMALL_RESULT rows goes as Arrow columns whatever its size
    (pyarrow imported already: the MCP server, see `_run_and_load`)."""
    if "email" not in result.columns:
        raise QueryError(
            f"per-user query {query.id} ({query.path}) returns no 'email' column"
            f" (it returned: {', '.join(result.columns) or 'nothing'})"
        )
    for col in result.columns:
        if col in RESERVED_COLUMNS - {"email"}:
            raise QueryError(
                f"per-user query {query.id} ({query.path}) returns column {col!r},"
                " which the join adds itself; rename it"
            )
    if len(set(result.columns)) != len(result.columns):
        raise QueryError(f"query {query.id} ({query.path}) returns a column name twice")
    name = _table_name(query.id)
    # The join key, exactly as normalize_email (usertrack.core.emails) makes it.
    key = f"nullif({email_key_sql('duckdb', 'CAST(email AS VARCHAR)')}, '')"
    if result.arrow is None and len(result.rows) <= SMALL_RESULT:
        # A few rows (one user's, in `user`): one statement from bound VALUES, the key
        # computed twice (nothing at this size), instead of a table made, filled and dropped.
        values, bound = _small_values(result)
        con.execute(
            f'CREATE OR REPLACE TABLE "{name}" AS SELECT * REPLACE ({key} AS email)'
            f" FROM {values} WHERE {key} IS NOT NULL",
            bound,
        )
        _check_one_row_per_email(con, query, name)
        return name
    if result.arrow is not None:
        con.register("_incoming", result.arrow)
        incoming = "_incoming"
    elif len(result.rows) <= LARGE_RESULT and not typed:
        # Typed from every row: the connection was opened with pandas_analyze_sample =
        # LARGE_RESULT (PROFILE_SETTINGS), as its configuration is locked afterwards.
        con.register("_incoming", _object_arrays(result))
        incoming = "_incoming"
    else:
        con.register("_incoming", _arrow_table(query, result))
        incoming = "_incoming"
    # Rows without a key are deleted afterwards: filtering on the key in the same statement
    # computed it twice, which more than doubled the load (0.37 -> 0.16 s for 100,000 users'
    # five tables).
    con.execute(
        f'CREATE OR REPLACE TABLE "{name}" AS SELECT * REPLACE ({key} AS email) FROM {incoming}'
    )
    con.execute(f'DELETE FROM "{name}" WHERE email IS NULL')
    con.unregister("_incoming")
    _check_one_row_per_email(con, query, name)
    return name


def _check_one_row_per_email(con: duckdb.DuckDBPyConnection, query: Query, name: str) -> None:
    dupes = con.execute(
        f'SELECT email, count(*) FROM "{name}" GROUP BY email HAVING count(*) > 1 LIMIT 1'
    ).fetchone()
    if dupes:
        group_by = email_key_sql(query.dialect, "email")
        raise QueryError(
            f"per-user query {query.id} ({query.path}) returned {dupes[1]} rows for"
            f" {dupes[0]!r}; it must return one row per email (GROUP BY {group_by})"
        )


def _object_arrays(result: Result) -> dict[str, Any]:
    """The rows as numpy object columns (np.empty + slice keeps a column of lists 1-D)."""
    import numpy as np

    out: dict[str, Any] = {}
    for col, column in zip(result.columns, zip(*result.rows, strict=True), strict=True):
        arr = np.empty(len(column), dtype=object)
        arr[:] = column
        out[col] = arr
    return out


def _arrow_table(query: Query, result: Result) -> Any:
    """The rows as Arrow columns: pyarrow types them in C++ (nulls, timestamps, lists) and
    DuckDB scans them without copying."""
    import pyarrow as pa

    values = list(zip(*result.rows, strict=True))
    data: dict[str, Any] = {}
    for col, column in zip(result.columns, values, strict=True):
        try:
            data[col] = pa.array(column)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            try:  # ints mixed with floats
                data[col] = pa.array(column, type=pa.float64())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                raise QueryError(
                    f"per-user query {query.id} ({query.path}) returns values of mixed types"
                    f" in column {col!r}; cast them to one type in the query"
                ) from None
    return pa.table(data)


def _small_values(result: Result) -> tuple[str, list[Any]]:
    """A few rows as a relation of bound VALUES and the values it binds; DuckDB types them as
    Arrow would (a datetime TIMESTAMP, a list of text VARCHAR[], None the NULL type)."""
    names = ", ".join('"' + c.replace('"', '""') + '"' for c in result.columns)
    width = len(result.columns)
    if not result.rows:
        nulls = ", ".join("NULL" for _ in result.columns)
        return f"(SELECT * FROM (VALUES ({nulls})) AS v({names}) WHERE false)", []
    values = ", ".join(
        "(" + ", ".join(f"${i * width + j + 1}" for j in range(width)) + ")"
        for i in range(len(result.rows))
    )
    return f"(VALUES {values}) AS v({names})", [v for row in result.rows for v in row]


def join_per_user(
    con: duckdb.DuckDBPyConnection,
    loaded: list[tuple[Query, str, list[str]]],
    *,
    excluded: str,
    early: frozenset[str] = frozenset(),
) -> None:
    """Create the view `joined`: the full outer join of every per-user table on email, plus
    in_<source>. `early`: the tables `join_early` has joined already (into EARLY_TABLE), which
    the view then reads instead of them."""
    conflict = _conflicting_columns(loaded)
    if conflict:
        raise QueryError(conflict)
    if not loaded:
        con.execute(
            "CREATE OR REPLACE TABLE joined (email VARCHAR, in_posthog BOOLEAN, in_neon BOOLEAN)"
        )
        return
    # A view: the profile query reads it once, so the join runs inside that query instead of
    # being written out first. A view holds no parameters: the pattern is a quoted literal.
    pattern = "'" + excluded.replace("'", "''") + "'"
    con.execute(
        f"CREATE OR REPLACE VIEW joined AS SELECT * FROM ({_join_sql(loaded, early, 'in_')})"
        f" WHERE NOT regexp_matches(email, {pattern})"
    )


# Where `join_early` writes the join of the results that came first.
EARLY_TABLE = "usertrack_joined_early"


def join_early(
    con: duckdb.DuckDBPyConnection, loaded: list[tuple[Query, str, list[str]]]
) -> frozenset[str]:
    """The full outer join of the tables loaded so far, written to EARLY_TABLE while the last
    query still runs, with each source's in_<source> of them: the view `joined` then joins the
    last result to it alone, and the profile's work after the last query is a fraction of
    the whole join's (at 100,000 users 40% of its CPU time when the last result is small, 55%
    when it is the largest). `con` may be interrupted (the last result came meanwhile: the
    view then joins every table, as without it). The tables it holds, or none when it was not
    made (the view joins them all then, and says what is wrong if anything is)."""
    import duckdb

    if not loaded or _conflicting_columns(loaded):
        return frozenset()
    try:
        joined = _join_sql(loaded, frozenset(), "early in_")
        con.execute(f'CREATE OR REPLACE TABLE "{EARLY_TABLE}" AS {joined}')
    except duckdb.Error:  # interrupted, or a join the view will fail on and say why
        return frozenset()
    return frozenset(table for _, table, _ in loaded)


def _conflicting_columns(loaded: list[tuple[Query, str, list[str]]]) -> str | None:
    """What is wrong when two per-user queries return the same column, or None."""
    seen: dict[str, str] = {}
    for query, _, cols in loaded:
        for col in cols:
            if col == "email":
                continue
            if col in seen:
                return (
                    f"column {col!r} is returned by both {seen[col]} and {query.id};"
                    " rename one of them so the join keeps both"
                )
            seen[col] = query.id
    return None


def _join_sql(loaded: list[tuple[Query, str, list[str]]], early: frozenset[str], flag: str) -> str:
    """The SELECT of the full outer join of `loaded` on email, the tables of `early` read from
    EARLY_TABLE, each source's flag named `flag` + the source's kind.

    Written as every email once (the union of the tables' keys, each table holding one row per
    email) left-joined to each table: the same rows as a chain of FULL OUTER JOINs, whose
    every step joins on the coalesce of the emails before it, in two thirds of the time (at
    100,000 users 0.09 s instead of 0.13 s, one core, after the last query)."""
    first = [(q, t) for q, t, _ in loaded if t in early]
    rest = [(q, t) for q, t, _ in loaded if t not in early]
    tables = ([f'"{EARLY_TABLE}"'] if first else []) + [f'"{t}"' for _, t in rest]
    keys = " UNION ".join(f"SELECT email FROM {table}" for table in tables)
    froms = f"({keys}) AS usertrack_keys " + " ".join(
        f"LEFT JOIN {table} ON {table}.email = usertrack_keys.email" for table in tables
    )
    flags = []
    for kind in ("posthog", "neon"):
        marks = [f'"{t}".email IS NOT NULL' for q, t in rest if q.folder == kind]
        if any(q.folder == kind for q, _ in first):
            marks.append(f'"{EARLY_TABLE}"."early in_{kind}"')
        if marks:
            flags.append(f'coalesce({" OR ".join(marks)}, false) AS "{flag}{kind}"')
        else:
            flags.append(f'false AS "{flag}{kind}"')
    columns = ", ".join(
        f'"{EARLY_TABLE if t in early else t}"."{c}"'
        for _, t, cols in loaded
        for c in cols
        if c != "email"
    )
    select_cols = (
        "usertrack_keys.email AS email" + (", " + columns if columns else "") + ", "
    ) + ", ".join(flags)
    return f"SELECT {select_cols} FROM {froms}"


def _run_and_load(
    library: QueryLibrary,
    sources: Mapping[str, Source],
    as_of: datetime,
    params: Mapping[str, Any],
    progress: Progress | None,
    meanwhile: Callable[[], None] | None = None,
    bundle: Collection[str] = (),
) -> tuple[duckdb.DuckDBPyConnection, dict[str, Result], dict[str, str], frozenset[str]]:
    """The profile connection, the per-user results, the table each was loaded into
    (`load_result`), and the tables joined already (`join_early`).

    Each result is loaded as it arrives, by one loader thread, while the sources still run
    their other queries: turning rows into DuckDB columns then costs little beyond the wait
    for the slowest source (a database computing its next query leaves the CPU free). The
    connection is opened on that thread too, as the sources start (importing DuckDB and
    opening it would otherwise hold back the first query). `meanwhile` runs there too, before
    the first result is loaded. `bundle`: as run_by_source takes it."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from usertrack.checks.sandbox import connect, keeping, release

    # In a process that answers many commands (the MCP server), every result of more than a
    # few rows travels as Arrow: pyarrow's import (0.2 s) is paid once, then the events store
    # hands over its columns typed, and rows from PostgreSQL are typed in C++ instead of DuckDB
    # looking at each Python value (the same tables: see sources.arrow_results.ARROW_TYPES).
    kept = keeping()
    if kept:
        import pyarrow  # noqa: F401  (on this thread: never on two at once)
    # A source that reads its rows with pyarrow whatever their number (PostgreSQL's COPY):
    # pyarrow is imported anyway, so every result travels as Arrow too, and it is imported on
    # the loader thread while the queries run, not by the first result to arrive, which the
    # others would then wait on (0.1 s, in the last part of the wait).
    arrow_anyway = not kept and any(s.parses_with_pyarrow for s in sources.values())
    typed = kept or arrow_anyway
    loads: dict[str, Future[str]] = {}
    early: list[frozenset[str]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usertrack-load") as loader:
        opened = loader.submit(connect, settings=PROFILE_SETTINGS, reuse=True)
        # The imports wait until the sources have sent their queries (connections, COPY), which
        # need the interpreter's lock in the meantime, or until the first result comes.
        sent = threading.Event()
        if arrow_anyway or meanwhile is not None:
            loader.submit(_after_sending, sent, arrow_anyway, meanwhile)

        # The results that have arrived, and those loaded (on the loader thread), in order;
        # the cursor of an early join while it runs (`joining`), all under `between`.
        expected = sum(len(library.in_folder(kind, per_user=True)) for kind in sources)
        came: list[str] = []
        done: list[tuple[Query, str, list[str]]] = []
        rows = [0]
        joining: list[duckdb.DuckDBPyConnection] = []
        between = threading.Lock()

        def load(key: str, result: Result) -> str:
            con = opened.result()
            query = library.get(key)
            name = load_result(con, query, result, typed=typed)
            done.append((query, name, list(result.columns)))
            rows[0] += len(result.rows) if result.arrow is None else result.arrow.num_rows
            # All but the last are in, and it has not come: join them while it runs (beyond
            # a few thousand rows, where the join costs something), until it comes.
            with between:
                if len(done) == expected - 1 == len(came) and rows[0] > LARGE_RESULT:
                    joining.append(con.cursor())
            if joining:
                try:
                    early[:] = [join_early(joining[0], done)]
                finally:
                    with between:
                        joining.pop().close()
            return name

        def arrived(key: str, result: Result) -> None:
            sent.set()
            with between:
                came.append(key)  # before its load is queued: the loader then knows it came
                for cursor in joining:
                    cursor.interrupt()  # the view joins every table then, as it would have
            loads[key] = loader.submit(load, key, result)

        try:
            results = run_per_user_queries(
                library,
                sources,
                as_of=as_of,
                params=params,
                progress=progress,
                arrived=arrived,
                arrow_over=SMALL_RESULT if typed else None,
                bundle=bundle,
            )
            con = opened.result()
        except BaseException:
            sent.set()  # the imports' wait ends
            loader.shutdown(cancel_futures=True)  # and wait for the load under way, if any
            if not opened.cancelled() and opened.exception() is None:
                release(opened.result())
            raise
        try:
            # The first failure in query order, as when the results were loaded one after
            # another.
            tables = {key: loads[key].result() for key in results}
            return con, results, tables, early[0] if early else frozenset()
        except BaseException:
            release(con)
            raise


# How long the sources take to send their queries, at most, before the loader's imports.
SENDING_SECONDS = 0.25


def _after_sending(
    sent: threading.Event, arrow: bool, meanwhile: Callable[[], None] | None
) -> None:
    """pyarrow's import (when `arrow`) and `meanwhile`, once `sent` is set or SENDING_SECONDS
    have passed."""
    sent.wait(SENDING_SECONDS)
    if arrow:
        import pyarrow.csv  # noqa: F401
    if meanwhile is not None:
        meanwhile()


def build_profiles(
    library: QueryLibrary,
    sources: Mapping[str, Source],
    *,
    as_of: datetime,
    exclude_domains: Iterable[str],
    progress: Progress | None = None,
    meanwhile: Callable[[], None] | None = None,
    bundle: Collection[str] = (),
) -> ProfileRun:
    """Run the per-user queries, join them, and create the DuckDB table `profile`. `meanwhile`
    is run on a thread of its own while the queries run (what the caller needs next, imported
    during the wait). `bundle`: the sources whose per-user queries go as one bundle
    (run_by_source)."""
    excluded = exclude_pattern(exclude_domains)
    params = {"as_of": as_of, "exclude_pattern": excluded}
    con, results, tables, early = _run_and_load(
        library, sources, as_of, params, progress, meanwhile, bundle
    )
    try:
        if progress:
            progress("joining per-user results on email")
        loaded = [
            (library.get(key), tables[key], list(result.columns)) for key, result in results.items()
        ]
        join_per_user(con, loaded, excluded=excluded, early=early)
        profile_query = library.get("join/profile")
        create_profile(con, profile_query, as_of)
        return profile_run(con, profile_query, as_of, results)
    except BaseException:
        from usertrack.checks.sandbox import release

        release(con)
        raise


def load_and_join(
    con: duckdb.DuckDBPyConnection,
    library: QueryLibrary,
    results: Mapping[str, Result],
    *,
    excluded: str,
) -> None:
    """Load each per-user result into `con` (`load_result`), then join them (`join_per_user`):
    the view `joined` that profile.sql reads, for a build whose results came all at once."""
    loaded = []
    for key, result in results.items():
        query = library.get(key)
        loaded.append((query, load_result(con, query, result), list(result.columns)))
    join_per_user(con, loaded, excluded=excluded)


def profile_run(
    con: duckdb.DuckDBPyConnection,
    profile_query: Query,
    as_of: datetime,
    results: dict[str, Result],
) -> ProfileRun:
    """The ProfileRun of `con`'s table `profile`, which must have an `email` column."""
    columns = [d[0] for d in con.execute("SELECT * FROM profile LIMIT 0").description]
    if "email" not in columns:
        raise QueryFileError(f"{profile_query.path}: the profile must have an 'email' column")
    return ProfileRun(con=con, as_of=as_of, results=results, columns=columns)


# The tables a join query file may read: the view join_per_user creates.
JOIN_TABLES = ("joined",)


def create_profile(con: duckdb.DuckDBPyConnection, profile_query: Query, as_of: datetime) -> None:
    """Create the table `profile` from `queries/join/profile.sql` over the view `joined`.

    The file is text from the working folder: it is checked with DuckDB's parser first
    (usertrack.checks.sql_checks.check_query: one SELECT over `joined`, no second statement, no
    table function), then run under the statement timeout. QueryFileError (exit 6) names the file
    and line of what is refused."""
    import duckdb

    from usertrack.checks.sandbox import time_limit
    from usertrack.checks.sql_checks import UnsafeSQLError, check_query

    try:
        body = check_query(profile_query.sql, JOIN_TABLES, con, first_line=profile_query.sql_line)
    except UnsafeSQLError as e:
        raise QueryFileError(f"{profile_query.path}:{e}") from None
    values = resolve_params(profile_query, {"as_of": naive_utc(as_of)}, now_value=naive_utc(as_of))
    try:
        with time_limit(con, str(profile_query.path)):
            con.execute(f"CREATE OR REPLACE TABLE profile AS {body}", values)
    except duckdb.Error as e:
        raise QueryFileError(f"{profile_query.path}: {str(e).splitlines()[0]}") from None
