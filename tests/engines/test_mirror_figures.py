"""The check of the local copy of the app's tables (usertrack/engines/postgres/app_mirror.py) sees a
change that leaves the count of a day's rows and the sum of their `age(xmin)` as they were.

The case: a transaction running while the copy is made later rewrites two copied rows, one
written before it started (that row's xmin goes up by k) and one written after it started
(that row's xmin goes down by k). The sum of ages is unchanged; the copy is stale."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.handmade import SCHEMA

PATTERN = r"@datagen\.dev$"
USERS = "INSERT INTO fastapi_user VALUES (101, 1), (102, 2)"
# (the table, its copy's name, the two rows as inserted, the rewrite, the copy's column that
# shows the rewrite, its value before and after)
CASES = {
    "a day of runs": (
        "fastapi_run",
        "runs",
        "INSERT INTO fastapi_run VALUES ({id}, 101, 'completed', '2026-06-01 10:00', NULL)",
        "UPDATE fastapi_run SET run_state = 'failed', run_error_log = 'boom'",
        "run_state",
        "completed",
        "failed",
    ),
    "the users": (
        "wasp_user",
        "wasp_users",
        "INSERT INTO wasp_user VALUES ({id}, 'u{id}@x.io', 50, NULL, NULL, '2026-05-01')",
        "UPDATE wasp_user SET credits = 7",
        "credits",
        50.0,
        7.0,
    ),
}


def current_xid(conn: psycopg.Connection) -> int:
    """The id of the transaction `conn` is in (given one if it had none), as xmin holds it."""
    row = conn.execute("SELECT pg_current_xact_id()::text::int8 % 4294967296").fetchone()
    assert row is not None
    return int(row[0])


def xmin(conn: psycopg.Connection, table: str, key: int) -> int:
    row = conn.execute(f"SELECT xmin::text::int8 FROM {table} WHERE id = %s", [key]).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("case", list(CASES))
def test_rows_rewritten_with_the_same_sum_of_ages_are_copied_again(
    make_database: Callable[[str], str], tmp_path: Path, case: str
) -> None:
    from usertrack.engines.postgres.app_mirror import RUNS, AppMirror
    from usertrack.engines.postgres.source import PostgresSource

    table, name, insert, rewrite, column, before, after = CASES[case]
    uri = make_database(SCHEMA)
    since, as_of = datetime(2026, 5, 31, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC)
    source = PostgresSource(uri)
    with (
        psycopg.connect(uri, autocommit=True) as auto,
        psycopg.connect(uri) as late,  # the transaction running through the copy
        AppMirror(tmp_path / "copy.duckdb") as mirror,
    ):
        if table != "wasp_user":
            auto.execute("INSERT INTO wasp_user VALUES (1, 'a@x.io', 50, NULL, NULL, '2026-05-01')")
            auto.execute("INSERT INTO wasp_user VALUES (2, 'b@x.io', 50, NULL, NULL, '2026-05-01')")
        auto.execute(USERS)
        auto.execute(insert.format(id=1))  # written before the late transaction starts
        first = xmin(auto, table, 1)
        for _ in range(4):  # transactions of their own, each taking an id
            current_xid(auto)
        started = current_xid(late)
        k = started - first
        while current_xid(auto) < started + k - 1:
            pass
        auto.execute(insert.format(id=2))  # written after it started, k ids later
        second = xmin(auto, table, 2)
        assert second - started == started - first == k > 0, "ids taken by another session"

        assert mirror.refresh(source, since, as_of, (RUNS,), PATTERN)[name] == 2
        late.execute(f"{rewrite} WHERE id IN (1, 2)")
        late.commit()
        # the day's count and sum of xmins (so of ages) are those the copy holds
        assert {xmin(auto, table, 1), xmin(auto, table, 2)} == {started}
        assert first + second == 2 * started

        assert mirror.refresh(source, since, as_of, (RUNS,), PATTERN).get(name) == 2
        held = mirror.con.execute(f"SELECT {column} FROM {name} ORDER BY 1").fetchall()
        assert held == [(after,), (after,)] != [(before,), (before,)]
    source.close()
