"""The PostHog source on a local events store: HogQL translated to DuckDB (engines.hogql)."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from usertrack.core.errors import HogQLTranslationError, QueryError, first_line
from usertrack.engines.arrow_results import ARROW_TYPES as _ARROW_TYPES
from usertrack.engines.arrow_results import arrow_rest as _arrow_rest
from usertrack.engines.arrow_results import arrow_rows as _arrow_rows
from usertrack.engines.arrow_results import arrow_schema as _arrow_schema
from usertrack.engines.arrow_results import persons_rows
from usertrack.engines.arrow_results import pyarrow_loaded as _pyarrow_loaded
from usertrack.engines.arrow_results import rows_of as _rows_of
from usertrack.engines.base import STREAM_BATCH, Result, RowStream, Source, current_token
from usertrack.engines.local.first_starts import FirstStarts
from usertrack.engines.plain_values import plain_rows

if TYPE_CHECKING:
    import duckdb

    from usertrack.engines.hogql import Translation
    from usertrack.queries.library import Query


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
        if all(type(v) is str for v in value):  # --by-segment's person ids: 100,000 at once
            return list(value)
        return [wire_value(v) for v in value]
    return value


class LocalPostHogSource(Source):
    """Runs HogQL query files on a DuckDB events store (see usertrack.engines.local.eventstore)."""

    kind = "posthog"
    dialect = "hogql"
    arrow_results = True  # run(..., arrow_over=N) may answer an Arrow table (Result.arrow)
    memory_only = True  # a read-only store: nothing but memory to give back (drop_kept)

    def __init__(
        self, store_path: Path, description: str | None = None, kept_in: Path | None = None
    ) -> None:
        self.store_path = Path(store_path)
        # where answers that depend on the store alone are kept (usertrack.engines.local.storecache)
        self.kept_in = kept_in
        self.description = description or f"local PostHog events ({self.store_path.name})"
        self._con: duckdb.DuckDBPyConnection | None = None
        # the stamp of the file the connection opened, and each kept answer's name's (storecache)
        self._opened: tuple[int, int, int, int, int] | None = None
        self._named: dict[str, tuple[int, int, int, int, int]] = {}
        self._lock = threading.Lock()
        self._translations: dict[str, Translation] = {}
        self._has_rollups: bool | None = None
        self._tables: dict[tuple[str, ...], bool] = {}
        self._times_key: str | None = None  # the key of the feature times seen (feature_times)
        self._times_lock = threading.Lock()
        self._first_starts = FirstStarts()  # retention's first starts, once per moment

    @property
    def has_facts(self) -> bool:
        return True

    @property
    def keeps_answers(self) -> bool:
        return True

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                from usertrack.engines.local import storecache
                from usertrack.engines.local.eventstore import open_store

                con, self._opened = storecache.opened(self.store_path, open_store)
                self._con = con
            return self._con

    def translation(self, sql: str, first_line: int = 1) -> Translation:
        """The DuckDB translation of a HogQL text, cached per text (errors name the line of
        the file, the text starting on `first_line`)."""
        cached = self._translations.get(sql)
        if cached is None:
            from usertrack.engines.hogql import translate

            cached = translate(sql, first_line=first_line)
            self._translations[sql] = cached
        return cached

    def _bound(
        self, query: Query, params: Mapping[str, Any], where: str
    ) -> tuple[Translation, dict[str, Any]]:
        """The query's translation and the values of its parameters, as DuckDB binds them."""
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
        return self._timed(query, self._rolled(query, tr, values), values)

    def _timed(
        self, query: Query, tr: Translation, values: dict[str, Any]
    ) -> tuple[Translation, dict[str, Any]]:
        """`tr` and `values`, or feature_usage.sql reading feature_used's time spent from its
        table beside the store, built now when missing (usertrack.engines.local.feature_times)."""
        from usertrack.engines.local import feature_times, shortcuts

        if shortcuts.find(query, "feature_times", values) is None:
            return tr, values
        key = self._key(feature_times.BUILD_SQL, {}, opened=True)
        side = feature_times.side_of(self.store_path)
        found = None if key is None else feature_times.rewritten(tr.sql, values, side, key)
        if key is None or found is None:
            return tr, values
        with self._times_lock:
            if self._times_key != key:
                cur = self._connection().cursor()
                try:
                    kept = feature_times.kept_key(cur, side)
                    if kept != key and feature_times.build(self.store_path, side, key):
                        kept = feature_times.kept_key(cur, side)
                finally:
                    cur.close()
                if kept != key:
                    return tr, values
                self._times_key = key
        return replace(tr, sql=found[0]), found[1]

    def _rolled(self, query: Query, tr: Translation, values: Mapping[str, Any]) -> Translation:
        """`tr`, or the shortcut of `query`'s file where its gate holds and the store has its
        tables (usertrack.engines.local.shortcuts)."""
        from usertrack.engines.local import shortcuts

        cut = shortcuts.find(query, "statement", values)
        if cut is None or not self.has_tables(cut.tables):
            return tr
        return replace(tr, sql=cut.statement(query, tr.sql))

    def has_rollups(self) -> bool:
        """Whether the store has the tables of usertrack.engines.local.rollups (a store built before
        them has not: its queries run on the events)."""
        if self._has_rollups is None:
            from usertrack.engines.local.rollups import TABLES

            self._has_rollups = self.has_tables(TABLES)
        return self._has_rollups

    def has_tables(self, names: tuple[str, ...]) -> bool:
        """Whether the store has every table of `names` (a store built before them has not)."""
        if names not in self._tables:
            cur = self._connection().cursor()
            try:
                found = cur.execute(
                    "SELECT count(DISTINCT table_name) FROM duckdb_tables()"
                    " WHERE schema_name = 'main' AND NOT temporary"
                    " AND list_contains($names, table_name)",
                    {"names": list(names)},
                ).fetchone()
            finally:
                cur.close()
            self._tables[names] = bool(found and found[0] == len(names))
        return self._tables[names]

    def run(
        self, query: Query, params: Mapping[str, Any], *, arrow_over: int | None = None
    ) -> Result:
        """The rows of `query`. With `arrow_over`: a result of more rows than that comes as an
        Arrow table (`Result.arrow`) when its column types allow, so that DuckDB, which loads
        it, gets it without a pass over every value in Python (half a second at 100,000 users,
        and the GIL the other source's thread needs meanwhile)."""
        where = f"{query.id} ({query.path})"
        tr, values = self._bound(query, params, where)
        started = time.monotonic()
        cur = self._connection().cursor()  # one cursor per run: safe across threads
        try:
            sql, values = self._group_rows(cur, query, params, where, (tr.sql, values))
            with _guarded(cur, where):
                cur.execute(sql, values)
                description = cur.description or []
                columns = [d[0] for d in description]
                types = [str(d[1]) for d in description]
                table = None
                if arrow_over is not None and all(t in _ARROW_TYPES for t in types):
                    if _pyarrow_loaded():
                        # Loaded already (another result needed it): the whole result as
                        # Arrow, made by DuckDB in C++, and a small one back into rows, rather
                        # than arrow_over + 1 rows as Python values first, which a large
                        # result then made into Arrow columns again (0.03-0.08 s of the lane
                        # at 100,000 users).
                        table = _arrow_rest(cur, _arrow_schema(columns, types))
                        if table.num_rows <= arrow_over:
                            rows, table = _rows_of(table), None
                        else:
                            rows = []
                    else:  # pyarrow is imported only for a large result
                        rows = cur.fetchmany(arrow_over + 1)
                        if len(rows) > arrow_over:
                            table = _arrow_rows(plain_rows(rows, types), cur, types)
                            rows = []
                else:
                    rows = cur.fetchall()
        finally:
            cur.close()
        return self._result(columns, rows, types, table, started)

    def _group_rows(
        self,
        cur: duckdb.DuckDBPyConnection,
        query: Query,
        params: Mapping[str, Any],
        where: str,
        bound: tuple[str, dict[str, Any]],
    ) -> tuple[str, dict[str, Any]]:
        """A group's per-person facts (`query` filled with the group's filter alone, a file of
        person_filter.PER_PERSON as shipped) as the group's rows of everyone's, kept under the
        store's stamp (`_everyones_rows`, registered on `cur`): every group's run reads the same
        rows once kept, where the filter reads every event of the range each time. Else (or
        where nothing is kept) `bound`, the statement as filled and its values."""
        from usertrack.queries import person_filter

        everyone = person_filter.for_everyone(query, self.facts_query)
        if everyone is None or "pyarrow" not in sys.modules:
            return bound
        text, values = self._bound(everyone, params, where)
        sql, values = self._everyones_rows(cur, text.sql, values, "facts")
        if sql == text.sql:
            return bound
        values[person_filter.PLACEHOLDER] = wire_value(params[person_filter.PLACEHOLDER])
        return person_filter.KEPT_ROWS.format(sql=sql), values

    def run_kept(self, query: Query, params: Mapping[str, Any], *, arrow_over: int) -> Result:
        """`run`, its answer kept as Arrow under the store's stamp where this source keeps
        answers (`kept_in`, usertrack.engines.local.storecache) and read from there while the store
        is unchanged: the per-user answers of one cell's people (`--persons`, their emails
        among the values), asked again by the next command on the same cell. The key is the
        DuckDB text run and its values. Only where pyarrow is imported already; an answer of
        other types than Arrow's (_ARROW_TYPES) is not kept."""
        if self.kept_in is None or not _pyarrow_loaded():
            return self.run(query, params, arrow_over=arrow_over)
        from usertrack.engines.local import storecache

        tr, values = self._bound(query, params, f"{query.id} ({query.path})")
        name = self._kept_key(tr.sql, values)
        if name is None:
            return self.run(query, params, arrow_over=arrow_over)
        started = time.monotonic()
        table = storecache.load(self.kept_in, name)
        meta = {"engine": "duckdb", "store": str(self.store_path), "kept": True}
        if table is None:
            answer = self.run(query, params, arrow_over=-1)  # as Arrow, even with no rows
            if answer.arrow is None:  # types Arrow does not carry here
                return answer
            table, meta = answer.arrow, answer.meta
            self.keep(name, table)
        meta["seconds"] = round(time.monotonic() - started, 4)
        if table.num_rows <= arrow_over:  # as `run` gives a small answer: rows
            return Result(columns=list(table.column_names), rows=_rows_of(table), meta=meta)
        return Result(columns=list(table.column_names), rows=[], meta=meta, arrow=table)

    def segment_persons(
        self, query: Query, params: Mapping[str, Any], *, arrow: bool = False
    ) -> Result | None:
        """segment_persons.sql's rows from the store's per-person tables, but for the persons
        whose only emails are blanks (no row here, a row with '' from the events: see
        usertrack.engines.local.rollups.SEGMENT_PERSONS_ROLLED), when `query` is the file as shipped
        (its shortcut's gate) and the store has the tables; else None. `arrow`: as an Arrow
        table (Result.arrow) of two text columns, person_id and email, not a Python tuple per
        person, kept under the store's stamp where this source keeps answers (`kept_in`,
        usertrack.engines.local.storecache) and read from there while the store is unchanged."""
        from usertrack.engines.local import shortcuts, storecache

        where = f"{query.id} ({query.path})"
        cut = shortcuts.find(query, "segment_persons")
        if cut is None or not query.sql.strip():
            return None
        sql = cut.sql

        _, values = self._bound(query, params, where)
        kept = self._kept_key(sql, values) if arrow else None
        if kept is not None:
            started = time.monotonic()
            table = storecache.load(self.kept_in, kept)  # type: ignore[arg-type]
            # kept for this very store (it has the tables); another shape: not ours, a miss
            if table is not None and table.column_names == ["person_id", "email"]:
                answer = self._result(list(table.column_names), [], [], table, started)
                answer.meta["kept"] = True
                return answer
        if not self.has_rollups():
            return None
        answer = self._answer(sql, values, where, arrow=arrow)
        if kept is not None:
            self.keep(kept, answer.arrow)
        return answer

    def segment_persons_of(
        self, query: Query, params: Mapping[str, Any], ids: list[str]
    ) -> list[tuple[Any, ...]] | None:
        """`segment_persons`' rows of the persons `ids` alone (their person_id as text): those
        of everyone's rows where `segment_persons` keeps them already (a --by-segment or --who
        run's), else read from the store's per-person tables with only those persons' rows
        grouped (from person_emails where the store has it: no row for an email of blanks);
        None where `segment_persons` would not answer (an edited file, a store without the
        tables)."""
        from usertrack.engines.local import person_emails, shortcuts
        from usertrack.engines.local.rollups import SEGMENT_PERSONS_OF

        cut = shortcuts.find(query, "segment_persons")
        if cut is None or not query.sql.strip():
            return None
        sql = cut.sql
        where = f"{query.id} ({query.path})"
        _, values = self._bound(query, params, where)
        kept = self._kept_key(sql, values) if _pyarrow_loaded() else None
        if kept is not None:
            from usertrack.engines.local import storecache

            table = storecache.load(self.kept_in, kept)  # type: ignore[arg-type]
            if table is not None and table.column_names == ["person_id", "email"]:
                import pyarrow as pa

                if pa.types.is_string(table["person_id"].type):
                    return persons_rows(table, ids)
        if not self.has_rollups():
            return None
        values = {**values, "usertrack_ids": ids}
        emails = self.has_tables((person_emails.TABLE,))
        sql = person_emails.SEGMENT_EMAILS_OF if emails else SEGMENT_PERSONS_OF
        return self._answer(sql, values, where).rows

    def list_saved(
        self, kind: str, search: str | None = None, most: int = 1_000
    ) -> tuple[list[dict[str, Any]], int]:
        """The store's feature flags (usertrack.engines.local.saved); no saved insight or
        dashboard is kept here."""
        from usertrack.engines.local.saved import FLAGS_TABLE, list_flags

        if kind != "feature_flags" or not self.has_tables((FLAGS_TABLE,)):
            return [], 0
        cur = self._connection().cursor()
        try:
            return list_flags(cur, search, most)
        finally:
            cur.close()

    def group_types(self) -> dict[str, int]:
        """The store's group types, name -> group_type_index (its group_type_mapping table, as
        PostHog's API lists a project's; none in a store without groups)."""
        from usertrack.engines.local.eventstore import GROUP_TYPES_TABLE

        if not self.has_tables((GROUP_TYPES_TABLE,)):
            return {}
        cur = self._connection().cursor()
        try:
            rows = cur.execute(
                f"SELECT group_type, group_type_index FROM {GROUP_TYPES_TABLE}"
            ).fetchall()
        finally:
            cur.close()
        return {str(t): int(i) for t, i in rows}

    def segment_persons_into(
        self, cur: duckdb.DuckDBPyConnection, query: Query, params: Mapping[str, Any], table: str
    ) -> None:
        """segment_persons.sql's rows as the temporary table `table` of `cur` (a cursor of
        facts_cursor), from the per-person tables as `segment_persons` reads them where they
        answer it, else from the events as translated."""
        from usertrack.engines.local import shortcuts

        cut = shortcuts.find(query, "segment_persons")
        if cut is None or not self.has_tables(cut.tables):
            self.facts_into(cur, query, params, table)
            return
        rolled = cut.sql
        where = f"{query.id} ({query.path})"
        _, values = self._bound(query, params, where)
        with _guarded(cur, where):
            cur.execute(f'CREATE TEMP TABLE "{table}" AS {rolled}', _used(rolled, values))

    def kept(self, what: str, values: Mapping[str, Any], text: bool = False) -> Any:
        """Where the answer `what` (all it depends on but the store and `values`) is kept, and
        the Arrow table (`text`: the text) kept there (None: not yet); None: none kept here."""
        name = self._key(what, values)
        if name is None:
            return None
        from usertrack.engines.local import storecache

        load = storecache.load_text if text else storecache.load
        return name, load(self.kept_in, name)  # type: ignore[arg-type]

    def keep(self, name: str, table: Any) -> None:
        """Keep the Arrow table (or text) `table` under `name` (from `kept`): only when the
        connection reads (none open: the store's name names) the file `name` was made for."""
        from usertrack.engines.local import storecache

        with self._lock:
            at = self._opened if self._con is not None else storecache.stamp(self.store_path)
            ok = storecache.keeps(self._named, self.store_path, name, at)
        if self.kept_in is not None and ok:
            storecache.save(self.kept_in, name, table)

    def _key(self, what: str, values: Mapping[str, Any], *, opened: bool = False) -> str | None:
        """storecache's key of `what` with `values` on this store; None when this source keeps
        none or the store's name names another file than its connection reads (nothing kept:
        storecache.opened). `opened`: open the connection first."""
        if self.kept_in is None and not opened:
            return None
        from usertrack.engines.local import storecache

        if opened:
            self._connection()
        with self._lock:
            at = self._opened if self._con is not None else storecache.stamp(self.store_path)
            return storecache.named(self._named, self.store_path, what, values, at)

    def _kept_key(self, sql: str, values: Mapping[str, Any]) -> str | None:
        """`_key` of usertrack's own statement `sql` with the `values` it names."""
        return self._key(sql, _used(sql, values))

    def run_grouped(
        self, query: Query, bare: Query, params: Mapping[str, Any], groups: Any, rest: int
    ) -> Result | None:
        """`query` (no group's filter in it) run once for every --by-segment group, its rows
        after a first column `usertrack_group` (each event's group: `groups`, an Arrow table
        of person_id and usertrack_group, else `rest` for an event's person not in it); None
        when its translation is not of the shape usertrack.engines.local.grouped answers (`bare`:
        the same file with `true` in its `{filters}` slot)."""
        from usertrack.engines.local import rollups
        from usertrack.engines.local.grouped import TABLE, grouped_sql

        where = f"{query.id} ({query.path})"
        tr, values = self._bound(query, params, where)
        sql = rollups.grouped(tr.sql, rest)  # the store's tables answer it (rollups' rewrite)
        if sql is None:
            sql = grouped_sql(tr.sql, self._bound(bare, params, where)[0].sql, rest)
        if sql is None:
            return None
        return self._answer(sql, values, where, {TABLE: groups})

    def _answer(
        self,
        sql: str,
        values: Mapping[str, Any],
        where: str,
        tables: Mapping[str, Any] | None = None,
        *,
        arrow: bool = False,
    ) -> Result:
        """The rows of usertrack's own statement `sql` (a rewrite of a query file's), as `run`
        gives a query file's: guarded, `tables` (name -> Arrow table) registered beside the
        store's, values made plain; `arrow`: as DuckDB's Arrow table (Result.arrow), values as
        DuckDB gives them (for a statement of plain columns: text, numbers)."""
        started = time.monotonic()
        cur = self._connection().cursor()
        answer: Any = None
        try:
            for name, table in (tables or {}).items():
                cur.register(name, table)
            with _guarded(cur, where):
                cur.execute(sql, _used(sql, values))
                description = cur.description or []
                types = [str(d[1]) for d in description]
                if arrow:
                    import warnings

                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # "an extra copy": a C++ copy, cheap
                        answer = cur.to_arrow_table()
                    rows = []
                else:
                    rows = cur.fetchall()
        finally:
            cur.close()
        return self._result([d[0] for d in description], rows, types, answer, started)

    def _result(
        self, columns: list[str], rows: list[Any], types: list[str], table: Any, started: float
    ) -> Result:
        """A statement's answer as a Result: its rows' values made plain (or its Arrow
        table), and where and how long it ran."""
        return Result(
            columns=columns,
            rows=plain_rows(rows, types),
            arrow=table,
            meta={
                "engine": "duckdb",
                "store": str(self.store_path),
                "seconds": round(time.monotonic() - started, 4),
            },
        )

    @contextlib.contextmanager
    def stream(self, query: Query, params: Mapping[str, Any]) -> Iterator[RowStream]:
        """The rows of `query` as DuckDB produces them, STREAM_BATCH at a time (fetchmany on
        DuckDB's streaming result: 10 M rows go through 96 MiB, not the 3 GiB of fetchall),
        values as `run` gives them. Stopped, as `run` is, by a cancelled command or the time
        limit, which here covers the rows' delivery too."""
        where = f"{query.id} ({query.path})"
        tr, values = self._bound(query, params, where)
        cur = self._connection().cursor()
        try:
            with _guarded(cur, where):
                cur.execute(tr.sql, values)
                description = cur.description or []
                types = [str(d[1]) for d in description]

                def batches() -> Iterator[list[tuple[Any, ...]]]:
                    while rows := cur.fetchmany(STREAM_BATCH):
                        yield plain_rows(rows, types)

                yield RowStream([d[0] for d in description], batches(), {"engine": "duckdb"})
        finally:
            cur.close()

    def facts_query(self, query: Query) -> Query:
        """`query` as an analysis reads it here: a packed facts file (one row per person, for
        PostHog's sake) in its per-event form (usertrack.engines.local.packed), else as written."""
        from usertrack.engines.local.packed import unpacked_hogql

        text = unpacked_hogql(query.sql) if query.folder == "posthog" else None
        return query if text is None else query.in_form("facts", text)

    def facts_cursor(
        self, query: Query, params: Mapping[str, Any], table: str, *, keep: bool = False
    ) -> duckdb.DuckDBPyConnection:
        """A new cursor on the store holding the rows of `query` as its temporary table `table`
        (the caller closes it). An analysis then works on them in the store's own DuckDB:
        millions of rows never cross into Python and back, which at 100,000 users cost more
        than the analysis itself. Temporary tables belong to their cursor alone (`keep`: as
        facts_into's)."""
        cur = self._connection().cursor()
        try:
            self.facts_into(cur, query, params, table, keep=keep)
        except BaseException:
            cur.close()
            raise
        return cur

    def facts_into(
        self,
        cur: duckdb.DuckDBPyConnection,
        query: Query,
        params: Mapping[str, Any],
        table: str,
        *,
        keep: bool = False,
    ) -> None:
        """The rows of `query` as the temporary table `table` of `cur`, a cursor of
        facts_cursor (an analysis reading several facts queries keeps them on one cursor);
        with `keep`, as `_kept_rows` gives them (a table many commands read as of one moment)."""
        from usertrack.engines.local import shortcuts
        from usertrack.queries import person_filter

        where = f"{query.id} ({query.path})"
        # a group's per-person facts: run for everyone, the group's persons' rows kept
        everyone = person_filter.for_everyone(query, self.facts_query)
        asked = everyone or query
        tr, values = self._bound(asked, params, where)
        # the store's tables or a cheaper form answer the shipped files (their shortcuts)
        sql = tr.sql
        cut = shortcuts.find(asked, "facts", values)
        made = cut.facts(asked, sql) if cut is not None and self.has_tables(cut.tables) else None
        with _guarded(cur, where):
            if (
                everyone is None
                and "pyarrow" in sys.modules
                and shortcuts.find(query, "first_starts", values) is not None
            ):
                self._first_starts.into(self._connection(), cur, values, table)
                return
            if made is not None:
                sql, prepare = made
                if prepare is not None:
                    cur.execute(prepare, _used(prepare, values))
                    names = [d[0] for d in cur.description or []]
                    row = cur.fetchone() or (None,) * len(names)
                    values = {**values, **dict(zip(names, row, strict=True))}
                # a shortcut reads the values it needs: one its gate checked may not be named
                values = _used(sql, values)
            if everyone is not None:
                sql, values = self._everyones_rows(cur, sql, values, table)
                sql = person_filter.KEPT_ROWS.format(sql=sql)
                values[person_filter.PLACEHOLDER] = wire_value(params[person_filter.PLACEHOLDER])
            elif keep:
                sql, values = self._kept_rows(cur, sql, values, f"_kept_{table}")
            cur.execute(f'CREATE TEMP TABLE "{table}" AS {sql}', values)

    def _everyones_rows(
        self, cur: duckdb.DuckDBPyConnection, sql: str, values: dict[str, Any], table: str
    ) -> tuple[str, dict[str, Any]]:
        """A group's per-person facts for everyone (person_filter.for_everyone's text) as
        `_kept_rows` gives them (every group asks the same), where pyarrow is imported already
        (a group's run has imported it to find its persons); else `sql` and `values`."""
        if "pyarrow" not in sys.modules:
            return sql, values
        return self._kept_rows(cur, sql, values, f"_everyone_{table}")

    def _kept_rows(
        self, cur: duckdb.DuckDBPyConnection, sql: str, values: dict[str, Any], name: str
    ) -> tuple[str, dict[str, Any]]:
        """The rows of `sql` with `values` (usertrack's own text) as a statement over an Arrow
        table registered on `cur` as `name`: kept under the store's stamp where this source
        keeps answers (usertrack.engines.local.storecache) and read from there while the store
        is unchanged, else run once now and kept; else `sql` and `values` themselves."""
        kept = self._kept_key(sql, values)
        if kept is None:
            return sql, values
        from usertrack.engines.local import storecache

        found = storecache.load(self.kept_in, kept)  # type: ignore[arg-type]
        if found is None:
            found = cur.sql(sql, params=_used(sql, values)).to_arrow_table()
            self.keep(kept, found)
        cur.register(name, found)
        return f'SELECT * FROM "{name}"', {}

    def facts_sql(
        self, query: Query, params: Mapping[str, Any]
    ) -> tuple[duckdb.DuckDBPyConnection, str, dict[str, Any]]:
        """A new cursor on the store (the caller closes it), the DuckDB text of `query` and
        its bound values, to be run as a subquery of an analysis's own statements: the rows
        then stream from the store's blocks into the analysis, never kept as a table of
        their own (for the 2.86 M path events at 100,000 users, writing their texts into a
        temporary table cost as much as the analysis after it)."""
        tr, values = self._bound(query, params, f"{query.id} ({query.path})")
        return self._connection().cursor(), tr.sql, values

    def facts_reduced(
        self, query: Query, params: Mapping[str, Any], sql: str, values: Mapping[str, Any]
    ) -> Any:
        """The Arrow table of usertrack's own statement `sql` (never a user's text) over the
        rows of `query`, its translation in place of each `{facts}` of `sql` (`values` bound
        besides), run in the store, guarded as a query file is: an analysis that reads only a
        small reduction of a large answer gets the reduction alone (a strict funnel's other
        events: 71,000 of 2.77 M at 100,000 users)."""
        where = f"{query.id} ({query.path})"
        tr, bound = self._bound(query, params, where)
        text = sql.replace("{facts}", tr.sql)
        cur = self._connection().cursor()
        try:
            with _guarded(cur, where):
                return cur.sql(text, params=_used(text, {**bound, **values})).to_arrow_table()
        finally:
            cur.close()

    def path_codes(
        self,
        query: Query,
        params: Mapping[str, Any],
        *,
        persons: bool = False,
        among: list[str] | None = None,
    ) -> tuple[dict[str, Any], list[tuple[int, Any]]] | None:
        """For path_events.sql as shipped (its shortcut's gate: no --where, no --segment) on a
        store with the path tables, the range's kept nodes in sequence order and whether each
        starts a sequence (numpy arrays `code`, `starts`), with every node's code and name
        (usertrack.engines.local.rollups); None otherwise, or when the range holds events of a
        person of several emails, or DuckDB may reorder a scan's rows (the facts then run on
        the events). With `persons`, also whose rows they are: `person_id` (an Arrow table of
        the persons in the rows' order, NULL last) and `person_rows` (how many rows each has,
        a numpy array), for a --by-segment run to keep a group's rows. With `among` (a few
        person ids: each row is looked for in the list), only those persons' rows, and
        `persons` is not read."""
        from usertrack.engines.local import rollups, shortcuts

        where = f"{query.id} ({query.path})"
        _, values = self._bound(query, params, where)
        cut = shortcuts.find(query, "path_codes", values)
        if cut is None or not self.has_tables(cut.tables):
            return None
        sql = cut.sql
        cur = self._connection().cursor()
        try:
            with _guarded(cur, where):
                # the rows come in the table's order only while DuckDB keeps a scan's order
                kept = cur.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
                if not (kept and kept[0]):
                    return None
                mixed = cur.execute(
                    rollups.PATHS_MIXED_SQL, _used(rollups.PATHS_MIXED_SQL, values)
                ).fetchone()
                if mixed is None or mixed[0]:
                    return None
                if among is not None:
                    sql = rollups.PATH_CODES_OF_SQL
                    values = {**values, "usertrack_path_persons": among}
                rows = cur.execute(sql, _used(sql, values)).fetchnumpy()
                names = cur.execute(rollups.PATH_NAMES_SQL).fetchall()
                if persons and among is None:
                    whose = cur.sql(
                        rollups.PATH_PERSONS_SQL, params=_used(rollups.PATH_PERSONS_SQL, values)
                    ).to_arrow_table()
                    counts = whose["n"].to_numpy()
                    if int(counts.sum()) != len(rows["code"]):  # not the same rows: no split
                        return None
                    rows = {**rows, "person_id": whose.select(["person_id"]), "person_rows": counts}
        finally:
            cur.close()
        return rows, names

    def analysis_rows(
        self, sql: str, values: Mapping[str, Any], tables: Mapping[str, Any], where: str
    ) -> list[tuple[Any, ...]]:
        """The rows of usertrack's own analysis statement `sql` (never a user's text) on a new
        cursor of the store, with `tables` (name -> Arrow table: an analysis's per-person facts
        worked out in Python) registered beside the store's tables, guarded as a query file
        is (cancellation, time limit; `where` names it in errors). The store's events then
        meet those facts in one scan, and only the answer crosses into Python."""
        with self._connection().cursor() as cur:  # closed on leaving
            for name, table in tables.items():
                cur.register(name, table)
            with _guarded(cur, where):
                return cur.execute(sql, dict(values)).fetchall()

    def first_event(self) -> datetime | None:
        """When the store's data starts (its earliest event), UTC; None when it is empty. Read
        from the column's block statistics: no scan."""
        from datetime import UTC

        with self._connection().cursor() as cur:  # closed on leaving
            (first,) = cur.execute("SELECT min(timestamp) FROM events").fetchone() or (None,)
        if first is None:
            return None
        return first if first.tzinfo else first.replace(tzinfo=UTC)

    def close(self) -> None:
        from usertrack.engines.local import storecache

        with self._lock:
            if self._con is not None:
                storecache.closed(self.store_path, self._con)
                self._con = None
            self._first_starts.clear()


def _used(sql: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The `values` that `sql` names ($name): DuckDB refuses a value no parameter takes."""
    import re

    named = set(re.findall(r"\$(\w+)", sql))
    return {k: v for k, v in values.items() if k in named}


@contextlib.contextmanager
def _guarded(cur: duckdb.DuckDBPyConnection, where: str) -> Iterator[None]:
    """Run a query file's statement on `cur`: interrupted when the other source fails or on
    Ctrl-C (rather than let a long scan run on after the command has given up) and past the
    time limit (usertrack.checks.sandbox); a DuckDB error is a QueryError naming `where`, or the
    cancellation when that is why it stopped."""
    import duckdb

    from usertrack.checks.sandbox import time_limit

    token = current_token()
    try:
        with (
            token.on_cancel(cur.interrupt) if token else contextlib.nullcontext(),
            time_limit(cur, where),
        ):
            yield
    except duckdb.Error as e:
        if token is not None:
            token.check()  # interrupted because the command was cancelled: say so
        raise QueryError(f"{where}: DuckDB: {first_line(e)}") from None
