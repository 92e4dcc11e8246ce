"""Large per-user results read through COPY (usertrack.engines.postgres.pg_copy): the same values,
typed as the row-by-row path types them, every value still bound, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.engines.test_postgres import neon_query
from usertrack.core.errors import QueryError
from usertrack.engines.postgres.source import PostgresSource

AWKWARD = """
CREATE TABLE t (
    email text, n int, big bigint, small smallint, amount numeric, ratio float8, half real,
    ok boolean, day date, at timestamp, zoned timestamptz, code char(4), name varchar(40),
    nothing int, tags text[]
);
INSERT INTO t VALUES
  ('a@x.io', 1, 9007199254740993, 2, 12.345, 0.1, 1.1, true, '2026-01-02',
   '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05.5+05:30', 'ab', 'say "hi", ok', NULL,
   '{a,b}'),
  ('b@x.io', -7, NULL, NULL, 1e20, 'Infinity', NULL, false, NULL, NULL,
   '2026-06-30 23:59:59-07', NULL, '', NULL, NULL),
  ('c@x.io', NULL, 0, -1, NULL, -2.5e-10, -0.0, NULL, '1999-12-31', '2000-01-01 00:00:00',
   NULL, 'wxyz', E'two\\nlines,\\r\\nand ''quotes''', NULL, '{}');
"""
COLUMNS = "email, n, big, small, amount, ratio, half, ok, day, at, zoned, code, name, nothing"


@pytest.fixture
def db(make_database: Callable[[str], str]) -> str:
    return make_database(AWKWARD)


def rows_of(result: object) -> list[tuple[object, ...]]:
    arrow = result.arrow  # type: ignore[attr-defined]
    if arrow is None:
        return result.rows  # type: ignore[attr-defined,no-any-return]
    return list(zip(*(c.to_pylist() for c in arrow.columns), strict=True))


def test_copy_gives_the_rows_the_row_path_gives(db: str, tmp_path: Path) -> None:
    query = neon_query(tmp_path, f"SELECT {COLUMNS} FROM t ORDER BY email")
    source = PostgresSource(db)
    plain = source.run(query, {})  # type: ignore[arg-type]
    copied = source.run(query, {}, arrow_over=0)  # type: ignore[arg-type]
    small = source.run(query, {}, arrow_over=10)  # type: ignore[arg-type]
    source.close()
    assert copied.arrow is not None and copied.rows == []
    assert small.arrow is None
    assert copied.columns == small.columns == plain.columns
    assert rows_of(copied) == small.rows == plain.rows
    assert plain.rows[1][-2] == "" and plain.rows[2][-2] == "two\nlines,\r\nand 'quotes'"
    # Arrow's types are those it infers from the row path's values (a column of NULLs: null).
    import pyarrow as pa

    types = dict(zip(copied.arrow.column_names, copied.arrow.schema.types, strict=True))
    for name in copied.columns:
        assert types[name] == pa.array([r[copied.columns.index(name)] for r in plain.rows]).type


def test_a_column_copy_does_not_type_is_read_row_by_row(db: str, tmp_path: Path) -> None:
    query = neon_query(tmp_path, "SELECT email, tags FROM t ORDER BY email")
    source = PostgresSource(db)
    result = source.run(query, {}, arrow_over=0)  # type: ignore[arg-type]
    source.close()
    assert result.arrow is None
    assert result.rows == [("a@x.io", ["a", "b"]), ("b@x.io", None), ("c@x.io", [])]


def test_values_are_bound_in_copy_too(db: str, tmp_path: Path) -> None:
    query = neon_query(
        tmp_path,
        "SELECT email FROM t WHERE email = %(email)s OR n = %(n)s",
        "-- param email:\n-- param n:\n",
    )
    source = PostgresSource(db)
    evil = "a@x.io' OR '1'='1"
    assert rows_of(source.run(query, {"email": evil, "n": -7}, arrow_over=0)) == [("b@x.io",)]  # type: ignore[arg-type]
    assert rows_of(source.run(query, {"email": "a@x.io", "n": 0}, arrow_over=0)) == [("a@x.io",)]  # type: ignore[arg-type]
    source.close()


def test_a_write_fails_and_changes_nothing_with_copy(db: str, tmp_path: Path) -> None:
    source = PostgresSource(db)
    for sql in ("DELETE FROM t", "INSERT INTO t (email) VALUES ('z@x.io') RETURNING email",
                "SELECT 1 AS email; DELETE FROM t"):  # fmt: skip
        with pytest.raises(QueryError):
            source.run(neon_query(tmp_path, sql), {}, arrow_over=0)  # type: ignore[arg-type]
    source.close()
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (3,)


def test_a_connection_in_another_encoding_reads_row_by_row(db: str, tmp_path: Path) -> None:
    query = neon_query(tmp_path, "SELECT 'é' || email AS email FROM t ORDER BY email")
    source = PostgresSource(db + ("&" if "?" in db else "?") + "client_encoding=LATIN1")
    result = source.run(query, {}, arrow_over=0)  # type: ignore[arg-type]
    plain = source.run(query, {})  # type: ignore[arg-type]
    source.close()
    assert result.arrow is None
    assert result.rows == plain.rows and len(plain.rows) == 3


@pytest.mark.parametrize("order", ["email", "email DESC"])
def test_a_copy_read_in_parts_gives_the_rows_of_one(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    """A large copy is parsed a part at a time (pg_copy.PART_BYTES of CSV, each ending where a
    row does): here a row a part, so a column's first NULLs (DESC) or last ones are in parts of
    their own, and a part of the quoted value with a line break in it stays whole."""
    import pyarrow as pa

    from usertrack.engines.postgres import pg_copy

    query = neon_query(tmp_path, f"SELECT {COLUMNS} FROM t ORDER BY {order}")
    source = PostgresSource(db)
    whole = source.run(query, {}, arrow_over=0)  # type: ignore[arg-type]
    monkeypatch.setattr(pg_copy, "PART_BYTES", 1)
    parts = source.run(query, {}, arrow_over=0)  # type: ignore[arg-type]
    plain = source.run(query, {})  # type: ignore[arg-type]
    source.close()
    assert whole.arrow is not None and parts.arrow is not None
    assert whole.arrow.column(0).num_chunks == 1 and parts.arrow.column(0).num_chunks == 3
    assert rows_of(parts) == rows_of(whole) == plain.rows
    assert parts.arrow.schema == whole.arrow.schema
    assert parts.arrow.schema.field("nothing").type == pa.null()  # NULL in every part
    assert parts.arrow.schema.field("half").type == pa.float64()  # NULL in one part only


def test_a_value_that_does_not_parse_in_a_later_part_ends_the_copy_cleanly(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part that does not parse (here the fourth of six) leaves the query to the row path:
    the copy is read to its end, so the transaction and the connection stay usable, and no
    part of the rows is answered."""
    from usertrack.engines.postgres import pg_copy

    monkeypatch.setattr(pg_copy, "PART_BYTES", 1)
    sql = (
        b"SELECT n, CASE WHEN n = 4 THEN 'infinity'::timestamp"
        b" ELSE '2026-01-01'::timestamp + n * interval '1 hour' END AS at"
        b" FROM generate_series(1, 6) AS n"
    )
    with psycopg.connect(db) as conn, conn.transaction(), psycopg.ClientCursor(conn) as cur:
        with pytest.raises(pg_copy.NotCopyable):
            pg_copy.copy_table(cur, sql, {})
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]
        table = pg_copy.copy_table(cur, sql.replace(b"n = 4", b"n = 40"), {})
        assert table.column("n").to_pylist() == [1, 2, 3, 4, 5, 6]
