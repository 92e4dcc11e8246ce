"""The first copy of a window (usertrack/engines/postgres/app_mirror.py): with none of the window's
rows in the copy every day differs, so the database is read once, without asking its figures; the
copy then holds what a check copying day by day holds, and the next check finds it equal. And
the COPY reader (usertrack/engines/postgres/pg_copy.py): every row arrives, and an error after
the first rows is the database's own."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.handmade import SCHEMA, one_user_with_runs

PATTERN = r"@datagen\.dev$"
SINCE, AS_OF = datetime(2026, 5, 31, 3, tzinfo=UTC), datetime(2026, 6, 2, 3, tzinfo=UTC)


@pytest.fixture()
def db(make_database: Callable[[str], str]) -> str:
    # every two hours: days before, inside and after the window
    return one_user_with_runs(make_database(SCHEMA), datetime(2026, 5, 29, 1), 60)


def scans(uri: str, before: int | None = None) -> int:
    """The scans of fastapi_run counted so far (once they differ from `before`: the counts of
    a closed connection reach the statistics within a moment)."""
    with psycopg.connect(uri, autocommit=True) as conn:
        for _ in range(50):
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables"
                " WHERE relname = 'fastapi_run'"
            ).fetchone()
            assert row is not None
            if before is None or int(row[0]) != before:
                return int(row[0])
            time.sleep(0.1)
    return int(row[0])


def copied(path: Path) -> list[tuple[object, ...]]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT * FROM runs ORDER BY ts").fetchall()


def test_a_first_copy_reads_the_window_once(db: str, tmp_path: Path) -> None:
    from usertrack.engines.postgres.app_mirror import RUNS, AppMirror
    from usertrack.engines.postgres.source import PostgresSource

    before = scans(db)
    source = PostgresSource(db)
    try:
        with AppMirror(tmp_path / "copy.duckdb") as mirror:
            assert mirror.refresh(source, SINCE, AS_OF, (RUNS,), PATTERN)["runs"] == 36
    finally:
        source.close()  # its connections' counts reach the statistics
    assert scans(db, before) - before == 1  # the copy, no figures before it


def test_a_first_copy_holds_what_a_copy_day_by_day_holds(db: str, tmp_path: Path) -> None:
    from usertrack.engines.postgres.app_mirror import RUNS, AppMirror
    from usertrack.engines.postgres.source import PostgresSource

    source = PostgresSource(db)
    try:
        with AppMirror(tmp_path / "first.duckdb") as mirror:
            mirror.refresh(source, SINCE, AS_OF, (RUNS,), PATTERN)
            assert mirror.refresh(source, SINCE, AS_OF, (RUNS,), PATTERN) == {}
        # the same window copied day by day: the copy first holds one row of it
        with AppMirror(tmp_path / "days.duckdb") as mirror:
            mirror.refresh(source, SINCE, SINCE + timedelta(hours=1), (RUNS,), PATTERN)
            assert mirror.refresh(source, SINCE, AS_OF, (RUNS,), PATTERN)["runs"] > 0
    finally:
        source.close()
    first = copied(tmp_path / "first.duckdb")
    assert first == copied(tmp_path / "days.duckdb")
    # whole days, each with a row in the window: May 31st to June 2nd
    assert {row[-2] for row in first} == {datetime(2026, 5, d).date() for d in (31,)} | {
        datetime(2026, 6, d).date() for d in (1, 2)
    }
    assert len(first) == 36


def test_the_copy_reader_takes_every_row_and_the_databases_error(db: str) -> None:
    from usertrack.engines.postgres.pg_copy import copy_table

    with psycopg.connect(db) as conn, conn.transaction(), psycopg.ClientCursor(conn) as cur:
        sql = b"SELECT n, repeat('x', mod(n, 50)) AS s FROM generate_series(1, 200000) AS n"
        table = copy_table(cur, sql, {})
        assert table.num_rows == 200_000
        assert sum(table.column("n").to_pylist()) == 200_000 * 200_001 // 2
        cur.execute("SELECT 1")  # the copy ended as psycopg's own would have
        assert cur.fetchall() == [(1,)]
    with psycopg.connect(db) as conn, psycopg.ClientCursor(conn) as cur:
        failing = b"SELECT 100000 / (150000 - n) AS q FROM generate_series(1, 200000) AS n"
        with pytest.raises(psycopg.errors.DivisionByZero):
            copy_table(cur, failing, {})
