"""The values of a DuckDB answer made plain, as the local events store answers a query file:
what the live engine's JSON would carry (usertrack.engines.local.source)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID


def plain(value: Any) -> Any:
    """`value` as a plain JSON-like one: a boolean as 0 or 1, a Decimal as a float, a UUID as
    text, and so item by item inside a list or a dict."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


# DuckDB types whose Python values are not plain JSON-like ones (Decimal, UUID, dicts), alone or
# inside a list.
NOT_PLAIN = ("DECIMAL", "UUID", "STRUCT", "MAP", "UNION")


def plain_rows(rows: list[tuple[Any, ...]], types: list[str]) -> list[tuple[Any, ...]]:
    """The rows with Decimal, UUID and nested values made plain, and booleans as 0/1 (a HogQL
    comparison is ClickHouse's UInt8 on PostHog, so a column of them is integers there); only
    the columns whose type can hold them are visited (at 100,000 users a pass over every value
    costs half a second)."""
    convert = [i for i, t in enumerate(types) if "BOOLEAN" in t or any(w in t for w in NOT_PLAIN)]
    if not convert:
        return rows
    if len(convert) == len(types):
        return [tuple(plain(v) for v in row) for row in rows]
    out = []
    for row in rows:
        values = list(row)
        for i in convert:
            values[i] = plain(values[i])
        out.append(tuple(values))
    return out
