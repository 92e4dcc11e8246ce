"""The failure report's failures and trend, and the weekly report's failing runs, from the local
copy of the app's tables (usertrack/reports/failure_copy.py, failing_runs_copy.py): the same rows
as queries/neon/failures.sql, failure_trend.sql and failing_runs.sql on the database, and the
same report, at window edges, after runs and tool calls
are inserted, updated and deleted, and after a user's email becomes excluded; the files answer
where the copy may not."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import handmade
from tests.analytics_helpers import handmade_workspace

AS_OF = datetime(2026, 11, 16, 12, tzinfo=UTC)
# Moments asked: mid-day, midnight, and one a microsecond before a window's edge.
MOMENTS = [AS_OF, datetime(2026, 11, 16, tzinfo=UTC), AS_OF - timedelta(days=7, microseconds=1)]


@pytest.fixture()
def database(make_database: Callable[[str], str]) -> str:
    uri = make_database(handmade.SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        users = [
            (1, "a@x.io", datetime(2026, 9, 1)),
            (2, " B@X.io\n", datetime(2026, 9, 1)),
            (3, "bot@datagen.dev", datetime(2026, 9, 1)),  # excluded
            (4, "late@x.io", datetime(2026, 11, 10, 12)),
            (5, None, datetime(2026, 9, 1)),  # no email: excluded as the file excludes it
        ]
        for uid, email, created in users:
            conn.execute(
                "INSERT INTO wasp_user VALUES (%s, %s, 0, 'active', %s, %s)",
                (uid, email, created, created),
            )
            conn.execute("INSERT INTO fastapi_user VALUES (%s, %s)", (100 + uid, uid))
        # a second app user of account 1: one active user, not two
        conn.execute("INSERT INTO fastapi_user VALUES (106, 1)")
        n = 0
        start = datetime(2026, 10, 20)
        for hour in range(0, 30 * 24, 5):
            at = start + timedelta(hours=hour, minutes=hour % 60)
            for uid in (1, 2, 3, 4, 5, 6, 9):  # 9: no fastapi_user
                n += 1
                state = ("completed", "failed", "running")[(hour + uid) % 3]
                status = ("success", "failed")[(hour // 5 + uid) % 2]
                log = (
                    None,
                    f"Workflow run {n} failed\nTimeoutError: {n % 4}",
                    f"Workflow run {n} failed at step {n % 3} of 4: exit code 137 after {n % 9} s",
                    f"HTTP 503 Service Unavailable from node {n % 7}\nretrying",
                    "",
                )[n % 5]
                if (hour + uid) % 4:
                    conn.execute(
                        "INSERT INTO fastapi_run VALUES (%s, %s, %s, %s, %s)",
                        (n, 100 + uid, state, at, log if state == "failed" else None),
                    )
                if (hour + uid) % 3:
                    conn.execute(
                        "INSERT INTO fastapi_tool_executions VALUES"
                        " (%s, %s, 'search', 'mcp', 'p', %s, %s, 'HTTPError', %s, %s)",
                        (n, str(100 + uid), status, n % 90, f"429 at {n % 6}" * (n % 3),
                         at + timedelta(minutes=7)),
                    )  # fmt: skip
        # rows exactly at the edges: a window's end, a day's start
        for k, at in enumerate([datetime(2026, 11, 16, 12), datetime(2026, 11, 9, 12),
                                datetime(2026, 11, 16), datetime(2026, 11, 9)]):  # fmt: skip
            conn.execute(
                "INSERT INTO fastapi_run VALUES (%s, 101, 'failed', %s, NULL)", (10_000 + k, at)
            )
            conn.execute(
                "INSERT INTO fastapi_tool_executions VALUES"
                " (%s, '102', 'search', 'mcp', 'p', 'failed', 10, NULL, NULL, %s)",
                (10_000 + k, at),
            )
    return uri


@pytest.fixture()
def workspace(database: str, tmp_path: Path) -> Iterator[Any]:
    with handmade_workspace(database, tmp_path) as ws:
        yield ws


def _from_copy(ws: Any, at: datetime, days: int) -> Any:
    from usertrack.reports.failure_copy import FILES, from_copy

    return from_copy(ws, [(name, *ws.bind(name, at, days=days)) for name in FILES])


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A failure row's values as the failure table types them: times naive UTC, numbers whole."""
    return tuple(
        v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo
        else int(v) if isinstance(v, float)
        else v
        for v in row
    )  # fmt: skip


