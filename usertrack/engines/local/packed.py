"""Facts queries packed per person, and the per-event form the local engine reads instead.

A packed facts query (`SELECT e.key AS k, groupArray(e.x) AS x, ... FROM (...) AS e GROUP BY
e.key`) answers a row per person, so that PostHog sends few rows; the analyses unnest its arrays
back into the inner rows (usertrack.analytics.common `unnested`). On the local engine the events
are already at hand, and packing them into lists only to unnest them again costs time (paths at
200,000 users: three times the analysis), so an analysis runs such a file as `SELECT e.key AS k,
e.x AS x, ... FROM (...) AS e`: the rows the unnesting would give.
"""

from __future__ import annotations

import re

_PACKED = re.compile(
    r"\s*SELECT\s+(?P<cols>.+?)\s+FROM\s*\((?P<inner>.+)\)\s*AS\s+(?P<alias>\w+)"
    r"\s+GROUP\s+BY\s+(?P=alias)\.(?P<key>\w+)\s*;?\s*",
    re.IGNORECASE | re.DOTALL,
)
_PACKED_COL = re.compile(
    r"(?:groupArray\((?P<a1>\w+)\.(?P<c1>\w+)\)|(?P<a2>\w+)\.(?P<c2>\w+))\s+AS\s+(?P<name>\w+)",
    re.IGNORECASE,
)


def unpacked_hogql(sql: str) -> str | None:
    """The per-event form of a packed facts query (see the module's doc), or None when the text
    is not of that shape (it then runs as written and is unnested)."""
    text = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    m = _PACKED.fullmatch(text)
    if m is None:
        return None
    alias, key = m.group("alias"), m.group("key")
    cols = []
    depth, start, raw = 0, 0, m.group("cols")
    parts = []
    for i, ch in enumerate(raw):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(raw[start:i])
            start = i + 1
    parts.append(raw[start:])
    for part in parts:
        c = _PACKED_COL.fullmatch(part.strip())
        if c is None:
            return None
        if c.group("a1"):
            if c.group("a1") != alias:
                return None
            cols.append(f"{alias}.{c.group('c1')} AS {c.group('name')}")
        else:
            if c.group("a2") != alias or c.group("c2") != key:
                return None
            cols.append(f"{alias}.{key} AS {c.group('name')}")
    return f"SELECT {', '.join(cols)}\nFROM ({m.group('inner')}) AS {alias}"
