"""The weekly report's database queries against the plain definition of what they count, on
lines written to catch a shortcut that would change an answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests import handmade
from usertrack.sources.postgres import PostgresSource
from usertrack.sources.queries import load_queries

REPO = Path(__file__).resolve().parent.parent
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
