"""HogQL text as tokens (strings, quoted identifiers, numbers, comments, placeholders,
punctuation) grouped by brackets into a small tree, and the words and SQL text helpers the
translation shares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from usertrack.core.errors import HogQLTranslationError


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


def line_col(text: str, pos: int) -> str:
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
    raise HogQLTranslationError(f"unterminated quoted text starting at {line_col(text, i)}")


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
        elif text.startswith(("--", "//"), i):  # both PostHog's (HogQLLexer.common.g4)
            j = text.find("\n", i)
            j = n if j == -1 else j
            toks.append(Tok("comment", text[i:j], "", i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j == -1:
                raise HogQLTranslationError(f"unterminated comment at {line_col(text, i)}")
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
                    f"'{{' at {line_col(text, i)} is not a {{name}} placeholder"
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
                raise HogQLTranslationError(f"unexpected character {c!r} at {line_col(text, i)}")
    return toks


def bracket_tree(toks: list[Tok], text: str) -> list[Node]:
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
                raise HogQLTranslationError(f"unbalanced {t.kind!r} at {line_col(text, t.pos)}")
            stack.pop()
        else:
            stack[-1][1].append(t)
    if len(stack) > 1:
        top = stack[-1][0]
        assert top is not None
        raise HogQLTranslationError(f"unclosed {top.open!r} at {line_col(text, top.pos)}")
    return root


def significant(items: Sequence[Node]) -> list[Node]:
    return [x for x in items if not (isinstance(x, Tok) and x.kind in ("ws", "comment"))]


def is_id(node: Node | None, *words: str) -> bool:
    return (
        isinstance(node, Tok) and node.kind == "id" and (not words or node.value.upper() in words)
    )


def source_text(node: Node) -> str:
    if isinstance(node, Tok):
        return "" if node.kind == "comment" else node.text
    close = ")" if node.open == "(" else "]"
    return node.open + "".join(source_text(x) for x in node.items) + close


SELECT_END: tuple[str, ...] = ("FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "SETTINGS")
SELECT_END += ("WINDOW", "QUALIFY", "INTO", "OFFSET", "PREWHERE")


def is_operand(node: Node | None) -> bool:
    """Does `node` end an operand (so that a following word is a binary operator)?"""
    if isinstance(node, Group):
        return True
    if isinstance(node, Tok):
        if node.kind == "id":
            return node.value.upper() not in KEYWORDS or node.value.upper() == "END"
        return node.kind in ("qid", "num", "str", "ph")
    return False


def has_select(items: Sequence[Node]) -> bool:
    return any(is_id(x, "SELECT") for x in items)


def starts_query(group: Group) -> bool:
    """Does the bracket hold a query: SELECT ..., WITH ... SELECT, or (SELECT ...) UNION ...?"""
    sig = significant(group.items)
    if not sig:
        return False
    if isinstance(sig[0], Group):
        return starts_query(sig[0])
    return is_id(sig[0], "SELECT", "WITH") and has_select(sig)


# Words that may be followed by "(" without being a function call.
KEYWORDS = {
    "ALL", "AND", "ANTI", "AS", "ASC", "ASOF", "BETWEEN", "BY", "CASE", "CROSS", "DESC",
    "DISTINCT", "ELSE", "END", "EXCEPT", "EXISTS", "FILTER", "FINAL", "FROM", "FULL", "GLOBAL",
    "GROUP", "HAVING", "ILIKE", "IN", "INNER", "INTERSECT", "INTERVAL", "IS", "JOIN", "LATERAL",
    "LEFT", "LIKE", "LIMIT", "NOT", "NULLS", "OFFSET", "ON", "OR", "ORDER", "OUTER", "OVER",
    "PARTITION", "PREWHERE", "QUALIFY", "RANGE", "RECURSIVE", "RIGHT", "ROWS", "SELECT", "SEMI",
    "SETTINGS", "THEN", "UNION", "USING", "VALUES", "WHEN", "WHERE", "WINDOW", "WITH", "FIRST",
    "LAST", "PRECEDING", "FOLLOWING", "UNBOUNDED", "CURRENT", "ROW", "TOP",
}  # fmt: skip
AFTER_TABLE = KEYWORDS | {"SAMPLE"}
# Words before which a comma is not one of `FROM a, b` (a select list, GROUP BY a, b, ...).
FROM_LIST_END = {*SELECT_END, "SELECT", "BY", "UNION", "INTERSECT", "EXCEPT"} - {"FROM"}
# Words that end a JOIN's ON condition: the clauses after it, another join, another SELECT.
_JOINS = ("JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "ANY", "ALL", "ASOF", "SEMI", "ANTI")
CLAUSES_AFTER_ON = {*SELECT_END, *_JOINS, "ARRAY", "SELECT", "UNION", "INTERSECT", "EXCEPT"}

UNITS = {
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

TYPES = {
    "string": "VARCHAR", "fixedstring": "VARCHAR", "uuid": "VARCHAR", "text": "VARCHAR",
    "varchar": "VARCHAR", "int8": "BIGINT", "int16": "BIGINT", "int32": "BIGINT",
    "int64": "BIGINT", "int": "BIGINT", "integer": "BIGINT", "bigint": "BIGINT",
    "uint8": "UBIGINT", "uint16": "UBIGINT", "uint32": "UBIGINT", "uint64": "UBIGINT",
    "float32": "DOUBLE", "float64": "DOUBLE", "float": "DOUBLE", "double": "DOUBLE",
    "date": "DATE", "date32": "DATE", "datetime": "TIMESTAMP", "datetime64": "TIMESTAMP",
    "timestamp": "TIMESTAMP", "bool": "BOOLEAN", "boolean": "BOOLEAN",
}  # fmt: skip

PLAIN_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    if PLAIN_IDENT.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def json_path(keys: Sequence[str]) -> str:
    parts = []
    for key in keys:
        if '"' in key:
            raise HogQLTranslationError(
                f"property name {key!r} contains a double quote, which the local engine cannot read"
            )
        parts.append(f'."{key}"')
    return sql_string("$" + "".join(parts))
