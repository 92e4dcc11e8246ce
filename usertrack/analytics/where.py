"""`--where EXPR`: one HogQL boolean expression over an event, checked before it joins a query.

The expression is typed by the user (or an assistant) and goes into the analysis's HogQL, on
PostHog and on the local engine alike, where the query files hold PostHog's filter slot
`{filters}` (which is TRUE without a --where). A check must read the text exactly as PostHog
will, so it is parsed by PostHog's own parser (usertrack.engines.hogql.parser: comments,
strings, escapes and backquoted names read as PostHog reads them); the tree is checked (names
only the event's fields, `event`, `timestamp`, `distinct_id`, `person_id`, `properties.X`,
`person.properties.X`, however quoted; calls only of functions that make no rows and no huge
value; no subquery, placeholder, lambda, alias or window); and the text used is printed from the
checked tree (usertrack.engines.hogql.printer, shared with whole queries), never the text as
typed. Then it is translated on its own, so a function the local engine lacks fails here, not
mid-run. docs/trust.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import UsageError
from usertrack.queries.library import fill_filters

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

# The event's fields an expression may start a name with.
MAX_LENGTH = 2000
# PostHog's parser takes time exponential in some nestings (16 levels of calls: seconds;
# 100 `not`s: minutes): the text is refused before it is parsed past these, counted on the
# text as typed (a bracket inside a string counts too: never fewer than the parser sees).
MAX_NESTING = 8
MAX_NOTS = 8
MAX_TREE_DEPTH = 64

# The comparisons a filter uses (the printer prints them as PostHog's parser reads them).
_COMPARE = {
    "==", "!=", "<", ">", "<=", ">=", "like", "ilike", "not like", "not ilike", "in", "not in",
}  # fmt: skip
_ARITHMETIC = {"+", "-", "*", "/", "%"}
# Functions that make rows, or values as big as an argument says (an array of a billion
# items, a string of a billion characters): refused, whatever the engine (docs/trust.md).
REFUSED_CALLS = {
    "arrayjoin", "range", "repeat", "replicate", "arrayresize", "arraywithconstant", "space",
    "leftpad", "rightpad", "leftpadutf8", "rightpadutf8", "generate_series", "numbers",
    "randomstring", "randomfixedstring", "randomprintableascii", "randomstringutf8",
    "arrayfill", "arrayreversefill", "emptyarraytosingle", "tuplerepeat", "ngrams",
}  # fmt: skip
# Functions that read many rows (aggregates, with ClickHouse's combinators: countIf, sumArray,
# uniqState, ...) or a window of rows: a WHERE reads one event, and every engine refuses them
# there, so they are refused before any query runs.
_WINDOW_CALLS = {
    "row_number", "rank", "dense_rank", "lag", "lead", "laginframe", "leadinframe",
    "first_value", "last_value", "nth_value", "ntile", "percent_rank", "cume_dist",
}  # fmt: skip
_COMBINATORS = ("if", "array", "state", "merge", "ornull", "orzero", "distinct", "foreach")
_PLAIN = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _refuse(text: str, why: str) -> UsageError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return UsageError(f"--where {shown!r} {why}")


def check_where(text: str) -> str:
    """The expression printed from its checked tree, when `text` is one filter expression over
    an event; else a UsageError (exit 2) saying what is wrong, in one line."""
    from usertrack.core.errors import HogQLTranslationError
    from usertrack.engines.hogql import translate
    from usertrack.engines.hogql.parser import ParseError, parse_expr

    expr = text.strip()
    if not expr:
        raise _refuse(text, "is empty: give an expression, e.g. \"properties.$browser = 'Chrome'\"")
    if len(expr) > MAX_LENGTH:
        raise _refuse(text, f"is longer than {MAX_LENGTH} characters")
    depth = deepest = 0
    for c in expr:
        if c in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in ")]}":
            depth -= 1
    if deepest > MAX_NESTING:
        raise _refuse(text, f"nests brackets {deepest} deep: at most {MAX_NESTING}")
    if len(re.findall(r"(?i)\bnot\b", expr)) > MAX_NOTS:
        raise _refuse(text, f"holds more than {MAX_NOTS} NOTs")
    try:
        tree = parse_expr(expr)
    except ParseError as e:
        why = str(e) if len(str(e)) <= 160 else str(e)[:157] + "..."
        raise _refuse(text, f"is not one HogQL expression: {why}") from None
    if not isinstance(tree, dict):
        raise _refuse(text, "is not one expression")
    printed = _printed(tree, text)
    try:
        translate(f"SELECT count() FROM events WHERE ({printed})")
    except HogQLTranslationError as e:
        why = re.sub(r" \(line \d+, column \d+\)", "", str(e))  # of the wrapping query
        raise _refuse(text, f"cannot run: {why}") from None
    except RecursionError:
        raise _refuse(text, "nests too deep") from None
    return printed


def _printed(tree: Any, text: str) -> str:
    """HogQL text of the checked tree (usertrack.engines.hogql.printer, PostHog's escaping):
    every compound part in brackets, a comparison with NULL as IS [NOT] NULL, the parser's
    sugar as the calls it stands for (`a ? b : c` as `if(a, b, c)`), which both engines read."""
    from usertrack.engines.hogql.printer import Printer, PrintError

    def check(node: dict[str, Any], depth: int) -> None:
        _check(node, text, depth)

    try:
        return Printer(check, nested=True, sugar=False).expr(_null_style(tree))
    except PrintError as e:
        raise _refuse(text, f"holds {e}: a filter is one expression over an event") from None


def _null_style(node: Any) -> Any:
    """The tree with `x = NULL` read as `x IS NULL` (and `!=` as IS NOT): so PostHog prints it
    (isNull), and so the local engine must read it."""
    if isinstance(node, list):
        return [_null_style(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _null_style(v) for k, v in node.items()}
    right = out.get("right")
    if (
        out.get("node") == "CompareOperation"
        and out.get("op") in ("==", "!=")
        and isinstance(right, dict)
        and right.get("node") == "Constant"
        and right.get("value") is None
    ):
        out["is_null_comparison_style"] = True
    return out


def _check(node: dict[str, Any], text: str, depth: int) -> None:
    """Refuse (UsageError) a node a filter does not hold; the printer prints what passes."""
    if depth > MAX_TREE_DEPTH:
        raise _refuse(text, f"nests deeper than {MAX_TREE_DEPTH}")
    kind = node.get("node")
    if kind == "Constant":
        _constant(node.get("value"), node.get("value_type"), text)
    elif kind == "Field":
        _field(node.get("chain") or [], text)
    elif kind == "Call":
        name = str(node.get("name"))
        if not _PLAIN.fullmatch(name):
            raise _refuse(text, f"calls {name!r}, which is not a function name")
        if name.lower() in REFUSED_CALLS:
            raise _refuse(
                text, f"calls {name!r}, which makes rows or values as large as it is told"
            )
        if _reads_many_rows(name):
            raise _refuse(text, f"calls {name!r}, which reads many rows: a filter reads one event")
        if node.get("distinct") or node.get("params") or node.get("filter_expr"):
            raise _refuse(text, f"calls {name!r} as an aggregate: a filter reads one event")
        if node.get("order_by") or node.get("over_expr") or node.get("over_identifier"):
            raise _refuse(text, f"calls {name!r} over a window: a filter reads one event")
    elif kind == "CompareOperation":
        op = node.get("op")
        if op not in _COMPARE:
            raise _refuse(text, f"compares with {op!r}, which a filter does not use here")
    elif kind == "ArithmeticOperation":
        if node.get("op") not in _ARITHMETIC:
            raise _refuse(text, f"uses the operator {node.get('op')!r}")
    elif kind in ("And", "Or"):
        if len(node.get("exprs") or []) < 2:
            raise _refuse(text, "is not one expression")
    elif kind not in ("Tuple", "Array", "Not", "BetweenExpr"):
        what = {
            "SelectQuery": "a subquery",
            "SelectSetQuery": "a subquery",
            "Placeholder": "a placeholder: give values as literals",
            "Lambda": "a lambda",
            "Alias": "an alias",
            "WindowFunction": "a window function",
        }.get(str(kind), str(kind))
        raise _refuse(text, f"holds {what}: a filter is one expression over an event")


def _reads_many_rows(name: str) -> bool:
    """Whether `name` is an aggregate (its combinators stripped) or a window function."""
    from usertrack.engines.hogql.aggregates import AGGREGATES

    low = name.lower()
    if low in _WINDOW_CALLS:
        return True
    while True:
        if low in AGGREGATES or low in ("windowfunnel", "retention"):
            return True
        cut = next((c for c in _COMBINATORS if low.endswith(c) and len(low) > len(c)), None)
        if cut is None:
            return False
        low = low[: -len(cut)]


def _constant(value: Any, value_type: Any, text: str) -> None:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise _refuse(text, "holds a number out of range")
    if isinstance(value, str) and value_type == "number":  # Infinity, NaN: the parser's words
        raise _refuse(text, f"holds the number {value}, which is out of range")
    if value is not None and not isinstance(value, bool | int | float | str):
        raise _refuse(
            text, f"holds a value of a kind a filter does not take ({type(value).__name__})"
        )


def _field(chain: Sequence[Any], text: str) -> None:
    parts = [str(p) for p in chain]
    if not parts or any(not isinstance(p, str) for p in chain) or "*" in parts:
        raise _refuse(text, "names no field of the event")
    head = parts[0]
    fits = (
        (head in ("event", "timestamp", "distinct_id", "person_id") and len(parts) == 1)
        or (head == "properties" and len(parts) >= 2)
        or (head == "person" and len(parts) >= 3 and parts[1] == "properties")
    )
    if not fits:
        raise _refuse(
            text,
            f"names {'.'.join(parts)!r}: a filter reads event, timestamp, distinct_id,"
            " person_id, properties.X or person.properties.X",
        )


def check_all(texts: Sequence[str] | None) -> tuple[str, ...]:
    """Every --where checked, in order (they are ANDed)."""
    return tuple(check_where(t) for t in texts or ())


def spliced(sql: str, where: Sequence[str]) -> str:
    """A query's HogQL with its `{filters}` slot holding the --where expressions, ANDed, or
    `true` without one. Always filled here, never sent as a placeholder: PostHog's HogQLQuery
    evaluates every placeholder against the query's `values` when it has any (every usertrack
    query has), and `filters` is not one of them. A query file is filled by Query.filled, which
    says so in its origin."""
    return fill_filters(sql, where)


def header(where: Sequence[str]) -> str:
    """'Where: A and B' (the expressions as typed; escaped by whoever prints it)."""
    return "Where: " + " and ".join(where)


@dataclass(frozen=True)
class Reach:
    """What --where kept of an answer's range: of the `persons` with any event in it, the `kept`
    with an event for which the expressions hold (the others have no event the analysis reads)."""

    kept: int
    persons: int

    @property
    def left_out(self) -> int:
        return max(0, self.persons - self.kept)

    def said(self) -> str:
        """The stderr line, as --who's and --segment's."""
        return (
            f"--where kept {self.kept:,} of {self.persons:,} persons with an event in the range,"
            f" left out {self.left_out:,}"
        )

    def into(self, text: str) -> str:
        """An answer's JSON text with `"where_persons": {kept, left_out, persons}`."""
        import json

        from usertrack.rendering.export import json_text

        doc = json.loads(text)
        if not isinstance(doc, dict):
            return text
        doc["where_persons"] = {
            "kept": self.kept,
            "left_out": self.left_out,
            "persons": self.persons,
        }
        return json_text(doc)