def _same_as_the_files(ws: Any) -> int:
    """Every moment's failures and trend from the copy, compared with the files'; the failures
    counted (so that a comparison of nothing cannot pass)."""
    counted = 0
    for at in MOMENTS:
        for days in (7, 1, 30):
            mine = _from_copy(ws, at, days)
            assert mine is not None
            trend = mine["neon/failure_trend"]
            assert trend.meta == {"from": "app mirror"}
            file = ws.run_query("neon/failure_trend", at, days=days)
            assert trend.columns == file.columns
            assert trend.rows == file.rows, (at, days)
            failures = mine["neon/failures"]
            file = ws.run_query("neon/failures", at, days=days)
            assert failures.columns == file.columns
            copied = list(zip(*(c.to_pylist() for c in failures.arrow.columns), strict=True))
            assert sorted(map(_plain, copied), key=repr) == sorted(map(_plain, file.rows), key=repr)
            counted += len(file.rows)
            mine_runs = _runs_from_copy(ws, at, days)
            assert mine_runs is not None and mine_runs.meta == {"from": "app mirror"}
            file = ws.run_query("neon/failing_runs", at, days=days, limit=3)
            assert (mine_runs.columns, mine_runs.rows) == (file.columns, file.rows), (at, days)
    return counted


def _runs_from_copy(ws: Any, at: datetime, days: int) -> Any:
    from usertrack.reports.failing_runs_copy import from_copy

    return from_copy(ws, *ws.bind("neon/failing_runs", at, days=days, limit=3))


def test_the_copy_answers_as_the_file_does_and_follows_changes(
    workspace: Any, database: str
) -> None:
    before = _same_as_the_files(workspace)
    assert before > 0
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE fastapi_run SET run_state = 'completed' WHERE id % 7 = 0")
        conn.execute("DELETE FROM fastapi_run WHERE id % 11 = 0")
        conn.execute("UPDATE fastapi_tool_executions SET status = 'failed' WHERE id % 5 = 0")
        conn.execute("DELETE FROM fastapi_tool_executions WHERE id % 13 = 0")
        conn.execute(
            "INSERT INTO fastapi_run VALUES (20000, 102, 'failed', '2026-11-16 11:00', NULL)"
        )
        conn.execute("UPDATE wasp_user SET email = 'a@datagen.dev' WHERE id = 1")
    after = _same_as_the_files(workspace)
    assert after != before


