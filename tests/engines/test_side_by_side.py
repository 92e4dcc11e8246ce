"""A command's PostgreSQL queries run side by side, each on a read-only connection of its own
(bounded by USERTRACK_DB_CONNECTIONS), and give what they gave one after another.

Real parts only: the session's embedded PostgreSQL, the demo's PostgreSQL and events store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.cli_runner import run
from usertrack.core.errors import QueryError
from usertrack.engines.postgres.source import PostgresSource
from usertrack.queries.library import parse_query
from usertrack.segments.profiles import Job, run_by_source


def neon_job(folder: Path, name: str, sql: str) -> Job:
    (folder / "neon").mkdir(exist_ok=True)
    path = folder / "neon" / f"{name}.sql"
    path.write_text(f"-- name: {name}\n-- description: test\n-- returns: table\n{sql}\n")
    return (name, parse_query(path, "neon"), {})


# When the query's statement reached the server, and when it ended (after its sleep), with
# whether its transaction is read-only and its statement timeout: as each connection saw them.
TIMED = (
    "SELECT statement_timestamp() AS started, clock_timestamp() AS ended,"
    " current_setting('transaction_read_only') AS read_only,"
    " current_setting('statement_timeout') AS timeout,"
    " pg_backend_pid() AS pid FROM pg_sleep(0.4)"
)


def timed_runs(db: str, folder: Path, bound: int | None) -> dict[str, tuple[Any, ...]]:
    source = PostgresSource(db, statement_timeout_ms=7_000, max_concurrent=bound)
    jobs = {"neon": [neon_job(folder, f"q{i}", TIMED) for i in range(3)]}
    try:
        results = run_by_source({"neon": source}, jobs)
    finally:
        source.close()
    assert list(results) == ["q0", "q1", "q2"]  # in job order, whatever order they ended in
    return {key: result.rows[0] for key, result in results.items()}


def test_postgres_queries_overlap_each_on_its_own_read_only_connection(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    rows = timed_runs(make_database(""), tmp_path, None)
    started = [r[0] for r in rows.values()]
    ended = [r[1] for r in rows.values()]
    # Every query had started before any ended: all three ran at once.
    assert max(started) < min(ended)
    assert len({r[4] for r in rows.values()}) == 3  # three connections (backends)
    assert {(r[2], r[3]) for r in rows.values()} == {("on", "7s")}


def test_the_bound_holds(make_database: Callable[[str], str], tmp_path: Path) -> None:
    rows = timed_runs(make_database(""), tmp_path, 1)
    spans = sorted((r[0], r[1]) for r in rows.values())
    # One at a time: each started after the one before had ended, on one connection.
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))
    assert len({r[4] for r in rows.values()}) == 1


def test_a_failing_query_cancels_the_others_on_the_database(
    make_database: Callable[[str], str], tmp_path: Path
) -> None:
    db = make_database("")
    source = PostgresSource(db)
    # The failing query is the last: one after another, the two before it would hold the
    # command for a minute before it even started.
    jobs = {
        "neon": [
            neon_job(tmp_path, "slow1", "SELECT 1 AS one FROM pg_sleep(30)"),
            neon_job(tmp_path, "slow2", "SELECT 2 AS two FROM pg_sleep(30)"),
            neon_job(tmp_path, "boom", "SELECT 1 / 0 AS boom FROM pg_sleep(0.5)"),
        ]
    }
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            run_by_source({"neon": source}, jobs)
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(15)
    assert outcome, "still running after 15 s"
    error = outcome[0]
    assert isinstance(error, QueryError) and "division by zero" in str(error)
    assert time.monotonic() - started < 5
    # The two slow queries were cancelled on the server, not left running.
    deadline = time.monotonic() + 5
    with psycopg.connect(db, autocommit=True) as watcher:
        while True:
            active = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%'"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            ).fetchone()
            if active == (0,) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert active == (0,)
    source.close()


def test_the_results_that_came_first_are_joined_while_the_last_query_runs(
    make_database: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three per-user queries, the last still running (pg_sleep) when the first two are
    loaded: those two are joined meanwhile (profiles.join_early), and the profile is the one
    the join of all three gives."""
    from usertrack.queries.library import load_queries
    from usertrack.segments import profiles

    monkeypatch.setattr(profiles, "LARGE_RESULT", 10)  # the join costs something from here
    people = "SELECT 'p' || i || '@x.io' AS email, i AS {0} FROM generate_series({1}, {2}) AS i"
    files = {
        "a": people.format("a", 1, 40),
        "b": people.format("b", 20, 60),
        # one sleep of 2 s (an uncorrelated subquery is run once), not one per row
        "c": people.format("c", 50, 70) + " WHERE (SELECT pg_sleep(2)) IS NOT NULL",
    }
    for name, sql in files.items():
        (tmp_path / "neon").mkdir(exist_ok=True)
        (tmp_path / "neon" / f"{name}.sql").write_text(
            f"-- name: {name}\n-- description: test\n-- returns: per-user\n{sql}\n"
        )
    (tmp_path / "join").mkdir()
    (tmp_path / "join" / "profile.sql").write_text(
        "-- name: profile\n-- description: test\n-- returns: per-user\nSELECT * FROM joined\n"
    )
    library = load_queries(tmp_path)
    source = PostgresSource(make_database(""), max_concurrent=None)
    try:
        run = profiles.build_profiles(
            library, {"neon": source}, as_of=datetime(2026, 11, 1), exclude_domains=[]
        )
    finally:
        source.close()
    view = run.con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'joined'").fetchone()
    assert view is not None and profiles.EARLY_TABLE in view[0]  # a and b joined early
    found = run.con.execute("SELECT * FROM profile ORDER BY email").fetchall()
    tables = [(library.get(f"neon/{n}"), f"q_neon_{n}", ["email", n]) for n in "abc"]
    profiles.join_per_user(run.con, tables, excluded=profiles.exclude_pattern([]))
    whole = run.con.execute("SELECT * FROM joined ORDER BY email").fetchall()
    assert found == whole and len(whole) == 70
    assert whole[0] == ("p10@x.io", 10, None, None, False, True)
    run.close()


