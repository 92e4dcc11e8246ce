"""HogQL text printed from PostHog's own parse tree: what usertrack sends is what it checked.

A check must read text exactly as PostHog will, so HogQL is parsed by PostHog's own parser
(usertrack.engines.hogql.parser); and the text sent to PostHog is printed here from that tree,
never the text as written. Comments, odd escapes, quoting and spacing of the source cannot
then mean one thing to a check and another to PostHog: the printed text holds no comment, and
a tree holding anything the printer does not print (a node or a field it does not know) is
refused, never sent with a part left out. tests/engines/test_hogql_printer.py reads every shipped
query file, the bundles built from them and a set of hostile texts back from their printed
text as the same tree.

The printer follows PostHog's own HogQL printer (PostHog/posthog, read at commit 8722f436:
posthog/hogql/printer/base.py `visit_select_query`, `visit_select_set_query`,
`visit_join_expr`, `visit_sample_expr`, `visit_window_expr`, `visit_window_function`,
`visit_window_frame_expr`, `visit_alias`, `visit_lambda`, `visit_field`, `visit_between_expr`,
`visit_tuple_access`, `visit_array_access`; posthog/hogql/printer/hogql.py, the "hogql"
dialect), with PostHog's escaping (posthog/hogql/escape_sql.py at commit 39295308:
`escape_hogql_identifier`, `escape_param_clickhouse`). Where it differs, it is so the text
reads back as the same tree:

- Operators print as operators, in brackets where the grammar's precedence needs them
  (`a - (b - c)`); PostHog's printer writes `minus(a, b)`, which its parser reads back as a
  call, another tree. `NOT (x)` is a call of the function NOT to the parser, so the operand of
  NOT goes bare (what the parser reads as NOT of something never needs brackets there).
- What the parser builds from sugar (`a ? b : c` and CASE are `if`/`multiIf` calls, `INTERVAL
  1 DAY` is `toIntervalDay(1)`, `a || b` is `concat`, `a ?? b` is `ifNull`, `trim(BOTH ...)`)
  prints as that sugar: the parser marks such calls (no `distinct` key), and sugar reads back
  marked alike.
- A backquote inside a quoted name is doubled: the parser does not read PostHog's `\\``.
- A name the parser reads as a word (`null`, `true`, `inf`, `distinct`, ...) is quoted.
- CTEs print as written (`WITH name AS (SELECT ...)`, `WITH expr AS name`): PostHog's printer
  only ever prints trees its resolver has already inlined them from.
- `{name}` placeholders print as `{name}`: PostHog binds them from the request's `values`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

# posthog/hogql/escape_sql.py escape_chars_map; a quote in a string is `\'`
_ESCAPES = {
    "\b": "\\b", "\f": "\\f", "\r": "\\r", "\n": "\\n", "\t": "\\t", "\0": "\\0",
    "\a": "\\a", "\v": "\\v", "\\": "\\\\",
}  # fmt: skip
_PLAIN = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")  # escape_hogql_identifier's bare names
# Names the parser reads as something else where a name goes (found by parsing each keyword
# of its lexer bare in every place a name goes): quoted.
_WORDS = {
    "all", "columns", "distinct", "inf", "nan", "not", "null", "except", "intersect", "true",
    "false", "materialized", "fn", "fun", "let", "while", "throw", "try", "catch", "finally",
}  # fmt: skip
_COMPARE = {
    "==": "=", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "like": "LIKE",
    "ilike": "ILIKE", "not like": "NOT LIKE", "not ilike": "NOT ILIKE", "in": "IN",
    "not in": "NOT IN", "global in": "GLOBAL IN", "global not in": "GLOBAL NOT IN",
    "=~": "=~", "!~": "!~", "=~*": "=~*", "!~*": "!~*", "in cohort": "IN COHORT",
    "not in cohort": "NOT IN COHORT",
}  # fmt: skip
_ARITHMETIC = {"+", "-", "*", "/", "%"}
_INTERVALS = {
    f"toInterval{u.title()}": u.upper()
    for u in ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
}
_TRIMS = {"trim": "BOTH", "trimLeft": "LEADING", "trimRight": "TRAILING"}
# How tightly each form binds, tightest first, in the order of the parser's grammar
# (posthog/hogql/grammar/HogQLParser.g4 `columnExpr`): a part goes in brackets where it binds
# looser than its place allows. The right operand of a left-associative operator must bind
# tighter than the operator; `a - (b - c)` keeps its brackets, `(a - b) - c` needs none.
ATOM, _PRODUCT, _SUM, _COMPARISON, _IS_NULL, _NULLISH, _NOT = 0, 2, 3, 4, 5, 6, 7
_AND, _OR, _BETWEEN, _TERNARY, _ALIAS, LOOSEST = 8, 9, 10, 11, 12, 13
_LEVELS = {
    "Not": _NOT, "And": _AND, "Or": _OR, "BetweenExpr": _BETWEEN, "Alias": _ALIAS,
    "Lambda": LOOSEST, "IsDistinctFrom": _ALIAS,
}  # fmt: skip
_ACCESSIBLE = {"Field", "Call", "Array", "Tuple", "Placeholder", "ArrayAccess", "TupleAccess"}
_SELECTS = ("SelectQuery", "SelectSetQuery")
_SET_OPERATORS = ("UNION ALL", "UNION DISTINCT", "INTERSECT", "INTERSECT DISTINCT", "EXCEPT")
_MATERIALIZED = {True: "MATERIALIZED ", False: "NOT MATERIALIZED "}
_INDENT = "    "
# What the printer prints of each node: a node holding anything else (a key not null or false)
# is refused, never sent with a part left out.
_PRINTED = {
    "Constant": {"value", "value_type"},
    "Field": {"chain"},
    "Placeholder": {"expr"},
    "Call": {"name", "args", "params", "distinct", "order_by", "filter_expr"},
    "ExprCall": {"expr", "args"},
    "Tuple": {"exprs"},
    "Array": {"exprs"},
    "Dict": {"items"},
    "ArrayAccess": {"array", "property", "nullish"},
    "TupleAccess": {"tuple", "index", "nullish"},
    "ArraySlice": {"array", "start_expr", "end_expr"},
    "Alias": {"expr", "alias"},
    "CompareOperation": {"left", "right", "op", "is_null_comparison_style"},
    "ArithmeticOperation": {"left", "right", "op"},
    "And": {"exprs"},
    "Or": {"exprs"},
    "Not": {"expr"},
    "BetweenExpr": {"expr", "low", "high", "negated"},
    "IsDistinctFrom": {"left", "right", "negated"},
    "Lambda": {"args", "expr"},
    "TypeCast": {"expr", "type_name"},
    "TryCast": {"expr", "type_name"},
    "WindowFunction": {"name", "exprs", "args", "distinct", "over_expr", "over_identifier"},
    "WindowExpr": {"partition_by", "order_by", "frame_method", "frame_start", "frame_end"},
    "WindowFrameExpr": {"frame_type", "frame_value"},
    "OrderExpr": {"expr", "order"},
    "ColumnsExpr": {"regex"},
    "SelectQuery": {
        "ctes", "select", "distinct", "select_from", "array_join_op", "array_join_list",
        "prewhere", "where", "group_by", "group_by_mode", "having", "window_exprs", "qualify",
        "order_by", "limit_by", "limit", "limit_with_ties", "offset",
    },
    "SelectSetQuery": {"initial_select_query", "subsequent_select_queries"},
    "SelectSetNode": {"select_query", "set_operator"},
    "CTE": {"name", "expr", "cte_type", "columns", "materialized", "recursive"},
    "JoinExpr": {
        "table", "table_args", "alias", "column_aliases", "table_final", "sample", "join_type",
        "constraint", "next_join",
    },
    "JoinConstraint": {"expr", "constraint_type"},
    "LimitByExpr": {"n", "offset_value", "exprs"},
    "SampleExpr": {"sample_value", "offset_value"},
    "RatioExpr": {"left", "right"},
}  # fmt: skip


def _held(node: Any, kind: str) -> dict[str, Any]:
    """`node` when it is a `kind` node holding only what the printer prints; else PrintError."""
    if not isinstance(node, dict) or node.get("node") != kind:
        raise PrintError(f"a {kind} that is not one")
    extra = [
        k for k, v in node.items()
        if k not in _PRINTED[kind] and k not in ("node", "start", "end")
        and v is not None and v is not False
    ]  # fmt: skip
    if extra:
        raise PrintError(f"a {kind} holding {', '.join(sorted(extra))}")
    return node


class PrintError(Exception):
    """A tree holding something this printer does not print (or not as PostHog reads it)."""


def identifier(name: Any) -> str:
    """A name as HogQL text: bare when it reads bare, else in backquotes, escaped."""
    if isinstance(name, int) and not isinstance(name, bool):
        return str(name)
    if not isinstance(name, str):
        raise PrintError(f"a name that is not text ({type(name).__name__})")
    if _PLAIN.fullmatch(name) and name.lower() not in _WORDS:
        return name
    return "`" + "".join(_ESCAPES.get(c, c) for c in name).replace("`", "``") + "`"


def string(value: str) -> str:
    """A string as a HogQL literal (escape_param_clickhouse: backslash escapes)."""
    return "'" + "".join(_ESCAPES.get(c, c) for c in value).replace("'", "\\'") + "'"


def constant(value: Any, value_type: Any = None) -> str:
    """A constant of PostHog's tree as HogQL text."""
    if value is None:
        return "NULL"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        if value_type == "number":  # past 64 bits, or Infinity / NaN: as the parser read it
            named = {"Infinity": "inf", "-Infinity": "-inf", "NaN": "nan", "-NaN": "-nan"}
            if value in named:
                return named[value]
            if not re.fullmatch(r"-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?", value):
                raise PrintError(f"a number the printer does not read: {value!r}")
            return value
        return string(value)
    raise PrintError(f"a constant of a kind not printed ({type(value).__name__})")


