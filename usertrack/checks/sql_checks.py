"""The checks on the SQL people write into rule and query files, with DuckDB's own parser
(`json_serialize_sql`, which parses and never runs): the second fence of usertrack.checks.sandbox.

A rule, an order or a `when` (segments.yaml rules and orders, failures.yaml `when` clauses) is
one expression: one statement, no subquery, no table, no comment. A DuckDB query file
(`queries/join/profile.sql`) is one SELECT (`check_query`): no second statement, no table
function, and no table but the ones usertrack gives it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from usertrack.checks.sandbox import scratch

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "UnsafeSQLError",
    "check_expression",
    "check_order",
    "check_query",
    "expression_columns",
    "parse_tree",
]


# --------------------------------------------------------------------------------------------
# Checking expressions from rule files


class UnsafeSQLError(ValueError):
    """A rule file's SQL is not one plain expression; the message says what is wrong with it.

    Callers add the file, line and rule and raise their own error (SegmentsFileError,
    RulesFileError).
    """


def _serialize(sql: str, con: duckdb.DuckDBPyConnection | None) -> dict[str, Any]:
    """DuckDB's parse tree of `sql` as JSON (json_serialize_sql parses; it never runs `sql`)."""
    if con is None:
        own = scratch()
        try:
            return _serialize(sql, own)
        finally:
            own.close()
    row = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    doc: dict[str, Any] = json.loads(row[0]) if row else {}
    return doc


def _reject_tricks(text: str, what: str, shape: str) -> None:
    """No comment (one hid `;` from the old parenthesis count), no statement separator."""
    import duckdb

    # DuckDB's token positions count the text's UTF-8 bytes, not its characters.
    raw = text.encode()
    for pos, kind in duckdb.tokenize(text):
        at = len(raw[:pos].decode(errors="ignore")) + 1  # the character, as people count
        if kind == duckdb.token_type.comment:
            raise UnsafeSQLError(
                f"{what} is not {shape}: it holds an SQL comment (at character {at});"
                " write comments on their own YAML line, after #"
            )
        if kind == duckdb.token_type.operator and raw[pos : pos + 1] == b";":
            raise UnsafeSQLError(
                f"{what} is not {shape}: it holds ';' (at character {at}), which would"
                " end the statement"
            )


def _one_select(doc: dict[str, Any], what: str, shape: str) -> dict[str, Any]:
    if doc.get("error"):
        message = str(doc.get("error_message") or "cannot be parsed").splitlines()[0]
        raise UnsafeSQLError(f"{what} is not {shape}: {message}")
    statements = doc.get("statements") or []
    if len(statements) != 1:
        raise UnsafeSQLError(f"{what} is not {shape}: one statement only")
    node: dict[str, Any] = statements[0]["node"]
    if node.get("type") != "SELECT_NODE":
        raise UnsafeSQLError(f"{what} is not {shape} (no UNION, no SELECT)")
    return node


def _plain_select(node: dict[str, Any], what: str, shape: str, *, modifiers: int = 0) -> None:
    """Nothing but the select list (and `modifiers` ORDER BY modifiers) in the parsed SELECT."""
    clauses = {"where_clause": "WHERE", "having": "HAVING", "qualify": "QUALIFY"}
    clauses["sample"] = "SAMPLE"
    extra = [name for key, name in clauses.items() if node.get(key) is not None]
    if node.get("group_expressions") or node.get("group_sets"):
        extra.append("GROUP BY")
    if (node.get("cte_map") or {}).get("map"):
        extra.append("WITH")
    if (node.get("from_table") or {}).get("type") != "EMPTY":
        extra.append("FROM")
    mods = node.get("modifiers") or []
    if len(mods) != modifiers or any(m.get("type") != "ORDER_MODIFIER" for m in mods):
        extra.append("a LIMIT, DISTINCT or ORDER BY")
    if extra:
        raise UnsafeSQLError(f"{what} is not {shape} (it continues with {', '.join(extra)})")


_FORBIDDEN_CLASSES = {
    "SUBQUERY": "a subquery",
    "STAR": "'*' or COLUMNS()",
    "PARAMETER": "a parameter ($name or ?)",
    "DEFAULT": "DEFAULT",
}


def _check_tree(expr: Any, what: str) -> None:
    """Walk a parsed expression: no subquery, no table, no star, no parameter anywhere."""
    if isinstance(expr, list):
        for item in expr:
            _check_tree(item, what)
        return
    if not isinstance(expr, dict):
        return
    cls = expr.get("class")
    if cls in _FORBIDDEN_CLASSES:
        raise UnsafeSQLError(f"{what} may not use {_FORBIDDEN_CLASSES[cls]}")
    kind = expr.get("type")
    if kind in ("SELECT_NODE", "SET_OPERATION_NODE", "TABLE_FUNCTION", "BASE_TABLE"):
        raise UnsafeSQLError(f"{what} may not read a table or a file")
    for value in expr.values():
        if isinstance(value, dict | list):
            _check_tree(value, what)