def answer_range(doc: Any) -> tuple[datetime, datetime] | None:
    """The range of an answer's events (`doc`, its JSON): its `from` and `to`; retention's, whose
    JSON has none, from its first cohort's start to its as-of (the start and return events it
    reads); churn's, its engagement window (`window_days` up to its as-of). None for another
    answer without one."""
    if not isinstance(doc, dict):
        return None
    if doc.get("from") and doc.get("to"):
        return _moment(doc["from"]), _moment(doc["to"])
    if not doc.get("as_of"):
        return None
    end = _moment(doc["as_of"])
    cohorts = doc.get("cohorts")
    if isinstance(cohorts, list) and cohorts and cohorts[0].get("start"):
        return _moment(cohorts[0]["start"]), end
    if isinstance(doc.get("window_days"), int):
        return end - timedelta(days=doc["window_days"]), end
    return None


def _moment(text: Any) -> datetime:
    """An answer's moment or date (a date is its 00:00 UTC)."""
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def reach(ws: Workspace, where: Sequence[str], doc: dict[str, Any]) -> Reach | None:
    """How many persons with an event in the answer's range (answer_range) the --where
    expressions keep: queries/posthog/active_persons.sql with them and without (the latter, as
    shipped, from the local engine's per-person rollups), two counts of persons, not a second
    run of the analysis, counted as `features` counts its active persons (an event after the
    range's start, up to its end). None for an answer without a range."""
    found = answer_range(doc)
    if found is None:
        return None
    start, end = found

    def persons(kept: tuple[str, ...]) -> int:
        found = ws.scoped(ws.scope.but(where=kept)).run_query(
            "posthog/active_persons", end, since=start
        )
        rows = found.as_dicts()
        return int(rows[0]["persons"] or 0) if rows else 0

    return Reach(kept=persons(tuple(where)), persons=persons(()))


def with_where(text: str, where: Sequence[str], fmt: str) -> str:
    """An analysis's output with its --where shown: the JSON document with `"where": [...]`, the
    Markdown with a line under its title, the table's line (`text` is ''); csv as it is."""
    if not where:
        return text
    if fmt == "table":
        return header(where)
    if fmt == "json":
        import json

        from usertrack.rendering.export import json_text

        doc = json.loads(text)
        if isinstance(doc, dict):
            doc["where"] = list(where)
            return json_text(doc)
        return text
    if fmt == "md":
        from usertrack.core.style import md_text

        title, _, rest = text.partition("\n")
        return f"{title}\n\n{md_text(header(where))}\n{rest}"
    return text
