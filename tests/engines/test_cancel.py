"""When one source fails, or the user presses Ctrl-C, the other stops within a second.

Real parts only: the embedded PostgreSQL (or a closed port on 127.0.0.1) and the PostHog-compatible
server of tests/posthog_server.py, set to time out every synchronous query and never finish the
async one, so that only cancellation (not PostHog's 15-minute poll limit) can end the wait.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.posthog_server import DEFAULT_KEY, FakePostHog, posthog_query, serve
from usertrack.core.errors import EXIT_CONNECTION, EXIT_QUERY, QueryError, SourceConnectionError
from usertrack.engines.postgres.source import PostgresSource
from usertrack.engines.posthog import PostHogHTTPSource
from usertrack.queries.library import Query, parse_query
from usertrack.segments.profiles import run_by_source

REPO = Path(__file__).resolve().parents[2]
PROJECT = 4242


@pytest.fixture
def stuck(handmade_store: Path) -> Iterator[FakePostHog]:
    """A PostHog whose queries all time out synchronously and never finish asynchronously."""
    with serve(handmade_store, project_id=PROJECT) as server:
        server.time_out_next(10**6)
        server.async_polls = 10**9
        yield server


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def neon_query(tmp_path: Path, sql: str) -> Query:
    folder = tmp_path / "neon"
    folder.mkdir(exist_ok=True)
    path = folder / "q.sql"
    path.write_text(f"-- name: q\n-- description: test\n-- returns: table\n{sql}\n")
    return parse_query(path, "neon")


def slow_query(sql: str = "SELECT event, count() AS n FROM events GROUP BY event") -> Query:
    return posthog_query(sql, "slow")


def finish(fn: Callable[[], Any], within: float) -> tuple[BaseException | None, float]:
    """Run `fn` on a thread; its exception and how long it took. Fails if it runs past `within`
    (on a daemon thread, so a command that would wait for minutes cannot hang the test run)."""
    outcome: list[BaseException | None] = []
    started = time.monotonic()

    def target() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(within)
    assert outcome, f"still running after {within} s"
    return outcome[0], time.monotonic() - started


def test_a_failing_database_stops_posthog_polls(stuck: FakePostHog, tmp_path: Path) -> None:
    postgres = PostgresSource(f"postgresql://postgres@127.0.0.1:{closed_port()}/db")
    posthog = PostHogHTTPSource(DEFAULT_KEY, PROJECT, stuck.url)
    jobs = {
        "posthog": [("slow", slow_query(), {})],
        "neon": [("q", neon_query(tmp_path, "SELECT 1 AS one"), {})],
    }
    sources: dict[str, Any] = {"posthog": posthog, "neon": postgres}
    error, took = finish(lambda: run_by_source(sources, jobs), within=10)
    assert isinstance(error, SourceConnectionError) and "Connection refused" in str(error)
    assert took < 5  # the other source would hold it for 10 s or more; slack for a loaded machine
    time.sleep(0.3)  # a request already on the wire may still land
    sent = len(stuck.requests)
    time.sleep(0.7)
    assert len(stuck.requests) == sent  # no more polls
    posthog.close()


def test_an_abandoned_async_query_is_cancelled_on_posthog(
    stuck: FakePostHog, make_database: Callable[[str], str], tmp_path: Path
) -> None:
    db = make_database("")
    postgres = PostgresSource(db)
    posthog = PostHogHTTPSource(DEFAULT_KEY, PROJECT, stuck.url)
    # The database fails after 1.5 s, when PostHog is surely polling its async query.
    failing = neon_query(tmp_path, "SELECT 1 / 0 AS boom FROM pg_sleep(1.5)")
    jobs = {"posthog": [("slow", slow_query(), {})], "neon": [("q", failing, {})]}
    sources: dict[str, Any] = {"posthog": posthog, "neon": postgres}
    error, took = finish(lambda: run_by_source(sources, jobs), within=10)
    assert isinstance(error, QueryError) and "division by zero" in str(error)
    assert took < 5  # 1.5 s of the database's own, then soon after (10 s if not stopped)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not any(r["method"] == "DELETE" for r in stuck.requests):
        time.sleep(0.05)
    deletes = [r["path"] for r in stuck.requests if r["method"] == "DELETE"]
    assert len(deletes) == 1
    assert re.fullmatch(rf"/api/projects/{PROJECT}/query/[0-9a-f]+/", deletes[0])
    assert not stuck.jobs  # the fake forgot the job: PostHog was told to stop it
    postgres.close()
    posthog.close()


def test_a_throttled_posthog_stops_waiting_when_the_database_fails(
    handmade_store: Path, tmp_path: Path
) -> None:
    with serve(handmade_store, project_id=PROJECT) as fake:
        fake.throttle(10**6, retry_after=30)
        postgres = PostgresSource(f"postgresql://postgres@127.0.0.1:{closed_port()}/db")
        posthog = PostHogHTTPSource(DEFAULT_KEY, PROJECT, fake.url, max_total_wait=600)
        jobs = {
            "posthog": [("slow", slow_query(), {})],
            "neon": [("q", neon_query(tmp_path, "SELECT 1 AS one"), {})],
        }
        sources: dict[str, Any] = {"posthog": posthog, "neon": postgres}
        error, took = finish(lambda: run_by_source(sources, jobs), within=10)
        assert isinstance(error, SourceConnectionError) and took < 5
        posthog.close()


def test_a_failing_posthog_cancels_a_running_database_query(
    stuck: FakePostHog, make_database: Callable[[str], str], tmp_path: Path
) -> None:
    db = make_database("")
    stuck.time_out_next(0)
    postgres = PostgresSource(db)
    posthog = PostHogHTTPSource(DEFAULT_KEY, PROJECT, stuck.url)
    jobs = {
        "posthog": [("bad", slow_query("SELECT no_such_function_at_all()"), {})],
        "neon": [("q", neon_query(tmp_path, "SELECT pg_sleep(30) AS slept"), {})],
    }
    sources: dict[str, Any] = {"neon": postgres, "posthog": posthog}
    error, took = finish(lambda: run_by_source(sources, jobs), within=10)
    assert isinstance(error, QueryError) and "no_such_function_at_all" in str(error)
    assert took < 5  # the other source would hold it for 10 s or more; slack for a loaded machine
    # The database is not left running the query for 30 s.
    deadline = time.monotonic() + 2
    running = True
    while running and time.monotonic() < deadline:
        with psycopg.connect(db, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%'"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            ).fetchone()
        running = bool(row and row[0])
        time.sleep(0.05)
    assert not running
    postgres.close()
    posthog.close()


def cli_env(tmp_path: Path, fake: FakePostHog, database_url: str) -> dict[str, str]:
    config = tmp_path / "config.toml"
    config.write_text("")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POSTHOG_", "USERTRACK_"))}
    return {
        **base,
        "USERTRACK_HOME": str(tmp_path / "home"),
        "USERTRACK_CONFIG": str(config),
        "DATABASE_URL": database_url,
        "POSTHOG_HOST": fake.url,
        "POSTHOG_PROJECT_ID": str(PROJECT),
        "POSTHOG_PERSONAL_API_KEY": DEFAULT_KEY,
    }


def segments(env: dict[str, str], **more: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """`usertrack segments --refresh` in a subprocess, and how long it took."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "usertrack", "segments", "--refresh"],
        cwd=REPO,
        env={**env, **more},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc, time.monotonic() - started


