"""Segments as files for other tools: JSON, CSV and Markdown (no terminal styling here).

JSON shape: {"as_of", "segments": [{"id", "name", "action", "type", "count", "avg_engagement",
             "avg_revenue"}],
             "users": [{"email", "segments": [ids], "primary": id | null, ...profile columns}]}
Values are JSON-safe: timestamps are ISO 8601 in UTC ("2026-11-16T12:00:00Z"), no Decimal.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any, TextIO

from usertrack.core import style
from usertrack.core.errors import UsageError
from usertrack.core.style import csv_cell, jsonable, md_text
from usertrack.engines.base import Result, RowStream
from usertrack.rendering.output import format_for_path, write_atomic  # noqa: F401  (re-exported)
from usertrack.segments.rules import Classification, Segment, rule_columns

FORMATS = ("table", "json", "csv", "md")


def json_text(doc: Any) -> str:
    """A JSON document as usertrack writes them: JSON-safe values (see `jsonable`), indented,
    UTF-8 kept, one trailing newline: the text of
    `json.dumps(jsonable(doc), indent=2, ensure_ascii=False)`, byte for byte.

    Not json.dumps itself: with an indent it runs the pure-Python encoder, a generator per
    list or object and a call per value (0.3 s for the 20,000 profiles of a lifecycle cell).
    Here json's C encoder writes each list or object, its separator between items carrying
    the newline and the indent of its level, a nested list or object standing in as a marker
    string replaced by its own text."""
    return _json_at(doc, 0) + "\n"


# The C encoder of each nesting level: its separator between items breaks the line and indents.
_flat_encoders: list[Any] = []
# Stands in for the i-th nested list or object of the one being written (a string's control
# characters are written escaped: a value holding one is caught by counting, see _json_at).
_MARKER = "\x00usertrack-nested\x00"
_MARKER_TEXT = json.dumps(_MARKER)[:-1]  # its text, without the closing quote


def _flat_encoder(level: int) -> Any:
    """The text of a list or object `level` levels down, its items each on a line of their
    own; a nested list or object that is not empty is written on one line (see _json_at)."""
    while len(_flat_encoders) <= level:
        pad = "\n" + "  " * (len(_flat_encoders) + 1)
        encoder = json.JSONEncoder(
            ensure_ascii=False, check_circular=False, separators=("," + pad, ": ")
        )
        c_encoder = getattr(json.encoder, "c_make_encoder", None)
        if c_encoder is None:
            _flat_encoders.append(encoder.encode)
            continue
        # What encoder.encode runs, made once rather than on every call.
        run = c_encoder(
            None, encoder.default, json.encoder.encode_basestring, None, ": ", "," + pad,
            False, False, True,
        )  # fmt: skip
        _flat_encoders.append(lambda value, run=run: "".join(run(value, 0)))
    return _flat_encoders[level]


_PLAIN_KINDS = frozenset({str, int, bool, type(None), float})
_WITH_NESTED = _PLAIN_KINDS | {list, dict}
_AS_IS = frozenset({str, int, bool, type(None)})  # written as they are, whatever their value


def _plain_value(value: Any, nested: list[Any]) -> Any:
    """`value` as the C encoder writes it as `jsonable` would have it; a list or object: its
    marker, the value kept in `nested`."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dt.datetime and value.tzinfo is None:  # as jsonable writes it
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, (dict, list, tuple)):
        if not value:
            return [] if isinstance(value, (list, tuple)) else {}
        nested.append(value)
        return _MARKER + str(len(nested) - 1)
    return jsonable(value)


def _finite(values: Any, kinds: set[type]) -> bool:
    return float not in kinds or all(math.isfinite(v) for v in values if type(v) is float)