class Printer:
    """HogQL text of a tree; `check` (if given) sees every expression node first and may
    refuse it by raising (usertrack.analytics.where holds a filter to its rules so)."""

    def __init__(
        self,
        check: Callable[[dict[str, Any], int], None] | None = None,
        *,
        nested: bool = False,
        sugar: bool = True,
    ) -> None:
        self.check = check
        self.nested = nested  # every compound part in brackets, not only where precedence says
        self.sugar = sugar  # the parser's sugar as sugar (else as the calls it stands for)

    # ------------------------------------------------------------------ expressions

    def expr(self, node: Any, depth: int = 0, allowed: int = LOOSEST) -> str:
        """An expression, in brackets when it binds looser than `allowed` (its place)."""
        if not isinstance(node, dict):
            raise PrintError("a part that is not a node")
        if self.check is not None:
            self.check(node, depth)
        kind = node.get("node")
        if kind in _SELECTS:
            return "(" + self.query(node, depth + 1) + ")"
        if kind not in _PRINTED:
            raise PrintError(f"a {kind} node")
        _held(node, str(kind))
        body = self._expr(node, kind, depth)
        return body if self._level(node) <= allowed else f"({body})"

    def _at(self, node: Any, depth: int, allowed: int) -> str:
        """A part of a compound expression, which may go bare where it binds tighter than
        `allowed` (in `nested` mode only an atom goes bare)."""
        return self.expr(node, depth + 1, ATOM if self.nested else allowed)

    def _list(self, nodes: Any, depth: int) -> str:
        return ", ".join(self._at(n, depth, LOOSEST) for n in nodes or [])

    def _level(self, node: dict[str, Any]) -> int:
        kind = node.get("node")
        if kind == "CompareOperation":
            return _IS_NULL if node.get("is_null_comparison_style") else _COMPARISON
        if kind == "ArithmeticOperation":
            return _PRODUCT if node.get("op") in ("*", "/", "%") else _SUM
        if kind == "Call" and self._sugar(node):
            name, args = node.get("name"), node.get("args") or []
            if name == "if" and len(args) == 3:
                return _TERNARY
            if name == "concat" and len(args) >= 2:
                return _SUM
            if name == "ifNull" and len(args) == 2:
                return _NULLISH
            if name in _INTERVALS and len(args) == 1:
                return _ALIAS  # `INTERVAL x DAY` in brackets wherever it is an operand
        return _LEVELS.get(str(kind), ATOM)

    def _expr(self, node: dict[str, Any], kind: Any, depth: int) -> str:
        at = self._at
        if kind == "Constant":
            return constant(node.get("value"), node.get("value_type"))
        if kind == "Field":
            chain = node.get("chain") or []
            return ".".join("*" if p == "*" else identifier(p) for p in chain)
        if kind == "Placeholder":
            return "{" + self.expr(node.get("expr"), depth + 1) + "}"
        if kind == "Call":
            return self._call(node, depth)
        if kind == "ExprCall":
            args = self._list(node.get("args"), depth)
            return f"{self._accessed(node.get('expr'), depth)}({args})"
        if kind == "Tuple":
            items = [at(e, depth, LOOSEST) for e in node.get("exprs") or []]
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        if kind == "Array":
            return f"[{self._list(node.get('exprs'), depth)}]"
        if kind == "Dict":
            entries = node.get("items") or []
            pairs = (f"{at(k, depth, LOOSEST)}: {at(v, depth, LOOSEST)}" for k, v in entries)
            return "{" + ", ".join(pairs) + "}"
        if kind == "ArrayAccess":
            mark = "?." if node.get("nullish") else ""
            base = self._accessed(node.get("array"), depth)
            return f"{base}{mark}[{self.expr(node.get('property'), depth + 1)}]"
        if kind == "TupleAccess":
            mark = "?." if node.get("nullish") else "."
            return f"{self._accessed(node.get('tuple'), depth)}{mark}{int(node['index'])}"
        if kind == "ArraySlice":
            start, end = node.get("start_expr"), node.get("end_expr")
            low = "" if start is None else self.expr(start, depth + 1)
            high = "" if end is None else self.expr(end, depth + 1)
            return f"{self._accessed(node.get('array'), depth)}[{low}:{high}]"
        if kind == "Alias":
            return f"{at(node.get('expr'), depth, _TERNARY)} AS {identifier(node.get('alias'))}"
        if kind == "CompareOperation":
            return self._compare(node, depth)
        if kind == "ArithmeticOperation":
            op = node.get("op")
            if op not in _ARITHMETIC:
                raise PrintError(f"the operator {op!r}")
            level = self._level(node)
            left, right = (
                at(node.get("left"), depth, level),
                at(node.get("right"), depth, level - 1),
            )
            return f"{left} {op} {right}"
        if kind in ("And", "Or"):
            level = _LEVELS[kind]
            parts = [at(e, depth, level - 1) for e in node.get("exprs") or []]
            if len(parts) < 2:
                raise PrintError(f"{kind} of fewer than two parts")
            return f" {kind.upper()} ".join(parts)
        if kind == "Not":
            # `NOT (x)` is a call of the function NOT to the parser: the operand goes bare
            return f"NOT {at(node.get('expr'), depth, _NOT)}"
        if kind == "BetweenExpr":
            negated = "NOT " if node.get("negated") else ""
            low, high = at(node.get("low"), depth, ATOM), at(node.get("high"), depth, ATOM)
            return f"{at(node.get('expr'), depth, _OR)} {negated}BETWEEN {low} AND {high}"
        if kind == "IsDistinctFrom":
            op = "IS NOT DISTINCT FROM" if node.get("negated") else "IS DISTINCT FROM"
            return f"{at(node.get('left'), depth, ATOM)} {op} {at(node.get('right'), depth, ATOM)}"
        if kind == "Lambda":
            names = [identifier(a) for a in node.get("args") or []]
            head = names[0] if len(names) == 1 else f"({', '.join(names)})"
            return f"{head} -> {at(node.get('expr'), depth, _TERNARY)}"
        if kind in ("TypeCast", "TryCast"):
            word = "CAST" if kind == "TypeCast" else "TRY_CAST"
            return f"{word}({self.expr(node.get('expr'), depth + 1)} AS {node.get('type_name')})"
        if kind == "WindowFunction":
            return self._window_function(node, depth)
        if kind == "ColumnsExpr":
            return f"COLUMNS({string(str(node['regex']))})"
        raise PrintError(f"a {kind} node")

    def _accessed(self, node: Any, depth: int) -> str:
        """What an access (`x[1]`, `x.1`, `f(x)(y)`) applies to: bracketed unless it reads so
        (visit_tuple_access brackets all but fields, tuples and calls)."""
        text = self.expr(node, depth + 1)
        plain = isinstance(node, dict) and node.get("node") in _ACCESSIBLE
        return text if plain and self._level(node) == ATOM else f"({text})"

    def _compare(self, node: dict[str, Any], depth: int) -> str:
        op = node.get("op")
        if node.get("is_null_comparison_style") and op in ("==", "!="):
            left = self._at(node.get("left"), depth, _IS_NULL)
            return f"{left} IS {'NOT ' if op == '!=' else ''}NULL"
        if op not in _COMPARE:
            raise PrintError(f"the comparison {op!r}")
        left = self._at(node.get("left"), depth, _COMPARISON)
        return f"{left} {_COMPARE[op]} {self._at(node.get('right'), depth, _COMPARISON - 1)}"

    def _sugar(self, node: dict[str, Any]) -> bool:
        """A call the parser made from sugar (it carries no `distinct` key), printed so."""
        return self.sugar and "distinct" not in node

    def _call(self, node: dict[str, Any], depth: int) -> str:
        name, args = node.get("name"), node.get("args") or []
        at, expr = self._at, self.expr
        if self._sugar(node):
            if name == "if" and len(args) == 3:
                cond, then = at(args[0], depth, _BETWEEN), at(args[1], depth, ATOM)
                return f"{cond} ? {then} : {at(args[2], depth, _TERNARY)}"
            if name == "multiIf" and len(args) >= 3 and len(args) % 2:
                whens = " ".join(
                    f"WHEN {expr(args[i], depth + 1)} THEN {expr(args[i + 1], depth + 1)}"
                    for i in range(0, len(args) - 1, 2)
                )
                return f"CASE {whens} ELSE {expr(args[-1], depth + 1)} END"
            if name == "_caseWithExpression" and len(args) >= 4 and len(args) % 2 == 0:
                whens = " ".join(
                    f"WHEN {expr(args[i], depth + 1)} THEN {expr(args[i + 1], depth + 1)}"
                    for i in range(1, len(args) - 1, 2)
                )
                head = expr(args[0], depth + 1)
                return f"CASE {head} {whens} ELSE {expr(args[-1], depth + 1)} END"
            if name in _INTERVALS and len(args) == 1:
                return f"INTERVAL {at(args[0], depth, ATOM)} {_INTERVALS[name]}"
            if name in _TRIMS and len(args) == 2:
                what, where = expr(args[1], depth + 1), expr(args[0], depth + 1)
                return f"trim({_TRIMS[name]} {what} FROM {where})"
            if name == "concat" and len(args) >= 2:
                return " || ".join(at(a, depth, _PRODUCT) for a in args)
            if name == "ifNull" and len(args) == 2:
                return f"{at(args[0], depth, _NULLISH)} ?? {at(args[1], depth, _IS_NULL)}"
            if name == "EXISTS" and len(args) == 1:
                return f"EXISTS {expr(args[0], depth + 1, ATOM)}"
        if not isinstance(name, str) or not _PLAIN.fullmatch(name):
            raise PrintError(f"a call of {name!r}, which is not a function name")
        params = node.get("params")
        head = name if params is None else f"{name}({self._list(params, depth)})"
        inside = ("DISTINCT " if node.get("distinct") else "") + self._list(args, depth)
        if node.get("order_by"):
            inside += " ORDER BY " + self._orders(node["order_by"], depth)
        text = f"{head}({inside})"
        if node.get("filter_expr") is not None:
            text += f" FILTER (WHERE {expr(node['filter_expr'], depth + 1)})"
        return text

    def _orders(self, items: Any, depth: int) -> str:
        out = []
        for item in items or []:
            _held(item, "OrderExpr")
            out.append(f"{self.expr(item.get('expr'), depth + 1)} {item.get('order') or 'ASC'}")
        return ", ".join(out)

    def _window_function(self, node: dict[str, Any], depth: int) -> str:
        text = f"{identifier(node.get('name'))}({self._list(node.get('exprs'), depth)})"
        if node.get("args") or node.get("distinct"):
            distinct = "DISTINCT " if node.get("distinct") else ""
            text += f"({distinct}{self._list(node.get('args'), depth)})"
        if node.get("over_expr") is not None:
            return f"{text} OVER ({self._window(node['over_expr'], depth)})"
        if node.get("over_identifier") is not None:
            return f"{text} OVER {identifier(node['over_identifier'])}"
        raise PrintError("a window function without a window")

    def _window(self, node: dict[str, Any], depth: int) -> str:
        _held(node, "WindowExpr")
        parts = []
        if node.get("partition_by") is not None:
            parts.append("PARTITION BY " + self._list(node["partition_by"], depth))
        if node.get("order_by") is not None:
            parts.append("ORDER BY " + self._orders(node["order_by"], depth))
        if node.get("frame_method") is not None:
            start, end = node.get("frame_start"), node.get("frame_end")
            if start is None:
                raise PrintError("a window frame without a start")
            frame = self._bound(start)
            if end is not None:
                frame = f"BETWEEN {frame} AND {self._bound(end)}"
            parts.append(f"{node['frame_method']} {frame}")
        return " ".join(parts)

    @staticmethod
    def _bound(node: dict[str, Any]) -> str:
        _held(node, "WindowFrameExpr")
        kind, value = node.get("frame_type"), node.get("frame_value")
        if kind == "CURRENT ROW":
            return "CURRENT ROW"
        if kind not in ("PRECEDING", "FOLLOWING"):
            raise PrintError(f"the window frame {kind!r}")
        return f"{'UNBOUNDED' if value is None else int(value)} {kind}"

    # ------------------------------------------------------------------ queries

    def query(self, node: dict[str, Any], depth: int = 0) -> str:
        """A SELECT or a set of them (UNION ALL, ...), not bracketed itself."""
        kind = node.get("node") if isinstance(node, dict) else None
        if kind == "SelectSetQuery":
            return self._select_set(_held(node, kind), depth)
        if kind == "SelectQuery":
            return self._select(_held(node, kind), depth)
        raise PrintError(f"a {kind} where a SELECT goes")

    def _member(self, node: Any, depth: int) -> str:
        """One SELECT of a set: a nested set in brackets, a placeholder as `{name}`."""
        if not isinstance(node, dict):
            raise PrintError("a part of a set of SELECTs that is not a node")
        if node.get("node") == "Placeholder":
            return self.expr(node, depth)
        if node.get("node") == "SelectSetQuery":
            return "(" + self.query(node, depth + 1) + ")"
        return self.query(node, depth)

    def _select_set(self, node: dict[str, Any], depth: int) -> str:
        text = self._member(node.get("initial_select_query"), depth)
        line = "\n" + _INDENT * depth
        for item in node.get("subsequent_select_queries") or []:
            op = _held(item, "SelectSetNode").get("set_operator")
            if op not in _SET_OPERATORS:
                raise PrintError(f"the set operator {op!r}")
            text += f"{line}{op}{line}{self._member(item.get('select_query'), depth)}"
        return text

    def _select(self, node: dict[str, Any], depth: int) -> str:
        expr = self.expr
        clauses = []
        if node.get("ctes"):
            clauses.append(self._with(node["ctes"], depth))
        columns = ", ".join(expr(c, depth + 1) for c in node.get("select") or [])
        clauses.append(f"SELECT {'DISTINCT ' if node.get('distinct') else ''}{columns}")
        if node.get("select_from") is not None:
            clauses.append("FROM " + self._joins(node["select_from"], depth))
        if node.get("array_join_op") is not None:
            op = node["array_join_op"]
            if op not in ("ARRAY JOIN", "LEFT ARRAY JOIN", "INNER ARRAY JOIN"):
                raise PrintError(f"the ARRAY JOIN kind {op!r}")
            items = ", ".join(expr(e, depth + 1) for e in node.get("array_join_list") or [])
            clauses.append(f"{op} {items}")
        for key in ("prewhere", "where"):
            if node.get(key) is not None:
                clauses.append(f"{key.upper()} {expr(node[key], depth + 1)}")
        if node.get("group_by") is not None:
            items = ", ".join(expr(e, depth + 1) for e in node["group_by"])
            mode = node.get("group_by_mode")
            if mode is not None:
                if mode not in ("cube", "rollup"):
                    raise PrintError(f"GROUP BY {mode}")
                items = f"{mode.upper()} ({items})"
            clauses.append(f"GROUP BY {items}")
        if node.get("having") is not None:
            clauses.append(f"HAVING {expr(node['having'], depth + 1)}")
        if node.get("window_exprs"):
            windows = ", ".join(
                f"{identifier(name)} AS ({self._window(w, depth)})"
                for name, w in node["window_exprs"].items()
            )
            clauses.append(f"WINDOW {windows}")
        if node.get("qualify") is not None:
            clauses.append(f"QUALIFY {expr(node['qualify'], depth + 1)}")
        if node.get("order_by"):
            clauses.append("ORDER BY " + self._orders(node["order_by"], depth))
        if node.get("limit_by") is not None:
            by = _held(node["limit_by"], "LimitByExpr")
            offset = by.get("offset_value")
            skip = "" if offset is None else f" OFFSET {expr(offset, depth + 1)}"
            exprs = ", ".join(expr(e, depth + 1) for e in by.get("exprs") or [])
            clauses.append(f"LIMIT {expr(by.get('n'), depth + 1)}{skip} BY {exprs}")
        if node.get("limit") is not None:
            ties = " WITH TIES" if node.get("limit_with_ties") else ""
            clauses.append(f"LIMIT {expr(node['limit'], depth + 1)}{ties}")
        elif node.get("limit_with_ties"):
            raise PrintError("WITH TIES without a LIMIT")
        if node.get("offset") is not None:
            clauses.append(f"OFFSET {expr(node['offset'], depth + 1)}")
        return ("\n" + _INDENT * depth).join(clauses)

    def _with(self, ctes: Any, depth: int) -> str:
        items = ctes.values() if isinstance(ctes, dict) else ctes
        parts = []
        recursive = False
        for cte in items:
            name = identifier(_held(cte, "CTE").get("name"))
            recursive = recursive or bool(cte.get("recursive"))
            if cte.get("cte_type") == "column":
                parts.append(f"{self.expr(cte.get('expr'), depth + 1, _TERNARY)} AS {name}")
                continue
            if cte.get("cte_type") != "subquery":
                raise PrintError(f"a CTE of kind {cte.get('cte_type')!r}")
            columns = cte.get("columns")
            head = name if columns is None else f"{name} ({', '.join(map(identifier, columns))})"
            flag = _MATERIALIZED.get(cte.get("materialized"), "")
            parts.append(f"{head} AS {flag}({self._body(cte.get('expr'), depth)})")
        return ("WITH RECURSIVE " if recursive else "WITH ") + ", ".join(parts)

    def _body(self, node: Any, depth: int) -> str:
        """A subquery's text inside its brackets, on lines of its own."""
        inner = _INDENT * (depth + 1)
        return f"\n{inner}{self.query(node, depth + 1)}\n{_INDENT * depth}"

    def _joins(self, node: dict[str, Any] | None, depth: int) -> str:
        parts = []
        first = True
        while node is not None:
            _held(node, "JoinExpr")
            text = self._table(node, depth)
            if not first:
                kind = node.get("join_type") or "JOIN"
                constraint = node.get("constraint")
                if kind == "JOIN" and constraint is None:
                    kind = "NATURAL JOIN"
                text = f"{kind} {text}"
                if constraint is not None:
                    ctype = _held(constraint, "JoinConstraint").get("constraint_type")
                    if ctype not in ("ON", "USING"):
                        raise PrintError(f"the join constraint {ctype!r}")
                    on = constraint.get("expr")
                    if ctype == "USING" and isinstance(on, dict) and on.get("node") == "Tuple":
                        shown = self._list(on.get("exprs"), depth)
                    else:
                        shown = self.expr(on, depth + 1)
                    text += f" {ctype} {shown}"
            elif node.get("join_type") is not None or node.get("constraint") is not None:
                raise PrintError("a join before the first table")
            parts.append(text)
            first = False
            node = node.get("next_join")
        return ("\n" + _INDENT * depth).join(parts)

    def _table(self, node: dict[str, Any], depth: int) -> str:
        table: Any = node.get("table")
        kind = table.get("node") if isinstance(table, dict) else None
        if kind == "Field":
            text = ".".join(identifier(p) for p in table.get("chain") or [])
            if node.get("table_args") is not None:
                text += f"({', '.join(self.expr(a, depth + 1) for a in node['table_args'])})"
        elif kind in _SELECTS:
            text = f"({self._body(table, depth)})"
        elif kind == "Placeholder":
            text = self.expr(table, depth + 1)
        else:
            raise PrintError(f"a {kind} where a table goes")
        if node.get("alias") is not None:
            text += f" AS {identifier(node['alias'])}"
            if node.get("column_aliases") is not None:
                text += f" ({', '.join(map(identifier, node['column_aliases']))})"
        if node.get("table_final"):
            text += " FINAL"
        sample = node.get("sample")
        if sample is not None:
            _held(sample, "SampleExpr")
            text += f" SAMPLE {self._ratio(sample.get('sample_value'), depth)}"
            if sample.get("offset_value") is not None:
                text += f" OFFSET {self._ratio(sample['offset_value'], depth)}"
        return text

    def _ratio(self, node: Any, depth: int) -> str:
        if isinstance(node, dict) and node.get("node") == "Placeholder":
            return self.expr(node, depth + 1)
        _held(node, "RatioExpr")
        left = self.expr(node.get("left"), depth + 1)
        right = node.get("right")
        return left if right is None else f"{left}/{self.expr(right, depth + 1)}"


