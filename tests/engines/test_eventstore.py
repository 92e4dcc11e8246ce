"""The DuckDB event store: building, importing PostHog exports, reading. Real files, no mocks."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from usertrack.core.errors import DataError
from usertrack.engines.local.eventstore import (
    HOT_PERSON_PROPERTIES,
    HOT_PROPERTIES,
    import_events,
    open_store,
    store_info,
    write_events,
)

RECORDS: list[dict[str, Any]] = [
    {
        "uuid": "e1",
        "event": "$pageview",
        "distinct_id": "d1",
        "person_id": "p1",
        "timestamp": "2024-05-01T10:00:00+02:00",  # 08:00 UTC
        "properties": {"$pathname": "/home", "$session_id": "s1", "$browser": "Firefox"},
        "person_properties": {"email": "Ann@Example.com"},
    },
    {
        "uuid": "e2",
        "event": "mcp_connect_clicked",
        "distinct_id": "d1",
        "person_id": "p1",
        "timestamp": "2024-05-01T08:05:00Z",
        # a JSON-encoded string, as some exports write it
        "properties": json.dumps({"template_name": "gmail", "$session_id": "s1"}),
        "person_properties": json.dumps({"email": "Ann@Example.com", "plan": "pro"}),
    },
    {
        "uuid": "e3",
        "event": "$pageview",
        "distinct_id": "d2",
        "person_id": "p2",
        "timestamp": "2024-05-02 09:30:00.250000",  # no zone: UTC
        "properties": {"$pathname": "/docs", "$referring_domain": "google.com"},
        "person_properties": None,
    },
]

EXPECTED_TS = [
    datetime(2024, 5, 1, 8, 0),
    datetime(2024, 5, 1, 8, 5),
    datetime(2024, 5, 2, 9, 30, 0, 250000),
]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def csv_text(records: list[dict[str, Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    cols = [
        "uuid",
        "event",
        "distinct_id",
        "person_id",
        "timestamp",
        "properties",
        "person_properties",
    ]
    writer = csv.writer(buf)
    writer.writerow(cols)
    for r in records:
        row = []
        for c in cols:
            v = r[c]
            if isinstance(v, dict):
                v = json.dumps(v)
            row.append("" if v is None else v)
        writer.writerow(row)
    return buf.getvalue()


def events_of(store: Path) -> list[tuple[Any, ...]]:
    con = open_store(store)
    try:
        return con.execute(
            "SELECT uuid, event, timestamp, person_email, prop_pathname, prop_session_id,"
            " prop_template_name, prop_browser FROM events ORDER BY timestamp"
        ).fetchall()
    finally:
        con.close()


EXPECTED_ROWS = [
    ("e1", "$pageview", EXPECTED_TS[0], "Ann@Example.com", "/home", "s1", None, "Firefox"),
    ("e2", "mcp_connect_clicked", EXPECTED_TS[1], "Ann@Example.com", None, "s1", "gmail", None),
    ("e3", "$pageview", EXPECTED_TS[2], None, "/docs", None, None, None),
]


def test_hot_columns_constant() -> None:
    for key in ("$pathname", "$session_id", "$referring_domain", "$current_url", "template_name",
                "$exception_message", "$geoip_country_code", "$browser", "$device_type",
                "$referrer"):  # fmt: skip
        assert key in HOT_PROPERTIES
    assert HOT_PERSON_PROPERTIES == {"email": "person_email"}


def test_import_jsonl_object_and_string_properties(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "export.jsonl", RECORDS)
    store = tmp_path / "store.duckdb"
    stats = import_events(src, store)
    assert (stats.events, stats.files, stats.skipped, stats.unchanged) == (3, 1, 0, False)
    assert events_of(store) == EXPECTED_ROWS
    con = open_store(store)
    try:
        props = con.execute("SELECT properties FROM events WHERE uuid = 'e2'").fetchone()
        assert json.loads(props[0]) == {"template_name": "gmail", "$session_id": "s1"}
        persons = con.execute(
            "SELECT id, properties->>'$.plan', created_at FROM persons ORDER BY id"
        ).fetchall()
        # p1's latest person_properties (e2) has the plan; p2 never had properties
        assert persons == [("p1", "pro", EXPECTED_TS[0]), ("p2", None, EXPECTED_TS[2])]
        sessions = con.execute(
            'SELECT session_id, "$session_duration", event_count, "$entry_pathname" FROM sessions'
        ).fetchall()
        assert sessions == [("s1", 300, 2, "/home")]
        # read-only: a writer cannot sneak in through this connection
        with pytest.raises(duckdb.Error):
            con.execute("DELETE FROM events")
    finally:
        con.close()


def test_import_csv(tmp_path: Path) -> None:
    src = tmp_path / "export.csv"
    src.write_text(csv_text(RECORDS))
    store = tmp_path / "store.duckdb"
    assert import_events(src, store).events == 3
    assert events_of(store) == EXPECTED_ROWS


def test_import_parquet(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "tmp.jsonl", RECORDS)
    parquet = tmp_path / "export.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    # typed columns, as a warehouse export has them: TIMESTAMPTZ and JSON text
    con.execute(
        f"""COPY (
              SELECT uuid, event, distinct_id, person_id,
                     CAST(timestamp AS TIMESTAMPTZ) AS timestamp,
                     CAST(properties AS VARCHAR) AS properties,
                     CAST(person_properties AS VARCHAR) AS person_properties
              FROM read_json('{jsonl}', format='newline_delimited', columns={{uuid: 'VARCHAR',
                   event: 'VARCHAR', distinct_id: 'VARCHAR', person_id: 'VARCHAR',
                   timestamp: 'VARCHAR', properties: 'JSON', person_properties: 'JSON'}})
           ) TO '{parquet}' (FORMAT parquet)"""
    )
    con.close()
    jsonl.unlink()
    store = tmp_path / "store.duckdb"
    assert import_events(parquet, store).events == 3
    assert events_of(store) == EXPECTED_ROWS


def test_import_folder_with_gzip_and_reimport_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    (folder / "2024" / "05").mkdir(parents=True)
    write_jsonl(folder / "2024" / "05" / "part-0.jsonl.gz", RECORDS[:2])
    (folder / "2024" / "05" / "part-1.csv").write_text(csv_text(RECORDS[2:]))
    (folder / "README.txt").write_text("not an export")
    (folder / ".hidden.jsonl").write_text("this is not json\n")
    store = tmp_path / "store.duckdb"

    first = import_events(folder, store)
    assert (first.files, first.events, first.unchanged) == (2, 3, False)
    assert events_of(store) == EXPECTED_ROWS
    mtime = store.stat().st_mtime_ns

    again = import_events(folder, store)
    assert again.unchanged is True
    assert (again.files, again.events) == (2, 3)
    assert "nothing imported" in again.summary()
    assert store.stat().st_mtime_ns == mtime  # no work was done

    # a changed file is noticed and the store rebuilt
    write_jsonl(folder / "2024" / "05" / "part-2.jsonl", [{**RECORDS[0], "uuid": "e4"}])
    third = import_events(folder, store)
    assert (third.unchanged, third.files, third.events) == (False, 3, 4)
    assert store_info(store)["event_count"] == "4"


def test_rows_without_event_or_timestamp_are_skipped_and_reported(tmp_path: Path) -> None:
    records = [*RECORDS, {**RECORDS[0], "uuid": "x1", "event": None}, {"uuid": "x2", "event": "e"}]
    src = write_jsonl(tmp_path / "export.jsonl", records)
    stats = import_events(src, tmp_path / "store.duckdb")
    assert (stats.events, stats.skipped) == (3, 2)
    assert stats.skipped_by_file == {"export.jsonl": 2}
    assert "skipped 2 rows without event or timestamp (export.jsonl: 2)" in stats.summary()
    again = import_events(src, tmp_path / "store.duckdb")
    assert again.unchanged and again.skipped == 2


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(RECORDS[0]) + "\n" + '{"event": "x", "timestamp": oops}\n')
    with pytest.raises(DataError) as err:
        import_events(src, tmp_path / "store.duckdb")
    message = str(err.value)
    assert message.startswith(f"{src}:2: malformed JSON")
    assert "\n" not in message
    assert not (tmp_path / "store.duckdb").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.jsonl"]  # no temp file left behind


def test_bad_timestamp_and_properties_name_the_record(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "ts.jsonl", [RECORDS[0], {**RECORDS[0], "timestamp": "yesterday"}])
    with pytest.raises(DataError, match=r"ts\.jsonl: record 2: timestamp 'yesterday'"):
        import_events(src, tmp_path / "store.duckdb")
    csv_src = tmp_path / "props.csv"
    csv_src.write_text(csv_text(RECORDS).replace('"{""$pathname"": ""/docs""', '"{not json'))
    with pytest.raises(DataError, match=r"props\.csv: record 3: properties is not valid JSON"):
        import_events(csv_src, tmp_path / "store.duckdb")


def test_missing_and_unsupported_paths(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        import_events(tmp_path / "nope", tmp_path / "store.duckdb")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no events export files"):
        import_events(tmp_path / "empty", tmp_path / "store.duckdb")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DataError, match="not an events export"):
        import_events(tmp_path / "x.xlsx", tmp_path / "store.duckdb")
    csv_src = tmp_path / "cols.csv"
    csv_src.write_text("uuid,name\n1,2\n")
    with pytest.raises(DataError, match=r"cols\.csv: no 'event' column"):
        import_events(csv_src, tmp_path / "store.duckdb")
    with pytest.raises(DataError, match="does not exist"):
        open_store(tmp_path / "missing.duckdb")


def test_write_events_replaces_atomically(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"

    def load(n: int) -> Any:
        def inner(con: duckdb.DuckDBPyConnection) -> str:
            return f"""
                SELECT 'u' || i AS uuid, CASE WHEN i % 2 = 0 THEN '$pageview' ELSE 'x' END AS event,
                       'd' || (i % 7) AS distinct_id, 'p' || (i % 7) AS person_id,
                       TIMESTAMP '2024-01-01' + INTERVAL (i) MINUTE AS timestamp,
                       json_object('$pathname', '/p' || (i % 3), '$session_id', 's' || (i % 5))
                           AS properties,
                       json_object('email', 'user' || (i % 7) || '@x.io') AS person_properties
                FROM range({n}) t(i)
            """

        return inner

    assert write_events(store, load(1000)) == 1000
    reader = open_store(store)  # an open reader keeps seeing the old store
    assert write_events(store, load(10)) == 10

    def broken(con: duckdb.DuckDBPyConnection) -> str:
        return "SELECT 1 AS uuid"

    with pytest.raises(DataError, match="lack the column"):
        write_events(store, broken)
    assert reader.execute("SELECT count(*) FROM events").fetchone() == (1000,)
    reader.close()
    con = open_store(store)
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (10,)
        assert con.execute("SELECT count(*) FROM persons").fetchone() == (7,)
        assert con.execute("SELECT count(*) FROM sessions").fetchone() == (5,)
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        assert tables == {
            "events",
            "persons",
            "sessions",
            "person_distinct_ids",
            "person_hours",
            "person_days",
            "person_emails",
            "person_day_spans",
            "person_day_events",
            "session_spans",
            "path_steps",
            "path_node_names",
            "groups",  # empty: these events came without PostHog groups
            "group_type_mapping",
            "usertrack_meta",
        }
        assert con.execute("SELECT count(*) FROM groups").fetchone() == (0,)
        assert con.execute('SELECT DISTINCT "$group_0" FROM events').fetchall() == [("",)]
        ts = [r[0] for r in con.execute("SELECT timestamp FROM events").fetchall()]
        assert ts == sorted(ts)
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.duckdb"]
    assert os.access(store, os.R_OK)


def test_write_events_takes_given_columns_and_order(tmp_path: Path) -> None:
    # A SELECT may give materialized columns itself (the demo's generator does): they are
    # stored as given, the others read out of the JSON. With in_order, rows are stored as they
    # come, not sorted (here deliberately out of order, to see that nothing sorted them).
    def load(con: duckdb.DuckDBPyConnection) -> str:
        return """
            SELECT 'u' || i AS uuid, 'e' AS event, 'd' AS distinct_id, 'p' AS person_id,
                   TIMESTAMP '2024-01-01' + INTERVAL (10 - i) MINUTE AS timestamp,
                   json_object('$pathname', '/json', '$browser', 'Firefox') AS properties,
                   json_object('email', 'A@x.io') AS person_properties,
                   'given ' || i AS prop_pathname, 'given@x.io' AS person_email
            FROM range(10) t(i)
        """

    store = tmp_path / "store.duckdb"
    assert write_events(store, load, in_order=True) == 10
    con = open_store(store)
    try:
        rows = con.execute(
            "SELECT prop_pathname, prop_browser, person_email, person_email_norm"
            " FROM events ORDER BY rowid"
        ).fetchall()
    finally:
        con.close()
    assert rows == [(f"given {i}", "Firefox", "given@x.io", "given@x.io") for i in range(10)]
    assert write_events(store, load) == 10  # without in_order: sorted by timestamp
    con = open_store(store)
    try:
        paths = [
            r[0] for r in con.execute("SELECT prop_pathname FROM events ORDER BY rowid").fetchall()
        ]
    finally:
        con.close()
    assert paths == [f"given {i}" for i in range(9, -1, -1)]
