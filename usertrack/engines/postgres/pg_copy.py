"""A per-user query's rows from PostgreSQL as Arrow columns, through `COPY (...) TO STDOUT`.

A large result read row by row costs a Python tuple per row, then a pass over every value to
type it in Arrow: at 100,000 users about 0.3 s of CPU. COPY sends the rows as CSV, which
pyarrow parses in C++ into the column types the query's row description names (the same types
the rows would have been given: PostgresSource's loaders, then Arrow's inference).

COPY takes no bound parameters: the values are rendered into the statement by psycopg's
client-side binding (`ClientCursor.mogrify`: the same adapters, quoted by libpq for the
connection's encoding). COPY ... TO STDOUT reads only; the transaction is read-only as for any
query. A query whose columns include a type not mapped here (arrays, JSON, intervals...), or
whose text cannot stand as a subquery, is left to the row-by-row path (None).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

# PostgreSQL type OIDs (pg_type) and the Arrow type of each, as the row path gives them:
# integers int64, numeric and floats float64 (numeric is loaded as float), text string,
# timestamps microseconds without a zone (timestamptz is turned to UTC first), dates days.
_BOOL, _TIMESTAMPTZ = 16, 1184
_TYPES = {
    16: "bool",
    20: "int64",
    21: "int64",
    23: "int64",
    700: "float64",
    701: "float64",
    1700: "float64",
    19: "string",
    25: "string",
    1042: "string",
    1043: "string",
    1114: "timestamp",
    _TIMESTAMPTZ: "timestamp",
    1082: "date32",
}


class NotCopyable(Exception):
    """The query is read row by row instead."""


def copy_table(cur: psycopg.ClientCursor[Any], sql: bytes, values: Mapping[str, Any]) -> Any:
    """The rows of `sql` (values bound client-side) as a pyarrow Table, its columns named and
    typed as the row description says; NotCopyable when a column's type is not mapped. Runs
    in the caller's (read-only) transaction on the ClientCursor `cur`."""
    import io

    import psycopg
    from psycopg import sql as pgsql

    if cur.connection.info.encoding != "utf-8":  # Arrow reads UTF-8: else row by row
        raise NotCopyable
    rendered = {k: array_text(v) for k, v in values.items()}
    try:
        text = cur.mogrify(sql, rendered)
        # The row description asked for with each list of emails empty: the same untyped
        # literal, so the same types, without the server parsing and planning a cell's list
        # (once per place the query names it) a second time before COPY does.
        lists = [k for k, v in values.items() if type(v) is list and type(rendered[k]) is str]
        probe = cur.mogrify(sql, {**rendered, **dict.fromkeys(lists, "{}")}) if lists else text
    except psycopg.ProgrammingError:  # a placeholder without a value: the row path says so
        raise NotCopyable from None
    try:
        cur.execute(f"SELECT * FROM (\n{probe}\n) AS usertrack_q LIMIT 0")
    except psycopg.errors.SyntaxError:  # not a lone SELECT (a second statement...)
        raise NotCopyable from None  # the transaction is rolled back: nothing ran
    description = cur.description
    if description is None:
        raise NotCopyable
    names = [c.name for c in description]
    if len(set(names)) != len(names) or any(c.type_code not in _TYPES for c in description):
        raise NotCopyable
    select = []
    for c in description:
        column = pgsql.SQL("usertrack_q.{}").format(pgsql.Identifier(c.name))
        if c.type_code == _TIMESTAMPTZ:
            column = pgsql.SQL("({} AT TIME ZONE 'UTC') AS {}").format(
                column, pgsql.Identifier(c.name)
            )
        select.append(column)
    statement = pgsql.SQL("COPY (SELECT {} FROM (\n{}\n) AS usertrack_q) TO STDOUT (FORMAT csv)")
    buffer = io.BytesIO()
    with cur.copy(statement.format(pgsql.SQL(", ").join(select), pgsql.SQL(text))) as copy:
        for data in copy:  # psycopg's own reading: each message, and the end checked
            buffer.write(data)
    return _parse(buffer.getvalue(), names, [_TYPES[c.type_code] for c in description])


# What makes an element of an array's text form need quotes (PostgreSQL's array input, as
# psycopg's list dumper tests it, but for Unicode spaces: only ASCII texts are taken here).
_QUOTED = re.compile(r'["{},\\\s]')


def array_text(value: Any) -> Any:
    """A list of texts none of which needs quoting in an array's text form (an email each: a
    cell's people, `segment_emails`) as that text form, `{a,b}`: the literal psycopg's list
    dumper renders for the list, made in C rather than an item at a time in Python (0.04 s
    for 15,000 emails, on each per-user query). Any other value as it is."""
    if type(value) is not list or not value or not all(type(v) is str for v in value):
        return value
    joined = "".join(value)
    if not joined.isascii() or _QUOTED.search(joined) or not all(value):
        return value
    if "null" in {v.lower() for v in value if len(v) == 4}:
        return value
    return "{" + ",".join(value) + "}"


def _parse(data: bytes, names: list[str], kinds: list[str]) -> Any:
    """The CSV rows as a Table (NotCopyable when a value does not parse: the row path then
    reads it, and says what is wrong with it if anything is)."""
    import pyarrow as pa
    import pyarrow.csv as csv

    types = {
        "bool": pa.bool_(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "string": pa.string(),
        "timestamp": pa.timestamp("us"),
        "date32": pa.date32(),
    }
    schema = pa.schema([(n, types[k]) for n, k in zip(names, kinds, strict=True)])
    if not data:
        return schema.empty_table()
    try:
        table = csv.read_csv(
            pa.py_buffer(data),
            read_options=csv.ReadOptions(column_names=names),
            parse_options=csv.ParseOptions(newlines_in_values=True),
            convert_options=csv.ConvertOptions(
                column_types=schema,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise NotCopyable from None
    # A column of nulls only is Arrow's null type, as the row path infers it.
    for i, column in enumerate(table.columns):
        if column.null_count == len(column):
            table = table.set_column(i, names[i], pa.nulls(len(column)))
    return table


def as_rows(table: Any) -> list[tuple[Any, ...]]:
    """The Table's rows as tuples of Python values (a small result: loaded as rows are)."""
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))
