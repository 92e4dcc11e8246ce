"""`usertrack accounts`' rows from the local copy of the app's tables
(usertrack/engines/postgres/app_mirror.py), row for row what queries/neon/account_health.sql gives
on PostgreSQL.

The file counts every run of the window per user, normalizes every user's email and matches the
exclusion pattern, joins both to the account table and groups the members per account: at
100,000 users about 0.5 s of the database's CPU, which the command waits for. The copy keeps the
runs, each user's normalized email, the pattern's verdict, plan, credits and last activity, as
PostgreSQL computed them, checked against the database as every copy is (0.1 s of its CPU); the
account table itself, whose name is configured, is read from the database on every use (its
account and user keys as text, as the file compares them: two JSON arrays that DuckDB makes a
table) and DuckDB counts the accounts.

Used only where the copy may answer (app_mirror.copy_source: the shipped file on a PostgreSQL
database, ...), an answer not already in the answer cache, and the users' credits an integer
column (the copy keeps them as double precision: their sums are the file's bigint ones exactly).
Otherwise, or when the copy cannot be used (held by another command, a check the database
refuses), the file runs on the database.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.clock import naive_utc
from usertrack.engines.concurrency import Background
from usertrack.engines.shortcut import MirrorShortcut

if TYPE_CHECKING:
    from collections.abc import Mapping

    from usertrack.engines.base import Result
    from usertrack.queries.library import Query
    from usertrack.workspace import Workspace

FILE = "neon/account_health"
# _ACCOUNTS (with _MEMBERS read from the database) in place of the file, as shipped: the
# library's file, the account key not yet quoted in
SHORTCUT = MirrorShortcut(
    FILE,
    digest="6c1f4fc06cfeef28a13af676b8d87347bb1abba238c8bf4c96504c6225a64c2c",
    entry="accounts",
    used_by="usertrack accounts",
)
COLUMNS = [
    "account",
    "members",
    "active_members",
    "plan",
    "runs",
    "failed_runs",
    "failure_rate",
    "credits",
    "health",
]

# The account table's members (each key as text, as the file compares them) as two JSON arrays,
# a member at the same place in each, and whether wasp_user.credits is a 16- or 32-bit integer
# (a sum of them is exact in double precision). The names are the configured key, quoted.
_MEMBERS = """
SELECT
    json_agg(m.{account_column}::text)::text,
    json_agg(m.{account_user_column}::text)::text,
    (SELECT a.atttypid IN ('int2'::regtype, 'int4'::regtype) FROM pg_attribute AS a
     WHERE a.attrelid = 'wasp_user'::regclass AND a.attname = 'credits' AND NOT a.attisdropped)
