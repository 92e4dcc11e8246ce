"""`usertrack accounts`' rows from the local copy of the app's tables
(usertrack/reports/accounts_copy.py): the same rows as queries/neon/account_health.sql on the
database, at window edges, with failure rates that round half away from zero, after runs, users
and members change, and after a user's email becomes excluded; the file where the copy cannot
sum the credits exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import handmade
from tests.analytics_helpers import handmade_workspace

AS_OF = datetime(2026, 11, 16, 12, tzinfo=UTC)
# The moment asked, midnight, and a microsecond before a 7-day window's open end.
MOMENTS = [AS_OF, datetime(2026, 11, 16, tzinfo=UTC), AS_OF - timedelta(days=7, microseconds=1)]
KEY = {"account_table": "crew", "account_column": "crew", "account_user_column": "member"}


@pytest.fixture()
def database(make_database: Callable[[str], str]) -> str:
    uri = make_database(handmade.SCHEMA + "CREATE TABLE crew (member text, crew text);")
    with psycopg.connect(uri, autocommit=True) as conn:
        users = [
            # id, email, credits, plan, last active
            (1, "a@x.io", 10, "active", datetime(2026, 11, 16, 12)),  # last active at as_of
            (2, " B@X.io\n", 20, "trialing", datetime(2026, 11, 9, 12)),  # at the open end
            (3, "bot@datagen.dev", 30, "active", datetime(2026, 11, 15)),  # excluded
            (4, "late@x.io", None, "Beta", datetime(2026, 11, 1)),  # created after the window
            (5, None, 50, "active", datetime(2026, 11, 15)),  # no email: left out
            (6, " \t", 60, "active", datetime(2026, 11, 15)),  # blank: left out
            (7, "c@x.io", 70, "alpha", None),
            (8, "d@x.io", 80, "Zeta", datetime(2026, 11, 10)),
            (9, "e@x.io", 90, None, None),
        ]
        for uid, email, credits, plan, active in users:
            created = datetime(2026, 11, 10, 12) if uid == 4 else datetime(2026, 9, 1)
            conn.execute(
                "INSERT INTO wasp_user VALUES (%s, %s, %s, %s, %s, %s)",
                (uid, email, credits, plan, active, created),
            )
            conn.execute("INSERT INTO fastapi_user VALUES (%s, %s)", (100 + uid, uid))
        conn.execute("INSERT INTO fastapi_user VALUES (200, 1)")  # a second app user of user 1
        # crews: user 1 in two; '07' and ' 8' are no user's id as text; a member of no crew
        crews = [("1", "north"), ("2", "north"), ("3", "north"), ("1", "south"), ("4", "south"),
                 ("5", "east"), ("6", "east"), ("7", "west"), ("8", "half"), ("9", "west"),
                 ("07", "far"), (" 8", "far"), ("9", None), (None, "none")]  # fmt: skip
        conn.execute(
            "INSERT INTO crew VALUES " + ", ".join(["(%s, %s)"] * len(crews)),
            [v for pair in crews for v in pair],
        )
        n = 0
        start = datetime(2026, 10, 20)
        for hour in range(0, 28 * 24, 7):
            at = start + timedelta(hours=hour, minutes=hour % 60)
            for app_user in (101, 102, 103, 104, 107, 200, 999):  # 999: of no user
                n += 1
                state = ("completed", "failed", "running", "completed")[(hour + app_user) % 4]
                conn.execute(
                    "INSERT INTO fastapi_run VALUES (%s, %s, %s, %s, NULL)",
                    (n, app_user, state, at),
                )
        # user 8: 1 failed run of 16 (6.25 %: 6.3 rounded half away from zero, not 6.2)
        for k in range(16):
            at = datetime(2026, 11, 14, 1, k)
            state = "failed" if k == 0 else "completed"
            conn.execute(
                "INSERT INTO fastapi_run VALUES (%s, 108, %s, %s, NULL)", (5000 + k, state, at)
            )
        # runs exactly at the edges: the window's end, its open start, a day's start
        for k, at in enumerate([datetime(2026, 11, 16, 12), datetime(2026, 11, 9, 12),
                                datetime(2026, 11, 16)]):  # fmt: skip
            conn.execute(
                "INSERT INTO fastapi_run VALUES (%s, 109, 'failed', %s, NULL)", (9000 + k, at)
            )
    return uri


@pytest.fixture()
def workspace(database: str, tmp_path: Path) -> Iterator[Any]:
    with handmade_workspace(database, tmp_path) as ws:
        yield ws


def _answers(ws: Any, at: datetime, days: int) -> tuple[Any, Any]:
    """The copy's answer and the file's for `at` and `days`, the key quoted in."""
    from usertrack.reports.accounts_copy import from_copy

    query, values = _bound(ws, at, days)
    return from_copy(ws, query, values, KEY), ws.sources["neon"].run(query, values)


def _bound(ws: Any, at: datetime, days: int) -> tuple[Any, dict[str, Any]]:
    """account_health.sql bound for `at` and `days`, the key quoted in."""
    import dataclasses

    from psycopg import sql

    from usertrack.reports.accounts_copy import FILE

    query, values = ws.bind(FILE, at, days=days)
    source = ws.sources["neon"]
    conn = getattr(source, "inner", source).connect()
    text = query.sql
    for placeholder, name in KEY.items():
        text = text.replace("{" + placeholder + "}", sql.Identifier(name).as_string(conn))
    return dataclasses.replace(query, sql=text), values


def _same_as_the_file(ws: Any) -> list[Any]:
    """Every moment's and window's accounts from the copy, compared with the file's (columns,
    rows and the Python type of every value); the file's rows."""
    seen = []
    for at in MOMENTS:
        for days in (7, 30):
            mine, files = _answers(ws, at, days)
            assert mine is not None and mine.meta == {"from": "app mirror"}
            assert mine.columns == files.columns
            assert mine.rows == files.rows, (at, days)
            assert [[type(v) for v in r] for r in mine.rows] == [
                [type(v) for v in r] for r in files.rows
            ]
            seen.extend(files.rows)
    return seen


