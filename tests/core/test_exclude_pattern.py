"""exclude_pattern: the internal domains as one regular expression, the same emails matched in
each engine whether it is written with a group (several domains) or without (one)."""

from __future__ import annotations

import re

from usertrack.checks.sandbox import connect
from usertrack.segments.profiles import exclude_pattern

EMAILS = [
    "ann@datagen.dev",
    "bob@DATAGEN.dev",  # the queries lower-case emails first: not matched as written
    "cy@datagen.dev.example.com",
    "dee@datagenxdev",
    "eve@sub.datagen.dev",  # a subdomain is another domain
    "fay@example.com",
    "gus@example.co",
    "",
]


def matched(pattern: str) -> list[str]:
    con = connect()
    found = con.execute(
        "SELECT e FROM unnest(?) AS t(e) WHERE regexp_matches(e, ?) ORDER BY e", [EMAILS, pattern]
    ).fetchall()
    python = sorted(e for e in EMAILS if re.search(pattern, e))
    assert [e for (e,) in found] == python
    return python


def test_one_domain_is_a_plain_suffix_pattern() -> None:
    # Without a group, DuckDB matches it as a suffix (no regular expression per event).
    assert exclude_pattern(["@DataGen.dev "]) == r"@datagen\.dev$"
    assert matched(exclude_pattern(["datagen.dev"])) == ["ann@datagen.dev"]
    assert matched(exclude_pattern(["datagen.dev"])) == matched(r"@(datagen\.dev)$")


def test_several_domains_and_none() -> None:
    assert exclude_pattern(["datagen.dev", "example.com"]) == r"@(datagen\.dev|example\.com)$"
    assert matched(exclude_pattern(["datagen.dev", "example.com"])) == [
        "ann@datagen.dev",
        "fay@example.com",
    ]
    assert matched(exclude_pattern([" ", ""])) == []
