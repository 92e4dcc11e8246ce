"""The local engine's results as Arrow tables (usertrack.engines.local.source): the Arrow type
of each DuckDB column type a result may carry, and the rows back from such a table."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb


# Column types an Arrow result may carry, and the Arrow type each is given: the one pyarrow
# infers from the Python values the row path gives (an int is int64, a float double), so the
# DuckDB table loaded from either path has the same column types.
INTS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")
ARROW_TYPES: dict[str, str] = {
    **dict.fromkeys(INTS, "int64"),
    "FLOAT": "float64",
    "DOUBLE": "float64",
    "BOOLEAN": "int64",  # 0/1, as ClickHouse answers a comparison
    "VARCHAR": "string",
    "VARCHAR[]": "list<string>",
    "DATE": "date32",
    "TIMESTAMP": "timestamp",
}


def arrow_schema(names: list[str], types: list[str]) -> Any:
    """The Arrow schema of a result whose DuckDB types are `types` (all in ARROW_TYPES)."""
    import pyarrow as pa

    wanted = {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "string": pa.string(),
        "list<string>": pa.list_(pa.string()),
        "date32": pa.date32(),
        "timestamp": pa.timestamp("us"),
    }
    return pa.schema(
        [pa.field(n, wanted[ARROW_TYPES[t]]) for n, t in zip(names, types, strict=True)]
    )


def arrow_rest(cur: duckdb.DuckDBPyConnection, schema: Any) -> Any:
    """What is left of the cursor's result, made into Arrow by DuckDB, in `schema`'s types."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "an extra copy of the rows": a C++ copy, cheap
        rest: Any = cur.to_arrow_table()
    if not rest.schema.equals(schema):  # a cast imports pyarrow.compute: 0.2 s, when needed
        return rest.cast(schema)
    import pyarrow as pa

    # The same columns under `schema` itself (a list's item is named as pyarrow names it, not
    # as DuckDB does: equal types, no copy).
    return pa.Table.from_arrays(rest.columns, schema=schema)


def arrow_rows(
    head: list[tuple[Any, ...]], cur: duckdb.DuckDBPyConnection, types: list[str]
) -> Any:
    """The rows already fetched (`head`) and the rest of the cursor's result, as one Arrow
    table with the types of ARROW_TYPES."""
    import pyarrow as pa

    names = [d[0] for d in cur.description or []]
    schema = arrow_schema(names, types)
    rest = arrow_rest(cur, schema)
    first = pa.table(
        [
            pa.array(column, type=field.type)
            for column, field in zip(zip(*head, strict=True), schema, strict=True)
        ],
        schema=schema,
    )
    return pa.concat_tables([first, rest])


def pyarrow_loaded() -> bool:
    """Whether pyarrow is imported already (then Arrow costs a result no import)."""
    return "pyarrow" in sys.modules


def rows_of(table: Any) -> list[tuple[Any, ...]]:
    """An Arrow table of ARROW_TYPES back as rows: the Python values DuckDB's fetch gives for
    those types (int, float, str, list of str, date, naive datetime, None), with booleans
    already 0/1 (the cast of `arrow_rest`)."""
    if table.num_rows == 0:
        return []
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def persons_rows(table: Any, ids: list[str]) -> list[tuple[Any, ...]]:
    """The (person_id, email) rows of the Arrow table `table` (segment_persons' kept answer)
    whose person is one of `ids`, picked by Arrow's hash lookup: only those rows become Python
    values, not everyone's."""
    import pyarrow as pa

    # pyarrow.compute's functions by name: its module makes a wrapper of each (40 ms) on import
    from pyarrow._compute import FilterOptions, SetLookupOptions, call_function

    wanted = pa.array(ids, type=table["person_id"].type)
    inside = call_function("is_in", [table["person_id"]], SetLookupOptions(value_set=wanted))
    picked = call_function("filter", [table, inside], FilterOptions("drop"))
    return list(zip(picked["person_id"].to_pylist(), picked["email"].to_pylist(), strict=True))
