"""The account key: where the app keeps each user's account (a team, workspace or organization of
users), checked against the database, and each user's account from it.

The account key is configured once (docs/connecting.md, "Accounts"): the app table that ties a user
to an account (USERTRACK_ACCOUNT_TABLE, default organization_member), its column holding the
account's key (USERTRACK_ACCOUNT_COLUMN, default organization_id) and its column holding the user's
id, wasp_user.id (USERTRACK_ACCOUNT_USER_COLUMN, default user_id); or `[accounts]` `table`,
`column`, `user_column` in the user config file; and PostHog's group type of the accounts
(USERTRACK_ACCOUNT_GROUP_TYPE, default organization). The names are checked against the database
(an unknown one names what exists, exit 2) and quoted into the queries that name them. `usertrack
accounts` (usertrack.reports.accounts) counts the accounts with it; `--by-account`
(usertrack.analytics.by_account) reads each user's account.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.core.config import setting
from usertrack.core.errors import UsageError
from usertrack.core.rulefiles import did_you_mean
from usertrack.engines.postgres.source import database_of
from usertrack.workspace import add_database

if TYPE_CHECKING:
    from usertrack.engines.base import Result
    from usertrack.queries.library import Query
    from usertrack.workspace import Progress, Workspace

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


def member_accounts(ws: Workspace, as_of: datetime, progress: Progress | None = None) -> Result:
    """Each user's account (queries/neon/account_members.sql: email, account), for the
    analyses counted per account; opens the app's database on an events workspace. One row of
    two JSON arrays, `emails` and `accounts` (the query's rows, a member at the same place in
    each; NULL without a member): 100,000 members read as two values, made a table by DuckDB
    (by_account.accounts_table), not as rows of Python values bound one by one."""
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