def check_expression(
    expr: str, con: duckdb.DuckDBPyConnection | None = None, *, what: str = "rule"
) -> dict[str, Any]:
    """The parse tree of `expr` when it is exactly one SQL expression with nothing else around
    it; otherwise UnsafeSQLError. Nothing is run. `con` (any sandboxed connection) saves
    opening one."""
    shape = "a single SQL boolean expression"
    _reject_tricks(expr, what, shape)
    node = _one_select(_serialize(f"SELECT {expr}", con), what, shape)
    _plain_select(node, what, shape)
    items = node.get("select_list") or []
    if len(items) != 1:
        raise UnsafeSQLError(f"{what} is not {shape} ({len(items)} expressions)")
    item: dict[str, Any] = items[0]
    if item.get("alias"):
        raise UnsafeSQLError(f"{what} is not {shape} (it names an alias)")
    _check_tree(item, what)
    return item


def check_order(
    order: str, con: duckdb.DuckDBPyConnection | None = None, *, what: str = "order"
) -> list[dict[str, Any]]:
    """The parsed terms of an ORDER BY list: `expr [ASC|DESC] [NULLS FIRST|LAST], ...`, each
    term one plain expression as in `check_expression`; otherwise UnsafeSQLError."""
    shape = "a list of `column [ASC|DESC] [NULLS FIRST|LAST]`"
    _reject_tricks(order, what, shape)
    node = _one_select(_serialize(f"SELECT 1 ORDER BY {order}", con), what, shape)
    _plain_select(node, what, shape, modifiers=1)
    terms: list[dict[str, Any]] = node["modifiers"][0].get("orders") or []
    for term in terms:
        _check_tree(term.get("expression"), what)
    return terms


def _columns(expr: Any, params: frozenset[str], out: list[tuple[int, str]]) -> None:
    if isinstance(expr, list):
        for item in expr:
            _columns(item, params, out)
        return
    if not isinstance(expr, dict):
        return
    if expr.get("class") == "COLUMN_REF":
        name = expr["column_names"][-1]
        if name not in params:
            out.append((int(expr.get("query_location") or 0), name))
        return
    if expr.get("class") == "LAMBDA":  # lambda x: ... binds x; x is not a column
        bound: list[tuple[int, str]] = []
        _columns(expr.get("lhs"), frozenset(), bound)
        _columns(expr.get("expr"), params | {name for _, name in bound}, out)
        return
    for value in expr.values():
        if isinstance(value, dict | list):
            _columns(value, params, out)


@lru_cache(maxsize=512)
def _expression_columns(expr: str) -> tuple[str, ...]:
    return _tree_columns(check_expression(expr))


def _tree_columns(tree: dict[str, Any]) -> tuple[str, ...]:
    found: list[tuple[int, str]] = []
    _columns(tree, frozenset(), found)
    seen: list[str] = []
    for _, name in sorted(found, key=lambda f: f[0]):
        if name not in seen:
            seen.append(name)
    return tuple(seen)


def node_columns(node: dict[str, Any]) -> tuple[str, ...]:
    """The columns a node of DuckDB's parse tree (parse_tree) refers to, in order, each once."""
    return _tree_columns(node)


