"""--by-account: a funnel counted per account instead of per person.

An account (a team, workspace or organization of users: the account key of docs/connecting.md)
reaches a step when any of its members does. A person is a member by their email.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from usertrack.workspace import Workspace


def account_progress(
    con: duckdb.DuckDBPyConnection, ws: Workspace, as_of: datetime, progress: Any
) -> tuple[str, ...]:
    """`progress` made one row per account (--by-account): an account reaches a step when any
    member does; its step times are those of the member who got furthest (the earliest first
    step among them, then the person id). A person is a member by their email (the last one on
    their funnel events, normalized) in queries/neon/account_members.sql; persons of no account
    are left out, and counted in the note returned."""
    from usertrack.emails import email_key_sql
    from usertrack.reports.accounts import member_accounts

    members = member_accounts(ws, as_of, progress)
    import pyarrow as pa

    table = pa.table(
        {
            "email": pa.array([r[0] for r in members.rows], pa.string()),
            "account": pa.array([r[1] for r in members.rows], pa.string()),
        }
    )
    con.register("_accounts_in", table)
    key = email_key_sql("duckdb", "email")
    con.execute(
        "CREATE TEMP TABLE _person_email AS SELECT person_id,"
        f" arg_max({key}, timestamp) FILTER (WHERE nullif({key}, '') IS NOT NULL) AS email"
        " FROM facts GROUP BY person_id"
    )
    con.execute("ALTER TABLE progress RENAME TO _person_progress")
    con.execute(
        "CREATE TABLE progress AS SELECT DISTINCT ON (a.account) a.account AS person_id,"
        " p.* EXCLUDE (person_id)"
        " FROM _person_progress p JOIN _person_email e USING (person_id)"
        " JOIN _accounts_in a ON a.email = e.email"
        " ORDER BY a.account, p.furthest DESC, p.t1, p.person_id"
    )
    row = con.execute(
        "SELECT count(*) FROM _person_progress p WHERE NOT EXISTS (SELECT 1 FROM"
        " _person_email e JOIN _accounts_in a ON a.email = e.email"
        " WHERE e.person_id = p.person_id)"
    ).fetchall()
    con.unregister("_accounts_in")
    outside = int(row[0][0]) if row else 0
    if not outside:
        return ()
    from usertrack.rendering.style import counted

    who = counted(outside, "person")
    return (f"--by-account: {who} who entered the funnel in no account, left out",)
