"""Per-user results reach DuckDB the same way whatever their size (VALUES, numpy or Arrow)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from usertrack.core.errors import QueryError
from usertrack.engines.base import Result
from usertrack.queries.library import Query
from usertrack.segments import profiles

QUERY = Query(
    name="q", folder="neon", path=Path("q.sql"), sql="-", description="d", returns="per-user"
)


def sample(n: int) -> Result:
    start = datetime(2026, 11, 1)
    rows = [
        (
            f"  User{i}@Acme.IO " if i % 3 == 0 else f"user{i}@acme.io",
            i if i % 4 else None,
            start + timedelta(minutes=i) if i % 5 else None,
            ["Gmail", "Slack"] if i % 2 else None,
            i / 3,
        )
        for i in range(n)
    ]
    rows.append((None, 1, None, None, 0.0))  # no email: not a user
    rows.append(("   ", 2, None, None, 0.0))  # blank email: not a user
    return Result(["email", "runs", "last_at", "servers", "score"], rows)


def loaded(n: int, small: int, large: int, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    monkeypatch.setattr(profiles, "SMALL_RESULT", small)
    monkeypatch.setattr(profiles, "LARGE_RESULT", large)
    con = duckdb.connect()
    table = profiles.load_result(con, QUERY, sample(n))
    desc = con.execute(f'SELECT * FROM "{table}" LIMIT 0').description
    # Integers may come out 32- or 64-bit depending on the loader: the same to every rule.
    types = [{"INTEGER": "BIGINT"}.get(str(d[1]), str(d[1])) for d in desc]
    return [tuple(types), *con.execute(f'SELECT * FROM "{table}" ORDER BY email').fetchall()]


@pytest.mark.parametrize("n", [0, 3, 40])
def test_the_three_loaders_agree(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    as_values = loaded(n, small=10_000, large=10_000, monkeypatch=monkeypatch)
    as_numpy = loaded(n, small=-1, large=10_000, monkeypatch=monkeypatch)
    as_arrow = loaded(n, small=-1, large=-1, monkeypatch=monkeypatch)
    assert as_numpy == as_arrow
    if n:  # an empty VALUES table has NULL-typed columns; the rows agree
        assert as_values == as_arrow
    assert len(as_arrow) == n + 1  # the header of types, then one row per email
    if n:
        assert as_arrow[0] == ("VARCHAR", "BIGINT", "TIMESTAMP", "VARCHAR[]", "DOUBLE")
        emails = [row[0] for row in as_arrow[1:]]
        assert "user0@acme.io" in emails and all(e == e.strip().lower() for e in emails)


def test_duplicate_emails_after_normalizing_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    result = Result(["email", "runs"], [("A@x.io", 1), (" a@x.io", 2)])
    for small, large in ((10, 10), (-1, 10), (-1, -1)):
        monkeypatch.setattr(profiles, "SMALL_RESULT", small)
        monkeypatch.setattr(profiles, "LARGE_RESULT", large)
        with pytest.raises(QueryError, match=r"returned 2 rows for 'a@x\.io'"):
            profiles.load_result(duckdb.connect(), QUERY, result)


def test_mixed_types_in_a_column_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles, "SMALL_RESULT", -1)
    monkeypatch.setattr(profiles, "LARGE_RESULT", -1)
    result = Result(["email", "odd"], [("a@x.io", 1), ("b@x.io", "two")])
    with pytest.raises(QueryError, match="mixed types in column 'odd'"):
        profiles.load_result(duckdb.connect(), QUERY, result)
    ints_and_floats = Result(["email", "n"], [("a@x.io", 1), ("b@x.io", 2.5)])
    con = duckdb.connect()
    table = profiles.load_result(con, QUERY, ints_and_floats)
    assert con.execute(f'SELECT n FROM "{table}" ORDER BY email').fetchall() == [(1.0,), (2.5,)]


def _thirty_persons(store: Path, step: str) -> None:
    """90 events of 30 persons (p0..p29, emails User0@Acme.io..., three events each), event i
    at 2026-11-01 + `step` (SQL over i), named 'a' when i is even, 'b' when odd."""
    from usertrack.engines.local.eventstore import write_events

    write_events(
        store,
        lambda con: (
            f"""
            SELECT 'e' || i AS uuid, CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END AS event,
                   'd' || (i % 30) AS distinct_id, 'p' || (i % 30) AS person_id,
                   TIMESTAMP '2026-11-01' + {step} AS timestamp,
                   json_object('template_name', 'T' || (i % 3)) AS properties,
                   json_object('email', 'User' || (i % 30) || '@Acme.io') AS person_properties
            FROM range(90) AS t(i)"""
        ),
    )


@pytest.mark.parametrize("pyarrow_loaded", [False, True])
def test_the_local_engine_hands_large_results_over_as_arrow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pyarrow_loaded: bool
) -> None:
    """Past `arrow_over` rows the local PostHog engine answers an Arrow table (without pyarrow
    loaded, the first rows fetched in Python and the rest by DuckDB; with it, all of it by
    DuckDB), typed as the row path types them; loaded, it is the same table as the rows would
    make."""
    from usertrack.engines.local import source as posthog_local
    from usertrack.engines.local.source import LocalPostHogSource

    monkeypatch.setattr(posthog_local, "_pyarrow_loaded", lambda: pyarrow_loaded)

    store = tmp_path / "events.duckdb"
    _thirty_persons(store, "INTERVAL (i) MINUTE")
    query = Query(
        name="per_person",
        folder="posthog",
        path=Path("per_person.sql"),
        sql="SELECT person.properties.email AS email, count() AS events,"
        " toInt32(countIf(event = 'a')) AS a_events, max(timestamp) AS last_at,"
        " groupUniqArray(properties.template_name) AS templates, avg(1.5) AS score"
        " FROM events GROUP BY email",
        description="d",
        returns="per-user",
    )
    source = LocalPostHogSource(store)
    try:
        as_rows = source.run(query, {})
        as_arrow = source.run(query, {}, arrow_over=7)  # 30 people: 8 fetched, 22 by Arrow
        small = source.run(query, {}, arrow_over=30)  # not over: rows as usual
    finally:
        source.close()
    assert as_rows.arrow is None and small.arrow is None and len(small.rows) == 30
    assert as_arrow.rows == [] and as_arrow.arrow.num_rows == 30
    assert [str(t) for t in as_arrow.arrow.schema.types] == [
        "string",
        "int64",
        "int64",
        "timestamp[us]",
        "list<item: string>",
        "double",
    ]  # toInt32 comes as int64, as a Python int would
    con = duckdb.connect()
    sorted_lists = "SELECT * REPLACE (list_sort(templates) AS templates) FROM {} ORDER BY email"
    table = profiles.load_result(con, query, as_arrow)
    arrow_rows = con.execute(sorted_lists.format(f'"{table}"')).fetchall()
    table = profiles.load_result(con, query, as_rows)  # the same table name, replaced
    row_rows = con.execute(sorted_lists.format(f'"{table}"')).fetchall()
    assert arrow_rows == row_rows and len(row_rows) == 30
    assert row_rows[0][0] == "user0@acme.io" and row_rows[0][1] == 3  # i = 0, 30, 60


def _query(name: str, folder: str) -> Query:
    return Query(
        name=name, folder=folder, path=Path(f"{name}.sql"), sql="-", description="d",
        returns="per-user",
    )  # fmt: skip


def _three_sources(con: duckdb.DuckDBPyConnection) -> list[tuple[Query, str, list[str]]]:
    """Three per-user tables whose emails overlap in every way: in all three, in two, in one."""
    results = {
        _query("activity", "posthog"): Result(
            ["email", "events"], [("a@x.io", 5), ("b@x.io", 7), ("c@x.io", 1), ("me@corp.io", 2)]
        ),
        _query("accounts", "neon"): Result(
            ["email", "credits"], [("a@x.io", 100), ("d@x.io", 40), ("me@corp.io", 1)]
        ),
        _query("runs", "neon"): Result(
            ["email", "runs", "failed"], [("b@x.io", 3, 1), ("d@x.io", 9, 0), ("e@x.io", 2, 2)]
        ),
    }
    return [(q, profiles.load_result(con, q, r), list(r.columns)) for q, r in results.items()]


def test_the_join_keeps_everyone_once_with_their_sources() -> None:
    """The full outer join of three per-user tables: a person in all three, in two, in one;
    columns in query order; in_posthog / in_neon say which source knew them; the excluded
    domain is out."""
    con = duckdb.connect()
    profiles.join_per_user(con, _three_sources(con), excluded=profiles.exclude_pattern(["corp.io"]))
    found = con.execute("SELECT * FROM joined ORDER BY email")
    assert [d[0] for d in found.description] == [
        "email",
        "events",
        "credits",
        "runs",
        "failed",
        "in_posthog",
        "in_neon",
    ]
    assert found.fetchall() == [
        ("a@x.io", 5, 100, None, None, True, True),
        ("b@x.io", 7, None, 3, 1, True, True),
        ("c@x.io", 1, None, None, None, True, False),
        ("d@x.io", None, 40, 9, 0, False, True),
        ("e@x.io", None, None, 2, 2, False, True),
    ]


def test_a_few_rows_load_in_one_statement_and_leave_nothing_behind() -> None:
    """One user's rows (`user` loads six such results per call): the table is made from bound
    VALUES in one statement, then checked for duplicate emails; no helper table is left."""
    con = duckdb.connect()
    statements: list[str] = []

    class Counting:
        def execute(self, sql: str, *args: object) -> duckdb.DuckDBPyConnection:
            statements.append(sql)
            return con.execute(sql, *args)  # type: ignore[arg-type]

        def __getattr__(self, name: str) -> object:
            return getattr(con, name)

    table = profiles.load_result(Counting(), QUERY, sample(3))  # type: ignore[arg-type]
    assert len(statements) == 2, statements
    rows = con.execute(f'SELECT email, runs FROM "{table}" ORDER BY email').fetchall()
    assert rows == [("user0@acme.io", None), ("user1@acme.io", 1), ("user2@acme.io", 2)]
    tables = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    assert tables == [(table,)]


def test_with_pyarrow_loaded_the_local_engine_makes_no_python_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once pyarrow is imported (another result needed it), a result comes from DuckDB as
    Arrow whole: none of it is made into Python values first (the head of arrow_over + 1 rows
    that a large result then made into Arrow again). A small one comes back as the rows the
    row path gives, value for value, every type the Arrow path takes included."""
    import pyarrow  # noqa: F401  (loaded, as after a large PostgreSQL result)

    from usertrack.engines.local import source as posthog_local
    from usertrack.engines.local.source import LocalPostHogSource

    store = tmp_path / "events.duckdb"
    _thirty_persons(store, "INTERVAL (i * 61) SECOND")
    query = Query(
        name="per_person",
        folder="posthog",
        path=Path("per_person.sql"),
        sql="SELECT person.properties.email AS email, count() AS events,"
        " toInt32(countIf(event = 'a')) AS a_events, max(timestamp) AS last_at,"
        " toDate(min(timestamp)) AS first_day, countIf(event = 'a') > 1 AS many_a,"
        " if(count() > 2, NULL, 'few') AS note,"
        " groupUniqArray(properties.template_name) AS templates, avg(1.5) AS score"
        " FROM events GROUP BY email ORDER BY email",
        description="d",
        returns="per-user",
    )

    def no_head(*args: object) -> None:
        raise AssertionError("a Python head was made")

    source = LocalPostHogSource(store)
    try:
        as_rows = source.run(query, {})
        monkeypatch.setattr(posthog_local, "_arrow_rows", no_head)
        small = source.run(query, {}, arrow_over=30)
        large = source.run(query, {}, arrow_over=7)
    finally:
        source.close()
    assert small.arrow is None and large.rows == [] and large.arrow.num_rows == 30
    assert small.columns == as_rows.columns and large.arrow.column_names == as_rows.columns
    assert len(as_rows.rows) == 30

    def canonical(rows: list[tuple]) -> list[tuple]:  # the lists' order is the engine's
        return [tuple(sorted(v) if isinstance(v, list) else v for v in row) for row in rows]

    assert canonical(small.rows) == canonical(as_rows.rows)
    assert [tuple(map(type, row)) for row in small.rows] == [
        tuple(map(type, row)) for row in as_rows.rows
    ]
    assert canonical(posthog_local._rows_of(large.arrow)) == canonical(as_rows.rows)
    assert {row[5] for row in small.rows} == {0, 1}  # booleans as 0/1, as on PostHog