def _records_at(records: Any, level: int) -> str | None:
    """A list of objects of the same keys (people and their profile columns) `level` levels
    down, as _json_at writes it; None when the objects' keys differ. Written column by
    column: each column's values as JSON texts at once (the usual kinds by C functions over
    the column, no call per value in Python), then every object from one template."""
    keys = tuple(records[0])
    # every object's keys compared in C (no Python frame per object)
    if not keys or set(map(type, keys)) != {str} or not all(map(keys.__eq__, map(tuple, records))):
        return None
    # each column picked by key in C (a transposition of the objects' values walks every
    # object's view in step: twice the time at 20,000 people by 22 columns)
    texts = [_column_json(list(map(itemgetter(k), records)), level + 2) for k in keys]
    inner, outer = "  " * (level + 2), "  " * (level + 1)
    names = [json.encoder.encode_basestring(k).replace("%", "%%") for k in keys]
    template = "{\n" + ",\n".join(f"{inner}{n}: %s" for n in names) + "\n" + outer + "}"
    pad = "\n" + outer
    pieces = list(map(template.__mod__, zip(*texts, strict=True)))
    return "[" + pad + ("," + pad).join(pieces) + "\n" + "  " * level + "]"


_NONE = type(None)


def _column_json(values: list[Any], level: int) -> list[str]:
    """Each value's text as _json_at writes it `level` levels down (a record's value)."""
    kinds = set(map(type, values))
    if kinds <= _AS_IS or (kinds <= _PLAIN_KINDS and _finite(values, kinds)):
        # the whole column by the C encoder, a newline between the values (a string's own
        # newlines are written escaped: these are the only ones)
        return _lines_encoder(values)[1:-1].split("\n")
    if kinds <= {float, int, _NONE}:
        return [
            "null"
            if v is None or (type(v) is float and not math.isfinite(v))
            else (float.__repr__(v) if type(v) is float else int.__repr__(v))
            for v in values
        ]
    if kinds <= {dt.datetime, _NONE}:  # as jsonable writes them (naive: UTC)
        return [
            "null"
            if v is None
            else '"' + v.isoformat("T", "seconds") + 'Z"'  # no keyword parsed per value
            if v.tzinfo is None
            else _scalar_json(jsonable(v))
            for v in values
        ]
    if kinds <= {list, _NONE}:  # lists of texts (a person's MCP servers) written here
        pad = ",\n" + "  " * (level + 1)
        opening, closing = "[\n" + "  " * (level + 1), "\n" + "  " * level + "]"
        encode = json.encoder.encode_basestring
        return [
            "null"
            if v is None
            else "[]"
            if not v
            else opening + pad.join(map(encode, v)) + closing
            if set(map(type, v)) == {str}
            else _json_at(v, level)
            for v in values
        ]
    return [_json_at(v, level) for v in values]


_lines_encoder = json.JSONEncoder(ensure_ascii=False, separators=("\n", ": ")).encode