def print_select(tree: dict[str, Any]) -> str:
    """HogQL text of a parsed SELECT (or set of them): no comment, one clause a line."""
    return Printer().query(tree)


def print_expr(tree: dict[str, Any]) -> str:
    """HogQL text of a parsed expression."""
    return Printer().expr(tree)


def without_positions(node: Any) -> Any:
    """A tree without its `start`/`end` positions, and without the keys that hold nothing
    (null, false): PostHog builds its AST with those as defaults (posthog/hogql/ast.py)."""
    if isinstance(node, dict):
        return {
            k: without_positions(v)
            for k, v in node.items()
            if k not in ("start", "end") and v is not None and v is not False
        }
    if isinstance(node, list):
        return [without_positions(v) for v in node]
    return node


@lru_cache(maxsize=512)
def sent_text(text: str) -> str:
    """The HogQL text to send for `text`: parsed by PostHog's own parser and printed from the
    tree; ParseError when PostHog's parser refuses `text`, PrintError when the tree holds
    what the printer does not print. (Parsing costs: up to seconds for a long query, as the
    parser takes time in nested calls; so each text is parsed once a process.)"""
    from usertrack.engines.hogql.parser import parse_select

    return print_select(parse_select(text))


# The printed texts of the shipped query files, made when they are (scripts/gen_printed.py):
# a command's first parse of a long file costs up to 2.6 s of CPU (paths_summary.sql), which a
# first run live would spend before its first request. Read only under the printer, parser
# module and hogql-parser version they were made with (the key), else ignored.
SHIPPED_TEXTS = Path(__file__).with_name("shipped_texts.json")