@pytest.mark.parametrize("early", [("activity",), ("accounts", "runs"), ("activity", "runs")])
def test_a_join_begun_early_is_the_whole_join(early: tuple[str, ...]) -> None:
    """The results that came first joined while the last query runs (join_early), then the
    rest joined to them: the same view `joined`, columns, flags and rows, as the join of all."""
    con = duckdb.connect()
    loaded = _three_sources(con)
    excluded = profiles.exclude_pattern(["corp.io"])
    profiles.join_per_user(con, loaded, excluded=excluded)
    whole = con.execute("SELECT * FROM joined ORDER BY email")
    names, rows = [d[0] for d in whole.description], whole.fetchall()
    first = [entry for entry in loaded if entry[0].name in early]
    tables = profiles.join_early(con, first)
    assert tables == {table for _, table, _ in first}
    profiles.join_per_user(con, loaded, excluded=excluded, early=tables)
    found = con.execute("SELECT * FROM joined ORDER BY email")
    assert [d[0] for d in found.description] == names
    assert found.fetchall() == rows and len(rows) == 5
    view = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'joined'").fetchone()
    assert view is not None and profiles.EARLY_TABLE in view[0]


def test_an_early_join_interrupted_leaves_nothing_and_says_so() -> None:
    """The last result came while the early join ran: its cursor is interrupted, join_early
    answers no tables, and no half-made table is left (the view then joins every table)."""
    import threading

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    loaded = []
    for name, folder in (("big_a", "posthog"), ("big_b", "neon")):
        query = _query(name, folder)
        con.execute(
            f"CREATE TABLE \"q_{name}\" AS SELECT 'p' || i || '@x.io' AS email, i AS {name}"
            " FROM range(3000000) AS t(i)"
        )
        loaded.append((query, f"q_{name}", ["email", name]))
    cursor = con.cursor()
    timer = threading.Timer(0.2, cursor.interrupt)
    timer.start()
    assert profiles.join_early(cursor, loaded) == frozenset()
    timer.join()
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"q_big_a", "q_big_b"}