def expression_columns(expr: str, con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """The columns `expr` refers to, in order of appearance, each once (from DuckDB's parse
    tree, so words inside strings, function names and lambda parameters are not columns).
    UnsafeSQLError when `expr` is not one plain expression. `con` (any sandboxed connection)
    saves opening one, as in `check_expression`."""
    if con is None:
        return list(_expression_columns(expr))
    return list(_tree_columns(check_expression(expr, con)))


# --------------------------------------------------------------------------------------------
# Checking DuckDB query files


def check_query(
    sql: str,
    tables: Iterable[str],
    con: duckdb.DuckDBPyConnection | None = None,
    *,
    first_line: int = 1,
) -> str:
    """`sql` (a DuckDB query file's body, starting on line `first_line` of its file) when it is
    one SELECT (WITH, UNION and subqueries allowed) that reads only `tables` and its own CTEs:
    no second statement, no table function (read_text, read_csv, query, ...), no file named in
    table position. Returned without a trailing `;`, ready to be embedded in a statement.
    Otherwise UnsafeSQLError, its message starting with the file's line (`12: ...`)."""
    key = (sql, tuple(tables), first_line)
    found = _queries_checked.get(key)
    if found is None:  # what the check reads is the text: a query passes once per process
        found = _check_query(sql, key[1], con, first_line)
        if len(_queries_checked) >= 64:
            _queries_checked.clear()
        _queries_checked[key] = found
    return found


# Query texts that passed check_query, by (text, tables, first line): the body it returned.
_queries_checked: dict[tuple[str, tuple[str, ...], int], str] = {}


def _check_query(
    sql: str, tables: tuple[str, ...], con: duckdb.DuckDBPyConnection | None, first_line: int
) -> str:
    import duckdb

    body = sql
    # DuckDB's token positions (and its parse tree's, `_line`) count UTF-8 bytes
    raw = sql.encode()
    tokens = duckdb.tokenize(sql)
    semis = [
        pos
        for pos, kind in tokens
        if kind == duckdb.token_type.operator and raw[pos : pos + 1] == b";"
    ]
    if semis and all(kind == duckdb.token_type.comment for pos, kind in tokens if pos > semis[-1]):
        # one trailing `;` ends the statement; only comments after it
        body = raw[: semis[-1]].decode()
        semis.pop()
    if semis:
        raise UnsafeSQLError(
            f"{_line(sql, semis[0], first_line)}: ';' ends the SELECT and starts a second"
            " statement; a query file holds one SELECT"
        )
    doc = _serialize(body, con)
    if doc.get("error"):
        message = str(doc.get("error_message") or "cannot be parsed").splitlines()[0]
        if message.startswith("Only SELECT statements"):
            message = "only a SELECT runs here (no COPY, ATTACH, SET, CREATE, ...)"
        raise UnsafeSQLError(f"{first_line}: not one SELECT statement: {message}")
    statements = doc.get("statements") or []
    if len(statements) != 1:
        raise UnsafeSQLError(f"{first_line}: {len(statements)} statements; a query file holds one")
    allowed = {t.lower() for t in tables} | {n.lower() for n in _cte_names(statements[0])}
    _check_relations(statements[0]["node"], body, first_line, allowed)
    return body


def _line(sql: str, pos: int, first_line: int) -> int:
    """The line of `sql` at DuckDB's position `pos` (a UTF-8 byte offset)."""
    return first_line + sql.encode()[: max(0, pos)].count(b"\n")


def _cte_names(tree: Any) -> list[str]:
    names: list[str] = []
    if isinstance(tree, list):
        for item in tree:
            names += _cte_names(item)
    elif isinstance(tree, dict):
        for entry in (tree.get("cte_map") or {}).get("map") or []:
            names.append(str(entry.get("key")))
        for value in tree.values():
            if isinstance(value, dict | list):
                names += _cte_names(value)
    return names


def _check_relations(tree: Any, sql: str, first_line: int, allowed: set[str]) -> None:
    """Every table reference of the parse tree names one of `allowed`; no table function."""
    if isinstance(tree, list):
        for item in tree:
            _check_relations(item, sql, first_line, allowed)
        return
    if not isinstance(tree, dict):
        return
    kind = tree.get("type")
    where = _line(sql, _location(tree), first_line)
    if kind == "TABLE_FUNCTION":
        function = (tree.get("function") or {}).get("function_name") or "a function"
        raise UnsafeSQLError(
            f"{where}: {function}() is a table function; a query file reads only the tables"
            f" usertrack gives it ({', '.join(sorted(allowed))})"
        )
    if kind == "SHOW_REF":
        raise UnsafeSQLError(
            f"{where}: DESCRIBE, SHOW and SUMMARIZE are not allowed; a query file reads only"
            f" the tables usertrack gives it ({', '.join(sorted(allowed))})"
        )
    if kind == "BASE_TABLE":
        name = str(tree.get("table_name") or "")
        qualified = tree.get("schema_name") or tree.get("catalog_name")
        if qualified or name.lower() not in allowed:
            shown = ".".join(str(p) for p in (tree.get("qualified_name") or {}).get("path") or [])
            raise UnsafeSQLError(
                f"{where}: reads {shown or name!r}; a query file reads only the tables usertrack"
                f" gives it ({', '.join(sorted(allowed))})"
            )
    for value in tree.values():
        if isinstance(value, dict | list):
            _check_relations(value, sql, first_line, allowed)


def _location(node: dict[str, Any]) -> int:
    loc = node.get("query_location")
    return loc if isinstance(loc, int) and 0 <= loc < 2**62 else 0  # 2**64 - 1: no location


def parse_tree(sql: str) -> dict[str, Any]:
    """DuckDB's parse tree of `sql` (json_serialize_sql: parsed, never run)."""
    return _serialize(sql, None)