def test_the_copy_answers_as_the_file_does_and_follows_changes(
    workspace: Any, database: str
) -> None:
    before = _same_as_the_file(workspace)
    accounts = {r[0] for r in before}
    assert accounts == {"north", "south", "west", "half"}  # east: no member kept; far: no user
    assert 6.3 in {r[6] for r in before}  # user 8's 1 failed run of 16
    assert {"at risk", "healthy"} <= {r[8] for r in before}
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE fastapi_run SET run_state = 'failed' WHERE id % 5 = 0")
        conn.execute("DELETE FROM fastapi_run WHERE id % 11 = 0")
        conn.execute("UPDATE wasp_user SET email = 'a@datagen.dev' WHERE id = 1")
        conn.execute("UPDATE wasp_user SET last_active_timestamp = '2026-11-16' WHERE id = 9")
        conn.execute("UPDATE wasp_user SET subscription_status = 'past_due' WHERE id = 7")
        conn.execute("INSERT INTO crew VALUES ('2', 'south'), ('9', 'dormant')")
    after = _same_as_the_file(workspace)
    assert after != before
    assert "dormant" not in {r[0] for r in before} and "dormant" in {r[0] for r in after}


def test_credits_the_copy_cannot_sum_exactly_are_summed_by_the_file(
    workspace: Any, database: str
) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ALTER TABLE wasp_user ALTER COLUMN credits TYPE numeric(12, 2)")
        conn.execute("UPDATE wasp_user SET credits = credits + 0.25")
    mine, files = _answers(workspace, AS_OF, 30)
    assert mine is None
    assert files.rows


def test_without_the_copy_the_file_answers(workspace: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USERTRACK_APP_MIRROR", "0")
    mine, files = _answers(workspace, AS_OF, 30)
    assert mine is None
    assert files.rows


def test_the_members_read_stops_at_the_statement_timeout(workspace: Any, database: str) -> None:
    """The account table, read beside the copy's check, is read under the source's statement
    timeout as every statement of the command is: an account table another session holds
    locked (a migration's ALTER TABLE waiting behind a long transaction) does not hold the
    command for good; the file then answers (and meets the same timeout, said as usual)."""
    import threading
    import time

    from usertrack.reports.accounts_copy import from_copy

    _answers(workspace, AS_OF, 30)  # the copy made, the key's query bound
    query, values = _bound(workspace, AS_OF, 30)
    source = workspace.sources["neon"]
    getattr(source, "inner", source).statement_timeout_ms = 300
    answered: list[Any] = []
    with psycopg.connect(database) as locker:
        locker.execute("LOCK TABLE crew IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        asking = threading.Thread(
            target=lambda: answered.append(from_copy(workspace, query, values, KEY)), daemon=True
        )
        asking.start()
        asking.join(timeout=15)
        waited = time.monotonic() - started
        locker.rollback()
    asking.join(timeout=15)
    assert waited < 15, "the account table's read waited past the statement timeout"
    assert answered == [None]  # the file answers instead
