"""Failure rows (neon/failures, or dicts) into a DuckDB table of FAILURE_COLUMNS, the table
`usertrack.reports.failures` categorizes: as bound lists, numpy object arrays or Arrow columns,
whichever is cheapest for the rows and the process (the values and types the same each way)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from usertrack.engines.base import Result

# The columns of a failure row (neon/failures) and their DuckDB types;
# `when` expressions can use any of them.
FAILURE_COLUMNS: dict[str, str] = {
    "level": "VARCHAR",
    "occurred_at": "TIMESTAMP",
    "email": "VARCHAR",
    "tool_name": "VARCHAR",
    "tool_provider": "VARCHAR",
    "tool_type": "VARCHAR",
    "error_type": "VARCHAR",
    "error_message": "VARCHAR",
    "run_error_log": "VARCHAR",
    "duration_ms": "BIGINT",
    "credits": "BIGINT",
    "run_id": "VARCHAR",  # the run (a tool call's, when the table says), as text
}
# Up to this many failure rows go to DuckDB as bound lists, one per column; beyond, as numpy
# object arrays. Measured on 2 cores: 5,000 rows (the 2,000-user demo's 30 days) 0.02 s as lists
# against 0.01 s plus numpy's import (0.07 s); 200,000 rows 0.8 s against 0.25 s.
_SMALL = 20_000


def create_failure_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    temp: bool = False,
    extra: Mapping[str, tuple[str, list[int]]] | None = None,
) -> None:
    types = {**FAILURE_COLUMNS, **{name: kind for name, (kind, _) in (extra or {}).items()}}
    cols = ", ".join(f'"{c}" {t}' for c, t in types.items())
    kind = "TEMP TABLE" if temp else "TABLE"
    con.execute(f'CREATE OR REPLACE {kind} "{table}" ({cols})')


def columns_and_tuples(
    rows: Result | Sequence[dict[str, Any]],
) -> tuple[list[str], Sequence[Sequence[Any]]]:
    if isinstance(rows, Sequence):
        columns = list(FAILURE_COLUMNS)
        return columns, [tuple(r.get(c) for c in columns) for r in rows]
    return list(rows.columns), rows.rows


def load_failures(
    con: duckdb.DuckDBPyConnection,
    rows: Result | Sequence[dict[str, Any]],
    table: str = "failure",
) -> int:
    """Store failure rows (a query's Result, or dicts) as a DuckDB table of FAILURE_COLUMNS.

    Columns a row lacks are NULL; values are cast to the table's types. Returns the row count.
    """
    columns, tuples = columns_and_tuples(rows)
    return load_rows(con, columns, tuples, table, {})


def load_rows(
    con: duckdb.DuckDBPyConnection,
    columns: list[str],
    tuples: Sequence[Sequence[Any]],
    table: str,
    extra: Mapping[str, tuple[str, list[int]]],
) -> int:
    """load_failures, and `extra` columns of usertrack's own (name: DuckDB type, values)."""
    import sys

    create_failure_table(con, table, extra=extra)
    n = len(tuples)
    if n == 0:
        return 0
    keep = [j for j, c in enumerate(columns) if c in FAILURE_COLUMNS]
    names = [columns[j] for j in keep] + list(extra)
    select = _cast_select(columns, extra)
    if "pyarrow" in sys.modules:  # the MCP server (`keeping`): typed in C++, scanned as is
        import duckdb

        try:
            _insert_arrow(con, table, select, [columns[j] for j in keep], tuples, keep, extra)
            return n
        except duckdb.ConversionException:
            pass
    values = [[row[j] for row in tuples] for j in keep] + [v for _, v in extra.values()]
    # Once numpy is in the process (the MCP server after `segments`), object arrays are the
    # faster way at any size (5,000 rows: 0.011 s against 0.020 s as bound lists); without it
    # and with few rows, not worth its import. Object arrays refuse a column mixing naive and
    # zone-aware datetimes, which bound lists take: those few rows go again as lists.
    if n <= _SMALL and "numpy" in sys.modules:
        import duckdb

        try:
            _insert_arrays(con, table, select, names, values, extra, n)
            return n
        except duckdb.ConversionException:
            pass
    if n <= _SMALL:  # each column one bound list, unnested side by side
        unnested = ", ".join(f'unnest(${k + 1}) AS "{name}"' for k, name in enumerate(names))
        con.execute(f'INSERT INTO "{table}" SELECT {select} FROM (SELECT {unnested})', values)
        return n
    _insert_arrays(con, table, select, names, values, extra, n)
    return n


def _cast_select(columns: Sequence[str], extra: Mapping[str, tuple[str, Any]]) -> str:
    """The SELECT list that makes given columns a failure table's row: each of FAILURE_COLUMNS
    cast to its type (NULL when not given), then the `extra` columns."""
    return ", ".join(
        [
            f'CAST("{c}" AS {t})' if c in columns else f"CAST(NULL AS {t})"
            for c, t in FAILURE_COLUMNS.items()
        ]
        + [f'CAST("{name}" AS {kind})' for name, (kind, _) in extra.items()]
    )


def load_arrow(
    con: duckdb.DuckDBPyConnection,
    arrow: Any,
    table: str,
    extra: Mapping[str, tuple[str, list[int]]],
) -> int:
    """load_rows of an Arrow table's rows (usertrack.reports.failure_copy): scanned by DuckDB
    as they are, no value made a Python object."""
    import pyarrow as pa

    create_failure_table(con, table, extra=extra)
    columns = list(arrow.column_names)
    select = _cast_select(columns, extra)
    given = arrow.select([c for c in columns if c in FAILURE_COLUMNS])
    for name, (_, values) in extra.items():
        column = values if isinstance(values, pa.Array) else pa.array(values, type=pa.int64())
        given = given.append_column(name, column)
    con.register("_failures_in", given)
    try:
        con.execute(f'INSERT INTO "{table}" SELECT {select} FROM _failures_in')
    finally:
        con.unregister("_failures_in")
    return int(arrow.num_rows)


# The Arrow type of each column of a failure row as PostgreSQL's rows give it (text, times
# with their zone, integers).
_ARROW_KINDS = {"VARCHAR": "string", "BIGINT": "int64", "INTEGER": "int64"}


def _one_kind_of_time(values: Sequence[Any]) -> bool:
    """Every value None or a datetime, all naive or all with a zone."""
    from datetime import datetime

    naive = {v.tzinfo is None if isinstance(v, datetime) else None for v in values if v is not None}
    return len(naive) <= 1 and None not in naive


def _insert_arrow(
    con: duckdb.DuckDBPyConnection,
    table: str,
    select: str,
    names: list[str],
    tuples: Sequence[Sequence[Any]],
    keep: list[int],
    extra: Mapping[str, tuple[str, list[int]]],
) -> None:
    import pyarrow as pa

    data: dict[str, Any] = {}
    columns = list(zip(*tuples, strict=True))
    for name, j in zip(names, keep, strict=True):
        kind = _ARROW_KINDS.get(FAILURE_COLUMNS[name])
        if kind is None and not _one_kind_of_time(columns[j]):
            # Arrow would type naive and zone-aware times by the first; DuckDB refuses the mix
            # as object arrays and takes it as bound lists: such rows (and any not a datetime)
            # go the way they went before.
            import duckdb

            raise duckdb.ConversionException(f"column {name}: not one kind of time")
        try:
            data[name] = pa.array(columns[j], type=getattr(pa, kind)() if kind else None)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            import duckdb

            raise duckdb.ConversionException(str(e)) from None
    for name, (_, values) in extra.items():
        data[name] = pa.array(values, type=pa.int64())
    arrow = pa.table(data)
    con.register("_failures_in", arrow)
    try:
        con.execute(f'INSERT INTO "{table}" SELECT {select} FROM _failures_in')
    finally:
        con.unregister("_failures_in")


def _insert_arrays(
    con: duckdb.DuckDBPyConnection,
    table: str,
    select: str,
    names: list[str],
    values: list[list[Any]],
    extra: Mapping[str, Any],
    n: int,
) -> None:
    import numpy as np

    data: dict[str, Any] = {}
    for name, column in zip(names, values, strict=True):
        if name in extra:  # numbers: a typed array, no object to look at
            data[name] = np.asarray(column, dtype=np.int64)
            continue
        arr = np.empty(n, dtype=object)
        arr[:] = column
        data[name] = arr
    con.register("_failures_in", data)
    try:
        con.execute(f'INSERT INTO "{table}" SELECT {select} FROM _failures_in')
    finally:
        con.unregister("_failures_in")


__all__ = ["FAILURE_COLUMNS", "load_failures"]
