"""Inline queries: `usertrack query --hogql TEXT` and `--sql TEXT`, a query file without the file.

An inline query becomes a Query of the library's own kind (usertrack.sources.queries), so it
runs where a file of its folder runs and with every safety a file has: on PostHog with its row
caps and paging (usertrack.sources.posthog_http), on the local engine inside the DuckDB sandbox
with the translator's checks, on PostgreSQL in a read-only transaction with the statement
timeout (usertrack.sources.postgres). Before any of that, the text is checked here:

- HogQL: PostHog's own parser (`hogql-parser`, usertrack.sources.hogql.parser `parse_select`)
  must read one SELECT (a `UNION` of SELECTs, a `WITH ... SELECT`): HogQL has no statement that
  writes, and a second statement is a syntax error there. What PostHog receives is printed from
  that tree (usertrack.sources.hogql.printer), never the text as typed.
- SQL: one statement (no `;` but one at the end, outside strings, quoted names and comments, as
  PostgreSQL's lexer reads them: `E'...'` escapes, `$tag$...$tag$` bodies, nested `/* */`),
  starting with SELECT, WITH, VALUES or TABLE, and no write inside it (a data-modifying WITH,
  SELECT INTO). The read-only transaction refuses whatever a write this misses; psycopg's
  extended protocol refuses a second statement too.

Parameters are the text's placeholders (`{name}` in HogQL, `%(name)s` in SQL), bound as values
from `-p NAME=VALUE`, typed by their look (`7` an integer, `2026-01-01` a date, else text);
`as_of` and `exclude_pattern` are bound by usertrack as for a file. SQL without placeholders is
sent with its `%` doubled, so `LIKE '%@acme.io'` works as written; with placeholders a literal
`%` is `%%`, as in a query file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from usertrack.errors import UsageError
from usertrack.sources.queries import Param, Query, placeholders

# The longest inline query accepted (a query file has no such bound: its author is local).
MAX_INLINE = 20_000
LANGUAGES = {"hogql": ("posthog", "--hogql"), "sql": ("neon", "--sql")}
SET_BY_USERTRACK = ("as_of", "exclude_pattern")
_SELECT_NODES = ("SelectQuery", "SelectSetQuery")
_SQL_STARTS = ("select", "with", "values", "table")
# A write inside one statement: a data-modifying WITH (`AS (DELETE ...`), SELECT INTO.
_SQL_WRITE = re.compile(
    r"(?i)\(\s*(insert|update|delete|merge)\b|\binto\b|\bfor\s+(update|no\s+key\s+update|share|key\s+share)\b"
)


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
        dialect = "hogql"
    else:
        body = _checked_sql(body, option)
        dialect = "postgres"
    names = list(dict.fromkeys(name for name, _ in placeholders(body, dialect)))
    if language == "sql" and not names:
        body = body.replace("%", "%%")  # no placeholder: every % is a literal one
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

    from usertrack.sources.queries import convert_param, param_kind

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
    from usertrack.sources.hogql.parser import ParseError, parse_select
    from usertrack.sources.hogql.printer import PrintError, print_select

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


def _checked_sql(body: str, option: str) -> str:
    code = sql_code(body)
    trimmed = code.rstrip()
    if trimmed.endswith(";"):
        body = body[: len(trimmed) - 1].rstrip()
        code = code[: len(trimmed) - 1].rstrip()
    if ";" in code:
        at = code.index(";")
        raise UsageError(
            f"{option} holds more than one statement (a ';' at character {at + 1}): give one SELECT"
        )
    first = re.match(r"\s*\(*\s*([A-Za-z]+)", code)
    word = first[1].lower() if first else ""
    if word not in _SQL_STARTS:
        article = "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"
        shown = f"{article} {word.upper()} statement" if word else "no statement"
        raise UsageError(
            f"{option} is {shown}, not a SELECT: usertrack never writes to your database"
        )
    server = _server_call(body, code)
    if server:
        raise UsageError(
            f"{option} calls {server}, which reaches past the database's tables (the server's"
            " files, sessions, locks or settings): an inline query reads tables only"
        )
    write = _SQL_WRITE.search(code)
    if write:
        what = " ".join(write[0].strip("( \t\n").upper().split())
        raise UsageError(
            f"{option} writes ({what} at character {write.start() + 1}): usertrack never writes"
            " to your database"
        )
    return body


# Functions that reach past the database's tables, to the server's files, other sessions or
# its settings (PostgreSQL's "admin" and large-object functions, dblink), or that run a query
# given as text past this check (query_to_xml and kin): a superuser or pg_read_server_files role
# would read /proc/self/environ or the user's config with pg_read_file. Also those that act on
# other sessions or the server without writing a table, which a read-only transaction allows:
# advisory locks (a session-level one outlives the transaction on a pooled connection, and the
# app's job queues may wait on it), NOTIFY to the app's listeners, a sleep holding a connection,
# resetting the server's statistics. Refused by name, quoted or not, schema-qualified or not; a
# Unicode-escaped name (U&"...") is refused outright.
_SERVER_CALLS = re.compile(
    r"\b(pg_read_file|pg_read_binary_file|pg_stat_file|pg_ls_\w+|pg_logdir_ls|pg_file_\w+"
    r"|lo_\w+|dblink\w*|pg_terminate_backend|pg_cancel_backend|pg_signal_backend"
    r"|pg_reload_conf|pg_rotate_logfile|pg_promote|pg_switch_wal|set_config"
    r"|pg_advisory_\w+|pg_try_advisory_\w+|pg_notify|pg_sleep\w*|pg_stat_reset\w*"
    r"|query_to_xml\w*|cursor_to_xml\w*|table_to_xml\w*|schema_to_xml\w*"
    r"|database_to_xml\w*)\s*\(",
    re.IGNORECASE,
)


def _server_call(body: str, code: str) -> str | None:
    """The first function of _SERVER_CALLS that `body` calls, its quoted names read unquoted
    (`code`: body with strings, names and comments blanked, sql_code); else None."""
    if re.search(r"(?i)\bu&[\"']", code):
        return 'U&"..."'
    names = []
    quoted = False
    for b, c in zip(body, code, strict=True):
        if c == '"':
            quoted = not quoted
            continue
        names.append(b if quoted else c)
    found = _SERVER_CALLS.search("".join(names))
    return found[1] if found else None


def sql_code(sql: str) -> str:
    """`sql` with the contents of its strings, quoted names and comments blanked (same length),
    as PostgreSQL's lexer delimits them: '' inside a string, backslash escapes in E'...', a
    dollar-quoted body up to its own tag, nested /* */ comments. An unterminated one runs to the
    end (PostgreSQL refuses it anyway)."""
    out = list(sql)
    i, n = 0, len(sql)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j == -1 else j
            blank(i, j)
            i = j
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c in "'\"":
            escapes = c == "'" and i > 0 and sql[i - 1] in "eE" and not _word_before(sql, i - 1)
            j = i + 1
            while j < n:
                if escapes and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            blank(i + 1, j)
            i = j + 1
        elif c == "$" and not _word_before(sql, i):
            tag = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            if tag is None:
                i += 1
                continue
            end = sql.find(tag[0], i + len(tag[0]))
            end = n if end == -1 else end
            blank(i + len(tag[0]), end)
            i = end + len(tag[0])
        else:
            i += 1
    return "".join(out)


def _word_before(sql: str, i: int) -> bool:
    """Whether a letter, digit or _ is just before position `i` (a name goes on there)."""
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")


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
    from usertrack.sources.queries import (
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
