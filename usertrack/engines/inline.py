"""Inline queries: `usertrack query --hogql TEXT` and `--sql TEXT`, a query file without the file.

An inline query becomes a Query of the library's own kind (usertrack.queries.library), so it
runs where a file of its folder runs and with every safety a file has: on PostHog with its row
caps and paging (usertrack.engines.posthog), on the local engine inside the DuckDB sandbox
with the translator's checks, on PostgreSQL in a read-only transaction with the statement
timeout (usertrack.engines.postgres.source). Before any of that, the text is checked here:

- HogQL: PostHog's own parser (`hogql-parser`, usertrack.engines.hogql.parser `parse_select`)
  must read one SELECT (a `UNION` of SELECTs, a `WITH ... SELECT`): HogQL has no statement that
  writes, and a second statement is a syntax error there. What PostHog receives is printed from
  that tree (usertrack.engines.hogql.printer), never the text as typed.
- SQL: PostgreSQL's own parser (`pglast`, libpg_query) must read one SELECT (a WITH, VALUES or
  TABLE) whose every node and every function called is on an allowlist: functions that only
  compute on their arguments, nothing that runs query text, touches files, sessions, locks or
  settings (usertrack.engines.postgres.sqlcheck). The text checked is the text sent, and it runs on
  a connection of its own, in a read-only transaction rolled back at its end
  (usertrack.engines.postgres.source).

Parameters are the text's placeholders (`{name}` in HogQL, `%(name)s` in SQL), bound as values
from `-p NAME=VALUE`, typed by their look (`7` an integer, `2026-01-01` a date, else text);
`as_of` and `exclude_pattern` are bound by usertrack as for a file. In SQL a placeholder is
written as PostgreSQL's `$n` before the check, and nothing else in the text changes: a `%` is a
literal one (`LIKE '%@acme.io'` works as written), and so is a `%(name)s` inside a string.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from usertrack.core.errors import UsageError
from usertrack.engines.postgres.sqlcheck import sql_code
from usertrack.queries.library import Param, Query, placeholders

# The longest inline query accepted (a query file has no such bound: its author is local).
MAX_INLINE = 20_000
LANGUAGES = {"hogql": ("posthog", "--hogql"), "sql": ("neon", "--sql")}
SET_BY_USERTRACK = ("as_of", "exclude_pattern")
_SELECT_NODES = ("SelectQuery", "SelectSetQuery")


def inline_query(text: str, language: str) -> Query:
    """The checked query of an inline text (see the module), or a UsageError (exit 2) in one
    line saying what is wrong."""
    folder, option = LANGUAGES[language]
    body = text.strip()
    if not body:
        raise UsageError(f"{option} is empty: give one SELECT")
    if len(body) > MAX_INLINE:
        raise UsageError(f"{option} is {len(body):,} characters long: at most {MAX_INLINE:,}")
    if language == "hogql":
        body = _checked_hogql(body, option)
        names = list(dict.fromkeys(name for name, _ in placeholders(body, "hogql")))
    else:
        body, names = _checked_sql(body, option)  # $n is names[n - 1]
    params = tuple(
        Param(name, "now" if name == "as_of" else None, 1, None if name == "as_of" else "text")
        for name in names
        if name != "exclude_pattern"
    )
    if "exclude_pattern" in names:
        params += (Param("exclude_pattern", None, 1, "text"),)
    return Query(
        name="inline",
        folder=folder,
        path=Path(option),
        sql=body,
        description=f"inline {'HogQL' if language == 'hogql' else 'SQL'} query",
        returns="table",
        params=params,
    )


def is_inline(query: Query) -> bool:
    """Whether `query` is an inline text (its path the option that gave it), not a file."""
    return query.path.parent == Path(".") and query.path.name in {o for _, o in LANGUAGES.values()}


def typed_values(query: Query, given: dict[str, str]) -> dict[str, Any]:
    """`-p NAME=VALUE` values for an inline query: each must be a placeholder of its text
    (usertrack sets as_of and exclude_pattern), typed by its look."""
    import dataclasses

    from usertrack.queries.library import convert_param, param_kind

    wanted = {p.name for p in query.params} - set(SET_BY_USERTRACK)
    unknown = sorted(set(given) - wanted)
    if unknown:
        shown = ", ".join(sorted(wanted)) or "none"
        raise UsageError(
            f"--param {unknown[0]}: the inline query has no placeholder {unknown[0]!r}"
            f" (its placeholders: {shown})"
        )
    missing = sorted(wanted - set(given))
    if missing:
        raise UsageError(
            f"the inline query's placeholder {missing[0]!r} needs a value: -p {missing[0]}=VALUE"
        )
    values: dict[str, Any] = {}
    for name, value in given.items():
        kind = param_kind(value) if value.strip() != "now" else "text"
        typed = dataclasses.replace(query, params=(Param(name, None, 1, kind),))
        values[name] = convert_param(typed, name, value)
    return values


def _checked_hogql(body: str, option: str) -> str:
    from usertrack.engines.hogql.parser import ParseError, parse_select
    from usertrack.engines.hogql.printer import PrintError, print_select

    try:
        tree = parse_select(body)
    except ParseError as e:
        if str(e) == "nests too deep":
            raise UsageError(f"{option} nests too deep") from None
        raise UsageError(f"{option} is not one HogQL SELECT: {_line(str(e))}") from None
    if tree.get("node") not in _SELECT_NODES:
        raise UsageError(f"{option} is not one HogQL SELECT (PostHog reads a {tree.get('node')})")
    try:
        print_select(tree)  # what is sent is printed from this tree (posthog_http)
    except PrintError as e:
        raise UsageError(f"{option} holds {e}, which usertrack does not send") from None
    return body.rstrip().removesuffix(";").rstrip()


def _checked_sql(body: str, option: str) -> tuple[str, list[str]]:
    """The text to send for `body` and its placeholders' names, `$1..$n` in that order: the
    text parsed and checked by PostgreSQL's parser on an allowlist
    (usertrack.engines.postgres.sqlcheck)."""
    from usertrack.engines.postgres.sqlcheck import check_sql, placeholder_names, positional

    trimmed = sql_code(body).rstrip()
    if trimmed.endswith(";"):
        body = body[: len(trimmed) - 1].rstrip()
    names = placeholder_names(body)
    order = [n for n in names if n != "exclude_pattern"] + [
        n for n in names if n == "exclude_pattern"
    ]
    sent = positional(body, order)
    check_sql(sent, option, len(order))
    return sent, order


def _line(message: str) -> str:
    first = message.splitlines()[0] if message else "syntax error"
    return first if len(first) <= 160 else first[:157] + "..."


def insight_hogql(
    sql: str,
    exclude_pattern: str,
    *,
    source: str,
    defaults: dict[str, str | None] | None = None,
) -> str:
    """A HogQL query file's text as a saved insight's query, which PostHog runs with no values:
    `{as_of}` becomes `toString(now())` (an insight is always as of now; a file reads {as_of}
    as the text of a moment, as usertrack binds it), `{exclude_pattern}` the pattern as a HogQL
    string, a parameter with a header default (`defaults`) that default as a HogQL number or
    string; any other placeholder is a UsageError naming it (`source`: the file or
    option). The result is checked as --hogql is (one SELECT, PostHog's parser)."""
    from usertrack.queries.library import (
        HOGQL_PLACEHOLDER,
        blank_strings_and_comments,
        coerce_default,
    )

    defaults = defaults or {}

    code = blank_strings_and_comments(sql, "hogql")
    parts: list[str] = []
    last = 0
    for m in HOGQL_PLACEHOLDER.finditer(code):
        name = m.group(1)
        if name == "as_of":
            value = "toString(now())"
        elif name == "exclude_pattern":
            value = hogql_string(exclude_pattern)
        elif defaults.get(name) is not None:
            default = coerce_default(str(defaults[name]))
            value = hogql_string(default) if isinstance(default, str) else str(default)
        else:
            raise UsageError(
                f"{source} takes {{{name}}} without a default: a saved insight runs with no"
                " values ({as_of}, {exclude_pattern} and defaults are filled in); write the"
                " value into the query"
            )
        parts += [sql[last : m.start()], value]
        last = m.end()
    parts.append(sql[last:])
    text = "".join(parts)
    return inline_query(text, "hogql").sql


def hogql_string(value: str) -> str:
    """`value` as a HogQL string literal (ClickHouse escaping: backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