def _json_at(value: Any, level: int) -> str:
    """`jsonable(value)` as json.dumps(indent=2, ensure_ascii=False) writes it `level`
    levels down."""
    nested: list[Any] = []
    if isinstance(value, dict):
        if not value:
            return "{}"
        values = value.values()
        kinds = set(map(type, values))  # in C: no Python call per value
        if kinds <= _WITH_NESTED and set(map(type, value)) == {str} and _finite(values, kinds):
            # the usual object (a person's profile): plain values, and lists or objects that
            # are empty (written as is) or stand in by their markers
            plain: Any = value
            if list in kinds or dict in kinds:
                inner = [k for k, v in value.items() if (type(v) is list or type(v) is dict) and v]
                if inner:
                    plain = dict(value)
                    for k in inner:
                        nested.append(value[k])
                        plain[k] = _MARKER + str(len(nested) - 1)
        else:
            plain = {
                k if type(k) is str else str(k): v if type(v) in _AS_IS else _plain_value(v, nested)
                for k, v in value.items()
            }
    elif isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        if len(value) > 1 and set(map(type, value)) == {dict}:
            records = _records_at(value, level)
            if records is not None:
                return records
        kinds = set(map(type, value))
        if kinds <= _PLAIN_KINDS and _finite(value, kinds):
            plain = value if type(value) is list else list(value)
        else:
            plain = [v if type(v) in _AS_IS else _plain_value(v, nested) for v in value]
    else:
        return _scalar_json(jsonable(value))
    text = _flat_encoder(level)(plain)
    if nested:
        # each piece after the first starts with its marker's number and closing quote
        pieces = text.split(_MARKER_TEXT)
        if len(pieces) != len(nested) + 1:  # a string holding the marker, or two keys made one
            return _indented(jsonable(value), level)
        out = [pieces[0]]
        for i, (inner, piece) in enumerate(zip(nested, pieces[1:], strict=True)):
            number = f'{i}"'
            if not piece.startswith(number):
                return _indented(jsonable(value), level)
            out += (_json_at(inner, level + 1), piece[len(number) :])
        text = "".join(out)
    # `{"a": 1,\n    "b": 2}` from the C encoder: break the line after the opening bracket and
    # before the closing one (a string's newline is written escaped: these are the only ones).
    return text[0] + "\n" + "  " * (level + 1) + text[1:-1] + "\n" + "  " * level + text[-1]


