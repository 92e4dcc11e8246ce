"""`usertrack accounts`: the customers of a B2B product, an account being a team of users.

The account key is configured once (docs/connecting.md, "Accounts"): the app table that ties a user
to an account (USERTRACK_ACCOUNT_TABLE, default organization_member), its column holding the
account's key (USERTRACK_ACCOUNT_COLUMN, default organization_id) and its column holding the user's
id, wasp_user.id (USERTRACK_ACCOUNT_USER_COLUMN, default user_id); or `[accounts]` `table`,
`column`, `user_column` in the user config file. The names are checked against the database
(an unknown one names what exists, exit 2) and quoted into queries/neon/account_health.sql, whose
rows are one per account; the summary (accounts, active accounts, by health) is counted here from
them. Definitions: docs/metrics.md, "Accounts".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import UsageError
from usertrack.engines.concurrency import Background
from usertrack.engines.postgres.source import database_of

if TYPE_CHECKING:
    from rich.console import Console

    from usertrack.engines.base import Result
    from usertrack.queries.library import Query
    from usertrack.workspace import Progress, Workspace

QUERY = "neon/account_health"
HEALTH = ("healthy", "at risk", "dormant")
# (placeholder in the query text, setting, default)
KEY_PARTS = (
    ("account_table", "USERTRACK_ACCOUNT_TABLE", "organization_member"),
    ("account_column", "USERTRACK_ACCOUNT_COLUMN", "organization_id"),
    ("account_user_column", "USERTRACK_ACCOUNT_USER_COLUMN", "user_id"),
)
# PostHog's group type of the accounts (group analytics), by name: (setting, default)
GROUP_TYPE = ("USERTRACK_ACCOUNT_GROUP_TYPE", "organization")
GROUPS_QUERY = "posthog/account_groups"


@dataclass(frozen=True)
class AccountKey:
    """Where the app keeps each user's account: a table, its key column and its user column."""

    table: str
    column: str
    user_column: str
    origins: dict[str, str] = field(default_factory=dict, compare=False)
    group_type: str = GROUP_TYPE[1]

    @classmethod
    def configured(cls) -> AccountKey:
        """From the environment, else the user config file, else the defaults."""
        from usertrack.core.config import setting

        values: dict[str, str] = {}
        origins: dict[str, str] = {}
        for part, name, default in KEY_PARTS:
            value, where = setting(name)
            values[part], origins[part] = (value, where) if value else (default, name)
        value, where = setting(GROUP_TYPE[0])
        origins["group_type"] = where if value else ""  # "": the default, not asked for
        return cls(
            values["account_table"],
            values["account_column"],
            values["account_user_column"],
            origins,
            value or GROUP_TYPE[1],
        )

    def names(self) -> dict[str, str]:
        return {
            "account_table": self.table,
            "account_column": self.column,
            "account_user_column": self.user_column,
        }


# The key's table and both columns readable where the information schema lists them (a table,
# view or foreign table of the search path's schemas; columns not dropped), asked of the
# catalogs: the information schema's views cost a new connection tens of milliseconds.
_KEY_READABLE = """
SELECT coalesce(array_agg(a.attname::text), '{}')
FROM pg_class AS c
JOIN pg_attribute AS a ON a.attrelid = c.oid
WHERE c.oid = to_regclass(quote_ident(%(table)s))
  AND c.relkind IN ('r', 'p', 'v', 'f')
  AND c.relnamespace IN (SELECT n.oid FROM pg_namespace AS n
                         WHERE n.nspname = ANY (current_schemas(false)))
  AND has_table_privilege(c.oid, 'SELECT')
  AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attname IN (%(column)s, %(user_column)s)
  AND has_column_privilege(c.oid, a.attnum, 'SELECT')
"""


