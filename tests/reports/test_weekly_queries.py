"""The weekly report's database queries against the plain definition of what they count, on
lines written to catch a shortcut that would change an answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests import handmade
from usertrack.engines.postgres.source import PostgresSource
from usertrack.queries.library import load_queries

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 11, 23, tzinfo=UTC)
EXCLUDE = r"@datagen\.dev$"

# The error of a failed run, as failing_runs.sql defines it: the first line, every number
# that is not a status or exit code replaced by N, then the leading run and step dropped.
PLAIN_ERROR = r"""
coalesce(nullif(regexp_replace(
    regexp_replace(
        split_part(coalesce(r.run_error_log, ''), E'\n', 1),
        '(?<![0-9])(?<!(status|code|http|exit|exited|returned|rc)[ :=]{0,2})[0-9]+(?![0-9])'
        '(?! (Bad Request|Unauthorized|Forbidden|Not Found|Too Many Requests'
        '|Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout))',
        'N', 'gi'
    ),
    '^Workflow run N failed at step N of N: ', ''
), ''), '(no error log)')
"""

LOGS = [
    "Workflow run 12 failed at step 1 of 3: HTTP 503 Service Unavailable",
    "Workflow run 13 failed at step 2 of 3: HTTP 503 Service Unavailable",
    "Workflow run 14 failed at step 2 of 3: Workflow run 99 failed at step 1 of 1: nested",
    "Workflow run N failed at step N of N: Workflow run 98 failed at step 1 of 1: nested",
    "workflow run 15 failed at step 1 of 2: lower case 42",
    "Workflow run 16 failed at step 1 of 2: 429 Too Many Requests",
    "Workflow run 17 failed at step 1 of 2:no space 7",
    "Workflow run 18 failed at step 1 of 2: exited rc=137 (OOM)",
    "Workflow run 19 failed at step 1 of 2: rc 5 and c 6",
    "Workflow run 1x failed at step 1 of 2: x 5",
    "Workflow run 20 failed at step 1 of 2: ",
    "Workflow run 21 failed at step 1 of 2: code 5\nsecond line 6",
    "Workflow run 22 failed at step 1 of 2: 7",
    "Workflow run  failed at step 1 of 2: empty run number 8",
    "src 5 Workflow run 23 failed at step 1 of 2: x",
    "Workflow run 24 failed at step 1 of 2 of 3: extra 9",
    "Workflow run 25 failed at step 1 of 2: returned 401 Unauthorized after 30s",
    "Workflow run 26 failed at step 1 of 2: returned 401 Unauthorized after 31s",
    "concurrent sandboxes (12) exceeded",
    "",
    None,
]


@pytest.fixture(scope="module")
def db(make_database: Callable[[str], str]) -> str:
    uri = make_database(handmade.SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        for i in range(4):
            conn.execute(
                "INSERT INTO wasp_user (id, email, credits, created_at) VALUES (%s, %s, 10, %s)",
                (i, f"user{i}@example.com", datetime(2026, 1, 1)),
            )
            conn.execute("INSERT INTO fastapi_user (id, wasp_user_id) VALUES (%s, %s)", (i, i))
        for n, log in enumerate(LOGS * 3):
            at = AS_OF.replace(tzinfo=None) - timedelta(hours=5 * n + 1)
            conn.execute(
                "INSERT INTO fastapi_run (id, user_id, run_state, created_at, run_error_log)"
                " VALUES (%s, %s, 'failed', %s, %s)",
                (n, n % 4, at, log),
            )
    return uri


def test_failing_runs_group_as_the_plain_definition(db: str) -> None:
    query = load_queries(REPO / "queries").get("neon/failing_runs")
    source = PostgresSource(db)
    try:
        got = source.run(
            query, {"as_of": AS_OF, "days": 30, "limit": 1000, "exclude_pattern": EXCLUDE}
        )
    finally:
        source.close()
    with psycopg.connect(db) as conn:
        expected = conn.execute(
            f"SELECT {PLAIN_ERROR} AS error, count(*), count(DISTINCT r.user_id)"
            " FROM fastapi_run AS r WHERE r.run_state = 'failed' GROUP BY 1"
        ).fetchall()
    rows = {row[0]: (row[1], row[2]) for row in got.rows}
    assert rows == {error: (runs, users) for error, runs, users in expected}
    assert len(rows) >= 15  # the lines above stay apart where they should
    assert "HTTP 503 Service Unavailable" in rows and rows["HTTP 503 Service Unavailable"][0] == 6
    assert "Workflow run N failed at step N of N: nested" in rows  # dropped once, not twice


def _weekly_metrics_in_python(uri: str, as_of: datetime, days: int) -> tuple[object, ...]:
    """weekly_metrics.sql's header, read literally, over every row."""
    import re
    import statistics

    end = as_of.replace(tzinfo=None)
    start = end - timedelta(days=days)
    with psycopg.connect(uri) as conn:
        users = conn.execute("SELECT id, email, created_at, credits FROM wasp_user").fetchall()
        links = dict(conn.execute("SELECT id, wasp_user_id FROM fastapi_user").fetchall())
        runs = conn.execute("SELECT user_id, run_state, created_at FROM fastapi_run").fetchall()
    accounts = {
        uid: (created, credits)
        for uid, email, created, credits in users
        if created is not None
        and created <= end
        and not re.search(EXCLUDE, (email or "").strip(" \t\r\n").lower())
    }
    mine = [
        (links[u], state, at)
        for u, state, at in runs
        if links.get(u) in accounts and at is not None and at <= end
    ]
    window = [(a, state) for a, state, at in mine if at > start]
    first: dict[int, datetime] = {}
    for a, _state, at in mine:
        first[a] = min(first.get(a, at), at)
    firsts = [(a, at) for a, at in first.items() if at > start]
    waits = [(at - accounts[a][0]).total_seconds() / 86400 for a, at in firsts]
    return (
        len(window),
        sum(state == "completed" for _a, state in window),
        len(firsts),
        statistics.median(waits) if waits else None,
        len(accounts),
        sum(credits < 100 for _c, credits in accounts.values()),
    )


