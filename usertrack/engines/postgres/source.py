"""PostgreSQL (Neon, or the demo's embedded server) through psycopg 3, strictly read-only.

Facts this module relies on (../shared/DESIGN.md, checked against Neon's and psycopg's docs):
- `conn.read_only = True` makes psycopg open every transaction with BEGIN READ ONLY, so a query file
  that tries to write fails inside PostgreSQL and changes nothing.
- Neon's pooled endpoint is PgBouncer in transaction mode: it rejects startup `options`, so the
  statement timeout is set inside each transaction with set_config(..., true) (SET LOCAL).
- `prepare_threshold=None`: no server-side prepared statements, which a transaction pooler breaks.
- libpq's default connect wait is far too long for a CLI: `connect_timeout` is set explicitly.
- A Neon compute suspends after 5 idle minutes; waking takes from a few hundred ms to seconds and
  early attempts can fail ("Couldn't connect to compute node"), so transient connection failures
  are retried with exponential backoff and jitter. Authentication failures are not retried.
- Rows are streamed (psycopg `Cursor.stream`), so a large result is held once, as Python rows,
  not also as a whole libpq result.
- An inline `--sql` query (usertrack.engines.inline) is sent exactly as it was checked: its text
  holds PostgreSQL's own `$n` parameters, which psycopg's RawCursor (psycopg 3.2) sends untouched
  while binding the values. It runs on a connection of its own, in a transaction rolled back at
  its end (a session setting it changed is undone), then `pg_advisory_unlock_all()` and
  `DISCARD ALL` leave the session as it was found before the connection is closed: nothing of
  it reaches the next query, even behind a pooler that keeps the server's session.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from usertrack.core.dsn import describe_dsn, dsn_without_password, malformed_dsn
from usertrack.core.errors import (
    Cancelled,
    ConfigError,
    QueryError,
    SourceConnectionError,
    first_line,
    quiet_log,
)
from usertrack.engines import query_counts
from usertrack.engines.base import (
    STREAM_BATCH,
    Result,
    RowStream,
    Source,
    check_cancelled,
    current_token,
    on_cancel,
    pause,
)
from usertrack.engines.inline import is_inline

if TYPE_CHECKING:
    import psycopg

    from usertrack.queries.library import Query

DEFAULT_STATEMENT_TIMEOUT_MS = 60_000
DEFAULT_CONNECT_TIMEOUT_S = 12
DEFAULT_CONNECT_ATTEMPTS = 6  # backoff 0.5, 1, 2, 4, 8 s (+ jitter): about 15 s of waking
STREAM_CHUNK = 2000

# Connection failures worth another try: what a Neon endpoint says while its compute wakes
# ("Couldn't connect to compute node", a connection its proxy accepts then drops or terminates),
# a server still starting, a timeout. Not "Connection refused" (nothing listens: a wrong port or
# a database that is down, which waiting will not fix), not a DNS failure, not authentication.
_TRANSIENT = (
    "couldn't connect to compute node",
    "could not connect to compute node",
    "terminating connection",
    "the database system is starting up",
    "server closed the connection unexpectedly",
    "connection reset by peer",
    "timeout expired",
    "connection timed out",
    "temporarily unavailable",
    "too many connections",
)
_NOT_TRANSIENT = (
    "connection refused",
    "failed to resolve host",
    "could not translate host name",
    "name or service not known",
    "password authentication failed",
    "no password supplied",
    "does not exist",
)


def is_transient(message: str) -> bool:
    """Whether a connection failure is worth another try (a waking database), by its message."""
    low = message.lower()
    if any(t in low for t in _NOT_TRANSIENT):
        return False
    return any(t in low for t in _TRANSIENT)


class PostgresSource(Source):
    """Runs `queries/neon/*.sql` on a PostgreSQL database, one read-only transaction per query."""

    kind = "neon"
    dialect = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        description: str | None = None,
        statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
        connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
        connect_attempts: int = DEFAULT_CONNECT_ATTEMPTS,
        backoff_s: float = 0.5,
        progress: Callable[[str], None] | None = None,
        max_concurrent: int | None = None,
        made_here: bool = False,
    ) -> None:
        # A URL a person wrote is checked for what libpq would misread, which imports psycopg
        # (0.1 s); one usertrack made (`made_here`: the demo's) is not, and psycopg waits for
        # the first connection, which a dashboard opens beside its event panels.
        problem = None if made_here else malformed_dsn(dsn)
        if problem:
            raise ConfigError(
                f"DATABASE_URL is malformed: {problem}",
                hint="percent-encode special characters of the password: @ as %40, / as %2F,"
                " : as %3A, ? as %3F, # as %23, space as %20",
            )
        self._dsn = dsn
        self.description = description or describe_dsn(dsn)
        self.statement_timeout_ms = statement_timeout_ms
        self.connect_timeout_s = connect_timeout_s
        self.connect_attempts = max(1, connect_attempts)
        self.backoff_s = backoff_s
        self.progress = progress
        # How many queries of one command run side by side, each on a connection of its own
        # (profiles.run_by_source; USERTRACK_DB_CONNECTIONS). None: every query given at once.
        self.max_concurrent = max_concurrent
        self._conn: psycopg.Connection[Any] | None = None
        # A PostgreSQL connection runs one query at a time: a query run while another thread's
        # holds the first connection gets a spare one (opened then, kept for the next).
        self._first_in_use = threading.Lock()
        self._spares_lock = threading.Lock()
        self._spares: list[psycopg.Connection[Any]] = []

    @property
    def identity(self) -> str:
        """Which database this is, for cache keys: a hash of the DSN without its password."""
        import hashlib

        return hashlib.sha256(dsn_without_password(self._dsn).encode()).hexdigest()[:32]

    def __repr__(self) -> str:  # never show the DSN
        return f"PostgresSource({self.description!r})"

    def connect(self) -> psycopg.Connection[Any]:
        """The source's first connection, opened on first use."""
        if self._conn is None or self._conn.closed:
            self._conn = self._open()
        return self._conn

    def _open(self) -> psycopg.Connection[Any]:
        import psycopg

        quiet_log("psycopg")
        attempt = 0
        while True:
            attempt += 1
            try:
                # sslmode, channel_binding and the rest of the URL are passed to libpq untouched.
                conn = psycopg.connect(
                    self._dsn,
                    connect_timeout=self.connect_timeout_s,
                    prepare_threshold=None,
                    application_name="usertrack",
                )
                break
            except psycopg.ProgrammingError:
                # libpq's parse errors quote the offending part of the URL: say nothing of it.
                raise ConfigError(
                    "DATABASE_URL is malformed: libpq cannot parse it",
                    hint="percent-encode special characters of the password: @ as %40, / as"
                    " %2F, space as %20",
                ) from None
            except psycopg.OperationalError as e:
                message = first_line(e)
                transient = is_transient(message)
                if not transient or attempt >= self.connect_attempts:
                    tried = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise SourceConnectionError(
                        f"cannot connect to {self.description}{tried}: {message}",
                        hint="check DATABASE_URL (host, password, sslmode) and that the"
                        " database is up",
                    ) from None
                delay = self.backoff_s * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
                if self.progress:
                    self.progress(
                        f"waking the database… (attempt {attempt + 1} of {self.connect_attempts})"
                    )
                pause(delay)  # a cancelled command stops waiting at once
        conn.read_only = True
        _load_plain_values(conn)
        return conn

    # run(..., arrow_over=N) may answer an Arrow table (Result.arrow): see `_copied`.
    arrow_results = True
    # Such a run parses COPY's rows with pyarrow, whatever their number.
    parses_with_pyarrow = True

    def run(
        self, query: Query, params: Mapping[str, Any], *, arrow_over: int | None = None
    ) -> Result:
        """The rows of `query`; queries run from several threads at once run side by side.
        With `arrow_over`: read through COPY (usertrack.engines.postgres.pg_copy) where the query's
        column types allow, a result of more rows than that as an Arrow table."""
        if arrow_over is not None and not is_inline(query):  # COPY would change its text
            copied = self._copied(query, params, arrow_over)
            if copied is not None:
                return copied
        with self.stream(query, params) as rows:
            return Result(columns=rows.columns, rows=[r for batch in rows.batches for r in batch])

    def _copied(self, query: Query, params: Mapping[str, Any], arrow_over: int) -> Result | None:
        import psycopg

        from usertrack.engines.postgres.pg_copy import NotCopyable, as_rows, copy_table

        values = {k: bindable(v) for k, v in params.items()}
        sql = query.sql.rstrip().rstrip(";").encode()
        try:
            with (
                self._connection() as conn,
                self._guarded(conn, query),
                conn.transaction(),
                psycopg.ClientCursor(conn) as cur,
            ):
                self._settings(cur, query)
                check_cancelled()
                table = copy_table(cur, sql, values)
        except NotCopyable:
            return None
        if table.num_rows > arrow_over:
            return Result(columns=list(table.column_names), rows=[], arrow=table)
        return Result(columns=list(table.column_names), rows=as_rows(table))

    @contextmanager
    def stream(self, query: Query, params: Mapping[str, Any]) -> Iterator[RowStream]:
        """The rows of `query` as the server sends them (a server-side stream, STREAM_CHUNK
        rows a round trip), in batches of STREAM_BATCH, while the block runs."""
        if is_inline(query):
            with self._own_connection() as conn, self._stream_on(conn, query, params) as rows:
                yield rows
            return
        with self._connection() as conn, self._stream_on(conn, query, params) as rows:
            yield rows

    @contextmanager
    def _own_connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection opened for one inline query, its session reset and closed after it."""
        conn = self._open()
        try:
            yield conn
        finally:
            _reset_and_close(conn, self.statement_timeout_ms)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection no other thread is using: the first, else a spare."""
        if self._first_in_use.acquire(blocking=False):
            try:
                yield self.connect()
            finally:
                self._first_in_use.release()
            return
        with self._spares_lock:
            conn = self._spares.pop() if self._spares else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            if not conn.closed:
                with self._spares_lock:
                    self._spares.append(conn)

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection no other thread is using, for usertrack's own statements beside the
        query files (the tools copy's check). While the block runs, a cancelled command (Ctrl-C,
        another source failing) cancels its statement on the server, which then raises
        Cancelled; a lost connection is closed (the next use opens another)."""
        import psycopg

        with self._connection() as conn:
            finished = threading.Event()
            try:
                with on_cancel(_canceller(conn, finished)):
                    check_cancelled()
                    yield conn
            except psycopg.errors.QueryCanceled:
                token = current_token()
                if token is not None and token.cancelled:
                    raise Cancelled("stopped: the command was cancelled") from None
                raise
            except psycopg.OperationalError:
                conn.close()
                raise
            finally:
                finished.set()

    def _settings(self, cur: Any, query: Query) -> None:
        """The transaction's settings, SET LOCAL (set_config(..., true)): the statement
        timeout, UTC, and those the query file asks for (`-- setting NAME: VALUE`)."""
        sql = (
            "SELECT set_config('statement_timeout', %s, true), set_config('TimeZone', 'UTC', true)"
        )
        values: list[str] = [str(self.statement_timeout_ms)]
        for name, value in query.settings:
            sql += ", set_config(%s, %s, true)"
            values += [name, value]
        cur.execute(sql.encode(), values)

    @contextmanager
    def _stream_on(
        self, conn: psycopg.Connection[Any], query: Query, params: Mapping[str, Any]
    ) -> Iterator[RowStream]:
        import psycopg

        inline = is_inline(query)
        values: Any = {k: bindable(v) for k, v in params.items()}
        # bytes: psycopg's typing wants literal SQL, and a query file is data we read.
        sql = query.sql.rstrip().rstrip(";").encode()
        if inline:  # the checked text, its $n bound in the order of its parameters
            values = [values[p.name] for p in query.params]
            sql = _checked_again(query, query.sql).encode()
        with (
            self._guarded(conn, query),
            conn.transaction(force_rollback=inline),
            psycopg.RawCursor(conn) if inline else conn.cursor() as cur,
        ):
            with conn.cursor() as own:
                self._settings(own, query)
            check_cancelled()
            stream = cur.stream(sql, values, size=STREAM_CHUNK)
            first = next(stream, None)
            if cur.description is None:
                # A stream that yields no row gives no row description: ask for it alone.
                wrapped = b"SELECT * FROM (\n" + sql + b"\n) AS usertrack_q LIMIT 0"
                if inline:
                    wrapped = _checked_again(query, wrapped.decode()).encode()
                cur.execute(wrapped, values)
            if cur.description is None:
                raise QueryError(f"query {query.id} ({query.path}) returned no rows to read")
            columns = [c.name for c in cur.description]

            def batches() -> Iterator[list[tuple[Any, ...]]]:
                if first is None:
                    return
                batch = [first]
                for row in stream:
                    batch.append(row)
                    if len(batch) >= STREAM_BATCH:
                        yield batch
                        batch = []
                if batch:
                    yield batch

            try:
                yield RowStream(columns, batches())
            finally:
                # Left early (a closed pipe, an error writing): psycopg's stream cancels
                # the query and drains it when closed, so the transaction can end.
                if isinstance(stream, Generator):
                    stream.close()
                if inline:  # a session lock taken would outlive the transaction
                    with suppress(psycopg.Error), conn.cursor() as own:
                        own.execute(b"SELECT pg_advisory_unlock_all()")

    @contextmanager
    def _guarded(self, conn: psycopg.Connection[Any], query: Query) -> Iterator[None]:
        """One query on `conn`: counted, cancelled on the database with the command, its
        failures said as usertrack's errors."""
        import psycopg

        finished = threading.Event()
        query_counts.count("database")
        started = time.monotonic()
        try:
            with on_cancel(_canceller(conn, finished)):
                yield
        except psycopg.errors.ReadOnlySqlTransaction:
            raise QueryError(
                f"query {query.id} ({query.path}) tried to write; usertrack opens every"
                " transaction read-only and never changes your database"
            ) from None
        except psycopg.errors.QueryCanceled:
            token = current_token()
            if token is not None and token.cancelled:
                raise Cancelled(f"query {query.id} stopped: the command was cancelled") from None
            raise _canceled(query, self.statement_timeout_ms, time.monotonic() - started) from None
        except psycopg.OperationalError as e:
            conn.close()  # lost: the next query opens a new one
            raise SourceConnectionError(
                f"lost the connection to {self.description} while running {query.id}:"
                f" {first_line(e)}"
            ) from None
        except psycopg.Error as e:
            if first_line(e) == "out of memory for query result":  # libpq, at the bound
                raise _outgrew(query) from None
            raise QueryError(f"query {query.id} ({query.path}) failed: {first_line(e)}") from None
        except MemoryError:  # the rows made into Python's values, at the bound
            raise _outgrew(query) from None
        finally:
            finished.set()

    def close(self) -> None:
        with self._spares_lock:
            spares, self._spares = self._spares, []
        for conn in spares:
            with suppress(Exception):
                conn.close()
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def database_of(source: Source) -> PostgresSource:
    """The PostgreSQL database `source` runs its queries on, under any wrapper (the result
    cache): for what is asked of the database itself (a connection to check names on)."""
    database = source.inner
    if not isinstance(database, PostgresSource):
        raise TypeError(f"{source!r} is not a PostgreSQL database")
    return database


