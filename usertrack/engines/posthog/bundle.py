"""Several query files answered by one PostHog query request (a bundle), each as if sent alone.

PostHog counts query requests against a personal API key's hourly budget (120 HogQL queries an
hour by default: posthog/rate_limit.py HogQLQueryThrottle), not the work inside one. A command
that knows several of its queries at once (the weekly dashboard: usertrack.dashboards.prefetch)
sends them as one HogQL query, a UNION ALL of one branch per query file:

    SELECT * FROM (
        SELECT 0 AS usertrack_part, ifNull(cityHash64(c1), 0) % B AS usertrack_bucket,
               groupArray(tuple(c1, c2, ...)) AS usertrack_rows_0, [] AS usertrack_rows_1, ...
        FROM (<query file 0>) GROUP BY usertrack_bucket
        UNION ALL
        SELECT 1 AS usertrack_part, ..., [] AS usertrack_rows_0, groupArray(...) AS usertrack_rows_1
        FROM (<query file 1>) GROUP BY usertrack_bucket
    ) LIMIT 50000

Each file's rows come packed as the single packed request packs them (paging.py `_packed`): as
tuples in arrays, in at most B buckets by a hash of the first column, B the row cap shared out
between the branches, so the answer stays under PostHog's 50,000 rows whatever the results'
lengths. Its own column holds them (an empty array in the other branches: ClickHouse's common
type of `Array(Nothing)` and the branch's `Array(Tuple(...))`), so every file keeps its own
column types, read from the answer's `types` as the packed request reads them. Each file's
`{name}` placeholders are renamed apart (`{usertrack_p3_as_of}`) and bound as values: nothing
is spliced. A file whose rows are ordered (a top-level ORDER BY) gets its rank within that
order as a last column, `row_number() OVER (ORDER BY <its own ORDER BY>)`, by which its rows
are put back in order (buckets come in no order, nor does groupArray keep one). A file whose
columns cannot be read from its text (`SELECT *`, an unnamed expression, a top-level UNION or
DISTINCT with an ORDER BY) is not bundled: it is sent alone, as before. The bundle's text is read
by PostHog's own parser before it is sent (`checked`): one SELECT from a UNION ALL of as many
branches as files, or it is not sent and every file goes alone. What is sent is printed from that
checked tree (usertrack.engines.hogql.printer), never the files' texts as written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from usertrack.engines.posthog.values import (
    arrow_joined,
    arrow_piece,
    arrow_table,
    convert_rows,
    packed_types,
    quote_ident,
    strip_sql,
    top_level_order,
)

PART = "usertrack_part"
BUCKET = "usertrack_bucket"
ORDINAL = "usertrack_n"  # an ordered file's rank, added as its last column
_ROWS = "usertrack_rows_"
_PREFIX = "usertrack_p"
_INDENT = "    "  # a level of nesting, as the printer sets one (printed)
_CLAUSE = ("LIMIT", "SETTINGS", "OFFSET", "UNION", "INTERSECT", "EXCEPT")


@dataclass
class Part:
    """One query file of a bundle: its text and values renamed apart, its columns."""

    sql: str
    values: dict[str, Any]
    columns: list[str]  # the file's own, then ORDINAL when `ordered`
    ordered: bool
    body: str = ""  # the text before its placeholders were renamed apart (`body`)
    prefix: str = ""  # what its placeholders' names were given in front


def _flat(sql: str) -> list[Any] | None:
    from usertrack.core.errors import HogQLTranslationError
    from usertrack.engines.hogql import tokenize

    try:
        return list(tokenize(sql))
    except HogQLTranslationError:
        return None


def _top(toks: list[Any]) -> list[tuple[int, Any]]:
    """(index, token) of the significant tokens outside every bracket."""
    out, depth = [], 0
    for i, t in enumerate(toks):
        if t.kind in ("(", "["):
            depth += 1
        elif t.kind in (")", "]"):
            depth -= 1
        elif depth == 0 and t.kind not in ("ws", "comment"):
            out.append((i, t))
    return out


def select_columns(sql: str) -> list[str] | None:
    """The names of the columns of a query's one top-level SELECT, each `... AS name` or a
    bare column; None when they cannot be read so (or the query has a top-level set
    operation)."""
    from usertrack.engines.hogql.tokens import Tok, bracket_tree, significant

    toks = _flat(sql)
    if toks is None:
        return None
    nodes = significant(bracket_tree(toks, sql))
    words = [n.value.upper() if isinstance(n, Tok) and n.kind == "id" else "" for n in nodes]
    if words.count("SELECT") != 1 or any(w in ("UNION", "INTERSECT", "EXCEPT") for w in words):
        return None
    start = words.index("SELECT") + 1
    if start < len(words) and words[start] == "DISTINCT":
        start += 1
    if "FROM" not in words[start:]:
        return None
    end = words.index("FROM", start)
    items: list[list[Any]] = [[]]
    for n in nodes[start:end]:
        if isinstance(n, Tok) and n.kind == ",":
            items.append([])
        else:
            items[-1].append(n)
    columns: list[str] = []
    for item in items:
        last = item[-1] if item else None
        if not isinstance(last, Tok) or last.kind not in ("id", "qid"):
            return None
        before = item[-2] if len(item) >= 3 else None
        aliased = isinstance(before, Tok) and before.kind == "id" and before.value.upper() == "AS"
        if not (aliased or (len(item) == 1 and last.kind == "id")):
            return None
        columns.append(last.value)
    if len(set(columns)) != len(columns) or any(c.startswith("usertrack_") for c in columns):
        return None
    return columns


def numbered(sql: str) -> str | None:
    """The query with its rank in its own top-level ORDER BY as a last column (ORDINAL), or
    None when that cannot be added (no top-level ORDER BY, a DISTINCT, text not read)."""
    toks = _flat(sql)
    if toks is None:
        return None
    top = _top(toks)
    words = [t.value.upper() if t.kind == "id" else "" for _i, t in top]
    if words.count("SELECT") != 1 or "DISTINCT" in words:
        return None
    at = words.index("SELECT")
    try:
        frm = words.index("FROM", at)
        order = next(k for k in range(frm, len(words) - 1) if words[k : k + 2] == ["ORDER", "BY"])
    except (ValueError, StopIteration):
        return None
    stop = next((k for k in range(order + 2, len(words)) if words[k] in _CLAUSE), len(top))
    key_from = toks[top[order + 1][0]].pos + 2  # after BY
    key_to = toks[top[stop][0]].pos if stop < len(top) else len(sql)
    keys = sql[key_from:key_to].strip()
    if not keys:
        return None
    cut = toks[top[frm][0]].pos
    return (
        f"{sql[:cut].rstrip()},\n    row_number() OVER (ORDER BY {keys}) AS {ORDINAL}\n{sql[cut:]}"
    )


def renamed(sql: str, values: dict[str, Any], prefix: str) -> tuple[str, dict[str, Any]]:
    """Every `{name}` placeholder of `sql` as `{<prefix>name}`, and its value under that name."""
    toks = _flat(sql)
    assert toks is not None
    out: list[str] = []
    for t in toks:
        out.append("{" + prefix + t.value + "}" if t.kind == "ph" else t.text)
    return "".join(out), {prefix + k: v for k, v in values.items()}


def body(sql: str) -> tuple[str, list[str], bool] | None:
    """A query file's text as a bundle holds it before its placeholders are renamed apart
    (its rank added when it is ordered), its columns and whether it is ordered; None when it
    is to be sent alone. scripts/gen_printed.py prints these texts when the package is made."""

    sql = strip_sql(sql)
    columns = select_columns(sql)
    if columns is None or "{filters}" in sql:
        return None
    ordered = top_level_order(sql)
    if ordered:
        ranked = numbered(sql)
        if ranked is None:
            return None
        sql, columns = ranked, [*columns, ORDINAL]
    return sql, columns, ordered


def part(i: int, sql: str, values: dict[str, Any]) -> Part | None:
    """Query file `i` of a bundle (its text stripped, its values as sent), or None when it is
    to be sent alone."""
    found = body(sql)
    if found is None:
        return None
    text, columns, ordered = found
    prefix = f"{_PREFIX}{i}_"
    renamed_text, values = renamed(text, values, prefix)
    return Part(renamed_text, values, columns, ordered, text, prefix)


def text(parts: list[Part], page: int) -> str:
    """The bundle's HogQL: one branch per part, at most `page` rows in all."""
    share = max(1, page // max(1, len(parts)))
    branches = []
    for i, p in enumerate(parts):
        fields = ", ".join(quote_ident(c) for c in p.columns)
        arrays = ", ".join(
            f"groupArray(tuple({fields})) AS {_ROWS}{j}" if j == i else f"[] AS {_ROWS}{j}"
            for j in range(len(parts))
        )
        branches.append(
            f"SELECT {i} AS {PART}, ifNull(cityHash64({quote_ident(p.columns[0])}), 0) % {share}"
            f" AS {BUCKET}, {arrays}\nFROM (\n{p.sql}\n)\nGROUP BY {BUCKET}"
        )
    union = "\nUNION ALL\n".join(branches)
    return f"SELECT * FROM (\n{union}\n)\nLIMIT {page}"


def checked(query: str, n: int) -> dict[str, Any] | None:
    """The bundle's tree when PostHog's own parser (`hogql-parser`, the parser PostHog runs)
    reads it as it was built: one SELECT from a UNION ALL of exactly `n` branches, so no file's
    text reached past its own brackets; else None. What is sent is printed from this tree."""
    from usertrack.engines.hogql.parser import ParseError, parse_select

    try:
        tree = parse_select(query)
    except ParseError:
        return None
    source = tree.get("select_from") or {}
    union = source.get("table") or {}
    if tree.get("node") != "SelectQuery" or source.get("next_join") is not None:
        return None
    if n == 1:
        return tree if union.get("node") == "SelectQuery" else None
    rest = union.get("subsequent_select_queries") or []
    fits = (
        union.get("node") == "SelectSetQuery"
        and len(rest) == n - 1
        and all(r.get("set_operator") == "UNION ALL" for r in rest)
    )
    return tree if fits else None


def printed(parts: list[Part], page: int) -> str | None:
    """The bundle's text as `print_select(checked(text(parts, page)))` prints it, made without
    parsing when every part's text is a shipped query file's, printed from PostHog's parse tree
    when the package was made (usertrack.engines.hogql.printer.shipped_text): each printed
    text with its placeholders renamed apart, set in the bundle as the printer sets a
    subquery. None when a part's text is not shipped (a query file changed): the bundle is
    then parsed. tests/engines/test_hogql_printer.py checks both give the same text."""
    from usertrack.engines.hogql.printer import identifier, shipped_text

    bodies = []
    for p in parts:
        shipped = shipped_text(p.body) if p.body else None
        if shipped is None:
            return None
        bodies.append(renamed(shipped, {}, p.prefix)[0])
    share = max(1, page // max(1, len(parts)))
    one, two = "\n" + _INDENT, "\n" + _INDENT * 2
    branches = []
    for i, (p, sql) in enumerate(zip(parts, bodies, strict=True)):
        fields = ", ".join(identifier(c) for c in p.columns)
        arrays = ", ".join(
            f"groupArray(tuple({fields})) AS {_ROWS}{j}" if j == i else f"[] AS {_ROWS}{j}"
            for j in range(len(parts))
        )
        branches.append(
            f"SELECT {i} AS {PART}, ifNull(cityHash64({identifier(p.columns[0])}), 0) % {share}"
            f" AS {BUCKET}, {arrays}{one}FROM ({two}{sql.replace(chr(10), two)}{one}){one}"
            f"GROUP BY {BUCKET}"
        )
    union = f"{one}UNION ALL{one}".join(branches)
    return f"SELECT *\nFROM ({one}{union}\n)\nLIMIT {page}"


def values(parts: list[Part]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in parts:
        out.update(p.values)
    return out


def split(
    parts: list[Part], rows: list[list[Any]], types: Any
) -> list[tuple[list[str], list[list[Any]], list[list[str]] | None]]:
    """Each part's (columns, rows, column types) from the bundle's answer: its rows unpacked,
    an ordered part's put back in order and its rank dropped. Raises ValueError on an answer
    that is not the bundle's shape."""
    gathered: list[list[list[Any]]] = [[] for _ in parts]
    for row in rows:
        if len(row) != len(parts) + 2 or not isinstance(row[0], int):
            raise ValueError("a bundle's row is not a part, a bucket and the parts' rows")
        k = row[0]
        if not 0 <= k < len(parts) or not isinstance(row[2 + k], list):
            raise ValueError("a bundle's row names no part of it")
        for item in row[2 + k]:
            values = list(item.values()) if isinstance(item, dict) else item
            if not isinstance(values, list | tuple) or len(values) != len(parts[k].columns):
                raise ValueError(f"a packed row is not {len(parts[k].columns)} values")
            gathered[k].append(list(values))
    return [
        _ordered(p, found, _part_types(parts, k, types))
        for k, (p, found) in enumerate(zip(parts, gathered, strict=True))
    ]


def _part_types(parts: list[Part], k: int, types: Any) -> list[list[str]] | None:
    if isinstance(types, list) and len(types) == len(parts) + 2:
        return packed_types([types[0], types[2 + k]], parts[k].columns)
    return None


def _ordered(
    p: Part, found: list[list[Any]], column_types: list[list[str]] | None
) -> tuple[list[str], list[list[Any]], list[list[str]] | None]:
    """A part's (columns, rows, column types): an ordered part's rows put back in order and
    its rank dropped."""
    columns = p.columns
    if p.ordered:
        found = [r[:-1] for r in sorted(found, key=lambda r: int(r[-1]))]
        columns = columns[:-1]
        column_types = column_types[:-1] if column_types is not None else None
    return columns, found, column_types


# What a part's answer comes to: its columns, its row count, and its rows converted
# (values.convert_rows) or, with more rows than `arrow_over`, an Arrow table when its
# columns make one (values.arrow_table); None when its types could not be read (sent alone).
Answer = tuple[list[str], int, list[tuple[Any, ...]], Any] | None


def answers(
    split_up: list[tuple[list[str], list[list[Any]], list[list[str]] | None]],
    arrow_over: int | None,
) -> list[Answer]:
    """Each part's Answer from its (columns, rows, column types), as `split` gives them."""

    out: list[Answer] = []
    for columns, rows, column_types in split_up:
        if column_types is None:
            out.append(None)
            continue
        table = None
        if arrow_over is not None and len(rows) > arrow_over:
            table = arrow_table(rows, column_types, columns)
        if table is not None:
            out.append((columns, len(rows), [], table))
        else:
            out.append((columns, len(rows), convert_rows(rows, column_types, len(columns)), table))
    return out


# A part's rows past `arrow_over` are made Arrow pieces this many at a time as they are read.
PIECE_ROWS = 8192


class Gathered:
    """A bundle's rows as they are read from its answer (answers.loads, `results`): each
    part's rows kept as Python values until it has more than `arrow_over` (it will be an
    Arrow table), then made Arrow pieces `piece_rows` at a time (values.arrow_piece), so no
    more than a piece of any part's rows is held as Python values. `answers` gives what
    `answers(split(...))` gives from the rows whole; where it cannot tell it from what it
    kept (a row not of the bundle's shape, a piece pyarrow refused, pieces of two types),
    it reads the rows again from the body, whole, and does just that."""

    def __init__(self, parts: list[Part], arrow_over: int, piece_rows: int = PIECE_ROWS) -> None:
        self.parts = parts
        self.arrow_over = arrow_over
        self.piece_rows = max(1, piece_rows)
        self.count = 0  # the answer's rows (a bucket of a part each)
        self.not_rows = False  # an element that is not a row (a list)
        self.whole = False  # read again whole (see the class's docstring)
        self.pending: list[list[list[Any]]] = [[] for _ in parts]
        self.pieces: list[list[list[Any]]] = [[] for _ in parts]
        self.counts = [0] * len(parts)
        self.body, self.start, self.end = b"", 0, 0

    def __len__(self) -> int:
        return self.count

    def add(self, row: Any) -> None:
        self.count += 1
        if not isinstance(row, list | tuple):
            self.not_rows = True
        if self.whole:
            return
        parts = self.parts
        k = row[0] if isinstance(row, list) and len(row) == len(parts) + 2 else None
        if not isinstance(k, int) or not 0 <= k < len(parts) or not isinstance(row[2 + k], list):
            self._give_up()
            return
        width = len(parts[k].columns)
        pending = self.pending[k]
        for item in row[2 + k]:
            values = list(item.values()) if isinstance(item, dict) else item
            if not isinstance(values, list | tuple) or len(values) != width:
                self._give_up()
                return
            pending.append(values if isinstance(values, list) else list(values))
        self.counts[k] += len(row[2 + k])
        if self.counts[k] > self.arrow_over and len(pending) >= self.piece_rows:
            self._piece(k)

    def close(self, body: bytes, start: int, end: int) -> None:
        self.body, self.start, self.end = body, start, end

    def _give_up(self) -> None:
        self.whole = True
        self.pending = [[] for _ in self.parts]
        self.pieces = [[] for _ in self.parts]

    def _piece(self, k: int) -> bool:

        made = arrow_piece(self.pending[k])
        self.pending[k] = []
        if made is None:
            self._give_up()
            return False
        self.pieces[k].append(made)
        return True

    def rows(self) -> list[list[Any]]:
        """The rows read again from the body, whole, as json.loads reads them."""

        return [list(r) for r in json.loads(self.body[self.start : self.end])]

    def answers(self, types: Any) -> list[Answer]:
        """Each part's Answer, as `answers(split(parts, rows, types), arrow_over)` gives it
        from the rows whole (and raising its ValueError)."""
        try:
            found = None if self.whole else self._answers(types)
            if found is None:
                self.whole = True
                return answers(split(self.parts, self.rows(), types), self.arrow_over)
            return found
        finally:
            self.body, self.pending, self.pieces = b"", [], []

    def _answers(self, types: Any) -> list[Answer] | None:
        import pyarrow as pa

        out: list[Answer] = []
        for k, p in enumerate(self.parts):
            column_types = _part_types(self.parts, k, types)
            n = self.counts[k]
            if n <= self.arrow_over or n == 0:
                columns, rows, kept_types = _ordered(p, self.pending[k], column_types)
                if column_types is None or kept_types is None:
                    out.append(None)
                else:
                    out.append((columns, n, convert_rows(rows, kept_types, len(columns)), None))
                continue
            if column_types is None:
                out.append(None)
                continue
            if self.pending[k] and not self._piece(k):
                return None
            table = arrow_joined(self.pieces[k], column_types, p.columns)
            self.pieces[k] = []
            if table is None:
                return None
            if p.ordered:
                rank = table.column(len(p.columns) - 1)
                if not pa.types.is_integer(rank.type) or rank.null_count:
                    return None
                table = table.sort_by([(ORDINAL, "ascending")]).drop_columns([ORDINAL])
            out.append((table.column_names, n, [], table))
        return out