def test_the_failure_report_is_the_same_with_and_without_the_copy(
    workspace: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.core.config import resolve_failures_file
    from usertrack.reports import failure_copy
    from usertrack.reports.failures import failure_report, load_failure_rules
    from usertrack.reports.failures_output import report_json

    # what the report got from the copy: an answer each time it asked, not a silent fallback
    answered: list[bool] = []
    from_copy = failure_copy.from_copy

    def watched(ws: Any, jobs: Any) -> Any:
        found = from_copy(ws, jobs)
        answered.append(found is not None)
        return found

    monkeypatch.setattr(failure_copy, "from_copy", watched)
    rules = load_failure_rules(resolve_failures_file(None))
    copied = report_json(failure_report(workspace, rules, AS_OF, days=7))
    assert answered == [True]
    monkeypatch.setenv("USERTRACK_APP_MIRROR", "0")
    assert report_json(failure_report(workspace, rules, AS_OF, days=7)) == copied
    assert answered == [True, False]
    trend = json.loads(copied)["trend"]
    assert len(trend) == 8 and sum(r["tool_failures"] + r["runs_failed"] for r in trend) > 0


def test_an_edited_file_runs_on_the_database(workspace: Any, tmp_path: Path) -> None:
    import dataclasses

    from usertrack.reports.failure_copy import from_copy

    jobs = [(n, *workspace.bind(n, AS_OF, days=7)) for n in ("neon/failures", "neon/failure_trend")]
    assert from_copy(workspace, jobs) is not None
    name, query, values = jobs[1]
    sql = query.sql.replace("AS runs,", "AS runs ,", 1)
    edited = dataclasses.replace(query, sql=sql, path=tmp_path / "failure_trend.sql")
    assert edited.sql != query.sql
    assert from_copy(workspace, [jobs[0], (name, edited, values)]) is None


def test_a_first_line_the_copy_may_have_cut_is_read_by_the_file(
    workspace: Any, database: str
) -> None:
    assert _runs_from_copy(workspace, AS_OF, 7) is not None
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO fastapi_run VALUES (30000, 101, 'failed', '2026-11-15 10:00', %s)",
            ["Workflow run 1 failed at step 1 of 2: " + "x" * 600 + "\nmore"],
        )
    assert _runs_from_copy(workspace, AS_OF, 7) is None
    rows = workspace.run_query("neon/failing_runs", AS_OF, days=7, limit=50).as_dicts()
    assert any(r["error"] == "x" * 600 for r in rows)