def json_text_with_records(
    doc: dict[str, Any], key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> str:
    """`json_text` of `doc` with its last key `key` holding `rows` as records (one object per
    row, `columns` its keys): json_text_with_columns of the rows' columns."""
    names = [str(c) for c in columns]
    return json_text_with_columns(doc, key, names, [list(c) for c in zip(*rows, strict=True)])


def json_text_with_columns(
    doc: dict[str, Any],
    key: str,
    names: Sequence[str],
    columns: Sequence[list[Any]],
    tails: Sequence[str] | None = None,
) -> str:
    """`json_text` of `doc` with its last key `key` holding one object per row of `columns`
    (each a list of values, `names` their keys, all different), the same text, without an
    object per row: each column's values written at once (as _records_at writes them).
    `tails`: each record's further keys and values as text already (record_tails_sql's),
    written after `columns`' (at least two records)."""
    from json.encoder import encode_basestring

    if not columns or len(columns[0]) < 2:  # none or one: as json_text writes any list
        assert tails is None, "tails need two records or more"
        rows = [dict(zip(names, r, strict=True)) for r in zip(*columns, strict=True)]
        return json_text({**doc, key: rows})
    head = json_text({**doc, key: []})
    closing = f"  {encode_basestring(key)}: []\n}}\n"
    assert head.endswith(closing), key  # the last key, at the top level
    texts = [_column_json(values, 3) for values in columns]
    keys = [encode_basestring(n) for n in names]
    # Every record's pieces in one list, joined once: before each value the text that leads
    # to it (the record's opening, or the comma after the value before, and the key), placed
    # a column at a time by slice assignment, in C: 0.02 s less than a template formatted per
    # record (and a copy less of the text) at 16,600 people by 22 columns.
    count, step = len(texts[0]), 2 * len(texts) + (tails is not None)
    pieces = [""] * (count * step)
    for i, (name, values) in enumerate(zip(keys, texts, strict=True)):
        pieces[2 * i :: step] = [f",\n      {name}: "] * count
        pieces[2 * i + 1 :: step] = values
    if tails is not None:
        pieces[step - 1 :: step] = tails
    pieces[::step] = [f"\n    }},\n    {{\n      {keys[0]}: "] * count  # closes the one before
    pieces[0] = f"    {{\n      {keys[0]}: "
    opening = f"  {encode_basestring(key)}: [\n"
    return "".join([head[: -len(closing)], opening, *pieces, "\n    }\n  ]\n}\n"])


def cell_text(value: Any) -> str:
    """A value as plain machine text (ISO timestamps, ';' between list items). Not for csv
    cells (`style.csv_cell` neutralises formulas) nor for humans (`style.human`)."""
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ";".join(cell_text(v) for v in value)
    return str(value)


def _plain(value: Any) -> Any:
    """jsonable, with a fast path for the values most cells hold (100,000 users by 20 columns)."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if kind is dt.datetime and value.tzinfo is None:
        return value.isoformat(timespec="seconds") + "Z"
    if kind is float:
        return None if math.isnan(value) or math.isinf(value) else value
    if kind is list and all(type(v) is str for v in value):
        return value
    return jsonable(value)


_JSON_AS_IS = {type(None), str, int, bool}


def column_records(values: dict[str, list[Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Users as JSON records (email, segments, primary, then the profile columns) from their
    values column by column (Classification.json_columns): a check per column, not a function
    call per cell, is most of the JSON time at 100,000 users."""
    keys = ["email", "segments", "primary"] + [c for c in columns if c != "email"]
    converted = []
    for key in keys:
        column = values[key]
        kinds = set(map(type, column))  # in C: no Python call per cell
        if not kinds <= _JSON_AS_IS:
            if kinds <= _JSON_AS_IS | {float}:  # only NaN and infinities need a change
                column = [v if type(v) is not float or math.isfinite(v) else None for v in column]
            else:
                column = [_plain(v) for v in column]
        converted.append(column)
    return [dict(zip(keys, row, strict=True)) for row in zip(*converted, strict=True)]


def selected_users(result: Classification, segment: str | None) -> list[dict[str, Any]]:
    return result.members(segment) if segment else result.users


class ListedJson(str):
    """JSON text of an object whose last key holds a list written one item per line, with the
    pieces it was joined from: `head`, the same text with that list empty (`"key": []`), and
    `items`, the text of each item. Equal to the text; what the MCP server reads to cut a
    long list to its first items without parsing the others (`mcp_server.cut_answer`)."""

    head: str
    key: str
    items: list[str]


def to_json(result: Classification, segment: str | None = None) -> str:
    segments = [s for s in result.segments if segment is None or s.id == segment]
    summary = [segment_summary(result, s) for s in segments]
    # One segment or user per line: readable, diffable, and written by json's C encoder (an
    # indented dump goes through the pure-Python encoder: seconds at 100,000 users).
    lines = ["{", f'  "as_of": {json.dumps(jsonable(result.as_of))},', '  "segments": [']
    lines.insert(2, f'  "current_only": {json.dumps(list(result.current_only))},')
    lines.append(",\n".join("    " + _compact(s) for s in summary))
    lines.append("  ],")
    users = _user_lines(result, segment)
    head = "\n".join([*lines, '  "users": []', "}"]) + "\n"
    if not users:
        return head
    lines += ['  "users": [', ",\n".join(users), "  ]", "}"]
    text = ListedJson("\n".join(lines) + "\n")
    text.head, text.key, text.items = head, "users", users
    return text


def segment_summary(result: Classification, seg: Segment) -> dict[str, Any]:
    """A segment's entry in the JSON answer: what it is, how many, and its figures (null where
    none was made)."""
    figures = result.figures.get(seg.id, {})
    return {
        "id": seg.id,
        "name": seg.name,
        "action": seg.action,
        "type": seg.type,
        "count": result.counts[seg.id],
        "avg_engagement": figures.get("avg_engagement"),
        "avg_revenue": figures.get("avg_revenue"),
    }


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _user_lines(result: Classification, segment: str | None) -> list[str]:
    """One indented line of JSON per user (all, or one segment's in its order): written by
    DuckDB where the rows still are (fetching 100,000 users by 20 columns into Python is most of
    the JSON time), the same text as `_compact` of their `column_records`."""
    keys = ["email", "segments", "primary"] + [c for c in result.columns if c != "email"]
    if result.con is not None and "rows" not in result.__dict__:
        types = result.column_types()
        parts: list[str] = []
        for key in keys:
            value = _json_value_sql(key, types[key])
            if value is None:  # a type only Python writes
                break
            opening = ", " if parts else "    {"
            parts += [_sql_text(opening + json.dumps(key, ensure_ascii=False) + ": "), value]
        else:
            # One flat concat, not a chain of ||: DuckDB plans a deep expression tree slowly
            # (a fixed 0.02 s a query here, whatever the number of users).
            line = f"concat({', '.join([*parts, _sql_text('}')])})"
            return json_escapes_fixed(t for (t,) in result.select([line], segment))
    users = column_records(result.json_columns(segment), result.columns)
    return ["    " + _compact(u) for u in users]


_INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}  # fmt: skip