FROM {account_table} AS m
WHERE m.{account_column} IS NOT NULL
"""

# account_health.sql over the copy. Its failure rate, round(100.0 * failed / runs, 1) in
# numeric (half away from zero), is the nearest tenth worked out in integers: the same double
# once divided by ten. Texts compare byte-wise, as the file's COLLATE "C" does.
_ACCOUNTS = """
WITH account_members AS (
    SELECT unnest(CAST(CAST($accounts AS JSON) AS VARCHAR[])) AS account,
           unnest(CAST(CAST($users AS JSON) AS VARCHAR[])) AS user_key
),
members AS (
    SELECT m.account, w.id AS user_id, w.credits, w.subscription_status, w.last_active
    FROM account_members AS m
    JOIN wasp_users AS w ON CAST(w.id AS VARCHAR) = m.user_key
    WHERE w.email IS NOT NULL AND w.created_at <= $as_of AND w.email <> '' AND w.kept
),
member_runs AS (
    SELECT f.wasp_user_id AS user_id, sum(c.runs) AS runs, sum(c.failed_runs) AS failed_runs
    FROM (
        SELECT user_id, count(*) AS runs,
               count(*) FILTER (WHERE run_state = 'failed') AS failed_runs
        FROM runs
        WHERE ts > $since AND ts <= $as_of
        GROUP BY user_id
    ) AS c
    JOIN fastapi_users AS f ON f.id = c.user_id
    GROUP BY f.wasp_user_id
),
per_account AS (
    SELECT
        mb.account,
        count(*) AS members,
        count(*) FILTER (
            WHERE coalesce(mr.runs, 0) > 0
               OR (mb.last_active > $since AND mb.last_active <= $as_of)
        ) AS active_members,
        CASE
            WHEN bool_or(mb.subscription_status = 'active') THEN 'active'
            WHEN bool_or(mb.subscription_status = 'past_due') THEN 'past_due'
            WHEN bool_or(mb.subscription_status = 'trialing') THEN 'trialing'
            WHEN bool_or(mb.subscription_status = 'canceled') THEN 'canceled'
            ELSE min(mb.subscription_status)
        END AS plan,
        coalesce(sum(mr.runs), 0)::BIGINT AS runs,
        coalesce(sum(mr.failed_runs), 0)::BIGINT AS failed_runs,
        sum(mb.credits)::BIGINT AS credits
    FROM members AS mb
    LEFT JOIN member_runs AS mr ON mr.user_id = mb.user_id
    GROUP BY mb.account
)
SELECT
    account,
    members,
    active_members,
    plan,
    runs,
    failed_runs,
    CASE WHEN runs > 0 THEN ((2000 * failed_runs + runs) // (2 * runs)) / 10.0 END,
    credits,
    CASE
        WHEN active_members = 0 THEN 'dormant'
        WHEN 2 * active_members < members OR 4 * failed_runs >= runs AND runs > 0 THEN 'at risk'
        ELSE 'healthy'
    END
FROM per_account
ORDER BY active_members DESC, members DESC, account
"""


def from_copy(
    ws: Workspace, query: Query, values: dict[str, Any], key: Mapping[str, str]
) -> Result | None:
    """account_health.sql's rows for `values` (the file as bound, `query` with the account key
    quoted in; `key` its names by placeholder, as AccountKey.names gives them) from the checked
    copy, or None when the file answers instead (see the module)."""
    import duckdb
    import psycopg

    from usertrack.engines.base import Result
    from usertrack.engines.postgres import app_mirror

    cached = app_mirror.answer_cache(ws)
    if cached is not None and cached.peek(query, values) is not None:
        return None  # the answer cache answers at once
    postgres = app_mirror.copy_source(ws, [(SHORTCUT, ws.library.get(FILE), values)])
    if postgres is None:
        return None
    at = naive_utc(values["as_of"])
    since = at - timedelta(days=int(values["days"]))
    pattern = str(values["exclude_pattern"])
    path = app_mirror.mirror_path(ws.settings.home, postgres.identity)
    with postgres.session() as conn:
        # check_key's statement left its transaction open: the copy's checks (and the members'
        # read, on a connection of its own) set their isolation level, outside of any
        conn.rollback()
    # the account table read while the copy opens and is checked
    members = Background(lambda: _members(postgres, key), "usertrack-members")
    try:
        with app_mirror.AppMirror(path) as mirror:
            mirror.refresh(postgres, since, at, (app_mirror.RUNS,), pattern)
            found = members.result()
            if found is None or found[2] is not True:
                return None  # credits of another type: the file sums them exactly
            if mirror.meta("exclude_pattern") != pattern:
                return None
            con = mirror.con.cursor()
            try:
                rows = con.execute(
                    _ACCOUNTS,
                    {"accounts": found[0], "users": found[1], "since": since, "as_of": at},
                ).fetchall()
            finally:
                con.close()
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except (app_mirror.MirrorUnavailable, duckdb.Error, psycopg.Error):
        return None
    finally:
        members.settle()  # its connection left alone before the workspace closes it
    result = Result(columns=list(COLUMNS), rows=rows, meta={"from": "app mirror"})
    if cached is not None:
        cached.store_answer(query, values, result)
    return result


def _members(postgres: Any, key: Mapping[str, str]) -> tuple[Any, ...] | None:
    """_MEMBERS' row, read on a connection no other thread is using, under the statement
    timeout every statement of the command has (an account table held locked would otherwise
    hold the command for good: the caller waits for this read)."""
    with postgres.session() as conn, conn.transaction():  # read-only
        conn.execute(
            "SELECT set_config('statement_timeout', %s, true)", [str(postgres.statement_timeout_ms)]
        )
        row: tuple[Any, ...] | None = conn.execute(_members_sql(key, conn)).fetchone()
        return row


def _members_sql(key: Mapping[str, str], conn: Any) -> bytes:
    """_MEMBERS with the account key's table and columns quoted in (checked by check_key)."""
    from psycopg import sql

    text = _MEMBERS
    for placeholder, name in key.items():
        text = text.replace("{" + placeholder + "}", sql.Identifier(name).as_string(conn))
    return text.encode()