def shipped_text(text: str) -> str | None:
    """The printed text of `text` when it is a shipped query file's (as strip_sql leaves it),
    printed from PostHog's parse tree when the package was made; None for any other text."""
    import hashlib

    return _shipped().get(hashlib.sha256(text.encode()).hexdigest())


@lru_cache(maxsize=1)
def _shipped() -> dict[str, str]:
    import json

    try:
        data = json.loads(SHIPPED_TEXTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("key") != _key_prefix().hex():
        return {}
    texts = data.get("texts")
    if not isinstance(texts, dict):
        return {}
    return {str(k): v for k, v in texts.items() if isinstance(v, str) and v}


def kept_text(text: str, folder: Path | None, make: Callable[[str], str | None]) -> str | None:
    """`make(text)` (a text printed from PostHog's parse tree after its checks, or None when
    refused), kept in `folder` so a query file is parsed once, not in every command: PostHog's
    parser takes up to seconds for a long file. The key is a hash of the text with the parser's
    version and this module's and the parser module's source, so an edit of the file, of the
    printer or an upgrade of the parser parses again. Refusals and errors are never kept; a
    file that cannot be read or written is parsed as if there were no folder."""
    if folder is None:
        return make(text)
    import hashlib
    import os
    import tempfile

    path = folder / f"{hashlib.sha256(_key_prefix() + text.encode()).hexdigest()}.hogql"
    try:
        found = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        found = ""
    if found:
        return found
    made = make(text)
    if made:
        tmp = None
        try:
            # owner-only, each folder made here (USERTRACK_HOME's cache folder included)
            for missing in reversed([f for f in (folder, *folder.parents) if not f.exists()]):
                missing.mkdir(mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(made)
            os.replace(tmp, path)
            tmp = None
            _prune(folder)
        except OSError:
            pass
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
    return made


KEPT_TEXTS = 1000  # past this many texts kept, the older half goes


def _prune(folder: Path) -> None:
    entries = list(folder.glob("*.hogql"))
    if len(entries) <= KEPT_TEXTS:
        return
    dated = []
    for entry in entries:
        try:
            dated.append((entry.stat().st_mtime_ns, entry))
        except OSError:
            continue
    for _, entry in sorted(dated)[: len(dated) // 2]:
        entry.unlink(missing_ok=True)


@lru_cache(maxsize=1)
def _key_prefix() -> bytes:
    import contextlib
    import hashlib
    from importlib import metadata

    from usertrack.engines.hogql import parser

    digest = hashlib.sha256()
    with contextlib.suppress(metadata.PackageNotFoundError):
        digest.update(metadata.version("hogql-parser").encode())
    for module in (__file__, parser.__file__):
        digest.update(Path(module).read_bytes())
    return digest.digest()