@pytest.fixture(scope="module")
def demo_args(demo_home: Path) -> Callable[[list[str], str | None], str]:
    def segments(args: list[str], connections: str | None) -> str:
        env = {"USERTRACK_DB_CONNECTIONS": connections} if connections else {}
        result = run(args, demo_home, **env)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    return segments


@pytest.mark.parametrize(
    "args",
    [
        ["segments", "--format", "json", "--no-save"],
        ["segments", "--format", "csv", "--no-save"],
        ["failures", "--format", "json"],
        ["user", "jane.doe@acme.io", "--format", "json"],
    ],
)
def test_side_by_side_answers_as_one_after_another(
    demo_args: Callable[[list[str], str | None], str], args: list[str]
) -> None:
    assert demo_args(args, None) == demo_args(args, "1")


def test_the_per_user_results_are_the_serial_ones(demo_home: Path) -> None:
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.segments.profiles import exclude_pattern, run_per_user_queries
    from usertrack.workspace import open_workspace

    answers = []
    for bound in (None, 1):
        settings = load_settings({"USERTRACK_HOME": str(demo_home), "USERTRACK_CONFIG": ""})
        ws = open_workspace(
            settings,
            queries_dir=resolve_queries_dir(None),
            segments_path=resolve_segments_file(None),
        )
        with ws:
            ws.sources["neon"].max_concurrent = bound  # type: ignore[attr-defined]
            as_of: datetime = ws.default_as_of()
            params = {"as_of": as_of, "exclude_pattern": exclude_pattern(ws.rules.exclude)}
            results = run_per_user_queries(ws.library, ws.sources, as_of=as_of, params=params)
        # Rows in no order (DuckDB's and PostgreSQL's without ORDER BY): the join is by email.
        answers.append([(key, r.columns, sorted(map(repr, r.rows))) for key, r in results.items()])
    assert len([key for key, _, _ in answers[0] if key.startswith("neon/")]) >= 3
    assert answers[0] == answers[1]


def test_the_setting_is_checked() -> None:
    from usertrack.core.config import load_settings
    from usertrack.core.errors import ConfigError

    assert load_settings({"USERTRACK_DB_CONNECTIONS": "2"}).db_connections == 2
    assert load_settings({}).db_connections is None
    with pytest.raises(ConfigError, match="USERTRACK_DB_CONNECTIONS='0'"):
        load_settings({"USERTRACK_DB_CONNECTIONS": "0"})
