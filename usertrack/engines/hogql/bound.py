"""HogQL text with its `{name}` placeholders printed in as constants, for PostHog's validation.

A query is run with its parameters in the request's `values`: PostHog puts each one in as a
constant (posthog/hogql_queries/hogql_query_runner.py `to_query`: `ast.Constant(value=...)` for
each value, handed to `parse_select(..., placeholders=values)`). The query kind that validates a
text without running it, `HogQLMetadata`, has no `values`: posthog/hogql/metadata.py
`get_hogql_metadata` parses `query.query` without placeholders. Recent PostHog then puts the
request's `globals` into them (posthog/hogql/placeholders.py `ReplacePlaceholders`); earlier
PostHog does not, and each one reaches the printer, which refuses it
(posthog/hogql/printer/base.py `visit_placeholder`: "Unresolved placeholder: {name}"). So the
text validated is the one a run builds, whatever PostHog's version: printed from PostHog's parse
tree (usertrack.engines.hogql.printer) with each bound value printed as PostHog prints a
constant of HogQL (base.py `visit_constant`, through posthog/hogql/escape_sql.py
`escape_hogql_string`, the "hogql" dialect of `SQLValueEscaper`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from usertrack.engines.hogql.printer import Printer, PrintError, string


def hogql_constant(value: Any, timezone: str = "UTC") -> str:
    """A value as HogQL text, as escape_sql.py `SQLValueEscaper` (dialect "hogql") prints it:
    NULL, true/false, numbers as Python writes them (NaN, Inf, -Inf), strings quoted with
    backslash escapes (`escape_param_clickhouse`), a date as toDate('YYYY-MM-DD'), a datetime
    as toDateTime('YYYY-MM-DD HH:MM:SS.ffffff') in `timezone` (a naive one is UTC, as usertrack
    holds them), a UUID as toUUID('...'), a list as [...] and a tuple as (...). Anything else
    is a PrintError, as the escaper has no method for it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Inf" if value > 0 else "-Inf"
        return str(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        text = moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"toDateTime({string(text)})"
    if isinstance(value, date):
        return f"toDate({string(value.strftime('%Y-%m-%d'))})"
    if isinstance(value, UUID):
        return f"toUUID({string(str(value))})"
    if isinstance(value, list):
        return "[" + ", ".join(hogql_constant(v, timezone) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(hogql_constant(v, timezone) for v in value) + ")"
    raise PrintError(f"a value of a kind PostHog does not print ({type(value).__name__})")


class _Bound(Printer):
    """The printer, with each `{name}` placeholder printed as its value's constant."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__()
        self.values = values

    def _expr(self, node: dict[str, Any], kind: Any, depth: int) -> str:
        if kind != "Placeholder":
            return super()._expr(node, kind, depth)
        inner = node.get("expr")
        chain = inner.get("chain") if isinstance(inner, dict) else None
        if not (isinstance(inner, dict) and inner.get("node") == "Field" and chain):
            raise PrintError("a placeholder that is not a name")
        name = ".".join(str(c) for c in chain)
        if len(chain) != 1 or name not in self.values:
            raise PrintError(f"the placeholder {{{name}}} without a value")
        return hogql_constant(self.values[name])


@lru_cache(maxsize=128)
def parsed(text: str) -> dict[str, Any]:
    """PostHog's parse tree of a SELECT, once a process (the parser takes up to seconds a
    file); ParseError with the parser's message. Not to be changed by its callers."""
    from usertrack.engines.hogql.parser import parse_select

    return parse_select(text)


def bound_text(text: str, values: Mapping[str, Any]) -> str:
    """`text` printed from PostHog's parse tree, each `{name}` placeholder as the constant of
    `values[name]`: the text PostHog builds when it runs `text` with those `values`.
    ParseError when PostHog's parser refuses `text`; PrintError when its tree holds what the
    printer does not print or a placeholder without a value."""
    return _Bound(values).query(parsed(text))
