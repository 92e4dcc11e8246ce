"""The PostHog source on a local events store: HogQL translated to DuckDB (usertrack.hogql)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from usertrack.errors import HogQLTranslationError, QueryError
from usertrack.sources.base import Result, current_token

if TYPE_CHECKING:
    import duckdb

    from usertrack.hogql import Translation
    from usertrack.queries import Query


def wire_value(value: Any) -> Any:
    """A parameter value as the live HTTP client sends it in the request's JSON `values`.

    A datetime becomes 'YYYY-MM-DD HH:MM:SS' in UTC (a naive one is taken as UTC), a date
    'YYYY-MM-DD'; lists and tuples are converted item by item.
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID | Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [wire_value(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class LocalPostHogSource:
    """Runs HogQL query files on a DuckDB events store (see usertrack.eventstore)."""

    kind = "posthog"
    dialect = "hogql"

    def __init__(self, store_path: Path, description: str | None = None) -> None:
        self.store_path = Path(store_path)
        self.description = description or f"local PostHog events ({self.store_path.name})"
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._translations: dict[str, Translation] = {}

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                from usertrack.eventstore import open_store

                self._con = open_store(self.store_path)
            return self._con

    def translation(self, sql: str, first_line: int = 1) -> Translation:
        """The DuckDB translation of a HogQL text, cached per text (errors name the line of
        the file, the text starting on `first_line`)."""
        cached = self._translations.get(sql)
        if cached is None:
            from usertrack.hogql import translate

            cached = translate(sql, first_line=first_line)
            self._translations[sql] = cached
        return cached

    def run(self, query: Query, params: Mapping[str, Any]) -> Result:
        import duckdb

        where = f"{query.id} ({query.path})"
        if not query.sql.strip():
            raise QueryError(
                f"{where}: names saved insight {query.insight} and has no HogQL; saved insights"
                " need the live PostHog API"
            )
        try:
            tr = self.translation(query.sql, query.sql_line)
        except HogQLTranslationError as e:
            raise HogQLTranslationError(f"{where}: {e}") from None
        values: dict[str, Any] = {}
        for name in tr.params:
            if name not in params:
                raise QueryError(f"{where}: no value given for parameter {name!r}")
            values[name] = wire_value(params[name])
        started = time.monotonic()
        token = current_token()
        cur = self._connection().cursor()  # one cursor per run: safe across threads
        try:
            # When the other source fails (or Ctrl-C), interrupt DuckDB mid-query rather than
            # let a long scan run on after the command has given up.
            with token.on_cancel(cur.interrupt) if token else contextlib.nullcontext():
                cur.execute(tr.sql, values)
                rows = cur.fetchall()
            columns = [d[0] for d in (cur.description or [])]
        except duckdb.Error as e:
            if token is not None:
                token.check()  # interrupted because the command was cancelled: say so
            raise QueryError(f"{where}: DuckDB: {_first_line(e)}") from None
        finally:
            cur.close()
        plain_rows = [tuple(_plain(v) for v in row) for row in rows]
        return Result(
            columns=columns,
            rows=plain_rows,
            meta={
                "engine": "duckdb",
                "store": str(self.store_path),
                "seconds": round(time.monotonic() - started, 4),
            },
        )

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