def _json_value_sql(column: str, kind: str, level: int | None = None) -> str | None:
    """DuckDB SQL writing the JSON text of a column of type `kind` as json.dumps writes the
    value Python gets for it (usertrack's JSON style: timestamps ISO 8601 with Z, NaN and
    infinities null); None for a type it does not cover (then Python writes it). Texts are
    quoted by DuckDB's to_json, whose escapes differ from json.dumps's only in the case of
    some `\\u00XX` hex digits: `_json_escapes` puts them in json's case. A list is written on
    one line (`_compact`'s), or with `level` as an indented dump writes it `level` levels
    down (json_text's)."""
    name = '"' + column.replace('"', '""') + '"'
    if kind == "VARCHAR":
        text = _json_string_sql(name)
    elif kind == "VARCHAR[]":
        items = f"list_transform({name}, lambda x: coalesce({_json_string_sql('x')}, 'null'))"
        if level is None:
            text = f"'[' || array_to_string({items}, ', ') || ']'"
        else:
            inner, outer = "  " * (level + 1), "  " * level
            # `||`, not concat(), which would write a NULL list as an empty one
            text = (
                f"CASE WHEN len({name}) = 0 THEN '[]' ELSE '[' || chr(10) || '{inner}' || "
                f"array_to_string({items}, ',' || chr(10) || '{inner}') || chr(10) || '{outer}]'"
                " END"
            )
    elif kind == "BOOLEAN":
        text = f"CASE WHEN {name} THEN 'true' ELSE 'false' END"
    elif kind in _INTEGER_TYPES:
        text = f"CAST({name} AS VARCHAR)"
    elif kind in ("DOUBLE", "FLOAT"):
        # DuckDB writes a DOUBLE as Python's repr does: the shortest text that reads back.
        text = f"CASE WHEN isfinite({name}) THEN CAST(CAST({name} AS DOUBLE) AS VARCHAR) END"
    elif kind == "TIMESTAMP":
        text = f"strftime({name}, '\"%Y-%m-%dT%H:%M:%SZ\"')"
    elif kind == "DATE":
        text = f"strftime({name}, '\"%Y-%m-%d\"')"
    else:
        return None
    return f"coalesce({text}, 'null')"


def record_tails_sql(columns: Sequence[tuple[str, str]], level: int) -> str | None:
    """DuckDB SQL writing, per row, what json_text writes of a record's `columns` (name and
    DuckDB type each) `level` levels down, each value led by the comma and the key before it:
    the tail of a record whose first keys Python writes (json_text_with_columns' `tails`).
    None where a column's type is one only Python writes. One flat concat, as _user_lines'."""
    pad = ",\n" + "  " * level
    parts: list[str] = []
    for column, kind in columns:
        value = _json_value_sql(column, kind, level)
        if value is None:
            return None
        parts += [_sql_text(pad + json.dumps(column, ensure_ascii=False) + ": "), value]
    return f"concat({', '.join(parts)})" if parts else "''"


def json_escapes_fixed(texts: Iterable[str]) -> list[str]:
    """DuckDB's JSON texts with their `\\u00XX` escapes in json.dumps's case (a check per text
    in C, a call only for the few with an escape)."""
    return [t if "\\u" not in t else _json_escapes(t) for t in texts]