def check_key(conn: Any, key: AccountKey) -> None:
    """The table and its two columns exist (the values bound); else a UsageError naming what
    exists: the closest tables of the database, or the table's columns."""
    from usertrack.core.rulefiles import did_you_mean

    row = conn.execute(
        _KEY_READABLE, {"table": key.table, "column": key.column, "user_column": key.user_column}
    ).fetchone()
    if row is not None and {key.column, key.user_column} <= set(row[0]):
        return  # readable, so listed: the information schema is asked only to name what exists
    tables = [
        str(r[0])
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = ANY(current_schemas(false)) ORDER BY table_name"
        ).fetchall()
    ]
    if key.table not in tables:
        close = did_you_mean(key.table, tables, n=3)
        shown = close or f" (tables: {', '.join(tables[:12])}{', ...' if len(tables) > 12 else ''})"
        raise UsageError(
            f"account table {key.table!r} ({key.origins.get('account_table', 'table')})"
            f" is not in the database{shown}"
        )
    columns = [
        str(r[0])
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = ANY(current_schemas(false)) AND table_name = %s"
            " ORDER BY ordinal_position",
            (key.table,),
        ).fetchall()
    ]
    for part, value in (("account_column", key.column), ("account_user_column", key.user_column)):
        if value not in columns:
            raise UsageError(
                f"account column {value!r} ({key.origins.get(part, part)}) is not a column of"
                f" {key.table} (columns: {', '.join(columns)})"
            )


def uses_account_key(query: Query) -> bool:
    return any("{" + part + "}" in query.sql for part, _, _ in KEY_PARTS)


def bound_with_key(
    ws: Workspace, query_id: str, as_of: datetime, **params: Any
) -> tuple[Query, dict[str, Any]] | None:
    """A library query naming the account key (`{account_table}` ...: `usertrack query
    neon/account_members`), bound as Workspace.bind binds it, with the configured key checked
    and quoted in; None for a query that names no account key."""
    query, values = ws.bind(query_id, as_of, **params)
    if not uses_account_key(query):
        return None
    key = AccountKey.configured()
    conn = database_of(ws.sources[query.folder]).connect()
    check_key(conn, key)
    return with_account_key(query, key, conn), values


def with_account_key(query: Query, key: AccountKey, conn: Any) -> Query:
    """The query with the account key's table and columns quoted in (checked by check_key)."""
    from psycopg import sql

    text = query.sql
    for placeholder, name in key.names().items():
        text = text.replace("{" + placeholder + "}", sql.Identifier(name).as_string(conn))
    return dataclasses.replace(query, sql=text)


@dataclass
class AccountReport:
    """What `usertrack accounts` answers: one row per account, and its summary."""

    as_of: datetime
    days: int
    key: AccountKey
    result: Result
    # the account segments of the rules file, in its order: id, name, action, accounts
    segments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def since(self) -> datetime:
        return self.as_of - timedelta(days=self.days)

    def summary(self) -> dict[str, int]:
        """Accounts, active accounts (an active member in the window), members, active members
        and the accounts of each health."""
        columns = list(self.result.columns)
        rows = self.result.rows

        def column(name: str) -> list[Any]:
            at = columns.index(name)
            return [r[at] for r in rows]

        active = column("active_members")
        healths = column("health")
        out = {
            "accounts": len(rows),
            "active_accounts": sum(1 for n in active if n > 0),
            "members": sum(map(int, column("members"))),
            "active_members": sum(map(int, active)),
        }
        for health in HEALTH:
            out[health.replace(" ", "_")] = healths.count(health)
        return out


def account_report(
    ws: Workspace,
    as_of: datetime,
    *,
    days: int = 30,
    key: AccountKey | None = None,
    progress: Progress | None = None,
) -> AccountReport:
    """Check the account key, then run queries/neon/account_health.sql with it quoted in."""
    key = key or AccountKey.configured()
    source = ws.sources["neon"]
    conn = database_of(source).connect()
    if progress:
        progress("checking the account key")
    check_key(conn, key)
    query, params = ws.bind(QUERY, as_of, days=days)
    query = with_account_key(query, key, conn)
    if progress:
        progress("counting the accounts and fetching their groups")
    # the accounts' groups come from the events store or PostHog while the database counts
    groups = Background(lambda: _groups_and_rules(ws, as_of, key), "usertrack-groups")
    from usertrack.reports.accounts_copy import from_copy

    result = from_copy(ws, query, params, key.names()) or source.run(query, params)
    found, rules_con = groups.result()
    try:
        columns, cells = columns_with_groups(result, found)
    except BaseException:
        if rules_con is not None:
            rules_con.close()
        raise
    from usertrack.segments.account_rules import segment_counts, segments_of_columns

    chosen = segments_of_columns(ws.rules, columns, cells, len(result.rows), rules_con)
    # the rows made once, from the columns (not a tuple rebuilt a row at a time per step)
    result = dataclasses.replace(
        result, columns=[*columns, "segment"], rows=list(zip(*cells, chosen, strict=True))
    )
    report = AccountReport(as_of=as_of, days=days, key=key, result=result)
    report.segments = segment_counts(ws.rules, chosen)
    return report


