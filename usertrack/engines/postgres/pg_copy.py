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

import io
import re
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from usertrack.engines.concurrency import Background

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
    schema = _schema(names, [_TYPES[c.type_code] for c in description])
    parts: list[Any] = []  # a Table per PART_BYTES of CSV, parsed while the next arrives
    buffer, parsing, broken = io.BytesIO(), None, False
    with cur.copy(statement.format(pgsql.SQL(", ").join(select), pgsql.SQL(text))) as copy:
        # psycopg's own reading: each message, and the end checked. A message is one row
        # (PostgreSQL's COPY TO sends each row in a CopyData message of its own), so a part
        # ends where a row does. After a value that does not parse the rest is read, unparsed,
        # for the copy to end as it should.
        for data in copy:
            if broken:
                continue
            buffer.write(data)
            if buffer.tell() >= PART_BYTES:
                broken = parsing is not None and not parsing.result()
                parsing = None if broken else Background(partial(_parse, parts, buffer, schema))
                buffer = io.BytesIO()
    if broken or (parsing is not None and not parsing.result()):
        raise NotCopyable
    if not _parse(parts, buffer, schema):
        raise NotCopyable
    return _whole(parts, schema)


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


# CSV bytes parsed at a time: the whole CSV is never held (at 100,000 demo users the tool calls
# are 270 MB of it, beside their 310 MB as Arrow), and each part is parsed on Arrow's threads.
PART_BYTES = 16 << 20


def _schema(names: list[str], kinds: list[str]) -> Any:
    import pyarrow as pa

    types = {
        "bool": pa.bool_(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "string": pa.string(),
        "timestamp": pa.timestamp("us"),
        "date32": pa.date32(),
    }
    return pa.schema([(n, types[k]) for n, k in zip(names, kinds, strict=True)])


def _parse(parts: list[Any], buffer: io.BytesIO, schema: Any) -> bool:
    """The CSV rows in `buffer` parsed as a Table of `schema` and added to `parts`; False when
    a value does not parse (the row path then reads the query, and says what is wrong with it
    if anything is)."""
    import pyarrow as pa
    import pyarrow.csv as csv

    if not buffer.tell():
        return True
    try:
        parts.append(
            csv.read_csv(
                pa.py_buffer(buffer.getbuffer()),
                read_options=csv.ReadOptions(column_names=schema.names),
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
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


def _whole(parts: list[Any], schema: Any) -> Any:
    """The parts as one Table (no copy: a chunk each); a column of nulls only is Arrow's null
    type, as the row path infers it."""
    import pyarrow as pa

    table = pa.concat_tables(parts) if parts else schema.empty_table()
    for i, column in enumerate(table.columns):
        if len(column) and column.null_count == len(column):
            table = table.set_column(i, schema.names[i], pa.nulls(len(column)))
    return table


def as_rows(table: Any) -> list[tuple[Any, ...]]:
    """The Table's rows as tuples of Python values (a small result: loaded as rows are)."""
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))