def _json_string_sql(text: str) -> str:
    """DuckDB SQL quoting a text as JSON: `"`, `\\` and the control characters escaped,
    everything else (UTF-8 included) as is, which is json.dumps(ensure_ascii=False) but for
    the case of the hex digits (see `_json_escapes`). One function call: the 34 nested
    replace() this was cost DuckDB 3 ms of planning per text column and query."""
    return f"CAST(to_json({text}) AS VARCHAR)"


# A JSON escape: `\uXXXX` or a backslash and one character, matched from the left, so that an
# escaped backslash followed by `u000B` (a text that says so) is never read as an escape.
_ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|.)")


def _json_escapes(line: str) -> str:
    """A line of JSON made by DuckDB with its `\\uXXXX` escapes in json.dumps's case (DuckDB
    writes `\\u001F` where json writes `\\u001f`)."""
    return _ESCAPE.sub(lambda m: m.group(0).lower() if m.group(0)[1] == "u" else m.group(0), line)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with a header line; every cell through `style.csv_cell` (no spreadsheet formulas)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


def to_csv(result: Classification, segment: str | None = None) -> str:
    columns = ["email", "primary", "segments"] + [c for c in result.columns if c != "email"]
    return csv_text(
        columns, ([user[c] for c in columns] for user in selected_users(result, segment))
    )


