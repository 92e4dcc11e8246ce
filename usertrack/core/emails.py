"""The one email normalisation of usertrack: the join key of every per-user table.

An email is trimmed of space, tab, CR and LF at both ends, then lower-cased (Unicode, not only
ASCII); an empty result means no email. Python, the join and every query file must agree exactly,
or a person is joined in `segments` but missed by `usertrack user` (or split in two). The query
files spell it for their dialect, as `email_key_sql` does:

- HogQL: `lowerUTF8(trim(x, ' \\t\\r\\n'))`. ClickHouse's `lower` changes ASCII letters only;
  `lowerUTF8` is the Unicode one. HogQL exposes ClickHouse's `trimBoth(input, trim_characters)`
  under the names `trim`/`btrim` (1-2 arguments; posthog/hogql/functions/clickhouse/strings.py,
  POSTGRESQL_TRIM_FUNCTIONS), not as `trimBoth`, so the files write `trim(x, chars)`. The email
  itself is read with `JSONExtractString(person.properties, 'email')` (`HOGQL_PERSON_EMAIL`):
  PostHog's `person.properties.email` is the raw JSON text, so an email written with a tab or a
  newline (`"a@b.io\t"`) would keep the two characters `\t` and never join.
- PostgreSQL: `lower(btrim(x, E' \\t\\r\\n'))` (lower follows the database's LC_CTYPE: Unicode on
  the usual C.UTF-8 / en_US.UTF-8 databases).
- DuckDB: `lower(trim(x, E' \\t\\r\\n'))`, with `trim` only where the first or last
  character is one of the four: DuckDB's trim of a character set costs about 0.3 s per million
  emails, most of the key, and hardly any email needs it.
"""

from __future__ import annotations

from typing import Any

# A person's email in HogQL, decoded (see above); the persons table's is HOGQL_PERSONS_EMAIL.
HOGQL_PERSON_EMAIL = "JSONExtractString(person.properties, 'email')"
HOGQL_PERSONS_EMAIL = "JSONExtractString(properties, 'email')"

# The characters trimmed at both ends, in every dialect.
TRIM_CHARS = " \t\r\n"

_KEY_SQL = {
    "hogql": "lowerUTF8(trim({x}, ' \\t\\r\\n'))",
    "postgres": "lower(btrim({x}, E' \\t\\r\\n'))",
    "duckdb": "lower(CASE WHEN ({x})[1] IN {ends} OR ({x})[-1] IN {ends}"
    " THEN trim({x}, E' \\t\\r\\n') ELSE {x} END)",
}
_DUCKDB_ENDS = "(' ', E'\\t', E'\\r', E'\\n')"


def normalize_email(value: Any) -> str | None:
    """The join key: trimmed of space, tab, CR and LF, lower-cased; empty means no email."""
    if value is None:
        return None
    text = str(value).strip(TRIM_CHARS).lower()
    return text or None


def email_key_sql(dialect: str, expr: str) -> str:
    """`expr` normalised as `normalize_email` does, in the SQL of `dialect` (hogql, postgres,
    duckdb). An empty result is '' in SQL (callers wrap it in nullif where they need NULL)."""
    return _KEY_SQL[dialect].format(x=expr, ends=_DUCKDB_ENDS)
