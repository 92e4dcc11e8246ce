"""`usertrack tools` from its local copy of the app's tables
(usertrack/engines/postgres/app_mirror.py): the same JSON as the query files run on the database,
after rows are inserted, updated and deleted in it, and an edited query file still runs as written.

The database is tests/reports/test_tools.py's hand-made one (its figures are worked out there); each
test here compares the copy's answer with the files' (USERTRACK_APP_MIRROR=0) on that database.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from tests.analytics_helpers import record, write_export
from tests.cli_runner import run
from tests.handmade import SCHEMA
from tests.reports.test_tools import AS_OF, ROWS, SEGMENTS, STRANGER
from usertrack.core.shipped import shipped_path
from usertrack.reports.tool_sections import ratio, rounded


@pytest.fixture
def env(make_database: Callable[[str], str], tmp_path: Path) -> Any:
    uri = make_database(SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        for statement in ROWS.split(";\n"):
            if statement.strip():
                conn.execute(statement.encode(), {"stranger": STRANGER})
    rules = tmp_path / "segments.yaml"
    rules.write_text(SEGMENTS)
    events = write_export(
        tmp_path / "events.jsonl",
        [record(1, "$pageview", datetime(2026, 6, 8, 10, tzinfo=UTC), "pa", "pa", "ann@x.io", {})],
    )
    return (
        uri,
        tmp_path,
        {
            "DATABASE_URL": uri,
            "USERTRACK_SEGMENTS": str(rules),
            "USERTRACK_EVENTS": str(events),
            "USERTRACK_CACHE_TTL": "0",  # no answer cache: every run asks the copy or the files
        },
    )


def tools(env: Any, *args: str, copy: bool = True) -> Any:
    _, folder, variables = env
    result = run(
        ["tools", "--as-of", AS_OF, "--days", "7", "-f", "json", "--no-save", *args],
        folder / "home",
        **variables,
        USERTRACK_APP_MIRROR="1" if copy else "0",
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def copied_calls(env: Any) -> int:
    """How many tool calls the copy holds (0 when no copy was made)."""
    _, folder, _ = env
    files = list((folder / "home" / "cache" / "app-mirror").glob("*.duckdb"))
    if not files:
        return 0
    with duckdb.connect(str(files[0]), read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM tool_calls").fetchall()[0][0])


OPTIONS = [
    [],
    ["--tool", "gmail_send"],
    ["--tool", "*"],  # a name like any other for the errors (the files compare by equality)
    ["--segment", "spender"],
    ["--who", "credits < 50"],
    ["--days", "3"],
    ["--limit", "1"],
]


def test_the_copy_answers_as_the_files_do(env: Any) -> None:
    for args in OPTIONS:
        assert tools(env, *args) == tools(env, *args, copy=False), args
    assert copied_calls(env) == 9  # the window's calls, the internal user's too


CHANGES = [
    # a new call in the window
    "INSERT INTO fastapi_tool_executions VALUES (20, '102', 'web_search', 'default', 'datagen',"
    " 'failed', 700, 'TimeoutError', 'slow', '2026-06-08 09:00')",
    # an old row's status and duration changed
    "UPDATE fastapi_tool_executions SET status = 'success', execution_duration_ms = 50,"
    " error_type = NULL, error_message = NULL WHERE id = 4",
    # a row deleted
    "DELETE FROM fastapi_tool_executions WHERE id = 7",
    # a user's email changed to an internal one: their calls leave every figure
    "UPDATE wasp_user SET email = 'bob@datagen.dev' WHERE id = 2",
    # an agent run completed, a code execution and a deployment added
    "UPDATE wasp_agentexecution SET status = 'completed', duration_ms = 4000,"
    " completed_at = '2026-06-09 23:00:04' WHERE id = 4",
    "INSERT INTO fastapi_code_execution VALUES (9, 101, 'C', 'c.py', 'success', 10,"
    " '2026-06-09 09:00')",
    "INSERT INTO fastapi_deployment VALUES (9, 101, 'score', 'd', 'xyz', '2026-06-09 09:00')",
    # a call without a tool name (a group of its own, as in the files' GROUP BY)
    "INSERT INTO fastapi_tool_executions VALUES (22, '101', NULL, 'default', 'datagen',"
    " 'success', 5, NULL, NULL, '2026-06-08 09:30')",
    # a tool called under a second type (the report is then asked of the database)
    "INSERT INTO fastapi_tool_executions VALUES (21, '101', 'web_search', 'mcp', 'other',"
    " 'success', 5, NULL, NULL, '2026-06-08 09:00')",
]


def test_the_copy_notices_every_change_in_the_database(env: Any) -> None:
    uri = env[0]
    before = tools(env)
    assert copied_calls(env) > 0
    for change in CHANGES:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(change.encode())
        for args in ([], ["--tool", "web_search"], ["--segment", "spender"]):
            assert tools(env, *args) == tools(env, *args, copy=False), (change, args)
        with psycopg.connect(uri) as conn:
            (held,) = conn.execute(
                "SELECT count(*) FROM fastapi_tool_executions"
                " WHERE created_at >= '2026-06-04' AND created_at < '2026-06-10'"
            ).fetchall()
        assert copied_calls(env) == held[0], change  # the copy follows the table
        after = tools(env)  # the answer kept for this state of the copy
        assert after == tools(env, copy=False), change
        assert after != before, change  # each change moves a figure the report shows
        before = after


def test_cache_clear_removes_the_copy(env: Any) -> None:
    _, folder, variables = env
    tools(env)
    assert copied_calls(env) == 9
    result = run(["cache", "clear"], folder / "home", **variables)
    assert result.exit_code == 0, result.stderr
    assert not list((folder / "home" / "cache" / "app-mirror").glob("*.duckdb"))
    assert tools(env) == tools(env, copy=False)  # copied again at the next run
    assert copied_calls(env) == 9


def test_days_long_before_the_window_leave_the_copy(env: Any) -> None:
    tools(env, "--as-of", "2026-06-10")
    assert copied_calls(env) == 9
    # a window 90 days later: the June days are more than 60 days before it
    doc = tools(env, "--as-of", "2026-09-10")
    assert doc["overview"]["calls"] == 0
    assert copied_calls(env) == 0
    assert tools(env) == tools(env, copy=False)  # June's days copied again when asked
    assert copied_calls(env) == 9


def test_a_wider_window_keeps_its_days_for_the_asks_around_it(env: Any) -> None:
    """churn copies every run up to its as_of; a week's window asked at the same as_of (failures,
    the weekly report) pruned the copy down to its last 60 days, and the next churn copied
    them all again, on every alternation. A wider window's days stay for the asks of the 30
    days around its as_of, and go after."""
    tools(env, "--as-of", "2026-09-10", "--days", "200")
    spring = copied_calls(env)  # the calls of the 200 days, all in June or before
    assert spring >= 9
    assert tools(env, "--as-of", "2026-09-10")["overview"]["calls"] == 0  # its week: none
    assert copied_calls(env) == spring  # kept for the wider window asked at that as_of
    assert tools(env, "--as-of", "2026-10-05")["overview"]["calls"] == 0
    assert copied_calls(env) == spring  # 25 days later: still kept
    tools(env, "--as-of", "2026-10-20")  # 40 days after the wider window's as_of
    assert copied_calls(env) == 0


def test_an_edited_query_file_runs_as_written(env: Any) -> None:
    _, folder, _ = env
    mine = folder / "queries"
    shutil.copytree(shipped_path("queries"), mine)
    overview = mine / "neon" / "tool_overview.sql"
    overview.write_text(
        overview.read_text().replace("AS success_rate", "AS success_rate, 7 AS edited")
    )
    doc = tools(env, "--queries", str(mine))
    assert doc["overview"]["edited"] == 7
    assert doc["overview"]["calls"] == 8
    assert copied_calls(env) == 0  # the files ran: no copy was made


def test_a_bound_on_the_commands_connections_leaves_the_answer_to_the_files(env: Any) -> None:
    """The copy's check opens a connection per table: with USERTRACK_DB_CONNECTIONS set, the
    files run within the bound (app_mirror.copy_source, as for every command of the copy)."""
    _, folder, variables = env
    args = ["tools", "--as-of", AS_OF, "--days", "7", "-f", "json", "--no-save"]
    result = run(args, folder / "home", **variables, USERTRACK_DB_CONNECTIONS="2")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == tools(env, copy=False)
    assert copied_calls(env) == 0  # the files ran: no copy was made


def test_postgresql_rounding_is_reproduced() -> None:
    assert ratio(5, 2) == 3 and ratio(-5, 2) == -3 and ratio(7, 3) == 2  # half away from zero
    assert ratio(100 * 2, 3, 1) == 66.7 and ratio(100 * 1, 8, 1) == 12.5
    assert ratio(100 * 247, 2000, 1) == 12.4 and ratio(100 * 1235, 10000, 1) == 12.4
    assert ratio(1000 * 1235, 100000, 1) == 12.4 and ratio(12_350, 1000, 1) == 12.4
    assert ratio(12_350, 100, 1) == 123.5 and ratio(1, 0) is None and ratio(None, 3) is None
    # float8 -> numeric keeps 15 significant digits before rounding half away from zero
    assert rounded(2.4999999999999996) == 3 and rounded(2.49999999999) == 2
    assert rounded(560.0) == 560 and rounded(None) is None


def test_a_copy_cut_short_keeps_no_answer_for_rows_it_wrote(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.engines.postgres.app_mirror import AppMirror

    uri, folder, variables = env
    tools(env)  # the copy made, its answer kept
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(CHANGES[0].encode())
    set_meta = AppMirror.set_meta

    def interrupted(self: AppMirror, key: str, value: str) -> None:
        if key == "exclude_pattern":  # after the changed rows are written
            raise KeyboardInterrupt
        set_meta(self, key, value)

    monkeypatch.setattr(AppMirror, "set_meta", interrupted)
    args = ["tools", "--as-of", AS_OF, "--days", "7", "-f", "json", "--no-save"]
    result = run(args, folder / "home", **variables)
    assert result.exit_code == 130, result.stderr
    monkeypatch.undo()
    # Nothing of the interrupted run stays: the next copies the change and answers with it.
    assert tools(env) == tools(env, copy=False)


def test_a_check_the_database_refuses_leaves_the_answer_to_the_files(env: Any) -> None:
    uri = env[0]
    with psycopg.connect(uri, autocommit=True) as conn:
        # a view has no xmin: the copy's check fails on it
        conn.execute("ALTER TABLE fastapi_deployment RENAME TO deployments_kept")
        conn.execute("CREATE VIEW fastapi_deployment AS SELECT * FROM deployments_kept")
    doc = tools(env)
    assert doc == tools(env, copy=False)
    assert doc["custom_tools"]


def test_a_change_of_the_copys_columns_starts_a_new_copy(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from usertrack.engines.postgres import app_mirror

    _, folder, _ = env
    tools(env)
    users = app_mirror.FASTAPI_USERS
    wider = replace(users, columns=(*users.columns, ("extra", "t.id + 1", "BIGINT")))
    monkeypatch.setattr(app_mirror, "WHOLE", (wider, app_mirror.WASP_USERS))
    assert tools(env) == tools(env, copy=False)
    (path,) = (folder / "home" / "cache" / "app-mirror").glob("*.duckdb")
    with duckdb.connect(str(path), read_only=True) as con:
        columns = [r[0] for r in con.execute("DESCRIBE fastapi_users").fetchall()]
    assert "extra" in columns  # the copy made again with the columns of today's code


def test_a_cancelled_command_stops_the_checks_on_the_server(env: Any) -> None:
    import threading

    from usertrack.core.errors import Cancelled
    from usertrack.engines.base import CancelToken, cancel_scope
    from usertrack.engines.postgres.app_mirror import TIMED, AppMirror
    from usertrack.engines.postgres.source import PostgresSource

    uri, folder, _ = env
    source = PostgresSource(uri)
    token = CancelToken()
    outcome: list[BaseException] = []

    def refresh() -> None:
        try:
            with cancel_scope(token), AppMirror(folder / "copy.duckdb") as mirror:
                window = (datetime(2026, 6, 3), datetime(2026, 6, 10))
                mirror.refresh(source, *window, TIMED, r"@datagen\.dev$")
        except BaseException as e:
            outcome.append(e)

    with psycopg.connect(uri) as holder:
        # the deployments' check waits on this lock, on a thread of its own
        holder.execute("LOCK TABLE fastapi_deployment IN ACCESS EXCLUSIVE MODE")
        thread = threading.Thread(target=refresh, daemon=True)
        thread.start()
        with psycopg.connect(uri, autocommit=True) as watch:
            for _ in range(100):  # until the check waits on the lock
                (waiting,) = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                ).fetchall()
                if waiting[0]:
                    break
                threading.Event().wait(0.1)
        token.cancel()
        thread.join(10)
        stopped = not thread.is_alive()  # the lock still held: the server cancelled the wait
    thread.join()
    source.close()
    assert stopped
    assert outcome and isinstance(outcome[0], Cancelled), outcome


@pytest.mark.parametrize(
    "restored",
    [
        "UPDATE meta SET value = '999999999999' WHERE key = 'xid'",  # ids handed out again
        "UPDATE meta SET value = '1' WHERE key = 'system'",  # another server at the address
    ],
)
def test_a_database_restored_to_an_earlier_moment_starts_a_new_copy(
    env: Any, restored: str
) -> None:
    _, folder, _ = env
    truth = tools(env, copy=False)
    assert tools(env) == truth
    (path,) = (folder / "home" / "cache" / "app-mirror").glob("*.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute(restored)
        # rows the check cannot tell from the database's (same count, same xmin)
        con.execute("UPDATE tool_calls SET ms = ms + 1000")
        con.execute("DELETE FROM answers")
    assert tools(env) == truth  # copied again from the database


def weekly_failing_tools(env: Any, copy: bool) -> Any:
    _, folder, variables = env
    dashboard = folder / "metrics.yaml"  # the weekly dashboard's first panel
    dashboard.write_text("title: t\npanels:\n  - analysis: metrics\n    title: Key metrics\n")
    result = run(
        ["report", str(dashboard), "--as-of", AS_OF, "-f", "json", "--out", "-", "--no-save"],
        folder / "home",
        **variables,
        USERTRACK_APP_MIRROR="1" if copy else "0",
    )
    assert result.exit_code == 0, result.stderr
    (metrics,) = [p for p in json.loads(result.stdout)["panels"] if p["analysis"] == "metrics"]
    return metrics["data"]["failing_tools"]


def test_the_weekly_reports_failing_tools_from_the_copy_as_the_file_does(env: Any) -> None:
    uri = env[0]
    with psycopg.connect(uri, autocommit=True) as conn:
        # a failed call without a tool name (in no row of the file's) and one without a provider
        conn.execute(
            "INSERT INTO fastapi_tool_executions VALUES (23, '101', NULL, 'default', 'datagen',"
            " 'failed', 5, 'E', 'x', '2026-06-08 09:30'), (24, '101', 'web_search', 'default',"
            " NULL, 'failed', 5, 'E', 'x', '2026-06-08 09:40')"
        )
    from_files = weekly_failing_tools(env, copy=False)
    assert copied_calls(env) == 0
    assert weekly_failing_tools(env, copy=True) == from_files
    assert copied_calls(env) > 0  # the copy answered
    assert from_files["rows"]


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "garbage":
        path.write_bytes(b"not a copy at all\n" * 1000)
    elif how == "cut short":
        path.write_bytes(data[: len(data) // 3])
    else:  # every block past the headers: their checksums no longer hold
        path.write_bytes(data[:12288] + b"\xff" * (len(data) - 12288))


@pytest.mark.parametrize("how", ["garbage", "cut short", "overwritten"])
def test_a_damaged_copy_is_made_again(env: Any, how: str) -> None:
    _, folder, _ = env
    truth = tools(env, copy=False)
    assert tools(env) == truth
    mirrors = folder / "home" / "cache" / "app-mirror"
    (path,) = mirrors.glob("*.duckdb")
    _damage(path, how)
    assert tools(env) == truth  # from the copy made again, or the files while it is
    assert tools(env) == truth
    assert copied_calls(env) == 9  # made again and filled: the copy answers
    assert [p.name for p in mirrors.iterdir()] == [path.name]  # nothing left aside


def test_a_copy_made_again_leaves_nothing_aside_when_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from usertrack.engines.postgres.app_mirror import AppMirror

    path = tmp_path / "copy.duckdb"
    path.write_bytes(b"damaged" * 1000)
    replace = os.replace

    def stopped(*args: Any) -> None:
        raise KeyboardInterrupt  # Ctrl-C as the new copy is put in place

    monkeypatch.setattr(os, "replace", stopped)
    with pytest.raises(KeyboardInterrupt):
        AppMirror(path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the damaged file alone
    monkeypatch.setattr(os, "replace", replace)
    with AppMirror(path) as mirror:
        assert mirror.meta("format")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_copy_another_command_holds_is_left_as_it_is(tmp_path: Path) -> None:
    import subprocess
    import sys

    from usertrack.engines.postgres.app_mirror import AppMirror, MirrorUnavailable

    path = tmp_path / "copy.duckdb"
    with AppMirror(path) as mirror:
        mirror.set_meta("mine", "kept")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]);"
         " print('holding', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(MirrorUnavailable):
            AppMirror(path)
    finally:
        holder.communicate("")
    with AppMirror(path) as mirror:
        assert mirror.meta("mine") == "kept"  # not taken for a damaged file


def test_a_copy_found_damaged_while_read_is_replaced_once_closed(tmp_path: Path) -> None:
    from usertrack.engines.postgres.app_mirror import AppMirror

    path = tmp_path / "copy.duckdb"
    with AppMirror(path) as mirror:
        mirror.con.execute(
            "INSERT INTO runs (user_id, run_state, ts, day, xmin) SELECT range, 'failed' ||"
            " range, TIMESTAMP '2026-11-01' + to_seconds(range), DATE '2026-11-01', range"
            " FROM range(300000)"
        )
    whole = path.read_bytes()
    block = 262144  # DuckDB's blocks, after its three 4 kB headers
    for k in range((len(whole) - 12288) // block):
        # a block the copy opens without, which reading the runs meets
        path.write_bytes(
            whole[: 12288 + k * block] + b"\xff" * block + whole[12288 + (k + 1) * block :]
        )
        try:
            with duckdb.connect(str(path)) as con:
                con.execute("SELECT value FROM meta").fetchall()
        except duckdb.Error:
            continue
        try:
            with duckdb.connect(str(path)) as con:
                con.execute(
                    "SELECT sum(xmin), sum(length(run_state)), sum(epoch_us(ts)) FROM runs"
                ).fetchall()
        except duckdb.Error:
            break
    else:
        pytest.fail("no block of the runs alone")
    with pytest.raises(duckdb.Error), AppMirror(path) as mirror:
        mirror.con.execute(
            "SELECT sum(xmin), sum(length(run_state)), sum(epoch_us(ts)) FROM runs"
        ).fetchall()
    with AppMirror(path) as mirror:  # an empty copy in its place
        assert mirror.con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_copy_refused_for_another_reason_is_left_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.engines.postgres.app_mirror import AppMirror, MirrorUnavailable

    path = tmp_path / "copy.duckdb"
    with AppMirror(path) as mirror:
        mirror.set_meta("mine", "kept")
    connect = duckdb.connect

    def out_of_memory(database: str, *args: Any, **kwargs: Any) -> Any:
        # what cannot be provoked here on demand: DuckDB out of memory as it opens the copy
        # (and only the copy: a new file made beside it would open)
        if database == str(path):
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block")
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", out_of_memory)
    with pytest.raises(MirrorUnavailable):
        AppMirror(path)
    monkeypatch.setattr(duckdb, "connect", connect)
    with AppMirror(path) as mirror:
        assert mirror.meta("mine") == "kept"  # not taken for a damaged file, not copied again