def md_table(headers: list[str], rows: list[list[Any]], columns: list[str] | None = None) -> str:
    """A Markdown table; every header and cell is escaped text (never a link, image or HTML).
    `columns` names the cells' columns where a name decides the style ('*_rate' is a percentage)."""
    names = columns or [None] * len(headers)  # type: ignore[list-item]
    lines = ["| " + " | ".join(md_text(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        cells = (md_text(v, c) for v, c in zip(row, names, strict=False))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(result: Classification, segment: str | None = None, limit: int | None = 10) -> str:
    out = [f"# Segments as of {style.moment(result.as_of)}\n"]
    total = result.user_count
    segmented = result.segmented_count
    out.append(f"{style.count(total)} users, {style.count(segmented)} in at least one segment.\n")
    segments = [s for s in result.segments if segment is None or s.id == segment]
    names = segment_names(result)
    out.append(
        md_table(
            ["Segment", "Type", "Users", "Avg engagement", "Avg revenue", "Action"],
            [
                [s.name, s.type, result.counts[s.id], *_figures(result, s), s.action]
                for s in segments
            ],
        )
    )
    members = result.members_of([s.id for s in segments], limit)  # limit None: all of them
    for seg in segments:
        total_members = result.counts[seg.id]
        shown = members[seg.id]
        cols = rule_columns(seg, result.columns)
        name, action = md_text(seg.name), md_text(seg.action)
        out.append(f"\n## {name} ({style.count(total_members)}) — {action}\n")
        if seg.description:
            out.append(f"{md_text(seg.description)}\n")
        out.append(f"Rule: {style.md_code(seg.rule)}\n")
        if shown:
            headers = ["Email", *(style.human_header(c) for c in cols)]
            rows = [[u["email"], *(u[c] for c in cols)] for u in shown]
            if not segment:
                headers.append("Also in")
                rows = [
                    [*row, [names.get(s, s) for s in u["segments"] if s != seg.id]]
                    for row, u in zip(rows, shown, strict=True)
                ]
            out.append(md_table(headers, rows, ["email", *cols, "also_in"]))
            if len(shown) < total_members:
                out.append(f"\n… and {style.count(total_members - len(shown))} more.\n")
        else:
            out.append("No users.\n")
    return "\n".join(out)


def _figures(result: Classification, seg: Segment) -> list[Any]:
    """A segment's average engagement score and average revenue (None where not made)."""
    figures = result.figures.get(seg.id, {})
    return [figures.get("avg_engagement"), figures.get("avg_revenue")]


def segment_names(result: Classification) -> dict[str, str]:
    """Segment id -> name: humans read names, machines ids."""
    return {s.id: s.name for s in result.segments}


def render(
    result: Classification, fmt: str, segment: str | None = None, limit: int | None = 10
) -> str:
    if fmt == "json":
        return to_json(result, segment)
    if fmt == "csv":
        return to_csv(result, segment)
    if fmt == "md":
        return to_markdown(result, segment, limit)
    raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def write_result(rows: RowStream, fmt: str, out: TextIO, **about: Any) -> int:
    """One query's answer, as it arrives, written to `out` as json, csv or md: the text
    render_result makes of the whole result, batch by batch (memory for one batch, whatever
    the number of rows). Returns the number of rows."""
    if fmt not in ("json", "csv", "md"):
        raise UsageError(f"unknown format {fmt!r} (choose from json, csv, md, table)")
    count = 0
    if fmt == "json":
        # json_text(result_document(...)), indent=2: the document without its rows, then each
        # row as json writes it two levels down.
        head = json.dumps(
            jsonable({**about, "columns": rows.columns}), indent=2, ensure_ascii=False
        )
        out.write(head[: -len("\n}")] + ',\n  "rows": [')
        for batch in rows.batches:
            pieces = [
                ("\n    " if count == 0 and i == 0 else ",\n    ")
                + _indented(jsonable(list(row)), 2)
                for i, row in enumerate(batch)
            ]
            out.write("".join(pieces))
            count += len(batch)
        out.write("\n  ]\n}\n" if count else "]\n}\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([csv_cell(h) for h in rows.columns])
        for batch in rows.batches:
            writer.writerows([csv_cell(v) for v in row] for row in batch)
            count += len(batch)
    else:
        title = about.get("title")
        headers = [style.human_header(c) for c in rows.columns]
        out.write((f"# {md_text(title)}\n\n" if title else "") + md_table(headers, []))
        for batch in rows.batches:
            table = md_table(headers, [list(r) for r in batch], list(rows.columns))
            out.write(table.split("\n", 2)[2])  # its rows, without the header lines
            count += len(batch)
    return count


_scalar_json = json.JSONEncoder(ensure_ascii=False).encode


def _indented(value: Any, level: int) -> str:
    """`value` (already jsonable) as json.dumps(indent=2) writes it `level` levels down.

    Not json.dumps itself: with an indent it builds its encoder from closures that refer to
    each other, garbage only the cyclic collector frees, which the CLI turns off
    (cli.program.main): a call per row kept 3 GB of them alive for a million rows."""
    if isinstance(value, list):
        if not value:
            return "[]"
        pad = "\n" + "  " * (level + 1)
        return (
            "["
            + pad
            + ("," + pad).join(_indented(v, level + 1) for v in value)
            + "\n"
            + "  " * level
            + "]"
        )
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = "\n" + "  " * (level + 1)
        items = (_scalar_json(str(k)) + ": " + _indented(v, level + 1) for k, v in value.items())
        return "{" + pad + ("," + pad).join(items) + "\n" + "  " * level + "}"
    return _scalar_json(value)


def result_document(result: Result, **about: Any) -> dict[str, Any]:
    """A query's answer as a JSON-safe document: what was asked, the columns and the rows."""
    return jsonable(
        {**about, "columns": result.columns, "rows": [list(row) for row in result.rows]}
    )


def render_result(result: Result, fmt: str, **about: Any) -> str:
    """One query's answer (a table of any shape) as json, csv or md."""
    if fmt == "json":
        return json_text(result_document(result, **about))
    if fmt == "csv":
        return csv_text(result.columns, result.rows)
    if fmt == "md":
        title = about.get("title")
        head = f"# {md_text(title)}\n\n" if title else ""
        headers = [style.human_header(c) for c in result.columns]
        return head + md_table(headers, [list(r) for r in result.rows], list(result.columns))
    raise UsageError(f"unknown format {fmt!r} (choose from json, csv, md, table)")
