"""Translate HogQL (PostHog's ClickHouse-flavoured SQL) into DuckDB SQL over the event store.

The translator works on a token stream (strings, quoted identifiers, numbers, comments,
placeholders, punctuation) grouped by brackets into a small tree; it never rewrites raw text with
regexes. What it does:

- Field access: `properties.X`, `properties.$X`, `properties['X']`, `properties."X"`,
  `e.properties.X` (table alias), `person.properties.X`, `person.id`, `pdi.person_id`. Hot event
  properties map to the store's materialized columns (`eventstore.HOT_PROPERTIES`),
  others to `json_extract_string(properties, '$."X"')`. Like HogQL, a property reads as a string
  (or NULL).
- `person.properties` is the person snapshot written on each event (PostHog's "persons on events"
  mode), which is what an events export holds.
- Tables: `events`, `persons`, `sessions`, `person_distinct_ids` (tables/views of the store) and
  CTE names. Anything else raises `HogQLTranslationError`.
- `{name}` placeholders become DuckDB named parameters `$name`: values are bound, never spliced.
  `{filters}` (PostHog's UI filter slot) becomes `TRUE`: there are no test-account filters here.
- ClickHouse functions are rewritten with ClickHouse semantics where DuckDB differs (see
  `SUPPORTED_FUNCTIONS`); an unknown function raises `HogQLTranslationError`, never passes through.

ClickHouse semantics worth knowing (checked in ClickHouse's docs and tests):
- `toStartOfWeek(d)` starts weeks on Sunday (mode 0); odd modes start on Monday. `toMonday`,
  `toDayOfWeek` (1 = Monday) and `dateDiff('week', ...)` use Monday weeks.
- `dateDiff(unit, a, b)` counts unit boundaries crossed, not elapsed whole units.
- `groupArray` skips NULLs and returns `[]` for no rows; `sumIf` of no rows is 0; `any` skips NULLs.
- `round` on floats rounds half to even (banker's rounding).
- String literals use backslash escapes (`'it\\'s'`); LIKE patterns use backslash as escape.

Not supported (a clear error): `windowFunnel`, `retention`, the `events.session.*` lazy join,
timezones other than UTC, the ternary `?:`, parametric aggregates other than groupArray(n)/quantile.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from usertrack.emails import TRIM_CHARS as EMAIL_TRIM_CHARS
from usertrack.errors import HogQLTranslationError
from usertrack.sources.eventstore import (
    HOT_PERSON_PROPERTIES,
    HOT_PROPERTIES,
    NORMALIZED_EMAIL_COLUMN,
)

TABLES = ("events", "persons", "sessions", "person_distinct_ids")


@dataclass(frozen=True)
class Translation:
    """DuckDB SQL for one HogQL query, and the placeholder names it binds (first use first)."""

    sql: str
    params: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Tokens and bracket tree


@dataclass(frozen=True)
class Tok:
    kind: str  # ws comment str qid num id ph op , .
    text: str
    value: str
    pos: int


@dataclass
class Group:
    open: str  # "(" or "["
    items: list[Tok | Group]
    pos: int


Node = Tok | Group

_NUM = re.compile(r"0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_ID = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_PH = re.compile(r"\{\s*([A-Za-z_]\w*)\s*\}")
_WS = re.compile(r"\s+")
# longest first: "::" before ":", "==" before "="
_OPS: tuple[str, ...] = ("::", "==", "!=", "<>", "<=", ">=", "||", "->")
_OPS += ("=", "<", ">", "+", "-", "*", "/", "%", "?", ":", ";")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "f": "\f", "a": "\a", "v": "\v"}
_ESCAPES.update({"\\": "\\", "'": "'", '"': '"', "`": "`"})


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {col}"


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """Decode a ClickHouse quoted token starting at text[i]; return (value, end index)."""
    quote = text[i]
    out: list[str] = []
    j, n = i + 1, len(text)
    while j < n:
        c = text[j]
        if c == "\\" and j + 1 < n:
            nxt = text[j + 1]
            if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[j + 2 : j + 4]):
                out.append(chr(int(text[j + 2 : j + 4], 16)))
                j += 4
                continue
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            else:  # ClickHouse keeps unknown escapes (`\%`, `\_`) as written, for LIKE patterns
                out.append("\\" + nxt)
            j += 2
            continue
        if c == quote:
            if j + 1 < n and text[j + 1] == quote:
                out.append(quote)
                j += 2
                continue
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise HogQLTranslationError(f"unterminated quoted text starting at {_line_col(text, i)}")


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            m = _WS.match(text, i)
            assert m
            toks.append(Tok("ws", m.group(), m.group(), i))
            i = m.end()
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j == -1 else j
            toks.append(Tok("comment", text[i:j], "", i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j == -1:
                raise HogQLTranslationError(f"unterminated comment at {_line_col(text, i)}")
            toks.append(Tok("comment", text[i : j + 2], "", i))
            i = j + 2
        elif c == "'":
            value, j = _read_quoted(text, i)
            toks.append(Tok("str", text[i:j], value, i))
            i = j
        elif c in '"`':
            value, j = _read_quoted(text, i)
            toks.append(Tok("qid", text[i:j], value, i))
            i = j
        elif c.isdigit():
            m = _NUM.match(text, i)
            assert m
            toks.append(Tok("num", m.group(), m.group(), i))
            i = m.end()
        elif c.isalpha() or c in "_$":
            m = _ID.match(text, i)
            assert m
            toks.append(Tok("id", m.group(), m.group(), i))
            i = m.end()
        elif c == "{":
            m = _PH.match(text, i)
            if not m:
                raise HogQLTranslationError(
                    f"'{{' at {_line_col(text, i)} is not a {{name}} placeholder"
                )
            toks.append(Tok("ph", m.group(), m.group(1), i))
            i = m.end()
        elif c in "()[],.":
            toks.append(Tok(c, c, c, i))
            i += 1
        else:
            for op in _OPS:
                if text.startswith(op, i):
                    toks.append(Tok("op", op, op, i))
                    i += len(op)
                    break
            else:
                raise HogQLTranslationError(f"unexpected character {c!r} at {_line_col(text, i)}")
    return toks


def _tree(toks: list[Tok], text: str) -> list[Node]:
    root: list[Node] = []
    stack: list[tuple[Group | None, list[Node]]] = [(None, root)]
    closing = {")": "(", "]": "["}
    for t in toks:
        if t.kind in ("(", "["):
            new = Group(t.kind, [], t.pos)
            stack[-1][1].append(new)
            stack.append((new, new.items))
        elif t.kind in (")", "]"):
            g = stack[-1][0]
            if g is None or g.open != closing[t.kind]:
                raise HogQLTranslationError(f"unbalanced {t.kind!r} at {_line_col(text, t.pos)}")
            stack.pop()
        else:
            stack[-1][1].append(t)
    if len(stack) > 1:
        top = stack[-1][0]
        assert top is not None
        raise HogQLTranslationError(f"unclosed {top.open!r} at {_line_col(text, top.pos)}")
    return root


def _sig(items: Sequence[Node]) -> list[Node]:
    return [x for x in items if not (isinstance(x, Tok) and x.kind in ("ws", "comment"))]


def _is_id(node: Node | None, *words: str) -> bool:
    return (
        isinstance(node, Tok) and node.kind == "id" and (not words or node.value.upper() in words)
    )


def _source_text(node: Node) -> str:
    if isinstance(node, Tok):
        return "" if node.kind == "comment" else node.text
    close = ")" if node.open == "(" else "]"
    return node.open + "".join(_source_text(x) for x in node.items) + close


_SELECT_END: tuple[str, ...] = ("FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "SETTINGS")
_SELECT_END += ("WINDOW", "QUALIFY", "INTO", "OFFSET", "PREWHERE")


def _is_operand(node: Node | None) -> bool:
    """Does `node` end an operand (so that a following word is a binary operator)?"""
    if isinstance(node, Group):
        return True
    if isinstance(node, Tok):
        if node.kind == "id":
            return node.value.upper() not in _KEYWORDS or node.value.upper() == "END"
        return node.kind in ("qid", "num", "str", "ph")
    return False


def _has_select(items: Sequence[Node]) -> bool:
    return any(_is_id(x, "SELECT") for x in items)


def _starts_query(group: Group) -> bool:
    """Does the bracket hold a query: SELECT ..., WITH ... SELECT, or (SELECT ...) UNION ...?"""
    sig = _sig(group.items)
    if not sig:
        return False
    if isinstance(sig[0], Group):
        return _starts_query(sig[0])
    return _is_id(sig[0], "SELECT", "WITH") and _has_select(sig)


# Words that may be followed by "(" without being a function call.
_KEYWORDS = {
    "ALL", "AND", "ANTI", "AS", "ASC", "ASOF", "BETWEEN", "BY", "CASE", "CROSS", "DESC",
    "DISTINCT", "ELSE", "END", "EXCEPT", "EXISTS", "FILTER", "FINAL", "FROM", "FULL", "GLOBAL",
    "GROUP", "HAVING", "ILIKE", "IN", "INNER", "INTERSECT", "INTERVAL", "IS", "JOIN", "LATERAL",
    "LEFT", "LIKE", "LIMIT", "NOT", "NULLS", "OFFSET", "ON", "OR", "ORDER", "OUTER", "OVER",
    "PARTITION", "PREWHERE", "QUALIFY", "RANGE", "RECURSIVE", "RIGHT", "ROWS", "SELECT", "SEMI",
    "SETTINGS", "THEN", "UNION", "USING", "VALUES", "WHEN", "WHERE", "WINDOW", "WITH", "FIRST",
    "LAST", "PRECEDING", "FOLLOWING", "UNBOUNDED", "CURRENT", "ROW", "TOP",
}  # fmt: skip
_AFTER_TABLE = _KEYWORDS | {"SAMPLE"}
# Words before which a comma is not one of `FROM a, b` (a select list, GROUP BY a, b, ...).
_FROM_LIST_END = {*_SELECT_END, "SELECT", "BY", "UNION", "INTERSECT", "EXCEPT"} - {"FROM"}
# Words that end a JOIN's ON condition: the clauses after it, another join, another SELECT.
_JOINS = ("JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "ANY", "ALL", "ASOF", "SEMI", "ANTI")
_CLAUSES_AFTER_ON = {*_SELECT_END, *_JOINS, "ARRAY", "SELECT", "UNION", "INTERSECT", "EXCEPT"}

_UNITS = {
    "microsecond": "MICROSECOND", "microseconds": "MICROSECOND", "us": "MICROSECOND",
    "millisecond": "MILLISECOND", "milliseconds": "MILLISECOND", "ms": "MILLISECOND",
    "second": "SECOND", "seconds": "SECOND", "ss": "SECOND", "s": "SECOND",
    "minute": "MINUTE", "minutes": "MINUTE", "mi": "MINUTE", "n": "MINUTE",
    "hour": "HOUR", "hours": "HOUR", "hh": "HOUR", "h": "HOUR",
    "day": "DAY", "days": "DAY", "dd": "DAY", "d": "DAY",
    "week": "WEEK", "weeks": "WEEK", "wk": "WEEK", "ww": "WEEK",
    "month": "MONTH", "months": "MONTH", "mm": "MONTH", "m": "MONTH",
    "quarter": "QUARTER", "quarters": "QUARTER", "qq": "QUARTER", "q": "QUARTER",
    "year": "YEAR", "years": "YEAR", "yyyy": "YEAR", "yy": "YEAR",
}  # fmt: skip

_TYPES = {
    "string": "VARCHAR", "fixedstring": "VARCHAR", "uuid": "VARCHAR", "text": "VARCHAR",
    "varchar": "VARCHAR", "int8": "BIGINT", "int16": "BIGINT", "int32": "BIGINT",
    "int64": "BIGINT", "int": "BIGINT", "integer": "BIGINT", "bigint": "BIGINT",
    "uint8": "UBIGINT", "uint16": "UBIGINT", "uint32": "UBIGINT", "uint64": "UBIGINT",
    "float32": "DOUBLE", "float64": "DOUBLE", "float": "DOUBLE", "double": "DOUBLE",
    "date": "DATE", "date32": "DATE", "datetime": "TIMESTAMP", "datetime64": "TIMESTAMP",
    "timestamp": "TIMESTAMP", "bool": "BOOLEAN", "boolean": "BOOLEAN",
}  # fmt: skip

_PLAIN_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    if _PLAIN_IDENT.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _json_path(keys: Sequence[str]) -> str:
    parts = []
    for key in keys:
        if '"' in key:
            raise HogQLTranslationError(
                f"property name {key!r} contains a double quote, which the local engine cannot read"
            )
        parts.append(f'."{key}"')
    return _sql_string("$" + "".join(parts))


@dataclass
class _Scope:
    table: str | None  # the first FROM table of this SELECT: events/persons/sessions, or None
    aliases: dict[str, str | None]


@dataclass
class _Agg:
    expr: str
    conds: list[str]
    wrap: Callable[[str], str] | None = None


class _Translator:
    _in_join_on = False  # inside a JOIN's ON condition (comparisons stay SQL's)

    def __init__(self, text: str) -> None:
        self.text = text
        self.params: list[str] = []
        self.ctes: set[str] = set()

    # ---- entry
    def run(self) -> str:
        tree = _tree(tokenize(self.text), self.text)
        sig = _sig(tree)
        while sig and isinstance(sig[-1], Tok) and sig[-1].kind == "op" and sig[-1].text == ";":
            tree.remove(sig[-1])
            sig.pop()
        self._check_statement(sig)
        self._collect_ctes(tree)
        return self._seq(tree, _Scope("events", {})).strip()

    def _check_statement(self, sig: list[Node]) -> None:
        """One SELECT, or WITH name AS (...) [, ...] SELECT: never COPY, ATTACH, SET, INSTALL,
        PRAGMA or another statement that DuckDB would run just as readily."""
        if not sig:
            raise HogQLTranslationError("the query is empty")
        k = 0
        if _is_id(sig[0], "WITH"):
            k = 2 if _is_id(sig[1] if len(sig) > 1 else None, "RECURSIVE") else 1
            while True:
                name = sig[k] if k < len(sig) else None
                if not (isinstance(name, Tok) and name.kind in ("id", "qid")):
                    break
                k += 1
                if k < len(sig) and isinstance(sig[k], Group):  # name(col, ...)
                    k += 1
                if not _is_id(sig[k] if k < len(sig) else None, "AS"):
                    break
                k += 1
                while _is_id(sig[k] if k < len(sig) else None, "NOT", "MATERIALIZED"):
                    k += 1
                body = sig[k] if k < len(sig) else None
                if not (isinstance(body, Group) and body.open == "(" and _starts_query(body)):
                    raise self._err("a WITH query's body must be a SELECT", body or sig[k - 1])
                k += 1
                if k < len(sig) and isinstance(sig[k], Tok) and sig[k].kind == ",":  # type: ignore[union-attr]
                    k += 1
                    continue
                break
        head = sig[k] if k < len(sig) else sig[-1]
        if not _is_id(head, "SELECT"):
            word = head.text if isinstance(head, Tok) else head.open
            raise self._err(
                f"only a SELECT query (or WITH ... SELECT) runs on the local engine, not {word!r}",
                head,
            )

    def _collect_ctes(self, items: list[Node]) -> None:
        sig = _sig(items)
        for k, node in enumerate(sig):
            if isinstance(node, Group):
                self._collect_ctes(node.items)
                if (
                    k >= 2
                    and _is_id(sig[k - 1], "AS")
                    and isinstance(sig[k - 2], Tok)
                    and sig[k - 2].kind in ("id", "qid")  # type: ignore[union-attr]
                    and _has_select(node.items)
                ):
                    self.ctes.add(sig[k - 2].value.lower())  # type: ignore[union-attr]

    def _err(self, message: str, node: Node | None = None) -> HogQLTranslationError:
        where = f" ({_line_col(self.text, node.pos)})" if node is not None else ""
        return HogQLTranslationError(message + where)

    # ---- scopes
    def _scope_for(self, sig: list[Node], outer: _Scope) -> _Scope:
        primary: str | None = None
        first = True
        aliases: dict[str, str | None] = {}
        for k, node in enumerate(sig):
            if not (_is_id(node, "FROM", "JOIN") or self._comma_join(sig, k)):
                continue
            target = sig[k + 1] if k + 1 < len(sig) else None
            kind: str | None
            after = sig[k + 2] if k + 2 < len(sig) else None
            if isinstance(target, Group):
                if not (target.open == "(" and _starts_query(target)):
                    raise self._err("a subquery in FROM or JOIN must be a SELECT", target)
                kind = None
            elif isinstance(target, Tok) and target.kind in ("str", "ph"):
                raise self._err(
                    f"{target.text} in table position: the local engine reads only the tables"
                    f" {', '.join(TABLES)} (and CTE names), never a file or a string",
                    target,
                )
            elif (
                isinstance(target, Tok)
                and target.kind in ("id", "qid")
                and isinstance(after, Group)
                and after.open == "("
            ):
                raise self._err(
                    f"table function {target.value}(...) is not supported by the local engine"
                    f" (tables: {', '.join(TABLES)} and CTE names)",
                    target,
                )
            elif isinstance(target, Tok) and target.kind in ("id", "qid"):
                name = target.value
                if name.lower() in self.ctes:
                    kind = None
                elif name.lower() in TABLES:
                    kind = name.lower()
                    aliases.setdefault(name, kind)
                else:
                    raise self._err(
                        f"HogQL table {name!r} is not supported by the local engine"
                        f" (supported: {', '.join(TABLES)})",
                        target,
                    )
            else:
                continue
            j = k + 2
            if j < len(sig) and _is_id(sig[j], "AS"):
                j += 1
            if (
                j < len(sig)
                and isinstance(sig[j], Tok)
                and sig[j].kind in ("id", "qid")  # type: ignore[union-attr]
                and not _is_id(sig[j], *_AFTER_TABLE)
            ):
                aliases[sig[j].value] = kind  # type: ignore[union-attr]
            if first:
                primary, first = kind, False
        if first:  # SELECT without FROM
            return _Scope(outer.table, dict(outer.aliases))
        merged = dict(outer.aliases)
        merged.update(aliases)
        return _Scope(primary, merged)

    @staticmethod
    def _comma_join(sig: list[Node], k: int) -> bool:
        """Is sig[k] the comma of `FROM a [AS x], b`, so that sig[k + 1] is a table too?"""
        if not (isinstance(sig[k], Tok) and sig[k].kind == ","):  # type: ignore[union-attr]
            return False
        for j in range(k - 1, -1, -1):
            node = sig[j]
            if _is_id(node, "FROM", "JOIN"):
                return True
            if _is_id(node, *_FROM_LIST_END):
                return False
        return False

    # ---- sequences
    def _seq(self, items: list[Node], scope: _Scope) -> str:
        sig = _sig(items)
        if sig and _is_id(sig[0], "FROM"):
            raise self._err(
                "a query must start with SELECT (DuckDB's FROM-first form is not HogQL)", sig[0]
            )
        if _has_select(items):
            # Split at UNION/INTERSECT/EXCEPT so that each SELECT resolves its own FROM.
            out: list[str] = []
            part: list[Node] = []
            for node in items:
                if _is_id(node, "UNION", "INTERSECT", "EXCEPT"):
                    out.append(self._select_part(part, scope))
                    out.append(node.text)  # type: ignore[union-attr]
                    part = []
                else:
                    part.append(node)
            out.append(self._select_part(part, scope))
            return "".join(out)
        return self._items(items, scope, select_level=False)

    def _select_part(self, items: list[Node], outer: _Scope) -> str:
        if not _has_select(items):
            # after UNION [ALL]: only a bracketed query (never DuckDB's `FROM 'file.csv'`)
            rest = _sig(items)
            while rest and _is_id(rest[0], "ALL", "DISTINCT"):
                rest = rest[1:]
            if rest and not (
                len(rest) == 1 and isinstance(rest[0], Group) and _starts_query(rest[0])
            ):
                raise self._err("UNION, INTERSECT and EXCEPT must be followed by a SELECT", rest[0])
            return self._items(items, outer, select_level=False)
        scope = self._scope_for(_sig(items), outer)
        # Translate the select list item by item, so that an item without an alias can be named
        # as HogQL names it (the field name, or the expression text) rather than as DuckDB would
        # name its translation (`prop_pathname`, `count_star()`).
        start = next(k for k, x in enumerate(items) if _is_id(x, "SELECT")) + 1
        while start < len(items) and (
            _is_id(items[start], "DISTINCT")
            or (isinstance(items[start], Tok) and items[start].kind in ("ws", "comment"))  # type: ignore[union-attr]
        ):
            start += 1
        end = next(
            (k for k in range(start, len(items)) if _is_id(items[k], *_SELECT_END)), len(items)
        )
        out = [self._items(items[:start], scope, select_level=True)]
        for n, part in enumerate(self._split_args(items[start:end]) or [[]]):
            if n:
                out.append(",")
            text = self._items(part, scope, select_level=True)
            name = self._column_name(part)
            if name is not None:
                text = f"{text.rstrip()} AS {_quote_ident(name)}" + text[len(text.rstrip()) :]
            out.append(text)
        out.append(self._items(items[end:], scope, select_level=True))
        return "".join(out)

    def _column_name(self, part: list[Node]) -> str | None:
        """The HogQL name of a select item without an alias, or None to keep DuckDB's name."""
        sig = _sig(part)
        if not sig:
            return None
        if len(sig) >= 2 and (
            _is_id(sig[-2], "AS")
            or (
                isinstance(sig[-1], Tok)
                and sig[-1].kind in ("id", "qid")
                and not _is_id(sig[-1], *_KEYWORDS)
                and not (isinstance(sig[-2], Tok) and sig[-2].kind in (".", "op"))
                and not _is_id(sig[-2], *_KEYWORDS)
            )
        ):
            return None  # explicit or implicit alias
        if all(isinstance(x, Tok) and x.kind in ("id", "qid", ".") for x in sig):
            names = [x.value for x in sig if isinstance(x, Tok) and x.kind in ("id", "qid")]
            if len(names) >= 2 and ("properties" in names[:-1] or "person_properties" in names):
                return names[-1]  # properties.$browser -> $browser
            return None  # a column: DuckDB names it as HogQL does
        if len(sig) == 2 and isinstance(sig[1], Group) and sig[1].open == "[":
            return None
        if len(sig) == 1 and isinstance(sig[0], Tok) and sig[0].kind == "op":
            return None  # *
        text = "".join(_source_text(x) for x in part).strip()
        return re.sub(r"\s+", " ", text)

    def _items(self, items: list[Node], scope: _Scope, *, select_level: bool) -> str:
        out: list[str] = []
        idx = [
            k
            for k, x in enumerate(items)
            if not (isinstance(x, Tok) and x.kind in ("ws", "comment"))
        ]
        pos_in_sig = {k: n for n, k in enumerate(idx)}
        sig = [items[k] for k in idx]
        consumed: set[int] = set()  # indices into `items`

        def nxt(k: int, step: int = 1) -> Node | None:
            n = pos_in_sig[k] + step
            return sig[n] if 0 <= n < len(sig) else None

        def item_index(node_sig_pos: int) -> int:
            return idx[node_sig_pos]

        k = 0
        while k < len(items):
            if k in consumed:
                k += 1
                continue
            node = items[k]
            if isinstance(node, Group):
                on_before = self._in_join_on
                if _starts_query(node):
                    self._in_join_on = False
                inner = self._seq(node.items, scope)
                self._in_join_on = on_before
                out.append(f"({inner})" if node.open == "(" else f"[{inner}]")
                k += 1
                continue
            if select_level and isinstance(node, Tok) and node.kind == "id":
                word = node.value.upper()
                if word == "ON":
                    self._in_join_on = True
                elif word in _CLAUSES_AFTER_ON:
                    self._in_join_on = False
            kind = node.kind
            if kind == "ws":
                out.append(node.text)
            elif kind == "comment":
                out.append(" ")
            elif kind in ("str", "ph") and self._before_interval(sig, pos_in_sig[k]):
                # '2024-01-01 00:00:00' - INTERVAL 7 DAY: ClickHouse (since 23.10) reads the string
                # as a date and time; DuckDB needs the cast spelled out.
                text = _sql_string(node.value) if kind == "str" else self._placeholder(node.value)
                out.append(f"CAST(CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)")
            elif kind == "str":
                out.append(_sql_string(node.value))
                prev = nxt(k, -1)
                if _is_id(prev, "LIKE", "ILIKE") and "\\" in node.value:
                    out.append(" ESCAPE '\\'")
            elif kind == "num":
                out.append(node.text)
            elif kind == "ph":
                out.append(self._placeholder(node.value))
            elif kind == "op" and node.text == "::":
                after = nxt(k)
                if not _is_id(after):
                    raise self._err("'::' must be followed by a type name", node)
                n = pos_in_sig[k] + 1
                type_items: list[Node] = [sig[n]]
                consumed.add(item_index(n))
                if (
                    n + 1 < len(sig)
                    and isinstance(sig[n + 1], Group)
                    and item_index(n + 1) == item_index(n) + 1
                ):
                    type_items.append(sig[n + 1])
                    consumed.add(item_index(n + 1))
                out.append("::" + self._cast_type(type_items, node))
            elif kind == "op":
                out.append(self._op(node))
            elif kind in (",", "."):
                out.append(node.text)
            elif kind == "qid" or kind == "id":
                word = node.value.upper() if kind == "id" else ""
                after = nxt(k)
                if word == "INTERVAL":
                    text, used = self._interval(sig, pos_in_sig[k], scope)
                    out.append(text)
                    k = item_index(pos_in_sig[k] + used) + 1
                    continue
                elif word == "LIMIT" and self._limit_comma(sig, pos_in_sig[k]):
                    off, cnt = sig[pos_in_sig[k] + 1], sig[pos_in_sig[k] + 3]
                    out.append(f"LIMIT {cnt.text} OFFSET {off.text}")  # type: ignore[union-attr]
                    k = item_index(pos_in_sig[k] + 3) + 1
                    continue
                elif (
                    select_level
                    and word in ("FROM", "JOIN")
                    and isinstance(after, Tok)
                    and after.kind in ("id", "qid")
                ):
                    out.append(node.text)
                    # the table name itself: emitted as written (checked in _scope_for)
                    t_idx = item_index(pos_in_sig[k] + 1)
                    out.extend(self._items_plain(items[k + 1 : t_idx]))
                    out.append(_quote_ident(after.value))
                    k = t_idx + 1
                    continue
                elif (
                    kind == "id"
                    and isinstance(after, Group)
                    and after.open == "("
                    and (
                        word not in _KEYWORDS
                        # like(a, b), and(a, b): told from `x LIKE (b)` by what comes before
                        or (
                            word in ("LIKE", "ILIKE", "AND", "OR")
                            and len(self._split_args(after.items)) >= 2
                            and not _is_operand(nxt(k, -1))
                        )
                    )
                ):
                    param_group: Group | None = None
                    args_group = after
                    used = 1
                    after2 = nxt(k, 2)
                    if (
                        isinstance(after2, Group)
                        and after2.open == "("
                        and item_index(pos_in_sig[k] + 2) == k + 2
                    ):
                        param_group, args_group, used = after, after2, 2
                    before = nxt(k, -1)
                    if isinstance(before, Tok) and before.kind == ".":
                        raise self._method_call(node)
                    out.append(self._call(node, args_group, param_group, scope))
                    for n in range(pos_in_sig[k] + 1, pos_in_sig[k] + 1 + used):
                        consumed.add(item_index(n))
                else:
                    text, used_items = self._chain(items, k, scope)
                    rest = _sig(items[k + used_items :])
                    if (
                        rest
                        and isinstance(rest[0], Group)
                        and rest[0].open == "("
                        and (kind == "qid" or text.count(".") or used_items > 1)
                        and not _is_id(node, *_KEYWORDS)
                    ):
                        raise self._method_call(node)
                    out.append(text)
                    k += used_items
                    continue
            else:  # pragma: no cover - tokenizer kinds are closed
                raise self._err(f"unexpected token {node.text!r}", node)
            k += 1
        return "".join(out)

    def _method_call(self, node: Tok) -> HogQLTranslationError:
        """`x.md5()` is DuckDB's method-call form of md5(x) and "md5"(x) a quoted name: both
        would call a function without the allow-list of SUPPORTED_FUNCTIONS seeing it."""
        return self._err(
            'a call written as x.f() or "f"(x) is not supported by the local engine;'
            " write f(x) with a supported function",
            node,
        )

    @staticmethod
    def _items_plain(items: list[Node]) -> list[str]:
        return [x.text if isinstance(x, Tok) and x.kind == "ws" else " " for x in items]

    def _placeholder(self, name: str) -> str:
        if name == "filters":
            return "TRUE"
        if name not in self.params:
            self.params.append(name)
        return f"${name}"

    def _op(self, node: Tok) -> str:
        op = node.text
        if op in ("=", "==", "!=", "<>") and not self._in_join_on:
            # PostHog's comparisons are two-valued: it wraps them in ifNull() by the operands'
            # nullability, so `NULL != 'x'` is true and `NULL = NULL` true (printer/clickhouse.py
            # visit_compare_operation); JOIN ON conditions are left as they are.
            return " IS NOT DISTINCT FROM " if op in ("=", "==") else " IS DISTINCT FROM "
        if op == "==":
            return "="
        if op in ("?", ":"):
            raise self._err(
                "the ternary operator 'cond ? a : b' is not supported by the local engine;"
                " use if(cond, a, b)",
                node,
            )
        if op == ";":
            raise self._err("only one statement per query is supported", node)
        if op == "->":
            raise self._err("a lambda '->' is only supported as a function argument", node)
        return op

    def _type_name(self, name: str, inner: str | None, node: Node) -> str:
        low = name.lower()
        if low in ("nullable", "lowcardinality") and inner:
            return inner
        if low in _TYPES:
            return _TYPES[low]
        raise self._err(f"type {name!r} is not supported by the local engine", node)

    def _cast_type(self, items: list[Node], node: Node) -> str:
        """A ClickHouse type written as tokens: String, Nullable(String), DateTime64(3, 'UTC')."""
        sig = _sig(items)
        if sig and isinstance(sig[0], Tok) and sig[0].kind == "str":
            return self._cast_type(_sig(_tree(tokenize(sig[0].value), sig[0].value)), node)
        if not sig or not _is_id(sig[0]):
            raise self._err("CAST needs a type name", node)
        name = sig[0].value  # type: ignore[union-attr]
        inner = None
        if (
            len(sig) > 1
            and isinstance(sig[1], Group)
            and name.lower()
            in (
                "nullable",
                "lowcardinality",
            )
        ):
            inner = self._cast_type(sig[1].items, node)
        return self._type_name(name, inner, node)

    @staticmethod
    def _before_interval(sig: list[Node], n: int) -> bool:
        """Is sig[n] followed by `+ INTERVAL` or `- INTERVAL`?"""
        op = sig[n + 1] if n + 1 < len(sig) else None
        return (
            isinstance(op, Tok)
            and op.kind == "op"
            and op.text in ("+", "-")
            and n + 2 < len(sig)
            and _is_id(sig[n + 2], "INTERVAL")
        )

    def _limit_comma(self, sig: list[Node], n: int) -> bool:
        part = sig[n + 1 : n + 4]
        return (
            len(part) == 3
            and isinstance(part[0], Tok)
            and part[0].kind == "num"
            and isinstance(part[1], Tok)
            and part[1].kind == ","
            and isinstance(part[2], Tok)
            and part[2].kind == "num"
        )

    def _interval(self, sig: list[Node], n: int, scope: _Scope) -> tuple[str, int]:
        """INTERVAL <value> <unit>: returns the DuckDB text and the number of sig nodes used."""
        value = sig[n + 1] if n + 1 < len(sig) else None
        unit = sig[n + 2] if n + 2 < len(sig) else None
        if isinstance(value, Tok) and value.kind == "str":
            if _is_id(unit) and unit.value.lower() in _UNITS:  # type: ignore[union-attr]
                num = value.value.strip()
                return f"INTERVAL ({_sql_string(num)}) {_UNITS[unit.value.lower()]}", 2  # type: ignore[union-attr]
            return f"INTERVAL {_sql_string(value.value)}", 1
        if value is None or not (_is_id(unit) and unit.value.lower() in _UNITS):  # type: ignore[union-attr]
            raise self._err("INTERVAL must be written INTERVAL <number> <unit>", sig[n])
        unit_sql = _UNITS[unit.value.lower()]  # type: ignore[union-attr]
        if isinstance(value, Tok) and value.kind == "num":
            return f"INTERVAL {value.text} {unit_sql}", 2
        if isinstance(value, Tok) and value.kind == "ph":
            return f"INTERVAL ({self._placeholder(value.value)}) {unit_sql}", 2
        if isinstance(value, Group) and value.open == "(":
            return f"INTERVAL ({self._seq(value.items, scope)}) {unit_sql}", 2
        raise self._err("INTERVAL must be written INTERVAL <number> <unit>", sig[n])

    # ---- field access
    def _chain(self, items: list[Node], k: int, scope: _Scope) -> tuple[str, int]:
        """Read `a.b."c"['d']` starting at items[k]; return (DuckDB text, items consumed)."""
        first = items[k]
        assert isinstance(first, Tok)
        parts = [first.value]
        quoted = [first.kind == "qid"]
        j = k + 1
        while j < len(items):
            node = items[j]
            if (
                isinstance(node, Tok)
                and node.kind == "."
                and j + 1 < len(items)
                and isinstance(items[j + 1], Tok)
                and items[j + 1].kind in ("id", "qid")  # type: ignore[union-attr]
            ):
                nxt = items[j + 1]
                assert isinstance(nxt, Tok)
                parts.append(nxt.value)
                quoted.append(nxt.kind == "qid")
                j += 2
                continue
            if (
                isinstance(node, Group)
                and node.open == "["
                and ("properties" in parts or "person_properties" in parts)
                and len(_sig(node.items)) == 1
                and isinstance(_sig(node.items)[0], Tok)
                and _sig(node.items)[0].kind == "str"  # type: ignore[union-attr]
            ):
                parts.append(_sig(node.items)[0].value)  # type: ignore[union-attr]
                quoted.append(True)
                j += 1
                continue
            break
        return self._resolve(parts, quoted, scope, first), j - k

    def _resolve(self, parts: list[str], quoted: list[bool], scope: _Scope, node: Tok) -> str:
        if len(parts) == 1 and not quoted[0]:
            name = parts[0]
            if name == "$session_id" and scope.table == "events":
                return HOT_PROPERTIES["$session_id"]
            return name if _PLAIN_IDENT.fullmatch(name) else _quote_ident(name)
        qual = ""
        table = scope.table
        rest = parts
        if len(parts) > 1 and parts[0] in scope.aliases:
            qual = _quote_ident(parts[0]) + "."
            table = scope.aliases[parts[0]]
            rest = parts[1:]
        head = rest[0]
        if head == "properties" and len(rest) >= 2:
            keys = rest[1:]
            if table == "events" and len(keys) == 1 and keys[0] in HOT_PROPERTIES:
                return qual + HOT_PROPERTIES[keys[0]]
            return f"json_extract_string({qual}properties, {_json_path(keys)})"
        if head in ("person", "poe") and len(rest) >= 2:
            if rest[1] == "properties" and len(rest) >= 3:
                return self._person_prop(qual, table, rest[2:])
            if rest[1] == "properties" and table == "events":
                return qual + "person_properties"  # the JSON text, for JSONExtract*()
            if rest[1] == "id" and len(rest) == 2:
                return qual + "person_id"
            raise self._err(
                f"HogQL field {'.'.join(rest)!r} is not supported by the local engine"
                " (person.properties.* and person.id are)",
                node,
            )
        if head == "person_properties" and len(rest) >= 2:
            return self._person_prop(qual, table, rest[1:])
        if head == "pdi" and len(rest) == 2 and rest[1] in ("person_id", "distinct_id"):
            return qual + rest[1]
        if head == "session" and len(rest) >= 2 and table == "events":
            raise self._err(
                f"HogQL field {'.'.join(rest)!r} (the events-to-sessions lazy join) is not"
                " supported by the local engine; join the sessions table on"
                " events.$session_id = sessions.session_id instead",
                node,
            )
        if len(rest) == 1 and rest[0] == "$session_id" and table == "events":
            return qual + HOT_PROPERTIES["$session_id"]
        return qual + ".".join(_quote_ident(p) for p in rest)

    @staticmethod
    def _person_prop(qual: str, table: str | None, keys: list[str]) -> str:
        if table == "events" and len(keys) == 1 and keys[0] in HOT_PERSON_PROPERTIES:
            return qual + HOT_PERSON_PROPERTIES[keys[0]]
        return f"json_extract_string({qual}person_properties, {_json_path(keys)})"

    # ---- function calls
    def _split_args(self, items: list[Node]) -> list[list[Node]]:
        args: list[list[Node]] = [[]]
        for node in items:
            if isinstance(node, Tok) and node.kind == ",":
                args.append([])
            else:
                args[-1].append(node)
        if len(args) == 1 and not _sig(args[0]):
            return []
        return args

    def _arg(self, items: list[Node], scope: _Scope) -> str:
        sig = _sig(items)
        # lambda: x -> expr, or (x, y) -> expr
        if (
            len(sig) >= 3
            and isinstance(sig[1], Tok)
            and sig[1].kind == "op"
            and sig[1].text == "->"
        ):
            head = sig[0]
            if _is_id(head):
                names = [head.value]  # type: ignore[union-attr]
            elif isinstance(head, Group) and all(
                _is_id(x) or (isinstance(x, Tok) and x.kind == ",") for x in _sig(head.items)
            ):
                names = [x.value for x in _sig(head.items) if _is_id(x)]  # type: ignore[union-attr]
            else:
                raise self._err("malformed lambda", sig[1])
            body_start = items.index(sig[1]) + 1
            body = self._seq(items[body_start:], scope).strip()
            return f"lambda {', '.join(names)}: {body}"
        return self._seq(items, scope).strip()

    @staticmethod
    def _literal(items: list[Node]) -> str | None:
        sig = _sig(items)
        if len(sig) == 1 and isinstance(sig[0], Tok) and sig[0].kind in ("str", "num"):
            return sig[0].value
        if len(sig) == 1 and _is_id(sig[0]):  # a bare unit keyword: dateDiff(day, a, b)
            return sig[0].value  # type: ignore[union-attr]
        return None

    @staticmethod
    def _is_text_value(items: list[Node]) -> bool:
        """A string literal or a placeholder: a value that arrives as text."""
        sig = _sig(items)
        return len(sig) == 1 and isinstance(sig[0], Tok) and sig[0].kind in ("str", "ph")

    def _call(self, name_tok: Tok, group: Group, params: Group | None, scope: _Scope) -> str:
        name = name_tok.value
        low = name.lower()
        raw = self._split_args(group.items)
        distinct = False
        if raw and _sig(raw[0]) and _is_id(_sig(raw[0])[0], "DISTINCT"):
            distinct = True
            first = raw[0]
            raw[0] = first[first.index(_sig(first)[0]) + 1 :]
        if low == "cast":
            return self._cast(raw, group, scope, name_tok)
        if low == "extract" and any(_is_id(x, "FROM") for x in _sig(group.items)):
            return f"extract({self._seq(group.items, scope)})"
        if low in ("if", "multiif"):
            return self._if(raw, scope, name_tok)
        call = _Call(self, name, low, raw, scope, name_tok)
        param_args = [self._arg(a, scope) for a in self._split_args(params.items)] if params else []
        agg = self._aggregate(call, distinct, param_args)
        if agg is not None:
            text = agg.expr
            if agg.conds:
                text += " FILTER (WHERE " + " AND ".join(agg.conds) + ")"
            return agg.wrap(text) if agg.wrap else text
        if params is not None:
            raise self._err(
                f"the parametric form of HogQL function {name!r} is not supported", name_tok
            )
        if distinct:
            raise self._err(
                f"DISTINCT is only supported inside aggregate functions, not {name!r}", name_tok
            )
        handler = _FUNCTIONS.get(low)
        if handler is None:
            raise self._err(
                f"HogQL function {name!r} is not supported by the local engine", name_tok
            )
        return handler(call)

    def _cast(self, raw: list[list[Node]], group: Group, scope: _Scope, node: Tok) -> str:
        if len(raw) == 2:  # CAST(x, 'Type')
            return f"CAST({self._arg(raw[0], scope)} AS {self._cast_type(raw[1], node)})"
        if len(raw) == 1:
            items = raw[0]
            sig = _sig(items)
            as_pos = [n for n, x in enumerate(sig) if _is_id(x, "AS")]
            if as_pos:
                cut = items.index(sig[as_pos[-1]])
                expr = self._seq(items[:cut], scope).strip()
                return f"CAST({expr} AS {self._cast_type(items[cut + 1 :], node)})"
        raise self._err("CAST must be written CAST(x AS Type)", node)

    def _if(self, raw: list[list[Node]], scope: _Scope, node: Tok) -> str:
        args = [self._arg(a, scope) for a in raw]
        if len(args) < 3 or len(args) % 2 == 0:
            raise self._err(f"{node.value} needs condition/value pairs and an else value", node)
        whens = " ".join(f"WHEN {args[n]} THEN {args[n + 1]}" for n in range(0, len(args) - 1, 2))
        return f"(CASE {whens} ELSE {args[-1]} END)"

    def _aggregate(self, call: _Call, distinct: bool, params: list[str]) -> _Agg | None:
        low = call.low
        builder = _AGGREGATES.get(low)
        cond: str | None = None
        if builder is None and low.endswith("if") and low[:-2] in _AGGREGATES:
            builder = _AGGREGATES[low[:-2]]
            if not call.args:
                raise self._err(f"{call.name} needs a condition argument", call.node)
            cond = call.args[-1]
            call = _Call(self, call.name, low[:-2], call.raw[:-1], call.scope, call.node)
            call.conditional = True
        if builder is None:
            return None
        agg = builder(call, distinct, params)
        if cond is not None:
            agg.conds.append(cond)
        return agg


