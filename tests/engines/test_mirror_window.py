"""The local copy of the app's tables (usertrack/engines/postgres/app_mirror.py) reads its window in
UTC, as its times are kept, whatever DuckDB's own time zone (the machine's): a check right after a
copy finds nothing changed, also for rows near midnight UTC and at the window's end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.handmade import SCHEMA, one_user_with_runs

PATTERN = r"@datagen\.dev$"


@pytest.fixture()
def db(make_database: Callable[[str], str]) -> str:
    # every two hours, across midnights
    return one_user_with_runs(make_database(SCHEMA), datetime(2026, 5, 30, 20), 40)


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_the_window_is_read_in_utc_whatever_duckdbs_time_zone(
    db: str, tmp_path: Path, zone: str
) -> None:
    from usertrack.engines.postgres.app_mirror import RUNS, AppMirror
    from usertrack.engines.postgres.source import PostgresSource

    source = PostgresSource(db)
    since, as_of = datetime(2026, 5, 31, 2, tzinfo=UTC), datetime(2026, 6, 2, 2, tzinfo=UTC)
    try:
        with AppMirror(tmp_path / "copy.duckdb") as mirror:
            mirror.con.execute(f"SET GLOBAL TimeZone = '{zone}'")
            assert mirror.refresh(source, since, as_of, (RUNS,), PATTERN)["runs"] > 0
            assert mirror.refresh(source, since, as_of, (RUNS,), PATTERN) == {}
    finally:
        source.close()