def _canceller(conn: psycopg.Connection[Any], finished: threading.Event) -> Callable[[], None]:
    """What cancels the statement running on `conn` until `finished` is set."""

    def cancel_query() -> None:
        # A cancel request that lands just before the query is sent does nothing: keep
        # asking for a moment, until this query has ended.
        for _ in range(10):
            if finished.is_set():
                return
            with suppress(Exception):
                conn.cancel_safe(timeout=2)
            if finished.wait(0.1):
                return

    return cancel_query


def _checked_again(query: Query, text: str) -> str:
    """`text`, checked as the inline query it is part of was (usertrack.engines.postgres.sqlcheck)
    at the moment it is sent."""
    from usertrack.engines.postgres.sqlcheck import check_sql

    check_sql(text, str(query.path), len(query.params))
    return text


def _reset_and_close(conn: psycopg.Connection[Any], timeout_ms: int) -> None:
    """Leave `conn`'s session as it was found (DISCARD ALL resets settings, temporary tables,
    prepared statements, LISTEN and advisory locks; it cannot run in a transaction block), under
    a statement timeout, then close it."""
    with suppress(Exception):
        if not conn.closed and not conn.broken:
            conn.rollback()
            conn.autocommit = True
            conn.execute(b"SELECT set_config('statement_timeout', %s, false)", [str(timeout_ms)])
            conn.execute(b"SELECT pg_advisory_unlock_all()")
            conn.execute(b"DISCARD ALL")
    with suppress(Exception):
        conn.close()


