"""What every analysis shares: periods, windows, date ranges, facts loaded into DuckDB, and the
JSON / csv / Markdown rendering of a result.

Definitions follow PostHog's insight query runners (docs/metrics.md names each one): periods
are UTC days, ISO weeks starting on Monday and calendar months; a funnel's "month" window is 31
days (posthog/hogql_queries/insights/funnels/base.py, `funnel_window_interval_unit`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.analytics.rendered import (  # re-exported: every analysis renders through these
    csv_rows,
    json_document,
    md_section,
    seconds_or_none,
    sparkline,
)
from usertrack.core.clock import naive_utc
from usertrack.core.errors import UsageError, one_of
from usertrack.engines.concurrency import Background

__all__ = [
    "csv_rows",
    "json_document",
    "md_section",
    "seconds_or_none",
    "sparkline",
]

if TYPE_CHECKING:
    import duckdb

    from usertrack.engines.base import Result, Source
    from usertrack.engines.person_rows import PersonRows
    from usertrack.queries.library import Query
    from usertrack.workspace import Workspace

PERIODS = ("day", "week", "month")

# --window units: m(inute), h(our), d(ay), w(eek), mo(nth = 31 days, as PostHog's funnels count).
_WINDOW_UNITS = {
    "s": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "mo": 31 * 86400,
}
_WINDOW = re.compile(r"(\d+)\s*([a-z]+)")


def parse_period(text: str, option: str = "--period") -> str:
    """`day`, `week` or `month` (case-insensitive)."""
    return one_of(text, PERIODS, option)


def parse_window(text: str, option: str = "--window") -> timedelta:
    """A conversion window: `14d`, `1h`, `30m`, `2w`, `1mo` (31 days), `90s`."""
    match = _WINDOW.fullmatch(text.strip().lower())
    if text.strip().isdigit():
        raise UsageError(
            f"{option} {text!r} has no unit: {text.strip()}d is {text.strip()} days (or s, m, h,"
            " w, mo: 1h, 2w; mo is 31 days)"
        )
    if not match or match.group(2) not in _WINDOW_UNITS:
        raise UsageError(
            f"{option} {text!r} is not a window: a number and a unit, s, m, h, d, w or mo"
            " (e.g. 14d, 1h, 30m, 2w; mo is 31 days)"
        )
    seconds = int(match.group(1)) * _WINDOW_UNITS[match.group(2)]
    if seconds <= 0:
        raise UsageError(f"{option} {text!r} must be longer than zero")
    if seconds > 3660 * 86400:
        raise UsageError(f"{option} {text!r} is longer than ten years")
    return timedelta(seconds=seconds)


def day_of(value: Any) -> date:
    """A day as PostHog's JSON gives it (ISO text) or DuckDB does (a date or a timestamp)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def period_start(moment: datetime | date, period: str) -> date:
    """The first UTC day of the period holding `moment`: the day, ISO week (Monday) or month."""
    day = naive_utc(moment).date() if isinstance(moment, datetime) else moment
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    raise UsageError(f"period {period!r} is not one of {', '.join(PERIODS)}")