def start_up(env: dict[str, str]) -> float:
    """How long this machine takes to start the CLI and stop at a settings error."""
    proc, took = segments(env, USERTRACK_CACHE_TTL="x")
    assert proc.returncode == 4, proc.stderr
    return took


def test_the_command_exits_with_the_database_error_at_once(
    stuck: FakePostHog, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, stuck, f"postgresql://postgres@127.0.0.1:{closed_port()}/db")
    baseline = start_up(env)
    proc, took = segments(env)
    assert proc.returncode == EXIT_CONNECTION, proc.stderr
    assert "Connection refused" in proc.stderr and "Traceback" not in proc.stderr
    # The sources' part, imports aside; PostHog's limit is 15 min. Generous: a loaded machine.
    assert took - baseline < 6


def test_a_hung_database_connect_does_not_hold_the_command(
    handmade_store: Path, tmp_path: Path
) -> None:
    # A port that completes the TCP handshake and then never answers: libpq waits for its
    # connect_timeout, and no signal can interrupt it. PostHog meanwhile fails at once.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    port = hole.getsockname()[1]
    try:
        with serve(handmade_store, project_id=PROJECT) as fake:
            fake.force_has_more = True  # every answer claims more rows: a QueryError
            url = f"postgresql://postgres@127.0.0.1:{port}/db?connect_timeout=10"
            env = cli_env(tmp_path, fake, url)
            baseline = start_up(env)
            proc, took = segments(env)
    finally:
        hole.close()
    assert proc.returncode == EXIT_QUERY, proc.stderr
    assert "hasMore" in proc.stderr
    # Not the 10 s connect timeout (times the attempts); generous for a loaded machine.
    assert took - baseline < 6


