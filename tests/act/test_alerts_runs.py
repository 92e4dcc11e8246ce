"""An alerts pass's workflow runs from the local copy of the app's tables
(usertrack/act/alerts_runs.py): the same rows as queries/neon/run_windows.sql and
run_failure_days.sql on the database, at window edges, after runs are inserted, updated and
deleted, and after a user's email becomes excluded."""

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

AS_OF = datetime(2026, 11, 16, 12, tzinfo=UTC)
# Moments asked: the pass's own, midnight, and one a microsecond before a window's edge.
MOMENTS = [AS_OF, datetime(2026, 11, 16, tzinfo=UTC), AS_OF - timedelta(days=7, microseconds=1)]


@pytest.fixture()
def database(make_database: Callable[[str], str]) -> str:
    uri = make_database(handmade.SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        users = [
            (1, "a@x.io", datetime(2026, 9, 1)),
            (2, " B@X.io\n", datetime(2026, 9, 1)),
            (3, "bot@datagen.dev", datetime(2026, 9, 1)),  # excluded
            (4, "late@x.io", datetime(2026, 11, 10, 12)),  # counted from the week it exists
            (5, None, datetime(2026, 9, 1)),  # no email: excluded as the files exclude it
        ]
        for uid, email, created in users:
            conn.execute(
                "INSERT INTO wasp_user VALUES (%s, %s, 0, 'active', %s, %s)",
                (uid, email, created, created),
            )
            conn.execute("INSERT INTO fastapi_user VALUES (%s, %s)", (100 + uid, uid))
        n = 0
        start = datetime(2026, 9, 15)
        for hour in range(0, 62 * 24, 5):
            at = start + timedelta(hours=hour, minutes=hour % 60)
            for uid in (1, 2, 3, 4, 5, 9):  # 9: a run of no fastapi_user
                n += 1
                state = ("completed", "failed", "running")[(hour + uid) % 3]
                conn.execute(
                    "INSERT INTO fastapi_run VALUES (%s, %s, %s, %s, NULL)",
                    (n, 100 + uid, state, at),
                )
        # runs exactly at the edges: a window's end, a day's start
        for k, at in enumerate([datetime(2026, 11, 16, 12), datetime(2026, 11, 9, 12),
                                datetime(2026, 11, 16), datetime(2026, 11, 2)]):  # fmt: skip
            conn.execute(
                "INSERT INTO fastapi_run VALUES (%s, 101, 'failed', %s, NULL)", (10_000 + k, at)
            )
    return uri


@pytest.fixture()
def workspace(database: str, tmp_path: Path) -> Iterator[Any]:
    with handmade_workspace(database, tmp_path) as ws:
        yield ws


def _same_as_the_files(ws: Any) -> int:
    """Every moment's run windows and failure days from the copy, compared with the files';
    the runs counted (so that a comparison of nothing cannot pass)."""
    from usertrack.act.alerts_runs import RunsCopy

    counted = 0
    for at in MOMENTS:
        for days, windows in ((7, 8), (1, 15)):
            copy = RunsCopy(ws, [(at - timedelta(days=days * windows), at)])
            try:
                mine = copy.run_windows(at, days, windows)
            finally:
                copy.close()
            files = ws.run_query("neon/run_windows", at, days=days, windows=windows).as_dicts()
            assert mine == files, (at, days, windows)
            counted += sum(r["runs"] for r in files)
        copy = RunsCopy(ws, [(at - timedelta(days=8), at)])
        try:
            mine = copy.failure_days(at, 8)
        finally:
            copy.close()
        files = ws.run_query("neon/run_failure_days", at, days=8).as_dicts()
        assert mine == files, at
        counted += sum(r["runs_failed"] for r in files)
    return counted


def test_the_copy_answers_as_the_files_do_and_follows_changes(
    workspace: Any, database: str
) -> None:
    before = _same_as_the_files(workspace)
    assert before > 0
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE fastapi_run SET run_state = 'completed' WHERE id % 7 = 0")
        conn.execute("DELETE FROM fastapi_run WHERE id % 11 = 0")
        conn.execute(
            "INSERT INTO fastapi_run VALUES (20000, 102, 'failed', '2026-11-16 11:00', NULL)"
        )
        conn.execute("UPDATE wasp_user SET email = 'a@datagen.dev' WHERE id = 1")
    after = _same_as_the_files(workspace)
    assert after != before


def test_a_window_outside_the_one_checked_is_asked_of_the_files(workspace: Any) -> None:
    from usertrack.act.alerts_runs import RunsCopy

    copy = RunsCopy(workspace, [(AS_OF - timedelta(days=8), AS_OF)])
    try:
        assert copy.run_windows(AS_OF, 7, 8) is None  # 56 days: more than the 8 checked
        assert copy.failure_days(AS_OF, 8) is not None
    finally:
        copy.close()


def test_without_the_copy_the_files_answer(workspace: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from usertrack.act.alerts_runs import RunsCopy

    monkeypatch.setenv("USERTRACK_APP_MIRROR", "0")
    copy = RunsCopy(workspace, [(AS_OF - timedelta(days=8), AS_OF)])
    try:
        assert copy.failure_days(AS_OF, 8) is None
    finally:
        copy.close()


def test_the_copy_is_closed_once_its_windows_are_answered(workspace: Any) -> None:
    """The pass's copy (a DuckDB instance with threads of its own) is not held through the rest
    of the pass: once each span has been asked for, it is closed."""
    import duckdb

    from usertrack.act.alerts_runs import RunsCopy

    copy = RunsCopy(
        workspace, [(AS_OF - timedelta(days=8), AS_OF), (AS_OF - timedelta(days=56), AS_OF)]
    )
    try:
        assert copy.failure_days(AS_OF, 8) is not None
        assert copy._mirror is not None  # one span still to be asked for: open
        con = copy._mirror.con
        assert con.execute("SELECT 1").fetchall() == [(1,)]
        assert copy.run_windows(AS_OF, 7, 8) is not None
        with pytest.raises(duckdb.ConnectionException):
            con.execute("SELECT 1")
    finally:
        copy.close()


def test_the_copy_has_the_memory_limit_of_every_connection(tmp_path: Path) -> None:
    from usertrack.checks.sandbox import connect
    from usertrack.engines.postgres.app_mirror import AppMirror

    with AppMirror(tmp_path / "copy.duckdb") as mirror:
        (mine,) = mirror.con.execute("SELECT current_setting('memory_limit')").fetchone() or ()
    con = connect()
    try:
        (theirs,) = con.execute("SELECT current_setting('memory_limit')").fetchone() or ()
    finally:
        con.close()
    assert mine == theirs


def test_the_plans_from_the_copy_are_the_files(workspace: Any, database: str) -> None:
    """The plans of the people a pass may alert, from the copy's users: accounts.sql's, at a
    moment before an account exists too; an email of users whose statuses differ (ordered by
    the database's collation) is asked of the file."""
    from usertrack.act.alerts_plans import Plans
    from usertrack.act.alerts_runs import RunsCopy

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE wasp_user SET subscription_status = 'trialing' WHERE id = 2")
        conn.execute("UPDATE wasp_user SET subscription_status = NULL WHERE id = 4")
    emails = ["a@x.io", "b@x.io", "bot@datagen.dev", "late@x.io", "nobody@x.io"]
    for at in (AS_OF, datetime(2026, 11, 10, tzinfo=UTC)):  # late@x.io not yet at the second
        copy = RunsCopy(workspace, [(at - timedelta(days=8), at)], plans=True)
        try:
            mine = copy.plans(at, emails)
        finally:
            copy.close()
        assert mine is not None
        assert {**dict.fromkeys(emails), **mine} == Plans(workspace, at).of(emails)
    assert mine == {"a@x.io": "active", "b@x.io": "trialing"}
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("INSERT INTO wasp_user VALUES (6, 'A@x.io ', 0, 'canceled', %s, %s)",
                     (datetime(2026, 9, 1), datetime(2026, 9, 1)))  # fmt: skip
    copy = RunsCopy(workspace, [(AS_OF - timedelta(days=8), AS_OF)], plans=True)
    try:
        assert copy.plans(AS_OF, emails) is None
        files = Plans(workspace, AS_OF).of(emails)
        assert Plans(workspace, AS_OF, copy).of(emails) == files
        assert files["a@x.io"] == "canceled"
    finally:
        copy.close()


def test_the_copy_is_closed_once_the_plans_are_done_too(workspace: Any) -> None:
    import duckdb

    from usertrack.act.alerts_runs import RunsCopy

    copy = RunsCopy(workspace, [(AS_OF - timedelta(days=8), AS_OF)], plans=True)
    try:
        assert copy.failure_days(AS_OF, 8) is not None
        assert copy._mirror is not None  # the plans still to be asked for: open
        con = copy._mirror.con
        assert copy.plans(AS_OF, ["a@x.io"]) == {"a@x.io": "active"}
        copy.plans_done()
        with pytest.raises(duckdb.ConnectionException):
            con.execute("SELECT 1")
        assert copy.plans(AS_OF, ["a@x.io"]) is None  # closed: the file answers
    finally:
        copy.close()


def test_a_dashboards_pass_takes_the_plans_from_the_copy_too(workspace: Any) -> None:
    """In a dashboard (its panels' shared facts) as alone, a pass with run triggers and people
    to alert reads their plans from the copy it checks."""
    from types import SimpleNamespace

    from usertrack.act.alerts_runs import for_pass

    spike = SimpleNamespace(kind="failures", days=7)
    for shared in (None, {}):
        view = workspace.scoped(Scope(shared=shared))
        copy = for_pass(view, [spike], AS_OF, {"failures", "segment"})
        try:
            assert copy.failure_days(AS_OF, 8) is not None
            assert copy.plans(AS_OF, ["a@x.io"]) == {"a@x.io": "active"}, shared
        finally:
            copy.close()