def test_weekly_metrics_count_as_their_header_says(db: str) -> None:
    """First runs on the window's edge, an account with two app users (the earlier one ran
    before the window), runs after as_of, an excluded account, an account created later."""
    with psycopg.connect(db, autocommit=True) as conn:
        people = [
            (10, "a@example.com", 5, 0),
            (11, "b@example.com", 500, 9),
            (12, "c@datagen.dev", 5, 0),
            (13, "late@example.com", 5, -2),
        ]
        for uid, email, credits, created_days_before in people:
            conn.execute(
                "INSERT INTO wasp_user (id, email, credits, created_at) VALUES (%s, %s, %s, %s)",
                (
                    uid,
                    email,
                    credits,
                    AS_OF.replace(tzinfo=None) - timedelta(days=created_days_before + 20),
                ),
            )
        for fid, uid in ((10, 10), (11, 11), (21, 11), (12, 12), (13, 13)):
            conn.execute("INSERT INTO fastapi_user (id, wasp_user_id) VALUES (%s, %s)", (fid, uid))
        base = AS_OF.replace(tzinfo=None)
        runs = [
            (10, "completed", base - timedelta(days=7)),  # on the start of the week: before it
            (10, "completed", base - timedelta(days=3)),
            (11, "failed", base - timedelta(days=30)),  # the account's first, through fid 11
            (21, "completed", base - timedelta(days=2)),
            (12, "completed", base - timedelta(days=1)),
            (13, "completed", base - timedelta(days=1)),
            (21, "completed", base + timedelta(hours=1)),  # after as_of
        ]
        for n, (fid, state, at) in enumerate(runs, start=1000):
            conn.execute(
                "INSERT INTO fastapi_run (id, user_id, run_state, created_at)"
                " VALUES (%s, %s, %s, %s)",
                (n, fid, state, at),
            )
    query = load_queries(REPO / "queries").get("neon/weekly_metrics")
    source = PostgresSource(db)
    try:
        for as_of, days in ((AS_OF, 7), (AS_OF, 8), (AS_OF - timedelta(days=7), 7), (AS_OF, 60)):
            got = source.run(query, {"as_of": as_of, "days": days, "exclude_pattern": EXCLUDE})
            assert got.rows == [_weekly_metrics_in_python(db, as_of, days)], (as_of, days)
    finally:
        source.close()


def test_run_windows_count_each_window_as_weekly_metrics_does(db: str) -> None:
    """Runs exactly on a window's end and start, at as_of itself, and an account created
    between two windows' ends: each window is the runs weekly_metrics.sql counts with
    as_of = its end."""
    base = AS_OF.replace(tzinfo=None)
    with psycopg.connect(db, autocommit=True) as conn:
        for uid, created in ((30, base - timedelta(days=40)), (31, base - timedelta(days=10))):
            conn.execute(
                "INSERT INTO wasp_user (id, email, credits, created_at) VALUES (%s, %s, 5, %s)",
                (uid, f"edge{uid}@example.com", created),
            )
            conn.execute("INSERT INTO fastapi_user (id, wasp_user_id) VALUES (%s, %s)", (uid, uid))
        runs = [
            (30, "completed", base),
            (30, "failed", base - timedelta(days=7)),  # the end of the window before
            (30, "completed", base - timedelta(days=14)),
            (30, "completed", base - timedelta(days=14, microseconds=-1)),
            (30, "completed", base - timedelta(days=28)),  # the start of the oldest: before it
            (31, "completed", base - timedelta(days=8)),  # its account did not exist yet
            (31, "failed", base - timedelta(days=3)),
        ]
        for n, (fid, state, at) in enumerate(runs, start=3000):
            conn.execute(
                "INSERT INTO fastapi_run (id, user_id, run_state, created_at)"
                " VALUES (%s, %s, %s, %s)",
                (n, fid, state, at),
            )
    library = load_queries(REPO / "queries")
    source = PostgresSource(db)
    try:
        for as_of, days, windows in ((AS_OF, 7, 4), (AS_OF - timedelta(hours=5), 3, 6)):
            got = source.run(
                library.get("neon/run_windows"),
                {"as_of": as_of, "days": days, "windows": windows, "exclude_pattern": EXCLUDE},
            ).rows
            ends = [as_of - timedelta(days=days * k) for k in range(windows - 1, -1, -1)]
            assert [row[0] for row in got] == [end.replace(tzinfo=None) for end in ends]
            for row, end in zip(got, ends, strict=True):
                runs_in, completed = _weekly_metrics_in_python(db, end, days)[:2]
                assert (row[1], row[2]) == (runs_in, completed), (as_of, days, end)
    finally:
        source.close()
