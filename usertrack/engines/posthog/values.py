"""What the PostHog source sends and reads: parameters as a HogQLQuery's JSON `values`, the
query text's own LIMIT and identifiers, and result values as the local engine gives them
(DateTime columns as naive UTC datetimes, Date columns as dates)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from usertrack.core.clock import hogql_timestamp

# --------------------------------------------------------------------------------------------
# Values and query text


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # naive datetimes are UTC throughout usertrack
        return hogql_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID | Path):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_wire(v) for v in value]
    return value


def wire_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as the JSON `values` of a HogQLQuery (datetime -> 'YYYY-MM-DD HH:MM:SS' UTC)."""
    return {name: _wire(v) for name, v in params.items()}


def top_level_order(sql: str) -> bool:
    """Whether the query orders its rows at top level (an ORDER BY outside every bracket; a
    window's or a subquery's is inside one). True when the text cannot be read: the caller then
    keeps an order, which is always safe."""
    from usertrack.core.errors import HogQLTranslationError
    from usertrack.engines.hogql import tokenize

    try:
        toks = [t for t in tokenize(sql) if t.kind not in ("ws", "comment")]
    except HogQLTranslationError:
        return True
    depth = 0
    for i, t in enumerate(toks[:-1]):
        if t.kind in ("(", "["):
            depth += 1
        elif t.kind in (")", "]"):
            depth -= 1
        elif depth == 0 and t.kind == "id" and t.text.upper() == "ORDER":
            after = toks[i + 1]
            if after.kind == "id" and after.text.upper() == "BY":
                return True
    return False


# A column that names a person: a query grouped by one at top level answers a row per person.
PERSON_KEYS = ("person_id", "email")
_CLAUSE_END = ("HAVING", "ORDER", "LIMIT", "SETTINGS", "WINDOW", "QUALIFY", "WITH", "OFFSET")


def per_person_columns(sql: str) -> list[str] | None:
    """The column names of a query whose rows are one per person, or None.

    The rule (paging.py sends such a query packed at once: it is expected past the row cap):
    one top-level SELECT (no UNION, INTERSECT or EXCEPT) grouped at top level by a person key
    (`person_id` or `email`, bare or qualified by a table's alias as `e.person_id`; no WITH
    TOTALS/ROLLUP), without a top-level ORDER BY or LIMIT (their rows would need the query's
    own order or bound), and every column of its SELECT named: `... AS name` or a bare
    column. None when the text cannot be read so."""
    from usertrack.core.errors import HogQLTranslationError
    from usertrack.engines.hogql.tokens import Group, Tok, bracket_tree, significant, tokenize

    try:
        nodes = significant(bracket_tree(tokenize(sql), sql))
    except HogQLTranslationError:
        return None
    words = [n.value.upper() if isinstance(n, Tok) and n.kind == "id" else "" for n in nodes]
    if (
        any(w in ("UNION", "INTERSECT", "EXCEPT", "LIMIT") for w in words)
        or words.count("SELECT") != 1
    ):
        return None
    pairs = list(itertools.pairwise(words))
    if ("ORDER", "BY") in pairs or ("GROUP", "BY") not in pairs:
        return None
    start = words.index("SELECT") + 1
    if start < len(words) and words[start] == "DISTINCT":
        start += 1
    end = words.index("FROM", start) if "FROM" in words[start:] else -1
    group_at = pairs.index(("GROUP", "BY")) + 2
    stop = next((i for i in range(group_at, len(words)) if words[i] in _CLAUSE_END), len(words))
    if end < 0 or group_at < end or "WITH" in words[group_at:]:
        return None  # no FROM, or WITH TOTALS/ROLLUP/CUBE: rows that are not a person's

    def items(part: list[Tok | Group]) -> list[list[Tok | Group]]:
        out: list[list[Tok | Group]] = [[]]
        for n in part:
            if isinstance(n, Tok) and n.kind == ",":
                out.append([])
            else:
                out[-1].append(n)
        return out

    def person_key(item: list[Tok | Group]) -> bool:
        names = [n for n in item if isinstance(n, Tok)]
        if len(names) != len(item) or not names or names[-1].kind != "id":
            return False
        bare = len(names) == 1
        dotted = len(names) == 3 and names[0].kind == "id" and names[1].kind == "."
        dotted = dotted and names[0].value != "properties"  # an event property, not a table's
        return (bare or dotted) and names[-1].value in PERSON_KEYS

    if not any(person_key(i) for i in items(nodes[group_at:stop])):
        return None
    columns: list[str] = []
    for item in items(nodes[start:end]):
        last = item[-1] if item else None
        if len(item) >= 3 and isinstance(last, Tok) and last.kind in ("id", "qid"):
            before = item[-2]
            if isinstance(before, Tok) and before.kind == "id" and before.value.upper() == "AS":
                columns.append(last.value)
                continue
        if len(item) == 1 and isinstance(last, Tok) and last.kind == "id":
            columns.append(last.value)
            continue
        return None
    return columns