class _Call:
    """One function call: name, raw argument nodes and their translations."""

    def __init__(
        self, tr: _Translator, name: str, low: str, raw: list[list[Node]], scope: _Scope, node: Tok
    ) -> None:
        self.tr = tr
        self.name = name
        self.low = low
        self.raw = raw
        self.scope = scope
        self.node = node
        self.args = [tr._arg(a, scope) for a in raw]
        self.conditional = False

    def need(self, low: int, high: int | None = None) -> list[str]:
        high = low if high is None else high
        if not low <= len(self.args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise self.tr._err(
                f"HogQL function {self.name!r} takes {want} argument(s), got {len(self.args)}",
                self.node,
            )
        return self.args

    def literal(self, n: int) -> str | None:
        return self.tr._literal(self.raw[n]) if n < len(self.raw) else None

    def text_value(self, n: int) -> bool:
        return self.tr._is_text_value(self.raw[n])

    def err(self, message: str) -> HogQLTranslationError:
        return self.tr._err(message, self.node)


# --------------------------------------------------------------------------------------------
# Aggregates: builder(call, distinct, parametric args) -> _Agg


def _agg_count(c: _Call, distinct: bool, params: list[str]) -> _Agg:
    sig0 = _sig(c.raw[0]) if c.raw else []
    if not c.args or (len(sig0) == 1 and isinstance(sig0[0], Tok) and sig0[0].text == "*"):
        return _Agg("count(*)", [])
    if len(c.args) > 1:
        inner = "(" + ", ".join(c.args) + ")"
        return _Agg(f"count({'DISTINCT ' if distinct else ''}{inner})", [])
    return _Agg(f"count({'DISTINCT ' if distinct else ''}{c.args[0]})", [])


def _agg_uniq_exact(c: _Call, distinct: bool, params: list[str]) -> _Agg:
    c.need(1, 16)
    inner = c.args[0] if len(c.args) == 1 else "(" + ", ".join(c.args) + ")"
    return _Agg(f"count(DISTINCT {inner})", [f"({a}) IS NOT NULL" for a in c.args])


def _agg_uniq(c: _Call, distinct: bool, params: list[str]) -> _Agg:
    # ClickHouse's uniq counts distinct hashes (approximately, past 65536 values). Distinct 64-bit
    # hashes are exact but for collisions (~n^2/2^65) and twice as fast as distinct strings here.
    c.need(1, 16)
    return _Agg(
        f"count(DISTINCT hash({', '.join(c.args)}))", [f"({a}) IS NOT NULL" for a in c.args]
    )


def _simple_agg(fn: str, *, zero: str | None = None) -> Callable[[_Call, bool, list[str]], _Agg]:
    def build(c: _Call, distinct: bool, params: list[str]) -> _Agg:
        c.need(1)
        agg = _Agg(f"{fn}({'DISTINCT ' if distinct else ''}{c.args[0]})", [])
        if zero is not None and c.conditional:
            agg.wrap = lambda text: f"coalesce({text}, {zero})"
        return agg

    return build


def _agg_group_array(c: _Call, distinct: bool, params: list[str]) -> _Agg:
    c.need(1)
    x = c.args[0]
    expr = f"list({'DISTINCT ' if distinct else ''}{x})"
    size = params[0] if params else None

    def wrap(text: str) -> str:
        text = f"coalesce({text}, [])"
        return f"list_slice({text}, 1, {size})" if size else text

    return _Agg(expr, [f"({x}) IS NOT NULL"], wrap)


def _agg_group_uniq_array(c: _Call, distinct: bool, params: list[str]) -> _Agg:
    return _agg_group_array(c, True, params)


def _agg_any(c: _Call, distinct: bool, params: list[str]) -> _Agg:
    c.need(1)
    return _Agg(f"any_value({c.args[0]})", [])


def _agg_any_last(c: _Call, distinct: bool, params: list[str]) -> _Agg:
    c.need(1)
    return _Agg(f"last({c.args[0]})", [f"({c.args[0]}) IS NOT NULL"])


def _agg_arg(fn: str) -> Callable[[_Call, bool, list[str]], _Agg]:
    def build(c: _Call, distinct: bool, params: list[str]) -> _Agg:
        a, b = c.need(2)
        return _Agg(f"{fn}({a}, {b})", [])

    return build


def _agg_quantile(fn: str, default: str | None = None) -> Callable[[_Call, bool, list[str]], _Agg]:
    def build(c: _Call, distinct: bool, params: list[str]) -> _Agg:
        c.need(1)
        level = params[0] if params else default
        if level is None:
            raise c.err(f"{c.name} needs a level: {c.name}(0.9)(x)")
        return _Agg(f"{fn}({c.args[0]}, {level})", [])

    return build


_AGGREGATES: dict[str, Callable[[_Call, bool, list[str]], _Agg]] = {
    "count": _agg_count,
    "uniq": _agg_uniq,
    "uniqexact": _agg_uniq_exact,
    "uniqcombined": _agg_uniq,
    "uniqcombined64": _agg_uniq,
    "uniqhll12": _agg_uniq,
    "uniqtheta": _agg_uniq,
    "sum": _simple_agg("sum", zero="0"),
    "avg": _simple_agg("avg"),
    "min": _simple_agg("min"),
    "max": _simple_agg("max"),
    "median": _agg_quantile("quantile_cont", "0.5"),
    "medianexact": _agg_quantile("quantile_disc", "0.5"),
    "quantile": _agg_quantile("quantile_cont"),
    "quantileexact": _agg_quantile("quantile_disc"),
    "stddevpop": _simple_agg("stddev_pop"),
    "stddevsamp": _simple_agg("stddev_samp"),
    "varpop": _simple_agg("var_pop"),
    "varsamp": _simple_agg("var_samp"),
    "grouparray": _agg_group_array,
    "groupuniqarray": _agg_group_uniq_array,
    "any": _agg_any,
    "anylast": _agg_any_last,
    "argmax": _agg_arg("arg_max"),
    "argmin": _agg_arg("arg_min"),
}


# --------------------------------------------------------------------------------------------
# Scalar functions: handler(call) -> DuckDB text


_EMAIL = re.escape(HOT_PERSON_PROPERTIES["email"])
# usertrack's email key, lowerUTF8(trim(person.properties.email, ' \t\r\n')) (usertrack.emails),
# is a materialized column of the store, as translated below.
_NORMALIZED_EMAIL = re.compile(
    rf"trim\((\w+\.|)({_EMAIL}), {re.escape(_sql_string(EMAIL_TRIM_CHARS))}\)"
)
# ... and with coalesce(..., '') inside: '' where the event has no email, the column otherwise.
_NORMALIZED_EMAIL_OR_EMPTY = re.compile(
    rf"trim\(coalesce\((\w+\.|)({_EMAIL}), ''\), {re.escape(_sql_string(EMAIL_TRIM_CHARS))}\)"
)
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _fn_lower(c: _Call) -> str:
    """ClickHouse's lower() changes the ASCII letters A-Z only ('É' stays 'É'); DuckDB's lower()
    is Unicode, so it is spelled as a translate() of A-Z."""
    (x,) = c.need(1)
    return f"translate({x}, '{_ASCII_UPPER}', '{_ASCII_UPPER.lower()}')"


def _fn_lower_utf8(c: _Call) -> str:
    (x,) = c.need(1)
    m = _NORMALIZED_EMAIL.fullmatch(x)
    if m:
        return m.group(1) + NORMALIZED_EMAIL_COLUMN
    m = _NORMALIZED_EMAIL_OR_EMPTY.fullmatch(x)
    if m:
        return f"coalesce({m.group(1)}{NORMALIZED_EMAIL_COLUMN}, '')"
    return f"lower({x})"


def _rename(fn: str, low: int = 1, high: int | None = 16) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        return f"{fn}({', '.join(c.need(low, high))})"

    return handle


# ClickHouse refuses text with spaces around the number or digit separators ('1_000'), where
# DuckDB's TRY_CAST reads them: toFloat, toFloatOrNull.
_FLOAT_OR_NULL = (
    "(CASE WHEN regexp_matches(CAST({x} AS VARCHAR), '^\\s|\\s$|_') THEN NULL"
    " ELSE TRY_CAST({x} AS DOUBLE) END)"
)


def _unary(template: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        (x,) = c.need(1)
        return template.format(x=x)

    return handle


def _binary(template: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        a, b = c.need(2)
        return template.format(a=a, b=b)

    return handle


def _check_tz(c: _Call, n: int) -> None:
    """Accept a timezone argument only when it is UTC: the store holds UTC timestamps."""
    if n < len(c.raw):
        tz = c.literal(n)
        if tz is None or tz.upper() not in ("UTC", "ETC/UTC", "GMT", "Z"):
            raise c.err(
                f"{c.name} with timezone {tz or c.args[n]!r} is not supported by the local engine"
                " (events are stored in UTC; only 'UTC' is accepted)"
            )


def _as_timestamp(c: _Call, n: int) -> str:
    x = c.args[n]
    if c.text_value(n):  # text may carry an offset: parse it as an instant, then express it in UTC
        return f"CAST(CAST({x} AS TIMESTAMPTZ) AS TIMESTAMP)"
    return f"CAST({x} AS TIMESTAMP)"


def _as_date(c: _Call, n: int) -> str:
    if c.text_value(n):
        return f"CAST({_as_timestamp(c, n)} AS DATE)"
    return f"CAST({c.args[n]} AS DATE)"


def _fn_to_datetime(c: _Call) -> str:
    c.need(1, 3)
    if c.low == "todatetime64":  # toDateTime64(x, precision[, tz])
        _check_tz(c, 2)
    else:
        _check_tz(c, 1)
    return _as_timestamp(c, 0)


def _fn_to_date(c: _Call) -> str:
    c.need(1, 2)
    _check_tz(c, 1)
    return _as_date(c, 0)


def _fn_to_timezone(c: _Call) -> str:
    c.need(2)
    _check_tz(c, 1)
    return c.args[0]


def _trunc(unit: str, as_date: bool = False) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        c.need(1, 2)
        _check_tz(c, 1)
        cast = "DATE" if as_date else "TIMESTAMP"
        return f"CAST(date_trunc('{unit}', {_as_timestamp(c, 0)}) AS {cast})"

    return handle


def _monday(d: str) -> str:
    return f"({d} - CAST(isodow({d}) - 1 AS INTEGER))"


def _sunday(d: str) -> str:
    return f"({d} - CAST(dayofweek({d}) AS INTEGER))"


def _fn_to_start_of_week(c: _Call) -> str:
    c.need(1, 3)
    _check_tz(c, 2)
    mode = c.literal(1) if len(c.raw) > 1 else "0"
    if mode is None or not mode.isdigit():
        raise c.err("toStartOfWeek's mode must be a number literal")
    d = _as_date(c, 0)
    # ClickHouse: mode 0 (the default) starts weeks on Sunday; odd modes on Monday.
    return _monday(d) if int(mode) % 2 == 1 else _sunday(d)


def _fn_to_monday(c: _Call) -> str:
    c.need(1, 2)
    _check_tz(c, 1)
    return _monday(_as_date(c, 0))


def _fn_to_day_of_week(c: _Call) -> str:
    c.need(1, 3)
    mode = c.literal(1) if len(c.raw) > 1 else "0"
    _check_tz(c, 2)
    if mode != "0":
        raise c.err("toDayOfWeek is supported with the default mode only (1 = Monday)")
    return f"isodow({_as_timestamp(c, 0)})"


def _part(fn: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        c.need(1, 2)
        _check_tz(c, 1)
        return f"{fn}({_as_timestamp(c, 0)})"

    return handle


def _fn_yyyymm(c: _Call) -> str:
    c.need(1, 2)
    _check_tz(c, 1)
    t = _as_timestamp(c, 0)
    return f"CAST(year({t}) * 100 + month({t}) AS BIGINT)"


def _fn_yyyymmdd(c: _Call) -> str:
    c.need(1, 2)
    _check_tz(c, 1)
    t = _as_timestamp(c, 0)
    return f"CAST(year({t}) * 10000 + month({t}) * 100 + day({t}) AS BIGINT)"


def _unit_of(c: _Call, n: int) -> str:
    unit = c.literal(n)
    if unit is None or unit.lower() not in _UNITS:
        raise c.err(f"{c.name} needs a unit such as 'day', 'hour' or 'week' as argument {n + 1}")
    return _UNITS[unit.lower()]


def _fn_date_diff(c: _Call) -> str:
    c.need(3, 4)
    _check_tz(c, 3)
    unit = _unit_of(c, 0)
    a, b = _as_timestamp(c, 1), _as_timestamp(c, 2)
    if unit == "WEEK":
        # ClickHouse counts Monday-start week boundaries (toRelativeWeekNum); DuckDB does not.
        da, db = f"CAST({a} AS DATE)", f"CAST({b} AS DATE)"
        return f"(date_diff('day', {_monday(da)}, {_monday(db)}) // 7)"
    # DuckDB's date_diff counts unit boundaries between the two instants, like ClickHouse.
    return f"date_diff('{unit.lower()}', {a}, {b})"


def _date_arg(c: _Call, n: int) -> str:
    """A date argument of date arithmetic: text is read as a date and time (ClickHouse 23.10+)."""
    return _as_timestamp(c, n) if c.text_value(n) else c.args[n]


def _fn_date_add(sign: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        if len(c.args) == 2:  # dateAdd(date, INTERVAL n unit)
            return f"({_date_arg(c, 0)} {sign} {c.args[1]})"
        c.need(3)
        unit = _unit_of(c, 0)
        return f"({_date_arg(c, 2)} {sign} INTERVAL ({c.args[1]}) {unit})"

    return handle


def _fn_add(unit: str, sign: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        _d, n = c.need(2)
        return f"({_date_arg(c, 0)} {sign} INTERVAL ({n}) {unit})"

    return handle


def _fn_to_interval(unit: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        (n,) = c.need(1)
        return f"INTERVAL ({n}) {unit}"

    return handle


def _fn_date_trunc(c: _Call) -> str:
    c.need(2, 3)
    _check_tz(c, 2)
    unit = _unit_of(c, 0)
    return f"CAST(date_trunc('{unit.lower()}', {_as_timestamp(c, 1)}) AS TIMESTAMP)"


def _fn_to_start_of_interval(c: _Call) -> str:
    c.need(2, 3)
    _check_tz(c, 2)
    return f"time_bucket({c.args[1]}, {_as_timestamp(c, 0)})"


def _fn_now(c: _Call) -> str:
    c.need(0, 1)
    _check_tz(c, 0)
    return "CAST(date_trunc('second', now()) AS TIMESTAMP)"


def _fn_today(c: _Call) -> str:
    c.need(0)
    return "CAST(CAST(now() AS TIMESTAMP) AS DATE)"


def _fn_yesterday(c: _Call) -> str:
    c.need(0)
    return "(CAST(CAST(now() AS TIMESTAMP) AS DATE) - 1)"


def _fn_to_int(c: _Call) -> str:
    (x,) = c.need(1)
    # ClickHouse truncates toward zero (DuckDB's CAST rounds); HogQL's toInt is toInt64OrNull.
    return f"TRY_CAST(trunc(TRY_CAST({x} AS DOUBLE)) AS BIGINT)"


def _fn_round(c: _Call) -> str:
    c.need(1, 2)
    digits = c.args[1] if len(c.args) > 1 else "0"
    # ClickHouse rounds floats half to even ("banker's rounding").
    return f"round_even({c.args[0]}, {digits})"


def _fn_floor(fn: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        c.need(1, 2)
        if len(c.args) == 1:
            return f"{fn}({c.args[0]})"
        n = c.args[1]
        return f"({fn}({c.args[0]} * pow(10, {n})) / pow(10, {n}))"

    return handle


def _fn_like(op: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        a, b = c.need(2)
        pattern = c.literal(1)
        escape = " ESCAPE '\\'" if pattern is not None and "\\" in pattern else ""
        return f"({a} {op} {b}{escape})"

    return handle


def _fn_extract(c: _Call) -> str:
    s, pattern = c.need(2)
    lit = c.literal(1)
    if lit is None:
        raise c.err("extract(haystack, pattern) needs a literal pattern")
    group = 1 if re.search(r"(?<!\\)\((?!\?)", lit) else 0
    return f"regexp_extract({s}, {pattern}, {group})"


def _fn_split(c: _Call) -> str:
    sep, s = c.need(2)
    return f"string_split({s}, {sep})"


def _fn_array_map(fn: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        f, arr = c.need(2)
        return f"{fn}({arr}, {f})"

    return handle


def _fn_array_string_concat(c: _Call) -> str:
    c.need(1, 2)
    sep = c.args[1] if len(c.args) > 1 else "''"
    return f"array_to_string({c.args[0]}, {sep})"


def _fn_index_of(c: _Call) -> str:
    arr, x = c.need(2)
    return f"coalesce(list_position({arr}, {x}), 0)"


def _json_pointer(key_sql: str) -> str:
    """A JSON pointer (RFC 6901) built at run time from a key expression: `/` + the key with `~`
    and `/` escaped, so any key a row holds (a column, a bound value) is read exactly."""
    return f"('/' || replace(replace(CAST({key_sql} AS VARCHAR), '~', '~0'), '/', '~1'))"


def _json_key_path(c: _Call, args: list[str]) -> str | None:
    """One non-literal key (JSONType(properties, key) with `key` a column): its pointer path."""
    if len(args) == 2 and (c.literal(1) is None or _is_id(_sig(c.raw[1])[0])):
        return _json_pointer(args[1])
    return None


def _fn_json_extract(cast: str | None, fn: str = "json_extract_string") -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        args = c.need(1, 8)
        dynamic = _json_key_path(c, args)
        if dynamic is not None:
            text = f"{fn}({args[0]}, {dynamic})"
            return f"TRY_CAST({text} AS {cast})" if cast else text
        keys = []
        for n in range(1, len(args)):
            key = c.literal(n)
            if key is None or (c.raw[n] and _is_id(_sig(c.raw[n])[0])):
                raise c.err(f"{c.name} needs literal keys")
            keys.append(key)
        path = _json_path(keys) if keys else "'$'"
        text = f"{fn}({args[0]}, {path})"
        return f"TRY_CAST({text} AS {cast})" if cast else text

    return handle


_PERSON_JSON = re.compile(r"(\w+\.|)person_properties")
_json_extract_text = _fn_json_extract(None)


def _fn_json_extract_string(c: _Call) -> str:
    """ClickHouse's JSONExtractString: the decoded string, '' when the key is missing or null.
    A person's email from `person.properties` reads the store's materialized column (decoded
    from the same JSON at build time), which the email key's fast path knows."""
    args = c.need(1, 8)
    m = _PERSON_JSON.fullmatch(args[0])
    key = c.literal(1) if len(args) == 2 else None
    if m and key in HOT_PERSON_PROPERTIES:
        return f"coalesce({m.group(1)}{HOT_PERSON_PROPERTIES[key]}, '')"
    return f"coalesce({_json_extract_text(c)}, '')"


# ClickHouse's JSONType names for DuckDB's json_type(); a missing key is 'Null' there too.
_JSON_TYPES = (
    "MAP {'VARCHAR': 'String', 'BIGINT': 'Int64', 'UBIGINT': 'UInt64', 'DOUBLE': 'Double',"
    " 'BOOLEAN': 'Bool', 'ARRAY': 'Array', 'OBJECT': 'Object', 'NULL': 'Null'}"
)


def _fn_json_type(c: _Call) -> str:
    args = c.need(1, 8)
    path = _json_key_path(c, args)
    if path is None and len(args) > 1:
        keys = [c.literal(n) for n in range(1, len(args))]
        if any(k is None for k in keys):
            raise c.err(f"{c.name} needs literal keys, or one key expression")
        path = _json_path([k for k in keys if k is not None])
    kind = f"json_type({args[0]}, {path})" if path else f"json_type({args[0]})"
    return f"coalesce({_JSON_TYPES}[{kind}], 'Null')"


def _fn_json_keys(c: _Call) -> str:
    (x,) = c.need(1)
    return f"coalesce(json_keys(CAST({x} AS JSON)), [])"


def _fn_empty(negate: bool) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        (x,) = c.need(1)
        return f"(coalesce(length({x}), 0) {'>' if negate else '='} 0)"

    return handle


def _fn_variadic_op(op: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        args = c.need(2, 64)
        return "(" + f" {op} ".join(args) + ")"

    return handle


def _fn_lag(fn: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        return f"{fn}({', '.join(c.need(1, 3))})"

    return handle


def _fn_parse_best_effort(c: _Call) -> str:
    c.need(1, 2)
    _check_tz(c, 1)
    return f"CAST(CAST({c.args[0]} AS TIMESTAMPTZ) AS TIMESTAMP)"


def _unsupported(reason: str) -> Callable[[_Call], str]:
    def handle(c: _Call) -> str:
        raise c.err(f"HogQL function {c.name!r} is not supported by the local engine: {reason}")

    return handle


_FUNCTIONS: dict[str, Callable[[_Call], str]] = {
    # null handling and conditionals
    "coalesce": _rename("coalesce"),
    "ifnull": _rename("coalesce", 2, 2),
    "nullif": _rename("nullif", 2, 2),
    "isnull": _unary("(({x}) IS NULL)"),
    "isnotnull": _unary("(({x}) IS NOT NULL)"),
    "assumenotnull": _unary("{x}"),
    "tonullable": _unary("{x}"),
    "greatest": _rename("greatest", 1),
    "least": _rename("least", 1),
    # strings
    "lower": _fn_lower,
    "upper": _rename("upper", 1, 1),
    "lowerutf8": _fn_lower_utf8,
    "upperutf8": _rename("upper", 1, 1),
    "length": _rename("length", 1, 1),
    "lengthutf8": _rename("length", 1, 1),
    "concat": _rename("concat", 1),
    "substring": _rename("substring", 2, 3),
    "substr": _rename("substring", 2, 3),
    "left": _rename("left", 2, 2),
    "right": _rename("right", 2, 2),
    # ClickHouse's trimBoth(s[, chars]) (HogQL: trim, btrim) trims spaces only unless given the
    # characters, as DuckDB's trim(s[, chars]) does.
    "trim": _rename("trim", 1, 2),
    "btrim": _rename("trim", 1, 2),
    "trimboth": _rename("trim", 1, 2),
    "trimleft": _rename("ltrim", 1, 1),
    "trimright": _rename("rtrim", 1, 1),
    "reverse": _rename("reverse", 1, 1),
    "replace": _rename("replace", 3, 3),
    "replaceall": _rename("replace", 3, 3),
    "replaceregexpone": _rename("regexp_replace", 3, 3),
    "position": _rename("strpos", 2, 2),
    "positioncaseinsensitive": _binary("strpos(lower({a}), lower({b}))"),
    "startswith": _rename("starts_with", 2, 2),
    "endswith": _rename("ends_with", 2, 2),
    "like": _fn_like("LIKE"),
    "ilike": _fn_like("ILIKE"),
    "notlike": _fn_like("NOT LIKE"),
    "notilike": _fn_like("NOT ILIKE"),
    "match": _rename("regexp_matches", 2, 2),  # RE2 in both engines, unanchored
    "extract": _fn_extract,
    "splitbychar": _fn_split,
    "splitbystring": _fn_split,
    "empty": _fn_empty(False),
    "notempty": _fn_empty(True),
    "tostring": _unary("CAST({x} AS VARCHAR)"),
    "formatdatetime": _rename("strftime", 2, 2),
    # numbers
    "toint": _fn_to_int,
    "toint8": _fn_to_int,
    "toint16": _fn_to_int,
    "toint32": _fn_to_int,
    "toint64": _fn_to_int,
    "touint8": _fn_to_int,
    "touint16": _fn_to_int,
    "touint32": _fn_to_int,
    "touint64": _fn_to_int,
    "tointornull": _fn_to_int,
    "toint64ornull": _fn_to_int,
    "toint32ornull": _fn_to_int,
    "tofloat": _unary(_FLOAT_OR_NULL),
    "tofloat32": _unary("TRY_CAST({x} AS DOUBLE)"),
    "tofloat64": _unary("TRY_CAST({x} AS DOUBLE)"),
    "tofloatornull": _unary(_FLOAT_OR_NULL),
    "tofloat64ornull": _unary(_FLOAT_OR_NULL),
    "tobool": _unary("TRY_CAST({x} AS BOOLEAN)"),
    "round": _fn_round,
    "floor": _fn_floor("floor"),
    "ceil": _fn_floor("ceil"),
    "ceiling": _fn_floor("ceil"),
    "abs": _rename("abs", 1, 1),
    "sqrt": _rename("sqrt", 1, 1),
    "exp": _rename("exp", 1, 1),
    "log": _rename("ln", 1, 1),
    "ln": _rename("ln", 1, 1),
    "log2": _rename("log2", 1, 1),
    "log10": _rename("log10", 1, 1),
    "pow": _rename("pow", 2, 2),
    "power": _rename("pow", 2, 2),
    "intdiv": _binary("(CAST({a} AS BIGINT) // CAST({b} AS BIGINT))"),
    "modulo": _binary("({a} % {b})"),
    # ClickHouse's cityHash64 as DuckDB's 64-bit hash: other values, but as stable and as well
    # spread, which is what partitioning by it needs (usertrack.sources.posthog_http).
    "cityhash64": _rename("hash", 1),
    "plus": _binary("({a} + {b})"),
    "minus": _binary("({a} - {b})"),
    "multiply": _binary("({a} * {b})"),
    "divide": _binary("({a} / {b})"),
    "equals": _binary("({a} IS NOT DISTINCT FROM {b})"),
    "notequals": _binary("({a} IS DISTINCT FROM {b})"),
    "greater": _binary("({a} > {b})"),
    "greaterorequals": _binary("({a} >= {b})"),
    "less": _binary("({a} < {b})"),
    "lessorequals": _binary("({a} <= {b})"),
    "and": _fn_variadic_op("AND"),
    "or": _fn_variadic_op("OR"),
    # dates and times
    "now": _fn_now,
    "today": _fn_today,
    "yesterday": _fn_yesterday,
    "todate": _fn_to_date,
    "todatetime": _fn_to_datetime,
    "todatetime64": _fn_to_datetime,
    "totimezone": _fn_to_timezone,
    "parsedatetimebesteffort": _fn_parse_best_effort,
    "parsedatetime64besteffort": _fn_parse_best_effort,
    "parsedatetimebesteffortornull": _fn_parse_best_effort,
    "tostartofminute": _trunc("minute"),
    "tostartofhour": _trunc("hour"),
    "tostartofday": _trunc("day"),
    "tostartofweek": _fn_to_start_of_week,
    "tomonday": _fn_to_monday,
    "tostartofmonth": _trunc("month", as_date=True),
    "tostartofquarter": _trunc("quarter", as_date=True),
    "tostartofyear": _trunc("year", as_date=True),
    "tostartofinterval": _fn_to_start_of_interval,
    "datetrunc": _fn_date_trunc,
    "date_trunc": _fn_date_trunc,
    "toyyyymm": _fn_yyyymm,
    "toyyyymmdd": _fn_yyyymmdd,
    "toyear": _part("year"),
    "toquarter": _part("quarter"),
    "tomonth": _part("month"),
    "todayofmonth": _part("day"),
    "todayofyear": _part("dayofyear"),
    "tohour": _part("hour"),
    "tominute": _part("minute"),
    "tosecond": _part("second"),
    "toisoweek": _part("weekofyear"),
    "todayofweek": _fn_to_day_of_week,
    "tounixtimestamp": _unary("CAST(epoch(CAST({x} AS TIMESTAMP)) AS BIGINT)"),
    "datediff": _fn_date_diff,
    "date_diff": _fn_date_diff,
    "dateadd": _fn_date_add("+"),
    "date_add": _fn_date_add("+"),
    "datesub": _fn_date_add("-"),
    "date_sub": _fn_date_add("-"),
    "addseconds": _fn_add("SECOND", "+"),
    "addminutes": _fn_add("MINUTE", "+"),
    "addhours": _fn_add("HOUR", "+"),
    "adddays": _fn_add("DAY", "+"),
    "addweeks": _fn_add("WEEK", "+"),
    "addmonths": _fn_add("MONTH", "+"),
    "addyears": _fn_add("YEAR", "+"),
    "subtractseconds": _fn_add("SECOND", "-"),
    "subtractminutes": _fn_add("MINUTE", "-"),
    "subtracthours": _fn_add("HOUR", "-"),
    "subtractdays": _fn_add("DAY", "-"),
    "subtractweeks": _fn_add("WEEK", "-"),
    "subtractmonths": _fn_add("MONTH", "-"),
    "subtractyears": _fn_add("YEAR", "-"),
    "tointervalsecond": _fn_to_interval("SECOND"),
    "tointervalminute": _fn_to_interval("MINUTE"),
    "tointervalhour": _fn_to_interval("HOUR"),
    "tointervalday": _fn_to_interval("DAY"),
    "tointervalweek": _fn_to_interval("WEEK"),
    "tointervalmonth": _fn_to_interval("MONTH"),
    "tointervalyear": _fn_to_interval("YEAR"),
    # arrays
    "has": _rename("list_contains", 2, 2),
    "hasany": _rename("list_has_any", 2, 2),
    "hasall": _rename("list_has_all", 2, 2),
    "indexof": _fn_index_of,
    "arrayjoin": _rename("unnest", 1, 1),
    "arraymap": _fn_array_map("list_transform"),
    "arrayfilter": _fn_array_map("list_filter"),
    "arraysort": _rename("list_sort", 1, 1),
    "arrayreversesort": _rename("list_reverse_sort", 1, 1),
    "arraydistinct": _rename("list_distinct", 1, 1),
    "arrayconcat": _rename("list_concat", 2),
    "arraystringconcat": _fn_array_string_concat,
    "arrayelement": _binary("{a}[{b}]"),
    "array": _rename("list_value", 0),
    "tuple": _rename("row", 1),
    # JSON
    "jsonextractstring": _fn_json_extract_string,
    "jsonextractraw": _fn_json_extract(None, "json_extract"),
    "jsonextractint": _fn_json_extract("BIGINT"),
    "jsonextractuint": _fn_json_extract("UBIGINT"),
    "jsonextractfloat": _fn_json_extract("DOUBLE"),
    "jsonextractbool": _fn_json_extract("BOOLEAN"),
    "jsonhas": _fn_json_extract(None, "json_exists"),
    "jsontype": _fn_json_type,
    "jsonextractkeys": _fn_json_keys,
    # window functions
    "row_number": _rename("row_number", 0, 0),
    "rank": _rename("rank", 0, 0),
    "dense_rank": _rename("dense_rank", 0, 0),
    "laginframe": _fn_lag("lag"),
    "leadinframe": _fn_lag("lead"),
    "lag": _fn_lag("lag"),
    "lead": _fn_lag("lead"),
    "first_value": _rename("first_value", 1, 1),
    "last_value": _rename("last_value", 1, 1),
    # not available locally, with a reason
    "windowfunnel": _unsupported("funnels need PostHog's ClickHouse; run this query live"),
    "retention": _unsupported("retention() is not available in HogQL either"),
}


def _fn_replace_one(c: _Call) -> str:
    s, _needle, b = c.need(3)
    # regexp_replace without 'g' replaces the first match; escape the needle into a pattern.
    lit = c.literal(1)
    if lit is None:
        raise c.err("replaceOne needs a literal needle")
    return f"regexp_replace({s}, {_sql_string(re.escape(lit))}, {b})"


def _fn_array_slice(c: _Call) -> str:
    args = c.need(2, 3)
    arr, offset = args[0], args[1]
    if len(args) == 2:
        return f"list_slice({arr}, {offset}, length({arr}))"
    return f"list_slice({arr}, {offset}, ({offset}) + ({args[2]}) - 1)"


def _fn_regexp_all(c: _Call) -> str:
    s, pattern, repl = c.need(3)
    return f"regexp_replace({s}, {pattern}, {repl}, 'g')"


_FUNCTIONS["replaceone"] = _fn_replace_one
_FUNCTIONS["arrayslice"] = _fn_array_slice
_FUNCTIONS["replaceregexpall"] = _fn_regexp_all

SUPPORTED_FUNCTIONS: tuple[str, ...] = tuple(
    sorted(
        {*(_AGGREGATES), *(f"{a}if" for a in _AGGREGATES), "cast", "if", "multiif"}
        | {k for k, v in _FUNCTIONS.items() if k not in ("windowfunnel", "retention")}
    )
)


def translate(hogql: str, *, first_line: int = 1) -> Translation:
    """Translate one HogQL query into DuckDB SQL over the local event store.

    Raises `HogQLTranslationError` naming the construct when something cannot be translated,
    with its line and column; `first_line` is the file's line where `hogql` starts, so that the
    line is the file's (a query file's header comes first).
    """
    # Blank lines ahead shift every reported line; the translation is stripped of them.
    tr = _Translator("\n" * max(first_line - 1, 0) + hogql)
    sql = tr.run()
    return Translation(sql=sql, params=list(tr.params))