def _groups_and_rules(
    ws: Workspace, as_of: datetime, key: AccountKey
) -> tuple[dict[str, tuple[Any, Any, Any]] | None, Any]:
    """account_groups, and the connection the account segments are evaluated on
    (account_rules.rules_connection), both readied while the app's database counts."""
    from usertrack.segments.account_rules import rules_connection

    con = rules_connection(ws.rules)
    try:
        return account_groups(ws, as_of, key), con
    except BaseException:
        if con is not None:
            con.close()
        raise


def group_type_index(ws: Workspace, key: AccountKey) -> int | None:
    """The index of the account key's PostHog group type, from the project's group types (the
    events store's, or PostHog's API); None when the project has none and the type is the
    default one (no group analytics: the accounts are the app's alone). A group type the project
    does not have is a UsageError naming those it has."""
    source = ws.sources.get(ws.library.get(GROUPS_QUERY).folder)
    types = source.group_types() if source is not None else None  # under any cache
    if types is None:
        return None
    if key.group_type in types:
        return types[key.group_type]
    origin = key.origins.get("group_type") or ""
    if not types and not origin:
        return None
    said = f" ({origin})" if origin else " (the default; set USERTRACK_ACCOUNT_GROUP_TYPE)"
    # The project's group types are made by the events it is sent (`$groups`): data.
    raise UsageError(
        f"account group type {{group_type!r}}{said.replace('{', '{{').replace('}', '}}')} is"
        f" not a group type of the PostHog project (group types: {{known}})",
        data={"group_type": key.group_type, "known": sorted(types) or "none"},
    )


def account_groups(
    ws: Workspace, as_of: datetime, key: AccountKey, progress: Progress | None = None
) -> dict[str, tuple[Any, Any, Any]] | None:
    """Each PostHog group of the account key's group type by its key: (name, plan, seats), from
    queries/posthog/account_groups.sql; None without group analytics."""
    index = group_type_index(ws, key)
    if index is None:
        return None
    if progress:
        progress("fetching the accounts' groups")
    result = ws.run_query(GROUPS_QUERY, as_of, group_type_index=index)
    return {str(r[0]): (r[1], r[2], r[3]) for r in result.rows}


def columns_with_groups(
    result: Result, groups: dict[str, tuple[Any, Any, Any]] | None
) -> tuple[list[str], list[list[Any]]]:
    """The accounts' columns with their group's name after the key and its seats after the plan
    (None where the account has no group, or without group analytics), and each column's values
    in the rows' order: the rows are made once, by the caller."""
    columns = list(result.columns)
    count = len(result.rows)
    cells: list[list[Any]] = (
        [list(c) for c in zip(*result.rows, strict=True)] if count else [[] for _ in columns]
    )
    at = columns.index("account")
    plan = columns.index("plan")
    if groups:
        found = [groups.get(str(a), (None, None, None)) for a in cells[at]]
        names = [g[0] for g in found]
        seats = [g[2] for g in found]
    else:
        names = [None] * count
        seats = [None] * count
    cells.insert(plan + 1, seats)
    columns.insert(plan + 1, "seats")
    cells.insert(at + 1, names)
    columns.insert(at + 1, "name")
    return columns, cells