def sorted_rows(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows sorted by every column, first to last, NULLs last: the order ClickHouse gives
    `ORDER BY c1, c2, ...` (ascending, NULLS LAST), which usertrack's OFFSET pages use. Rows it
    cannot compare (a map, mixed types) are left as they came."""

    def key(row: list[Any]) -> tuple[tuple[bool, Any], ...]:
        return tuple((v is None, v) for v in row)

    try:
        return sorted(rows, key=key)
    except TypeError:
        return rows


def top_level_limit(sql: str) -> int | None:
    """The row count of the query's own top-level LIMIT, or None (none, or not sure).

    `LIMIT n BY ...` is not a row limit; `LIMIT k, n` and `LIMIT n OFFSET k` are. A UNION (or
    INTERSECT/EXCEPT) at top level answers None: its LIMIT may bind one branch only. None is always
    safe: the caller then pages the query, which respects whatever LIMIT is inside it.
    """
    from usertrack.core.errors import HogQLTranslationError
    from usertrack.engines.hogql import tokenize

    try:
        toks = [t for t in tokenize(sql) if t.kind not in ("ws", "comment")]
    except HogQLTranslationError:
        return None
    depth = 0
    found: int | None = None
    for i, t in enumerate(toks):
        if t.kind in ("(", "["):
            depth += 1
        elif t.kind in (")", "]"):
            depth -= 1
        elif depth == 0 and t.kind == "id":
            word = t.text.upper()
            if word in ("UNION", "INTERSECT", "EXCEPT"):
                return None
            if word != "LIMIT":
                continue
            nxt = toks[i + 1 : i + 4]
            if not nxt or nxt[0].kind != "num" or not nxt[0].text.isdigit():
                return None  # LIMIT {param} or an expression: cannot know
            count = int(nxt[0].text)
            if len(nxt) >= 3 and nxt[1].kind == "," and nxt[2].kind == "num":
                if not nxt[2].text.isdigit():
                    return None
                count = int(nxt[2].text)  # LIMIT offset, count
            elif len(nxt) >= 2 and nxt[1].kind == "id" and nxt[1].text.upper() == "BY":
                continue  # LIMIT n BY: per-group, not a row limit
            found = count
    return found


def strip_sql(sql: str) -> str:
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def quote_ident(name: str) -> str:
    """A column name in the HogQL usertrack wraps around a query: as the printer quotes names
    (a backquote doubled, which PostHog's parser reads; it does not read `\\``)."""
    from usertrack.engines.hogql.printer import identifier

    return identifier(name)


# --------------------------------------------------------------------------------------------
# Result values


def type_name(t: Any) -> str:
    if isinstance(t, list | tuple) and len(t) >= 2:
        return str(t[1])
    return str(t) if t is not None else ""


def _split_top(text: str) -> list[str]:
    """`text` split at its commas outside brackets and quotes."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'`\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    parts.append(text[start:].strip())
    return parts


_NAMED_ELEMENT = re.compile(
    r"(?:[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`)\s+(?P<type>\S.*)", re.DOTALL
)


def packed_types(types: Any, columns: list[str]) -> list[list[str]] | None:
    """The types of the packed rows' columns, as `types` pairs of an unpacked answer, read from
    the packed column's ClickHouse type (`Array(Tuple(T1, T2, ...))`, its elements named or not:
    `Tuple(a T1, b T2)`); None when it cannot be read."""
    if not isinstance(types, list) or len(types) != 2:
        return None
    name = type_name(types[1])
    for wrap in ("Array(", "Tuple("):
        if not (name.startswith(wrap) and name.endswith(")")):
            return None
        name = name[len(wrap) : -1]
    elements = _split_top(name)
    if len(elements) != len(columns):
        return None
    out: list[list[str]] = []
    for column, element in zip(columns, elements, strict=True):
        m = _NAMED_ELEMENT.fullmatch(element)
        out.append([column, m.group("type") if m else element])
    return out


def _to_datetime(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value.endswith("Z"):  # PostHog's UTC text: the naive UTC time, no offset to apply
        try:
            moment = datetime.fromisoformat(value[:-1])
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is None:
            return moment
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def to_date(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return value


def _converters(types: Any, width: int) -> list[Callable[[Any], Any] | None]:
    convs: list[Callable[[Any], Any] | None] = [None] * width
    if not isinstance(types, list) or len(types) != width:
        return convs
    for i, t in enumerate(types):
        name = type_name(t)
        if "Array(" in name or "Tuple(" in name or "Map(" in name:
            continue
        if "DateTime" in name:
            convs[i] = _to_datetime
        elif re.search(r"\bDate(32)?\b", name):
            convs[i] = to_date
    return convs


def convert_rows(rows: list[Any], types: Any, width: int) -> list[tuple[Any, ...]]:
    convs = _converters(types, width)
    out: list[tuple[Any, ...]] = []
    if any(convs):
        for row in rows:
            out.append(tuple(c(v) if c else v for c, v in zip(convs, row, strict=False)))
    else:
        out = [tuple(row) for row in rows]
    return out


def arrow_table(rows: list[Any], types: Any, columns: list[str]) -> Any:
    """The rows as a pyarrow Table, each column typed as pyarrow types the values convert_rows
    gives (DateTime columns naive UTC timestamps, Date columns dates), made from PostHog's JSON
    values without a Python datetime per cell: the ISO texts are parsed by pyarrow (Z or an
    offset; the instant kept as UTC). None when a column's values do not make one pyarrow type
    (ints mixed with texts, a text that is not a datetime): the caller keeps the rows."""
    if not rows:
        return None
    import pyarrow as pa

    convs = _converters(types, len(columns))
    data: list[Any] = []
    try:
        for conv, values in zip(convs, zip(*rows, strict=True), strict=True):
            if conv is _to_datetime:
                texts = pa.array(values, pa.string())
                data.append(texts.cast(pa.timestamp("us", "UTC")).cast(pa.timestamp("us")))
            elif conv is to_date:
                data.append(pa.array(values, pa.string()).cast(pa.date32()))
            else:
                data.append(pa.array(values))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):
        return None
    return pa.table(data, names=columns)


def arrow_piece(rows: list[Any]) -> list[Any] | None:
    """One piece of rows (a part of an answer's, in order) as pyarrow arrays, a column each,
    every one typed as pyarrow infers it from the values (`pa.array`); None when pyarrow
    refuses one. `arrow_joined` makes arrow_table's answer of the whole from the pieces."""
    import pyarrow as pa

    try:
        return [pa.array(values) for values in zip(*rows, strict=True)]
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return None


def arrow_joined(pieces: list[list[Any]], types: Any, columns: list[str]) -> Any:
    """What `arrow_table(rows, types, columns)` gives for the rows whose pieces (arrow_piece)
    these are, in order, or None when that cannot be told from the pieces: a column whose
    pieces were inferred as two types (beside pieces of nulls only), a DateTime or Date
    column of other values than texts, a text that is not one. The caller then converts the
    rows whole, as arrow_table does, to the same answer or to its None.

    A column the pieces agree on is the type `pa.array` infers from its values whole; a
    piece of nulls only (pyarrow's null type) is that type's nulls. DateTime and Date columns
    are made of texts as arrow_table makes them, then cast as it casts them."""
    import pyarrow as pa

    if not pieces:
        return None
    convs = _converters(types, len(columns))
    data: list[Any] = []
    for i, conv in enumerate(convs):
        arrays = [piece[i] for piece in pieces]
        kinds = {a.type for a in arrays if a.type != pa.null()}
        if conv is _to_datetime or conv is to_date:
            if kinds - {pa.string()}:
                return None
            kind = pa.string()
        elif len(kinds) > 1:
            return None
        else:
            kind = kinds.pop() if kinds else pa.null()
        try:
            column = pa.concat_arrays([a if a.type == kind else a.cast(kind) for a in arrays])
            if conv is _to_datetime:
                column = column.cast(pa.timestamp("us", "UTC")).cast(pa.timestamp("us"))
            elif conv is to_date:
                column = column.cast(pa.date32())
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):
            return None
        for piece in pieces:
            piece[i] = None  # each piece's column let go once joined
        data.append(column)
    return pa.table(data, names=columns)
