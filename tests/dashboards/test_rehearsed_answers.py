"""A dashboard's rehearsal (usertrack.dashboards.prefetch.Rehearsed) keeps the database's answers
for the run, on the embedded PostgreSQL: the run's panels ask each one as many times as the
rehearsal's did, and a large answer is let go at the run's last ask, not held to the end."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest

from usertrack.dashboards import prefetch
from usertrack.dashboards.prefetch import Rehearsed
from usertrack.engines.postgres.source import PostgresSource
from usertrack.queries.library import Query, parse_query


def neon_query(tmp_path: Path, name: str, sql: str) -> Query:
    folder = tmp_path / "neon"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.sql"
    path.write_text(f"-- name: {name}\n-- description: test\n-- returns: table\n{sql}\n")
    return parse_query(path, "neon")


@pytest.fixture
def source(make_database: Callable[[str], str]) -> Rehearsed:
    return Rehearsed(PostgresSource(make_database("")), live=False)


def test_a_large_answer_is_let_go_at_the_runs_last_ask(source: Rehearsed, tmp_path: Path) -> None:
    rows = prefetch.ARROW_OVER + 1
    large = neon_query(tmp_path, "large", f"SELECT n FROM generate_series(1, {rows}) AS n")
    small = neon_query(tmp_path, "small", "SELECT n FROM generate_series(1, 3) AS n")
    try:
        source.rehearsing = True  # two panels ask each
        rehearsed = [source.run(q, {}) for q in (large, small, large, small)]
        source.rehearsing = False
        assert len(rehearsed[0].rows) == rows and len(rehearsed[1].rows) == 3

        first = source.run(large, {})  # the first panel's: kept for the second
        assert first is rehearsed[0]
        assert source.run(large, {}) is first  # the last: let go
        kept = weakref.ref(first)
        del first, rehearsed
        gc.collect()
        assert kept() is None, "the large answer is still held"

        # a small one stays, whatever its count: it costs nothing to keep
        assert [len(source.run(small, {}).rows) for _ in range(3)] == [3, 3, 3]
        # asked once more than the rehearsal foresaw: asked again, the same rows
        again = source.run(large, {})
        assert [r[0] for r in again.rows] == list(range(1, rows + 1))
    finally:
        source.close()