def test_ctrl_c_stops_both_sources_at_once(
    stuck: FakePostHog, handmade_db: str, tmp_path: Path
) -> None:
    env = cli_env(tmp_path, stuck, handmade_db)
    # Ctrl-C as from a shell: SIGINT at its default. A process that ignores SIGINT passes that on
    # to its children, and Python then never installs KeyboardInterrupt. A non-interactive shell
    # starts a background command (`cmd &`) with SIGINT and SIGQUIT ignored (POSIX; SigIgn 0x6 in
    # /proc), which is how the test run itself may be started, so the child resets SIGINT and
    # execs usertrack (same pid).
    shell_like = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
        " os.execv(sys.executable, [sys.executable, '-m', 'usertrack', 'segments', '--refresh'])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", shell_like],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            r["method"] == "GET" and "/query/" in r["path"] for r in stuck.requests
        ):
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130 and "interrupted" in stderr, stderr
    assert took < 5  # the other source would hold it for 10 s or more; slack for a loaded machine


def test_a_failing_database_interrupts_a_long_local_query(
    handmade_store: Path, tmp_path: Path
) -> None:
    """The local engine (an events export, the demo) is interrupted mid-scan too: the command
    does not leave DuckDB grinding through a query whose answer nobody will read."""
    from usertrack.core.errors import Cancelled
    from usertrack.engines.local.source import LocalPostHogSource

    local = LocalPostHogSource(handmade_store)
    # The 19 events crossed with themselves eight times (1.7e10 rows): hours of work.
    aliases = "abcdefgh"
    slow = slow_query(
        "SELECT sum(length(concat("
        + ", ".join(f"{a}.event" for a in aliases)
        + "))) AS n FROM "
        + ", ".join(f"events {a}" for a in aliases)
    )
    outcome: list[BaseException | None] = []

    def run_local() -> None:
        from usertrack.engines.base import cancel_scope

        with cancel_scope(token):
            try:
                local.run(slow, {})
                outcome.append(None)
            except BaseException as e:
                outcome.append(e)

    from usertrack.engines.base import CancelToken

    token = CancelToken()
    thread = threading.Thread(target=run_local, daemon=True)
    thread.start()
    time.sleep(0.5)  # well into the scan
    assert thread.is_alive(), outcome
    started = time.monotonic()
    token.cancel()
    thread.join(5)
    assert not thread.is_alive(), "the local query ran on after the cancel"
    assert time.monotonic() - started < 1.5
    assert isinstance(outcome[0], Cancelled)
    # The source stays usable for the next command's queries.
    assert local.run(slow_query("SELECT count() AS n FROM events"), {}).rows[0][0] > 0
    local.close()


def test_the_weekly_reports_work_meanwhile_stops_with_the_work_it_is_part_of() -> None:
    """The weekly report's failure tables, computed on a thread meanwhile, stop waiting as soon
    as the work the report is part of (a dashboard whose other panel failed) is cancelled."""
    from usertrack.core.errors import Cancelled
    from usertrack.engines.base import CancelToken, cancel_scope, pause
    from usertrack.engines.concurrency import Background

    outer = CancelToken()
    started = time.monotonic()
    with cancel_scope(outer), Background(lambda: pause(10)) as later:
        outer.cancel()
        with pytest.raises(Cancelled):
            later.result()
    assert time.monotonic() - started < 2


def test_a_dashboards_database_lane_stops_with_the_work_it_is_part_of() -> None:
    """A dashboard's database lane (usertrack.dashboards.compute.side_by_side) stops its
    panel's waits when the work the dashboard is part of is cancelled, and says so."""
    from types import SimpleNamespace

    from usertrack.core.errors import Cancelled
    from usertrack.dashboards.compute import side_by_side
    from usertrack.engines.base import CancelToken, cancel_scope, pause

    outer = CancelToken()
    panels = [SimpleNamespace(analysis="failures"), SimpleNamespace(analysis="funnel")]

    def outcome(i: int) -> dict[str, Any]:
        if i == 0:  # the database's panel: a long wait
            pause(10)
        else:  # the events' panel, meanwhile: the caller's work is cancelled
            outer.cancel()
        return {"panel": i}

    started = time.monotonic()
    with cancel_scope(outer), pytest.raises(Cancelled):
        side_by_side(panels, outcome)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2