def member_accounts(ws: Workspace, as_of: datetime, progress: Progress | None = None) -> Result:
    """Each user's account (queries/neon/account_members.sql: email, account), for the
    analyses counted per account; opens the app's database on an events workspace. One row of
    two JSON arrays, `emails` and `accounts` (the query's rows, a member at the same place in
    each; NULL without a member): 100,000 members read as two values, made a table by DuckDB
    (by_account.accounts_table), not as rows of Python values bound one by one."""
    from usertrack.workspace import add_database

    add_database(ws, progress, needed_by="--by-account")
    key = AccountKey.configured()
    source = ws.sources["neon"]
    conn = database_of(source).connect()
    check_key(conn, key)
    group_type_index(ws, key)  # the whole key is checked, its group type too
    if progress:
        progress("fetching the accounts' members")
    query, params = ws.bind("neon/account_members", as_of)
    query = with_account_key(query, key, conn)
    sql = query.sql.rstrip().rstrip(";")
    arrays = (
        "SELECT json_agg(m.email)::text AS emails, json_agg(m.account)::text AS accounts"
        f" FROM (\n{sql}\n) AS m"
    )
    return source.run(dataclasses.replace(query, sql=arrays), params)


# ------------------------------------------------------------------------------- the answers


def to_json(report: AccountReport) -> str:
    from usertrack.rendering.export import json_text_with_records

    doc: dict[str, Any] = {
        "as_of": report.as_of,
        "days": report.days,
        "since": report.since,
        "account_key": {
            "table": report.key.table,
            "column": report.key.column,
            "user_column": report.key.user_column,
            "group_type": report.key.group_type,
        },
        "summary": report.summary(),
        "account_segments": report.segments,
    }
    return json_text_with_records(doc, "accounts", report.result.columns, report.result.rows)


def to_csv(report: AccountReport) -> str:
    from usertrack.rendering.export import csv_text

    return csv_text(report.result.columns, report.result.rows)


def heading(report: AccountReport) -> str:
    from usertrack.core import style

    return (
        f"Accounts ({report.key.table}.{report.key.column}) as of"
        f" {style.moment(report.as_of)}, last {report.days} days"
    )


def summary_line(report: AccountReport) -> str:
    s = report.summary()
    return (
        f"{s['active_accounts']:,} of {s['accounts']:,} accounts active"
        f" ({s['active_members']:,} of {s['members']:,} members): {s['healthy']:,} healthy,"
        f" {s['at_risk']:,} at risk, {s['dormant']:,} dormant."
    )


def segments_line(report: AccountReport) -> str | None:
    """The account segments with their actions and accounts, and those in none."""
    if not report.segments:
        return None
    listed = "; ".join(f"{s['name']} ({s['action']}): {s['accounts']:,}" for s in report.segments)
    none = len(report.result.rows) - sum(s["accounts"] for s in report.segments)
    return f"Account segments: {listed}; in none: {none:,}."


def _shown(report: AccountReport, limit: int) -> Result:
    return dataclasses.replace(report.result, rows=report.result.rows[:limit])


def to_markdown(report: AccountReport, limit: int) -> str:
    from usertrack.core import style
    from usertrack.core.style import md_text
    from usertrack.rendering.export import md_table

    shown = _shown(report, limit)
    out = [f"# {md_text(heading(report))}\n", md_text(summary_line(report)) + "\n"]
    if segments_line(report):
        out.append(md_text(segments_line(report) or "") + "\n")
    if not shown.rows:
        out.append("No account.\n")
    else:
        headers = [style.human_header(c) for c in shown.columns]
        out.append(md_table(headers, [list(r) for r in shown.rows], list(shown.columns)))
        if len(report.result.rows) > limit:
            out.append(f"The first {limit:,} of {len(report.result.rows):,} accounts.\n")
    return "\n".join(out)


def render(console: Console, report: AccountReport, limit: int) -> None:
    """The report as a rich table (values as plain text: never markup)."""
    from usertrack.rendering.terminal import plain, render_result_table

    console.print(plain(heading(report)))
    console.print(plain(summary_line(report)))
    if segments_line(report):
        console.print(plain(segments_line(report) or ""))
    console.print()
    render_result_table(console, _shown(report, limit), title="Accounts, most active first")
    if len(report.result.rows) > limit:
        console.print(plain(f"The first {limit:,} of {len(report.result.rows):,} accounts."))
