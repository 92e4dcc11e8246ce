"""sandbox.threads_each: the databases opened within get DuckDB's worker threads it names, and a
database file keeps the count it was first opened with (DuckDB refuses a second connection to an
open file with another configuration)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from usertrack.checks import sandbox


def _threads(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT current_setting('threads')").fetchone()
    assert row is not None
    return int(row[0])


def test_a_database_opened_within_gets_the_count() -> None:
    outside = sandbox.connect()
    with sandbox.threads_each(3):
        inside = sandbox.connect()
    try:
        assert _threads(inside) == 3
        assert _threads(outside) == _threads(sandbox.connect())  # DuckDB's default again
    finally:
        inside.close()
        outside.close()


def test_a_file_open_before_keeps_its_count_and_opens_again(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    first = sandbox.connect(path)
    default = _threads(first)
    try:
        with sandbox.threads_each(1):
            second = sandbox.connect(path)  # refused by DuckDB with a count of its own
            try:
                assert _threads(second) == default
            finally:
                second.close()
    finally:
        first.close()


def test_a_file_first_opened_within_keeps_its_count_after(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with sandbox.threads_each(1):
        first = sandbox.connect(path)
    try:
        second = sandbox.connect(path)
        try:
            assert _threads(second) == 1
        finally:
            second.close()
    finally:
        first.close()