def test_one_rule_says_where_the_copy_may_answer(
    workspace: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """app_mirror.copy_source, the rule of every command that answers from the copy."""
    import dataclasses

    from usertrack.engines.cache import CachedSource
    from usertrack.engines.postgres.app_mirror import copy_source
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.reports.failure_copy import SHORTCUTS

    files = [(cut, workspace.library.get(cut.query_id), None) for cut in SHORTCUTS]
    cached = workspace.sources["neon"]  # through the answer cache: the database behind it
    assert isinstance(cached, CachedSource) and isinstance(cached.inner, PostgresSource)
    database = cached.inner
    assert copy_source(workspace, files) is database
    monkeypatch.setitem(workspace.sources, "neon", database)  # asked directly
    assert copy_source(workspace, files) is database
    # an edited file runs as written
    cut, query, _ = files[0]
    edited = dataclasses.replace(query, sql=query.sql + "\n", path=tmp_path / "f.sql")
    assert copy_source(workspace, [(cut, edited, None), files[1]]) is None
    # a statement declared for another file than the one asked
    assert copy_source(workspace, [(files[1][0], query, None)]) is None
    # a bound on the command's connections (the check opens one per table)
    bounded = dataclasses.replace(workspace.settings, db_connections=2)
    with monkeypatch.context() as m:
        m.setattr(workspace, "settings", bounded)
        assert copy_source(workspace, files) is None
    # another kind of database
    with monkeypatch.context() as m:
        m.setitem(workspace.sources, "neon", object())
        assert copy_source(workspace, files) is None
    monkeypatch.setenv("USERTRACK_APP_MIRROR", "0")
    assert copy_source(workspace, files) is None
    monkeypatch.setenv("USERTRACK_APP_MIRROR", " 1 ")
    assert copy_source(workspace, files) is database


def test_a_dashboards_asks_check_each_table_once(
    workspace: Any, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure report, then the failing runs of the same week and of a day in it: each
    table is read once while the database stays as it was; a change is checked again."""
    from usertrack.engines.postgres.app_mirror import AppMirror

    checked: list[str] = []
    check = AppMirror._check

    def counted(self: AppMirror, source: Any, spec: Any, *args: Any, **kw: Any) -> Any:
        checked.append(spec.name)
        return check(self, source, spec, *args, **kw)

    def snapshot() -> str:
        with psycopg.connect(database, autocommit=True) as conn:
            return str(conn.execute("SELECT pg_current_snapshot()::text").fetchall()[0][0])

    def held_still(first: Callable[[], Any], then: Callable[[int], Any]) -> list[str]:
        """The tables `then` checked after `first`, in a try the server's snapshot held still
        through (another database of the test server may write meanwhile: autovacuum)."""
        for attempt in range(5):
            before = snapshot()
            first()
            checked.clear()
            then(attempt)
            if snapshot() == before:
                return sorted(checked)
        pytest.fail("the test server never held still")

    monkeypatch.setattr(AppMirror, "_check", counted)
    assert _from_copy(workspace, AS_OF, 7) is not None
    assert sorted(checked) == ["fastapi_users", "runs", "tool_calls", "wasp_users"]

    def asks(attempt: int) -> None:
        assert _runs_from_copy(workspace, AS_OF, 7) is not None
        assert _runs_from_copy(workspace, AS_OF - timedelta(days=2), 1) is not None
        assert _from_copy(workspace, AS_OF, 7) is not None

    assert held_still(lambda: _from_copy(workspace, AS_OF, 7), asks) == []

    # a window reaching further: its tables only
    def wider(attempt: int) -> None:  # a day wider each try: never asked before
        assert _runs_from_copy(workspace, AS_OF, 8 + attempt) is not None

    assert held_still(lambda: _from_copy(workspace, AS_OF, 7), wider) == ["runs"]
    checked.clear()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE fastapi_run SET run_state = 'completed' WHERE id = 12")
    assert _same_as_the_files(workspace) > 0  # each answer the files' after the change
    assert "runs" in checked


def test_a_window_is_within_the_ones_checked() -> None:
    from usertrack.engines.postgres.mirror_checks import within

    d = [datetime(2026, 11, k) for k in range(1, 20)]
    assert within([(d[1], d[5])], d[1], d[5]) and within([(d[1], d[5])], d[2], d[3])
    assert not within([(d[1], d[5])], d[0], d[5]) and not within([(d[1], d[5])], d[1], d[6])
    assert within([(d[3], d[8]), (d[1], d[4])], d[1], d[8])  # joined
    assert not within([(d[1], d[3]), (d[4], d[8])], d[1], d[8])  # a gap
    assert not within([], d[1], d[2])


def test_a_dashboards_report_takes_the_failures_as_arrow_with_the_same_report(
    workspace: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the copy, a dashboard's report (its scope shared) asks the database for the
    failures as Arrow columns (COPY), past the size where a per-user answer is (lowered here to
    every answer), and categorizes them in DuckDB: the report of the rows, to the byte."""
    from usertrack.core.config import resolve_failures_file
    from usertrack.reports import failures
    from usertrack.reports.failures import failure_report, load_failure_rules
    from usertrack.reports.failures_output import report_json
    from usertrack.segments import profiles

    monkeypatch.setenv("USERTRACK_APP_MIRROR", "0")
    monkeypatch.setattr(profiles, "LARGE_RESULT", 0)
    given: list[bool] = []  # whether categorize was given Arrow columns, each time
    categorize = failures.categorize

    def watched(spec: Any, con: Any, rows: Any, *args: Any, **kwargs: Any) -> int:
        given.append(rows.arrow is not None)
        return categorize(spec, con, rows, *args, **kwargs)

    monkeypatch.setattr(failures, "categorize", watched)
    rules = load_failure_rules(resolve_failures_file(None))
    alone = report_json(failure_report(workspace, rules, AS_OF, days=7))
    shared = workspace.scoped(workspace.scope.but(shared={}))
    assert report_json(failure_report(shared, rules, AS_OF, days=7)) == alone
    assert given == [False, True]
    assert json.loads(alone)["totals"]["tool_failures"] > 0
