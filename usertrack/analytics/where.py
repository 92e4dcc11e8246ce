"""`--where EXPR`: one HogQL boolean expression over an event, checked before it joins a query.

The expression is typed by the user and spliced into the analysis's HogQL, on PostHog and on the
local engine alike, where the query files hold PostHog's filter slot `{filters}` (which is TRUE
without a --where). So it must be exactly one expression that cannot reach outside its
parentheses: checked on the HogQL tokenizer of usertrack/sources/hogql.py, brackets balanced, no
statement separator, comment, placeholder, subquery or clause keyword, no top-level comma (a
second argument or column), and names only the event's fields (`event`, `timestamp`,
`distinct_id`, `person_id`, `properties.X`, `person.properties.X`) or functions the local engine
translates. Then it is translated on its own, so an unknown function fails here, not mid-run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from usertrack.errors import UsageError

if TYPE_CHECKING:
    from usertrack.sources.hogql.tokens import Tok

# Words that open or close a clause or a query: never inside one filter expression.
_CLAUSES = {
    "SELECT", "FROM", "WHERE", "PREWHERE", "GROUP", "ORDER", "HAVING", "LIMIT", "OFFSET",
    "UNION", "EXCEPT", "INTERSECT", "WITH", "JOIN", "ARRAY", "SETTINGS", "FORMAT", "INTO",
    "WINDOW", "QUALIFY", "SAMPLE", "FINAL", "OVER", "INSERT", "DROP", "ALTER", "CREATE",
    "ATTACH", "DETACH", "SYSTEM", "KILL", "TRUNCATE", "GRANT", "LATERAL", "USING",
}  # fmt: skip
# Words an expression may use that are neither fields nor functions.
_WORDS = {
    "AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "TRUE", "FALSE", "BETWEEN",
    "CASE", "WHEN", "THEN", "ELSE", "END", "INTERVAL", "SECOND", "MINUTE", "HOUR", "DAY",
    "WEEK", "MONTH", "QUARTER", "YEAR", "AS", "GLOBAL",
}  # fmt: skip
# The event's fields an expression may start a name with.
_ROW_MAKERS = {"ARRAYJOIN"}
FIELDS = {"event", "timestamp", "distinct_id", "person_id", "properties", "person"}
MAX_LENGTH = 2000


def _refuse(text: str, why: str) -> UsageError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return UsageError(f"--where {shown!r} {why}")


def check_where(text: str) -> str:
    """`text` stripped, when it is one filter expression over an event; else a UsageError
    (exit 2) saying what is wrong."""
    from usertrack.errors import HogQLTranslationError
    from usertrack.sources.hogql import tokenize, translate

    expr = text.strip()
    if not expr:
        raise _refuse(text, "is empty: give an expression, e.g. \"properties.$browser = 'Chrome'\"")
    if len(expr) > MAX_LENGTH:
        raise _refuse(text, f"is longer than {MAX_LENGTH} characters")
    try:
        toks = tokenize(expr)
    except HogQLTranslationError as e:
        raise _refuse(text, f"is not HogQL: {e}") from None
    depth = 0
    previous = None
    for i, tok in enumerate(toks):
        if tok.kind == "ws":
            continue
        if tok.kind == "comment":
            raise _refuse(text, "holds a comment: give one expression only")
        if tok.kind == "ph":
            raise _refuse(text, f"holds the placeholder {tok.text}: give values as literals")
        if tok.kind == "op" and tok.value == ";":
            raise _refuse(text, "holds a ';': give one expression only")
        if tok.kind in ("(", "["):
            depth += 1
        elif tok.kind in (")", "]"):
            depth -= 1
            if depth < 0:
                raise _refuse(text, "closes a bracket it did not open: give one expression only")
        elif tok.kind == "," and depth == 0:
            raise _refuse(text, "holds a ',' outside brackets: give one expression only")
        elif tok.kind == "id":
            word = tok.value.upper()
            if word in _CLAUSES:
                raise _refuse(text, f"holds {tok.value!r}: a filter is one expression, no query")
            after_dot = previous is not None and previous.kind == "."
            if word in _ROW_MAKERS:
                raise _refuse(text, f"calls {tok.value!r}, which makes rows: filter them instead")
            bare = not after_dot and word not in _WORDS and not _is_call(toks, i)
            if bare and tok.value not in FIELDS:
                raise _refuse(
                    text,
                    f"names {tok.value!r}: a filter reads event, timestamp, distinct_id,"
                    " person_id, properties.X or person.properties.X",
                )
        previous = tok
    if depth != 0:
        raise _refuse(text, "leaves a bracket open: give one expression only")
    try:
        translate(f"SELECT count() FROM events WHERE ({expr})")
    except HogQLTranslationError as e:
        why = re.sub(r" \(line \d+, column \d+\)", "", str(e))  # of the wrapping query
        raise _refuse(text, f"cannot run: {why}") from None
    return expr


def _is_call(toks: Sequence[Tok], at: int) -> bool:
    """Whether the name at `toks[at]` is followed by '(' (a function)."""
    i = at + 1
    while i < len(toks) and toks[i].kind == "ws":
        i += 1
    return i < len(toks) and toks[i].kind == "("


def check_all(texts: Sequence[str] | None) -> tuple[str, ...]:
    """Every --where checked, in order (they are ANDed)."""
    return tuple(check_where(t) for t in texts or ())


def spliced(sql: str, where: Sequence[str]) -> str:
    """A query's HogQL with its `{filters}` slot holding the --where expressions, ANDed, or
    `true` without one. Always filled here, never sent as a placeholder: PostHog's HogQLQuery
    evaluates every placeholder against the query's `values` when it has any (every usertrack
    query has), and `filters` is not one of them."""
    if not where:
        return sql.replace("{filters}", "true")
    return sql.replace("{filters}", "(" + " AND ".join(f"({w})" for w in where) + ")")


def header(where: Sequence[str]) -> str:
    """'Where: A and B' (the expressions as typed; escaped by whoever prints it)."""
    return "Where: " + " and ".join(where)


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
        from usertrack.rendering.style import md_text

        title, _, rest = text.partition("\n")
        return f"{title}\n\n{md_text(header(where))}\n{rest}"
    return text
