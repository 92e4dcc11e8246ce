"""--by-account: a funnel counted per account instead of per person.

An account (a team, workspace or organization of users: the account key of docs/connecting.md)
reaches a step when any of its members does. A person is a member by their email.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.engines.concurrency import Background

if TYPE_CHECKING:
    import duckdb

    from usertrack.engines.base import Result
    from usertrack.workspace import Workspace


@contextmanager
def members_meanwhile(
    ws: Workspace, as_of: datetime, progress: Any, wanted: bool = True
) -> Iterator[Background[Result] | None]:
    """The accounts' members (usertrack.segments.account_key.member_accounts) fetched on a thread
    of their own while the block runs (None when not `wanted`): the caller starts it before
    reading its facts, so the database answers while the events are counted and the analysis
    waits for the slower of the two, not their sum. The block's end waits for the fetch to end
    (a failure included), so the workspace is never closed under its query."""
    if not wanted:
        yield None
        return
    # Imported here: the account key's module reads the app's database (its client's module
    # too), which a run that counts persons never opens.
    from usertrack.segments.account_key import member_accounts

    members = Background(lambda: member_accounts(ws, as_of, progress), "usertrack-members")
    try:
        yield members
    finally:
        members.settle()


def account_progress(
    con: duckdb.DuckDBPyConnection,
    ws: Workspace,
    as_of: datetime,
    progress: Any,
    members_fetch: Background[Result] | None = None,
) -> tuple[str, ...]:
    """`progress` made one row per account (--by-account): an account reaches a step when any
    member does; its step times are those of the member who got furthest (the earliest first
    step among them, then the person id). A person is a member by their email (the last one on
    their funnel events, normalized) in queries/neon/account_members.sql; persons of no account
    are left out, and counted in the note returned; `trend_progress` (--trend) likewise.
    `members_fetch`: members_meanwhile's, started by the caller (else fetched here)."""
    from usertrack.core.emails import email_key_sql

    if members_fetch is None:
        with members_meanwhile(ws, as_of, progress) as fetching:
            assert fetching is not None
            members = fetching.result()
    else:
        members = members_fetch.result()
    accounts_table(con, members)
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
    trend = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'trend_progress'"
    ).fetchall()
    if trend[0][0]:  # --trend: an account enters (converts) in a period when a member does
        con.execute("ALTER TABLE trend_progress RENAME TO _person_trend")
        con.execute(
            "CREATE TABLE trend_progress AS SELECT a.account AS person_id, t.period,"
            " max(t.furthest) AS furthest FROM _person_trend t"
            " JOIN _person_email e USING (person_id) JOIN _accounts_in a ON a.email = e.email"
            " GROUP BY 1, 2"
        )
    row = con.execute(
        "SELECT count(*) FROM _person_progress p WHERE NOT EXISTS (SELECT 1 FROM"
        " _person_email e JOIN _accounts_in a ON a.email = e.email"
        " WHERE e.person_id = p.person_id)"
    ).fetchall()
    outside = int(row[0][0]) if row else 0
    if not outside:
        return ()
    from usertrack.core.style import counted

    who = counted(outside, "person")
    return (f"--by-account: {who} who entered the funnel in no account, left out",)


def accounts_table(con: duckdb.DuckDBPyConnection, members: Result) -> None:
    """The temporary table `_accounts_in` (email, account) of member_accounts' answer: its
    two JSON arrays, read by DuckDB, a member at the same place in each."""
    emails, accounts = members.rows[0] if members.rows else (None, None)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _accounts_in AS SELECT"
        " unnest(CAST(CAST($e AS JSON) AS VARCHAR[])) AS email,"
        " unnest(CAST(CAST($a AS JSON) AS VARCHAR[])) AS account",
        {"e": emails, "a": accounts},
    )