def bindable(value: Any) -> Any:
    """Datetimes are bound as timezone-aware UTC; the session TimeZone is UTC as well."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _load_plain_values(conn: psycopg.Connection[Any]) -> None:
    """Rows as DuckDB and JSON take them, converted by psycopg's loaders (no per-value Python
    pass over 100,000 rows): numeric → float (ROUND(x::numeric, 1) and sum(bigint) are numeric),
    timestamptz → naive UTC (how every other timestamp here is held)."""
    from psycopg.types.datetime import TimestamptzBinaryLoader, TimestamptzLoader
    from psycopg.types.numeric import FloatLoader

    class NaiveUTC(TimestamptzLoader):
        def load(self, data: Any) -> dt.datetime:
            return super().load(data).astimezone(dt.UTC).replace(tzinfo=None)

    class NaiveUTCBinary(TimestamptzBinaryLoader):
        def load(self, data: Any) -> dt.datetime:
            return super().load(data).astimezone(dt.UTC).replace(tzinfo=None)

    conn.adapters.register_loader("numeric", FloatLoader)
    conn.adapters.register_loader("timestamptz", NaiveUTC)
    conn.adapters.register_loader("timestamptz", NaiveUTCBinary)


def _canceled(query: Query, timeout_ms: int, elapsed_s: float) -> Exception:
    """A query the server canceled (SQLSTATE 57014, query_canceled) while the command went on.
    Stopped at the statement timeout usertrack set for its transaction (it ran that long): a
    bound, exit 11; canceled before it (someone's pg_cancel_backend): a failed query, exit 7."""
    from usertrack.core.errors import LimitError

    if timeout_ms > 0 and elapsed_s * 1000 >= timeout_ms:
        return LimitError(
            f"query {query.id} ({query.path}): stopped after {timeout_ms / 1000:g} s, the"
            " statement timeout of one PostgreSQL query",
            data={},
        )
    return QueryError(f"query {query.id} ({query.path}) was canceled on the database server")


def _outgrew(query: Query) -> Exception:
    """The one line for a query whose rows reached the process's memory bound
    (usertrack.core.bounds)."""
    from usertrack.checks.sandbox import MEMORY_VARIABLE, memory_limit
    from usertrack.core.errors import LimitError

    return LimitError(
        f"query {query.id} ({query.path}): stopped at the memory bound: its rows"
        f" outgrew DuckDB's {memory_limit()} ({MEMORY_VARIABLE}) and 2 GiB for the rest",
        data={},
    )
