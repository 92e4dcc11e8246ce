"""A dashboard's classification counts each user's runs and tool calls from the local copy of
the app's tables (usertrack/segments/profile_copy.py): the same rows as queries/neon/runs.sql and
tool_calls.sql on the database, the same profile, after runs and calls are inserted, updated and
deleted and an email becomes excluded; the files answer where the copy may not (an edited file,
USERTRACK_APP_MIRROR=0, a run dated before the copy's window, outside a dashboard)."""

from __future__ import annotations

import dataclasses
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
FILES = ("neon/runs", "neon/tool_calls")


@pytest.fixture()
def database(make_database: Callable[[str], str]) -> str:
    uri = make_database(handmade.SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        users = [
            (1, "a@x.io"),
            (2, " B@X.io\n"),  # normalized: b@x.io
            (3, "bot@datagen.dev"),  # excluded
            (4, "late@x.io"),
            (5, None),  # no email: left out as the files leave it out
            (6, "A@x.io"),  # the same person as account 1 once normalized: counted together
        ]
        for uid, email in users:
            created = datetime(2026, 9, uid)
            conn.execute(
                "INSERT INTO wasp_user VALUES (%s, %s, 100, 'active', %s, %s)",
                (uid, email, created, created),
            )
            conn.execute("INSERT INTO fastapi_user VALUES (%s, %s)", (100 + uid, uid))
        conn.execute("INSERT INTO fastapi_user VALUES (107, 1)")  # a second app user of 1
        n = 0
        for hour in range(0, 80 * 24, 7):
            at = datetime(2026, 9, 1) + timedelta(hours=hour, minutes=hour % 60)
            for uid in (1, 2, 3, 4, 5, 6, 7, 9):  # 9: no fastapi_user
                n += 1
                state = ("completed", "failed", "running")[(hour + uid) % 3]
                if (hour + uid) % 4:
                    conn.execute(
                        "INSERT INTO fastapi_run VALUES (%s, %s, %s, %s, NULL)",
                        (n, 100 + uid, state, at),
                    )
                if (hour + uid) % 3:
                    status = ("success", "failed")[(hour // 7 + uid) % 2]
                    kind = ("mcp", "builtin")[(hour + uid) % 2]
                    conn.execute(
                        "INSERT INTO fastapi_tool_executions VALUES"
                        " (%s, %s, 'search', %s, 'p', %s, 10, NULL, NULL, %s)",
                        (n, str(100 + uid), kind, status, at + timedelta(minutes=3)),
                    )
        # rows at the moment itself, a microsecond after it, and a call of no app user
        conn.execute(
            "INSERT INTO fastapi_run VALUES (90001, 101, 'failed', '2026-11-16 12:00', NULL)"
        )
        conn.execute(
            "INSERT INTO fastapi_run VALUES (90002, 102, 'failed', '2026-11-16 12:00:00.000001',"
            " NULL)"
        )
        conn.execute(
            "INSERT INTO fastapi_tool_executions VALUES"
            " (90003, 'x101', 'search', 'mcp', 'p', 'failed', 1, NULL, NULL, '2026-11-16 11:00')"
        )
    return uri


@pytest.fixture()
def workspace(database: str, tmp_path: Path) -> Iterator[Any]:
    with handmade_workspace(database, tmp_path) as ws:
        yield ws


def _profile(ws: Any, *, dashboard: bool) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """The classification's runs and tool_calls results (their `meta` and rows, sorted) and
    its profile's rows, in a dashboard (panels sharing: Scope.shared) or not."""
    run = ws.scoped(Scope(shared={} if dashboard else None)).profiles(AS_OF)
    try:
        found: dict[str, Any] = {}
        for name in FILES:
            result = run.results[name]
            table = "q_" + name.replace("/", "_")
            rows = run.con.execute(f'SELECT * FROM "{table}" ORDER BY email').fetchall()
            found[name] = (result.meta.get("from"), rows)
        profile = run.con.execute("SELECT * FROM profile ORDER BY email").fetchall()
    finally:
        run.close()
    return found, profile


def _same_as_the_files(ws: Any) -> int:
    """The copy's answers and profile equal the files'; the runs counted (so that a comparison
    of nothing cannot pass)."""
    copied, profile = _profile(ws, dashboard=True)
    files, plain = _profile(ws, dashboard=False)
    for name in FILES:
        assert copied[name][0] == "app mirror", name  # the copy answered
        assert files[name][0] is None
        assert copied[name][1] == files[name][1], name
    assert profile == plain
    return sum(row[1] for row in files["neon/runs"][1])


def test_the_copy_counts_as_the_files_do_and_follows_changes(workspace: Any, database: str) -> None:
    before = _same_as_the_files(workspace)
    assert before > 0
    emails = [row[0] for row in _profile(workspace, dashboard=True)[0]["neon/runs"][1]]
    assert "b@x.io" in emails and "bot@datagen.dev" not in emails
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE fastapi_run SET run_state = 'completed' WHERE id % 7 = 0")
        conn.execute("DELETE FROM fastapi_run WHERE id % 11 = 0")
        conn.execute("UPDATE fastapi_tool_executions SET status = 'failed' WHERE id % 5 = 0")
        conn.execute("DELETE FROM fastapi_tool_executions WHERE id % 13 = 0")
        conn.execute("INSERT INTO fastapi_run VALUES (95000, 102, 'failed', '2026-09-02', NULL)")
        conn.execute("UPDATE wasp_user SET email = 'a@datagen.dev' WHERE id = 1")
    after = _same_as_the_files(workspace)
    assert after != before


def test_the_files_answer_where_the_copy_may_not(
    workspace: Any, database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files, plain = _profile(workspace, dashboard=False)
    # USERTRACK_APP_MIRROR=0
    with monkeypatch.context() as mp:
        mp.setenv("USERTRACK_APP_MIRROR", "0")
        off, profile = _profile(workspace, dashboard=True)
    assert all(off[name][0] is None for name in FILES) and profile == plain
    # an edited file runs on the database as written
    query = workspace.library.get("neon/runs")
    sql = query.sql.replace("AS run_count,", "AS run_count ,", 1)
    edited = dataclasses.replace(query, sql=sql, path=tmp_path / "runs.sql")
    assert edited.sql != query.sql
    original = workspace.library.get

    def get(name: str) -> Any:
        return edited if name == "neon/runs" else original(name)

    with monkeypatch.context() as mp:
        mp.setattr(workspace.library, "get", get)
        mp.setattr(workspace.library, "in_folder", _in_folder(workspace.library, edited))
        found, profile = _profile(workspace, dashboard=True)
    assert found["neon/runs"][0] is None and found["neon/tool_calls"][0] is None
    assert profile == plain
    # a run dated before the copy's window: the files count it
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("INSERT INTO fastapi_run VALUES (96000, 101, 'failed', '0001-01-02', NULL)")
    found, profile = _profile(workspace, dashboard=True)
    files, plain = _profile(workspace, dashboard=False)
    assert found["neon/runs"] == files["neon/runs"] and found["neon/runs"][0] is None
    first = {row[0]: row[4] for row in files["neon/runs"][1]}
    assert first["a@x.io"] == datetime(1, 1, 2)
    assert profile == plain


def _in_folder(library: Any, edited: Any) -> Callable[..., Any]:
    original = library.in_folder

    def in_folder(folder: str, **kw: Any) -> Any:
        return [edited if q.id == edited.id else q for q in original(folder, **kw)]

    return in_folder