def next_period(start: date, period: str, steps: int = 1) -> date:
    """The start of the period `steps` after `start`'s (negative: before); an hour's a datetime."""
    if period == "hour":
        return start + timedelta(hours=steps)
    if period == "day":
        return start + timedelta(days=steps)
    if period == "week":
        return start + timedelta(weeks=steps)
    if period == "month":
        months = start.year * 12 + start.month - 1 + steps
        return date(months // 12, months % 12 + 1, 1)
    raise UsageError(f"period {period!r} is not one of {', '.join(PERIODS)}")


@dataclass(frozen=True)
class DateRange:
    """Events from `start` (inclusive) up to `end` (exclusive), UTC (naive datetimes are UTC):
    every analysis holds and shows a range this one way, so `--days 14` ends at 00:00 of the
    day after its last whole day, and the period before it ends where it starts."""

    start: datetime
    end: datetime
    # given as a DATETIME: never rounded to an interval (PostHog's DateRange.explicitDate)
    exact_start: bool = False
    exact_end: bool = False

    @property
    def last(self) -> datetime:
        """The range's last instant (a microsecond before `end`): what its last day, week or
        month is counted from."""
        return self.end - timedelta(microseconds=1) if self.end > self.start else self.end

    def document(self) -> dict[str, str]:
        from usertrack.rendering.export import jsonable

        return {"from": jsonable(self.start), "to": jsonable(self.end)}


def _moment(text: str, option: str) -> datetime:
    from usertrack.core.clock import parse_as_of

    try:
        return parse_as_of(text)
    except UsageError:
        raise UsageError(
            f"{option} {text!r} is not a date (2026-11-16) or a datetime (2026-11-16T12:00:00)"
        ) from None


def date_range(
    as_of: datetime,
    *,
    days: int | None = None,
    since: str | None = None,
    until: str | None = None,
    default_days: int = 30,
    warn: Callable[[str], None] | None = None,
) -> DateRange:
    """The range of `--days N` / `--since` / `--until`, never past `as_of`.

    `--until DATE` takes in that whole day (the range ends at 00:00 UTC of the next one), a
    DATETIME ends at that moment; `--since DATE` starts at 00:00 UTC of that day. Without
    `--since`, the range is the `--days` (or `default_days`) days up to its end. The start is
    in the range, the end is not (`DateRange`).
    """
    if days is not None and since is not None:
        raise UsageError("--days and --since both set the range's start; give one of them")
    end, exact_end = as_of, False
    if until is not None:
        end = _moment(until, "--until")
        exact_end = not _is_date(until)
        if not exact_end:
            end += timedelta(days=1)
        if end > as_of:
            exact_end = False
            if warn:
                from usertrack.core.style import moment as shown

                warn(
                    f"--until {until.strip()} is past the data (up to {shown(as_of)}):"
                    " the range ends there"
                )
            end = as_of
    if since is not None:
        start = _moment(since, "--since")
    else:
        start = end - timedelta(days=days or default_days)
    if start > end:
        raise UsageError(f"--since {since} is after the range's end ({end:%Y-%m-%d %H:%M:%S})")
    if start == end:  # the end is not in the range: a start at it leaves nothing
        raise UsageError(
            f"--since {since} is not before the range's end ({end:%Y-%m-%d %H:%M:%S}),"
            " which the range stops short of"
        )
    exact_start = exact_end if since is None else not _is_date(since)  # --days: as its end
    return DateRange(start, end, exact_start=exact_start, exact_end=exact_end)


def _is_date(text: str) -> bool:
    return re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", text) is not None


def previous_span(span: DateRange) -> DateRange:
    """`--compare`: the period of the same length just before `span` (PostHog's compare to the
    previous period): it ends where `span` starts, so the two meet without a gap or an overlap,
    and starts at 00:00 when `span` does, as a plain run of that period would."""
    return DateRange(span.start - (span.end - span.start), span.start)


def change(current: float, previous: float) -> float | None:
    """The percent change from `previous` to `current`, one decimal; None from 0."""
    if not previous:
        return None
    return round(100.0 * (current - previous) / previous, 1)


# --------------------------------------------------------------------------------------------
# Facts: a HogQL query's rows in a sandboxed DuckDB connection


def facts_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory sandboxed DuckDB connection for one analysis: one given back (`release`),
    emptied, within `sandbox.keep_connections` (a --by-segment run's groups, the MCP server)."""
    from usertrack.checks.sandbox import connect

    return connect(reuse=True)


# A facts result longer than this comes from the local engine as an Arrow table (Result.arrow):
# DuckDB hands it over and takes it back in C++, with no Python value per cell (at 100,000 users
# the path events are 2.86 M rows, which as Python tuples cost seconds and a gigabyte).
ARROW_OVER = 10_000


def facts_bound(
    ws: Workspace, query_id: str, as_of: datetime, schema: Mapping[str, Any], **params: Any
) -> tuple[Query, dict[str, Any], PersonRows | None]:
    """The facts query bound to its values, and the group its rows are to be kept to.

    While an analysis runs for a group of persons (`scope.person_rows`, by_segment.run), a facts
    query that answers per person (a `person_id` column) and takes the `{filters}` slot is
    bound without the group's HogQL filter (`scope.person_filter`): it runs once over everyone
    (`scope.facts_cache`) and each group keeps its persons' rows. Any other query is bound as it
    is, the group's filter in its slot (an aggregate, whose rows have no person)."""
    keep = kept_group(ws, query_id, schema)
    if keep is None:
        return (*ws.bind(query_id, as_of, **params), None)
    query, values = ws.scoped(ws.scope.but(persons=None)).bind(query_id, as_of, **params)
    return query, values, keep


def kept_group(ws: Workspace, query_id: str, schema: Mapping[str, Any]) -> PersonRows | None:
    """The group whose rows of the facts query `query_id` are kept (facts_bound), or None."""
    keep = ws.scope.person_rows
    if keep is None or "person_id" not in schema or "{filters}" not in ws.library.get(query_id).sql:
        return None
    return keep


def load_facts(
    con: duckdb.DuckDBPyConnection,
    ws: Workspace,
    query_id: str,
    as_of: datetime,
    table: str,
    schema: Mapping[str, Any],
    **params: Any,
) -> int:
    """Run the facts query `query_id` on the workspace's PostHog source and store its rows as
    the DuckDB table `table`, typed by `schema` (column -> pyarrow type), so an empty answer
    still has its columns. The HTTP source pages past PostHog's row caps. Returns the row count.
    """
    query, values, keep = facts_bound(ws, query_id, as_of, schema, **params)
    return _load_bound(
        con, ws.sources[query.folder], query, values, table, schema, query_id, keep, ws
    )


def _grouped(
    ws: Workspace,
    keep: PersonRows | None,
    query_id: str,
    as_of: datetime,
    params: Mapping[str, Any],
) -> Result | None:
    """A group's answer to a query that takes its filter, from one run for every group
    (`scope.grouped_run`, by_segment on the local engine), or None (it runs for the group)."""
    if keep is not None or ws.scope.grouped_run is None:
        return None
    return ws.scope.grouped_run(query_id, as_of, dict(params))


def _load_bound(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    query: Query,
    values: Mapping[str, Any],
    table: str,
    schema: Mapping[str, Any],
    query_id: str,
    keep: PersonRows | None = None,
    ws: Workspace | None = None,
) -> int:
    """load_facts for a query already bound (Workspace.bind) to its values; with `keep`, the
    rows of that group only, of the answer over everyone fetched once (`scope.facts_cache`). A
    query without a group's filter in it (no `{filters}` slot: activity's creation times) has
    the same answer in every group's run: fetched once too."""
    result = _fetched(source, query, values, keep, ws)
    store_rows(con, result, table, schema, query_id)
    return result.arrow.num_rows if result.arrow is not None else len(result.rows)


def fetch_facts(
    ws: Workspace, query_id: str, as_of: datetime, schema: Mapping[str, Any], **params: Any
) -> Result:
    """load_facts' answer, not stored (`store_rows` stores it): for a facts query fetched on a
    thread while another runs (funnel --correlation's events, live)."""
    query, values, keep = facts_bound(ws, query_id, as_of, schema, **params)
    return _fetched(ws.sources[query.folder], query, values, keep, ws)


def fetch_everyones_facts(
    ws: Workspace, query_id: str, as_of: datetime, schema: Mapping[str, Any], **params: Any
) -> Result:
    """fetch_facts' answer over everyone, in a group's run too (by_segment): the rows every
    group keeps its persons' of, fetched once (`scope.facts_cache`), for an analysis that works
    out every group's answer at once."""
    query, values, _ = facts_bound(ws, query_id, as_of, schema, **params)
    return _fetched(ws.sources[query.folder], query, values, None, ws)


def _fetched(
    source: Source,
    query: Query,
    values: Mapping[str, Any],
    keep: PersonRows | None,
    ws: Workspace | None,
) -> Result:
    query = source.facts_query(query)
    cache = ws.scope.facts_cache if ws is not None else None
    if cache is not None and keep is None:
        from usertrack.analytics.by_segment import PLACEHOLDER

        cache = None if PLACEHOLDER in values else cache
    key = (query.id, query.sql, repr(sorted(values.items())))
    result = cache.get(key) if cache is not None else None
    if result is None:
        if source.arrow_results:
            result = source.run(query, values, arrow_over=ARROW_OVER)
        else:
            result = source.run(query, values)
        if cache is not None:
            cache[key] = result
    return keep.kept(result) if keep is not None else result


def store_rows(
    con: duckdb.DuckDBPyConnection,
    result: Result,
    table: str,
    schema: Mapping[str, Any],
    query_id: str = "facts",
) -> None:
    import pyarrow as pa

    from usertrack.core.errors import QueryError

    missing = [c for c in schema if c not in result.columns]
    if missing:
        raise QueryError(
            f"query {query_id} returns no column {', '.join(missing)}"
            f" (it returned: {', '.join(result.columns) or 'nothing'})"
        )
    listed: set[str] = set()
    if result.arrow is not None:
        listed = {
            c for c in schema if pa.types.is_list(result.arrow[c].type) and not _is_list(schema[c])
        }
        facts = _arrow_facts(result.arrow, schema, query_id, keep=listed)
    else:
        index = {c: i for i, c in enumerate(result.columns)}
        arrays = {}
        for col, kind in schema.items():
            i = index[col]
            values = [row[i] for row in result.rows]
            first = next((v for v in values if v is not None), None)
            packed = isinstance(first, list | tuple) and not _is_list(kind)
            try:
                if packed:  # one row per person: unnested below
                    listed.add(col)
                    try:
                        arrays[col] = pa.array(values, type=pa.list_(kind))
                    except (pa.ArrowInvalid, pa.ArrowTypeError):
                        arrays[col] = pa.array(values, type=pa.list_(_wire_kind(kind)))
                else:
                    arrays[col] = pa.array(values, type=kind)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise QueryError(f"query {query_id}: column {col!r}: {e}") from None
        facts = pa.table(arrays)
    con.register("_facts_in", facts)
    if listed:
        casts = ", ".join(
            f'CAST("{c}" AS {_duckdb_type(k)}) AS "{c}"' if c in listed else f'"{c}"'
            for c, k in schema.items()
        )
        relation = unnested("_facts_in", list(schema), listed)
        sql = f"SELECT {casts} FROM {relation}"
    else:
        sql = "SELECT * FROM _facts_in"
    import duckdb

    try:
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS {sql}')
    except duckdb.Error as e:
        raise QueryError(f"query {query_id}: {str(e).strip().splitlines()[0]}") from None
    finally:
        con.unregister("_facts_in")


def unnested(relation: str, columns: Sequence[str], listed: set[str]) -> str:
    """`relation` with its `listed` columns unnested together, element by element.

    A facts query may answer one row per person (or session) with arrays instead of a row per
    event, so that PostHog sends a row per person: the arrays of a row are zipped back into one
    row per element here, the other columns repeated. The analyses then read per-event rows,
    whichever the query gave."""
    if not listed:
        return relation
    cols = ", ".join(f'unnest("{c}") AS "{c}"' if c in listed else f'"{c}"' for c in columns)
    return f"(SELECT {cols} FROM {relation} AS _packed)"


def _is_list(kind: Any) -> bool:
    import pyarrow as pa

    return (isinstance(kind, str) and kind.endswith("[]")) or (
        not isinstance(kind, str) and pa.types.is_list(kind)
    )


def _wire_kind(kind: Any) -> Any:
    """The element type an array column is read as from Python values: datetimes come from
    PostHog as ISO text inside arrays (its types cover the array, not the elements), so they
    are read as text and cast by DuckDB."""
    import pyarrow as pa

    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return pa.string()
    return kind


def _duckdb_type(kind: Any) -> str:
    """The DuckDB type of a pyarrow type of an open_facts schema (`_ARROW_TYPES` read back)."""
    import pyarrow as pa

    if pa.types.is_timestamp(kind):
        return "TIMESTAMP"
    by_name = arrow_schema({name: name for name in _ARROW_TYPES})
    return next(name for name, arrow in by_name.items() if arrow == kind)


def _arrow_facts(
    arrow: Any, schema: Mapping[str, Any], query_id: str, keep: set[str] | None = None
) -> Any:
    """The `schema` columns of an Arrow result, typed as the row path types them (the `keep`
    columns, arrays to unnest, as they are)."""
    import pyarrow as pa

    from usertrack.core.errors import QueryError

    columns = []
    for col, kind in schema.items():
        column = arrow[col]
        if keep and col in keep:
            columns.append(column)
            continue
        if column.type != kind:  # pyarrow.compute (a cast) costs an import: only when needed
            try:
                column = column.cast(kind)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
                raise QueryError(f"query {query_id}: column {col!r}: {e}") from None
        columns.append(column)
    return pa.table(columns, names=list(schema))


# The pyarrow type of each DuckDB type an open_facts schema may name (for the sources whose rows
# come through Python: load_facts).
_ARROW_TYPES = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "BIGINT": "int64",
    "DOUBLE": "float64",
    "BOOLEAN": "bool_",
    "DATE": "date32",
}


def arrow_schema(schema: Mapping[str, str]) -> dict[str, Any]:
    import pyarrow as pa

    def kind(name: str) -> Any:
        return pa.timestamp("us") if name == "TIMESTAMP" else getattr(pa, _ARROW_TYPES[name])()

    return {column: kind(name) for column, name in schema.items()}


@contextmanager
def open_facts(
    ws: Workspace,
    query_id: str,
    as_of: datetime,
    schema: Mapping[str, str],
    table: str = "facts",
    **params: Any,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection holding the rows of the facts query `query_id` as the table
    `table`, with the `schema` columns and types (column -> DuckDB type: VARCHAR, TIMESTAMP,
    BIGINT, DOUBLE, BOOLEAN or DATE).

    On the local engine it is a cursor of the events store's own DuckDB, the facts a temporary
    table filled there (LocalPostHogSource.facts_cursor); on any other source an in-memory
    connection loaded by load_facts. The same analysis SQL runs on both, creating its own
    tables as TEMP tables (named apart from the store's). The local path needs no pyarrow, whose
    import alone is a tenth of a second.
    """

    query, values, keep = facts_bound(ws, query_id, as_of, schema, **params)
    source = ws.sources[query.folder]
    if not source.has_facts or ws.scope.person_rows is not None:
        from usertrack.checks.sandbox import release

        con = facts_connection()
        try:
            arrow = arrow_schema(schema)
            _load_bound(con, source, query, values, table, arrow, query_id, keep, ws)
            yield con
        finally:
            release(con)
        return
    con = source.facts_cursor(source.facts_query(query), values, table)
    try:
        typed_table(con, table, schema, query_id)
        yield con
    finally:
        con.close()


def typed_table(
    con: duckdb.DuckDBPyConnection, table: str, schema: Mapping[str, str], query_id: str
) -> None:
    """The temporary table `table` made of the `schema` columns only, typed (its arrays
    unnested), as open_facts gives them."""
    import duckdb

    from usertrack.core.errors import QueryError

    found = {row[0]: row[1] for row in con.execute(f'DESCRIBE "{table}"').fetchall()}
    missing = [c for c in schema if c not in found]
    if missing:
        raise QueryError(
            f"query {query_id} returns no column {', '.join(missing)}"
            f" (it returned: {', '.join(found) or 'nothing'})"
        )
    listed = {c for c in schema if found[c].endswith("[]") and not schema[c].endswith("[]")}
    if list(found.items()) != list(schema.items()):  # only the schema's columns, typed
        casts = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in schema.items())
        relation = unnested(f'"{table}"', list(found), listed)
        try:
            con.execute(f'CREATE TEMP TABLE "_typed" AS SELECT {casts} FROM {relation}')
        except duckdb.Error as e:
            raise QueryError(f"query {query_id}: {str(e).strip().splitlines()[0]}") from None
        con.execute(f'DROP TABLE "{table}"; ALTER TABLE "_typed" RENAME TO "{table}"')


@dataclass(frozen=True)
class FactsTable:
    """One facts query of open_facts_tables: its rows become the table `table`, with the
    `schema` columns and types (column -> DuckDB type, as open_facts), bound with `params`;
    `progress` is said before it runs."""

    query_id: str
    table: str
    schema: Mapping[str, str]
    params: Mapping[str, Any]
    progress: str = ""
    # kept between commands on the local engine while its store is unchanged (facts_into's
    # `keep`): a table of a row per person that many commands read as of one moment
    keep: bool = False


@contextmanager
def open_facts_tables(
    ws: Workspace,
    as_of: datetime,
    tables: Sequence[FactsTable],
    progress: Any = None,
    *,
    whole_in_place: bool = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB connection holding the rows of several facts queries, each as its table (as
    open_facts does for one).

    `whole_in_place`: in a --by-segment run's whole answer, whose groups read none of these
    rows again (they keep a summary of their own, as activity's masks), the facts are read as
    outside --by-segment (in place on the local engine), not fetched to be kept for the groups.

    On the local engine (every query on the same local source) the connection is a cursor of
    the events store's own DuckDB and the tables are temporary tables filled there: no row
    crosses into Python, and neither pyarrow (with pandas, which it imports when installed)
    nor a second DuckDB is needed. On any other source the rows are loaded into an in-memory
    connection, one query after another (load_facts).
    """
    if not tables:
        raise ValueError("open_facts_tables: no facts query")

    def bind(t: FactsTable) -> tuple[Query, dict[str, Any], PersonRows | None]:
        return facts_bound(ws, t.query_id, as_of, t.schema, **t.params)

    # A group's run (by_segment) keeps its persons' rows of facts fetched once for every group,
    # or takes its rows of a query run once for every group: each bound only when it runs (a
    # group's filter is a list of its persons, made when bound).
    rows = ws.scope.person_rows
    grouping = rows is not None
    if whole_in_place and rows is not None and rows.everyone and ws.scope.person_filter is None:
        grouping = False
    bound = [] if grouping else [bind(t) for t in tables]
    sources = {id(ws.sources[query.folder]) for query, _, _ in bound}
    source = ws.sources[bound[0][0].folder] if bound else None
    if source is None or not source.has_facts or len(sources) != 1 or grouping:
        from usertrack.checks.sandbox import release

        memory = facts_connection()
        ahead = _fetched_ahead(ws, bound)
        try:
            for n, t in enumerate(tables):
                if progress and t.progress:
                    progress(t.progress)
                schema = arrow_schema(t.schema)
                if ahead:
                    store_rows(memory, ahead[n].result(), t.table, schema, t.query_id)
                    continue
                keep = kept_group(ws, t.query_id, t.schema)
                found = _grouped(ws, keep, t.query_id, as_of, t.params)
                if found is not None:  # the group's rows of one run for every group
                    store_rows(memory, found, t.table, schema, t.query_id)
                    continue
                query, values, keep = bound[n] if bound else bind(t)
                _load_bound(
                    memory,
                    ws.sources[query.folder],
                    query,
                    values,
                    t.table,
                    schema,
                    t.query_id,
                    keep,
                    ws,
                )
            yield memory
        finally:
            release(memory)
        return
    cur: duckdb.DuckDBPyConnection | None = None
    try:
        for t, (query, values, _) in zip(tables, bound, strict=True):
            if progress and t.progress:
                progress(t.progress)
            facts = source.facts_query(query)
            if cur is None:
                cur = source.facts_cursor(facts, values, t.table, keep=t.keep)
            else:
                source.facts_into(cur, facts, values, t.table, keep=t.keep)
            typed_table(cur, t.table, t.schema, t.query_id)
        if cur is not None:
            yield cur
    finally:
        if cur is not None:
            cur.close()


def _fetched_ahead(
    ws: Workspace, bound: list[tuple[Query, dict[str, Any], PersonRows | None]]
) -> list[Any]:
    """Every bound facts query of open_facts_tables sent at once, each on a thread, when their
    sources run queries side by side (PostHog's API: 3 at a time): one request's wait and its
    answer's reading overlap the others'. Else [] (a group's run: bound one at a time)."""
    if len(bound) < 2:
        return []
    sources = [ws.sources[query.folder] for query, _, _ in bound]
    side_by_side = [s.max_concurrent for s in sources]  # None: no bound
    if any(n is not None and n < 2 for n in side_by_side):
        return []
    if any(s.has_facts for s in sources):
        return []

    def fetch(n: int) -> Callable[[], Result]:
        query, values, keep = bound[n]
        return lambda: _fetched(sources[n], query, values, keep, ws)

    return [Background(fetch(n), "usertrack-facts") for n in range(len(bound))]


FACTS = "{facts}"  # where a FactsQuery statement names its facts


@dataclass
class FactsQuery:
    """Statements over a facts query's rows: each names them `{facts}`, which is the loaded
    table on the sources whose rows come through Python, and on the local engine the facts
    query itself as a subquery, bound anew for each statement (`open_facts_query`)."""

    con: duckdb.DuckDBPyConnection
    relation: str
    values: dict[str, Any]
    query_id: str

    def execute(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Run `sql` ({facts} naming the facts), its `$name` placeholders bound to `params`
        (the analysis's own values, never written into its text)."""
        import duckdb

        from usertrack.checks.sandbox import time_limit
        from usertrack.core.errors import QueryError
        from usertrack.engines.base import current_token, on_cancel

        statement = sql.replace(FACTS, self.relation)
        try:
            with on_cancel(self.con.interrupt), time_limit(self.con, f"query {self.query_id}"):
                bound = {**(self.values if FACTS in sql else {}), **(params or {})}
                return self.con.execute(statement, bound or None)
        except duckdb.Error as e:
            token = current_token()
            if token is not None:
                token.check()  # interrupted because the command was cancelled: say so
            raise QueryError(f"query {self.query_id}: {str(e).strip().splitlines()[0]}") from None


@contextmanager
def open_facts_query(
    ws: Workspace,
    query_id: str,
    as_of: datetime,
    schema: Mapping[str, str],
    **params: Any,
) -> Iterator[FactsQuery]:
    """The rows of the facts query `query_id` with the `schema` columns and types (as
    open_facts), for an analysis that reads them in a few statements.

    On the local engine they are never stored: each statement runs the facts query as its
    subquery on a cursor of the events store's own DuckDB (LocalPostHogSource.facts_sql), so the
    rows stream from the store's blocks into the analysis. Worth it when the analysis reads
    them only a few times and reading the store costs less than writing their texts into a
    table (paths at 100,000 users: 0.06 s a scan against 0.25 s for the table). On any other
    source the rows are loaded into an in-memory table once (open_facts).
    """
    source = ws.sources.get(ws.library.get(query_id).folder)  # (none: open_facts says so)
    if (
        source is None or not source.has_facts or ws.scope.person_rows is not None
    ):  # a group's: its rows of facts fetched once
        with open_facts(ws, query_id, as_of, schema, table="facts", **params) as con:
            yield FactsQuery(con, '"facts"', {}, query_id)
        return
    query, values = ws.bind(query_id, as_of, **params)
    con, sql, bound = source.facts_sql(ws.sources[query.folder].facts_query(query), values)
    try:
        facts = FactsQuery(con, f"(\n{sql}\n)", bound, query_id)
        described = facts.execute(f"SELECT * FROM {FACTS} LIMIT 0").description
        found = [d[0] for d in described]
        types = {d[0]: str(d[1]) for d in described}
        missing = [c for c in schema if c not in found]
        if missing:
            from usertrack.core.errors import QueryError

            raise QueryError(
                f"query {query_id} returns no column {', '.join(missing)}"
                f" (it returned: {', '.join(found) or 'nothing'})"
            )
        casts = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in schema.items())
        listed = {c for c in schema if types[c].endswith("[]") and not schema[c].endswith("[]")}
        relation = unnested(f"(\n{sql}\n)", found, listed)
        facts.relation = f"(SELECT {casts} FROM {relation} AS _facts)"
        yield facts
    finally:
        con.close()
