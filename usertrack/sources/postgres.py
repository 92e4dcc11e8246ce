"""PostgreSQL (Neon, or the demo's embedded server) through psycopg 3, strictly read-only.

Facts this module relies on (../shared/DESIGN.md, checked against Neon's and psycopg's docs):
- `conn.read_only = True` makes psycopg open every transaction with BEGIN READ ONLY, so a query file
  that tries to write fails inside PostgreSQL and changes nothing.
- Neon's pooled endpoint is PgBouncer in transaction mode: it rejects startup `options`, so the
  statement timeout is set inside each transaction with set_config(..., true) (SET LOCAL).
- `prepare_threshold=None`: no server-side prepared statements, which a transaction pooler breaks.
- libpq's default connect wait is far too long for a CLI: `connect_timeout` is set explicitly.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from usertrack.errors import QueryError, SourceConnectionError, redact
from usertrack.sources.base import Result

if TYPE_CHECKING:
    import psycopg

    from usertrack.queries import Query

DEFAULT_STATEMENT_TIMEOUT_MS = 60_000
DEFAULT_CONNECT_TIMEOUT_S = 12


def describe_dsn(dsn: str) -> str:
    """`host/dbname` of a DSN, for messages: never the user or password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "PostgreSQL (unparsable DATABASE_URL)"
    host = str(parts.get("host") or "localhost")
    if host.startswith("/"):
        host = "local socket"
    return f"PostgreSQL {host}/{parts.get('dbname') or ''}".rstrip("/")


class PostgresSource:
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
    ) -> None:
        self._dsn = dsn
        self.description = description or describe_dsn(dsn)
        self.statement_timeout_ms = statement_timeout_ms
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection[Any] | None = None

    def __repr__(self) -> str:  # never show the DSN
        return f"PostgresSource({self.description!r})"

    def connect(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        import psycopg

        try:
            conn = psycopg.connect(
                self._dsn,
                connect_timeout=self.connect_timeout_s,
                prepare_threshold=None,
                application_name="usertrack",
            )
        except psycopg.OperationalError as e:
            raise SourceConnectionError(
                f"cannot connect to {self.description}: {_first_line(e)}",
                hint="check DATABASE_URL (host, password, sslmode) and that the database is up",
            ) from None
        conn.read_only = True
        self._conn = conn
        return conn

    def run(self, query: Query, params: Mapping[str, Any]) -> Result:
        import psycopg

        conn = self.connect()
        values = {k: _bindable(v) for k, v in params.items()}
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "SELECT set_config('statement_timeout', %s, true),"
                    " set_config('TimeZone', 'UTC', true)",
                    (str(self.statement_timeout_ms),),
                )
                # bytes: psycopg's typing wants literal SQL, and a query file is data we read.
                cur.execute(query.sql.encode(), values)
                if cur.description is None:
                    raise QueryError(f"query {query.id} ({query.path}) returned no rows to read")
                columns = [c.name for c in cur.description]
                rows = [tuple(_plain(v) for v in row) for row in cur]
        except psycopg.errors.ReadOnlySqlTransaction:
            raise QueryError(
                f"query {query.id} ({query.path}) tried to write; usertrack opens every"
                " transaction read-only and never changes your database"
            ) from None
        except psycopg.errors.QueryCanceled:
            raise QueryError(
                f"query {query.id} ({query.path}) was cancelled after the statement timeout"
                f" of {self.statement_timeout_ms / 1000:g} s"
            ) from None
        except psycopg.OperationalError as e:
            self.close()
            raise SourceConnectionError(
                f"lost the connection to {self.description} while running {query.id}:"
                f" {_first_line(e)}"
            ) from None
        except psycopg.Error as e:
            raise QueryError(f"query {query.id} ({query.path}) failed: {_first_line(e)}") from None
        return Result(columns=columns, rows=rows)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return redact(text[0]) if text else type(e).__name__


def _bindable(value: Any) -> Any:
    """Datetimes are bound as timezone-aware UTC; the session TimeZone is UTC as well."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _plain(value: Any) -> Any:
    """Values DuckDB and JSON take as they are: Decimal → float, aware datetimes → naive UTC."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value
