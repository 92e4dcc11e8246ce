"""The weekly report's key metrics from the local copy of the app's tables
(usertrack/reports/weekly_copy.py): the same row as queries/neon/weekly_metrics.sql on the
database, at window edges, after runs and accounts change, with credits of a type whose values
float8 rounds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import handmade
from tests.analytics_helpers import handmade_workspace
from usertrack.scope import Scope

AS_OF = datetime(2026, 11, 16, tzinfo=UTC)
# The report's week ends, one at midday and one a microsecond before a run's moment.
MOMENTS = [
    AS_OF,
    datetime(2026, 11, 12, 12, tzinfo=UTC),
    datetime(2026, 11, 9, 5, 59, 59, 999999, tzinfo=UTC),
]


@pytest.fixture()
def database(make_database: Callable[[str], str]) -> str:
    uri = make_database(handmade.SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        users = [
            # id, email, credits, signed up
            (1, "a@x.io", 5, datetime(2026, 9, 1, 3, 17, 5, 123456)),
            (2, " B@X.io\n", 99, datetime(2026, 11, 3, 8, 0, 0, 1)),
            (3, "bot@datagen.dev", 10, datetime(2026, 9, 1)),  # excluded
            (4, "late@x.io", 100, datetime(2026, 11, 10, 12)),  # an account from that moment
            (5, None, 1, datetime(2026, 9, 1)),  # no email: excluded as the file excludes it
            (6, "c@x.io", None, datetime(2026, 11, 4, 23, 59, 59)),
            (7, "d@x.io", 500, datetime(2026, 11, 8, 1, 2, 3)),
            (8, "e@x.io", 50, datetime(2026, 11, 1)),  # runs under two app users
        ]
        for uid, email, credits, created in users:
            conn.execute(
                "INSERT INTO wasp_user VALUES (%s, %s, %s, 'active', %s, %s)",
                (uid, email, credits, created, created),
            )
            conn.execute("INSERT INTO fastapi_user VALUES (%s, %s)", (100 + uid, uid))
        conn.execute("INSERT INTO fastapi_user VALUES (208, 8), (300, NULL)")
        n = 0
        runs = [
            (101, datetime(2026, 9, 2), 13),
            (102, datetime(2026, 11, 5), 7),
            (103, datetime(2026, 9, 3), 11),
            (104, datetime(2026, 11, 10, 13), 5),
            (105, datetime(2026, 9, 3), 17),
            (106, datetime(2026, 11, 9, 6), 3),
            (107, datetime(2026, 11, 13, 2, 2, 2, 7), 9),
            (108, datetime(2026, 11, 12, 12), 19),
            (208, datetime(2026, 11, 2, 4), 23),
            (300, datetime(2026, 11, 3), 6),  # an app user of no account
            (999, datetime(2026, 11, 3), 4),  # a run of no app user
        ]
        for uid, first, every in runs:
            at = first
            while at <= datetime(2026, 11, 20):
                n += 1
                state = ("completed", "failed", "running")[n % 3]
                conn.execute(
                    "INSERT INTO fastapi_run VALUES (%s, %s, %s, %s, NULL)", (n, uid, state, at)
                )
                at += timedelta(hours=every, minutes=n % 50)
    return uri


@pytest.fixture()
def workspace(database: str, tmp_path: Path) -> Iterator[Any]:
    with handmade_workspace(database, tmp_path) as ws:
        yield ws


def _same_as_the_file(ws: Any) -> list[Any]:
    """Each moment's key metrics of its week and the week before, from the copy and from the
    file, compared; the file's rows returned (so that a comparison of nothing cannot pass)."""
    from usertrack.reports.weekly_copy import key_metrics

    found = []
    for at in MOMENTS:
        wanted = {
            "neon_metrics": ("neon/weekly_metrics", at, {"days": 7}),
            "neon_metrics_before": ("neon/weekly_metrics", at - timedelta(days=7), {"days": 7}),
        }
        mine = key_metrics(ws.scoped(Scope(shared={})), wanted)  # a dashboard's
        assert set(mine) == set(wanted), at
        for key, (query_id, moment, params) in wanted.items():
            file = ws.run_query(query_id, moment, **params).as_dicts()
            assert mine[key].as_dicts() == file, (at, key)
            found += file
    return found


def test_the_copy_answers_as_the_file_does_and_follows_changes(
    workspace: Any, database: str
) -> None:
    before = _same_as_the_file(workspace)
    assert all(row["runs"] and row["accounts"] for row in before)
    assert any(row["first_runs"] > 1 and row["median_days_to_first_run"] for row in before)
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE fastapi_run SET run_state = 'completed' WHERE id % 7 = 0")
        conn.execute("DELETE FROM fastapi_run WHERE id % 11 = 0")
        # a first run earlier than any other of the account's: no longer its first in the week
        conn.execute("INSERT INTO fastapi_run VALUES (90000, 107, 'failed', '2026-10-01', NULL)")
        conn.execute("UPDATE wasp_user SET email = 'a@datagen.dev' WHERE id = 1")
        conn.execute("UPDATE wasp_user SET credits = 100 WHERE id = 2")
    after = _same_as_the_file(workspace)
    assert after != before


def test_credits_compared_as_the_database_compares_them(workspace: Any, database: str) -> None:
    """Credits of a type float8 rounds (99.99999999999999999 is 100 as a float8) count as
    the database counts them: below 100."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ALTER TABLE wasp_user ALTER COLUMN credits TYPE numeric")
        conn.execute("UPDATE wasp_user SET credits = 99.99999999999999999 WHERE id = 7")
    rows = _same_as_the_file(workspace)
    assert rows[0]["accounts_using_credits"] == 4  # 1, 2, 7 and 8; not 4 (100) nor 6 (none)


def test_outside_a_dashboard_the_file_answers(workspace: Any) -> None:
    from usertrack.reports.weekly_copy import key_metrics

    wanted = {"neon_metrics": ("neon/weekly_metrics", AS_OF, {"days": 7})}
    assert key_metrics(workspace, wanted) == {}  # no shared facts: not a dashboard


def test_runs_timed_with_a_zone_are_checked_as_the_file_reads_them(
    workspace: Any, database: str
) -> None:
    """The copy's check compares a time column with a zone as bound, and one without as UTC
    times: either way the runs at a window's edge are the file's."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE fastapi_run ALTER COLUMN created_at TYPE timestamptz"
            " USING created_at AT TIME ZONE 'UTC'"
        )
    before = _same_as_the_file(workspace)
    with psycopg.connect(database, autocommit=True) as conn:
        # at a week's end and a microsecond after it, then one moved across the edge
        conn.execute(
            "INSERT INTO fastapi_run VALUES (90001, 102, 'completed', '2026-11-16 00:00+00', NULL),"
            " (90002, 102, 'completed', '2026-11-16 00:00:00.000001+00', NULL)"
        )
        conn.execute("UPDATE fastapi_run SET created_at = '2026-11-09 00:00+00' WHERE id = 3")
    after = _same_as_the_file(workspace)
    assert after[0]["runs"] == before[0]["runs"] + 1