def _person_accounts(
    con: duckdb.DuckDBPyConnection,
    ws: Workspace,
    as_of: datetime,
    progress: Any,
    members: Background[Result] | None = None,
) -> None:
    """The temporary table `_person_account` (person_id, account): each PostHog person with an
    email (queries/posthog/segment_persons.sql, the email normalized as everywhere) in the
    account whose member has that email (queries/neon/account_members.sql, from the database
    meanwhile: `members`, members_meanwhile's, else started here). On the local engine `con` is
    a cursor of the events store and the persons' emails are its temporary table, never rows
    in Python."""
    from usertrack.analytics.by_segment import persons_query

    if members is None:
        with members_meanwhile(ws, as_of, progress) as fetching:
            assert fetching is not None
            return _person_accounts(con, ws, as_of, progress, fetching)
    try:
        if progress:
            progress("fetching the persons' emails")
        query, values = ws.bind("posthog/segment_persons", as_of)
        source = ws.sources[query.folder]
        in_store = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events' AND NOT temporary"
        ).fetchone()
        if source.has_facts and in_store and in_store[0]:
            source.segment_persons_into(con, query, values, "_emails_in")
        else:
            rows = persons_query(ws, as_of)
            con.execute(
                "CREATE TEMP TABLE _emails_in AS SELECT unnest($p) AS person_id,"
                " unnest($e) AS email",
                {"p": [str(r[0]) for r in rows], "e": [str(r[1]) for r in rows]},
            )
    except BaseException:
        members.settle()  # done with the database before the workspace closes it
        raise
    accounts_table(con, members.result())
    con.execute(
        "CREATE TEMP TABLE _person_account AS SELECT CAST(e.person_id AS VARCHAR) AS person_id,"
        " a.account FROM _emails_in e JOIN _accounts_in a ON a.email = e.email"
    )


def _replace(con: duckdb.DuckDBPyConnection, table: str, select: str) -> None:
    """`table` (a facts table: temporary on the events store's cursor, else the connection's
    own) replaced by `select` over it; the store has tables of the same names (person_hours),
    so the facts table is named by its catalog."""
    where = con.execute(
        "SELECT database_name, schema_name FROM duckdb_tables() WHERE table_name = $t"
        " ORDER BY temporary DESC LIMIT 1",
        {"t": table},
    ).fetchone()
    assert where is not None, table
    name = f'"{where[0]}"."{where[1]}"."{table}"'
    con.execute(f'CREATE TEMP TABLE "_account_{table}" AS {select.replace("{t}", name)}')
    con.execute(f"DROP TABLE {name}")
    con.execute(f'ALTER TABLE "_account_{table}" RENAME TO "{table}"')


def as_accounts(
    con: duckdb.DuckDBPyConnection,
    ws: Workspace,
    as_of: datetime,
    progress: Any,
    tables: dict[str, str],
    members: Background[Result] | None = None,
) -> tuple[str, ...]:
    """Per-person facts tables made per-account facts (--by-account on activity and retention):
    each of `tables` (name -> its other columns, grouped or aggregated, as `day, sum(events) AS
    events`) gets one row per account where it had one per person, the account standing in the
    person_id column; an account is active, starts or returns when any member does. Persons of
    no account are left out, and counted in the note returned (by the first table's persons).
    `members`: members_meanwhile's, started by the caller before its facts (else here)."""
    _person_accounts(con, ws, as_of, progress, members)
    first = next(iter(tables))
    row = con.execute(
        f'SELECT count(DISTINCT person_id) FROM "{first}" f WHERE NOT EXISTS'
        " (SELECT 1 FROM _person_account m WHERE m.person_id = f.person_id)"
    ).fetchone()
    for table, columns in tables.items():
        _replace(
            con,
            table,
            f"SELECT m.account AS person_id, {columns} FROM {{t}} f"
            " JOIN _person_account m ON m.person_id = f.person_id GROUP BY ALL",
        )
    outside = int(row[0]) if row else 0
    if not outside:
        return ()
    from usertrack.core.style import counted

    return (f"--by-account: {counted(outside, 'person')} in no account, left out",)
