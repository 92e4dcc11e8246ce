"""feature_used's time spent from its table beside the events store
(usertrack.engines.local.feature_times): the same rows as the events' JSON gives, for every kind of
`duration` value."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.edge_events import write_raw_events
from usertrack.engines.local import feature_times, shortcuts, storecache
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.queries.library import Query, load_queries, parse_query

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 6, 3, 12)
SPLIT = AS_OF - timedelta(days=7)
SINCE = SPLIT - timedelta(days=7)
MISSING = object()
# Every kind of JSON value a `duration` may hold: the numbers count, anything else is left out.
DURATIONS: list[Any] = [
    30, 8.5, -3, 0, 1e3, 18446744073709551615, 2.5e-7, "90", " 12", True, False, None,
    {"s": 4}, [5], MISSING,
]  # fmt: skip


def _rows() -> list[tuple[Any, ...]]:
    out = []
    moments = [SINCE - timedelta(hours=1), SINCE + timedelta(hours=3), SPLIT,
               SPLIT + timedelta(seconds=1), AS_OF, AS_OF + timedelta(seconds=1)]  # fmt: skip
    for k, duration in enumerate(DURATIONS * 3):
        person = f"p{k % 5}"
        email = "ops@datagen.dev" if k % 11 == 0 else f"{person}@example.com"
        props: dict[str, Any] = {"$browser": "Chrome" if k % 3 else "Firefox"}
        if k % 4:
            props["feature"] = ["export", "search", "share"][k % 3]
        if duration is not MISSING:
            props["duration"] = duration
        event = "feature_used" if k % 7 else "$pageview"
        at = moments[k % len(moments)] + timedelta(minutes=k)
        out.append((str(uuid.uuid4()), event, person, person, at, json.dumps(props),
                    json.dumps({"email": email})))  # fmt: skip
    return out


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # a store written a moment ago is kept too
    path = tmp_path / "events.duckdb"
    write_raw_events(path, _rows())
    return path


def _query(where: list[str] | None = None) -> Query:
    return load_queries(REPO / "queries").get("posthog/feature_usage").filled(where)


def _values(by: str = "feature") -> dict[str, Any]:
    return {"as_of": AS_OF, "since": SINCE, "split": SPLIT, "by": by, "duration": "duration",
            "exclude_pattern": r"@datagen\.dev$"}  # fmt: skip


@pytest.mark.parametrize("where", [None, ["properties.$browser = 'Chrome'"]])
@pytest.mark.parametrize("by", ["feature", "event"])
def test_the_table_gives_the_rows_the_json_gives(
    store: Path, where: list[str] | None, by: str
) -> None:
    local = LocalPostHogSource(store)
    try:
        # the translation as it is, on the events' JSON
        sql = local.translation(_query(where).sql).sql
        expected = local._connection().execute(sql, _values(by)).fetchall()
        assert any(row[4] for row in expected)  # some uses are timed
        assert local.run(_query(where), _values(by)).rows == expected
        assert local.run(_query(where), _values(by)).rows == expected  # the table read again
    finally:
        local.close()
    assert feature_times.side_of(store).is_file() == (by == "feature")


def test_a_table_of_another_store_is_built_again(store: Path, tmp_path: Path) -> None:
    local = LocalPostHogSource(store)
    try:
        expected = local.run(_query(), _values()).rows
    finally:
        local.close()
    side = feature_times.side_of(store)
    other = tmp_path / "other.duckdb"
    write_raw_events(other, _rows()[::-1])  # the same events in another order: other rowids
    local = LocalPostHogSource(other)
    try:
        local.run(_query(), _values())
    finally:
        local.close()
    feature_times.side_of(other).replace(side)  # the other store's table beside this one
    local = LocalPostHogSource(store)
    try:
        assert local.run(_query(), _values()).rows == expected
    finally:
        local.close()
    key = feature_times.key_of(store)
    con = duckdb.connect()
    assert con.execute(f"SELECT DISTINCT usertrack_store FROM '{side}'").fetchall() == [(key,)]


def test_the_shipped_file_is_rewritten_and_nothing_else(store: Path, tmp_path: Path) -> None:
    local = LocalPostHogSource(store)
    side = tmp_path / "t.parquet"
    try:
        for where in (None, ["properties.$browser = 'Chrome  '"]):
            sql = local.translation(_query(where).sql).sql
            found = feature_times.rewritten(sql, _values(), side, "k")
            assert found is not None and "read_parquet" in found[0]
            assert "json_type" not in found[0] and "duration" not in found[1]
            if where:
                assert "'Chrome  '" in found[0]  # a literal keeps its spaces
            other = {**_values(), "duration": "seconds"}
            assert shortcuts.find(_query(where), "feature_times", other) is None
            assert shortcuts.find(_query(where), "feature_times", _values()) is not None
        # an edited file, or a text changed by hand, runs as translated
        query = _query()
        edited = parse_query(query.path, "posthog", query.path.read_text(encoding="utf-8") + " ")
        assert shortcuts.find(edited.filled(None), "feature_times", _values()) is None
        assert shortcuts.find(query, "feature_times", _values()) is feature_times.SHORTCUT
        by_hand = replace(query, sql=query.sql.replace("ORDER BY feature, current", ""))
        assert shortcuts.find(by_hand, "feature_times", _values()) is None
        assert shortcuts.find(query, "feature_times", _values("event")) is None
    finally:
        local.close()


def test_a_store_replaced_under_an_open_source_is_read_as_the_one_it_opened(
    store: Path, tmp_path: Path
) -> None:
    """A store renamed into place while a source has the old one open (the MCP server, a
    re-import): its feature times are the open store's, never the new store's table joined
    onto the old events by row id, and nothing is kept under the new store's name."""
    import os

    other = tmp_path / "other.duckdb"
    rows = _rows()
    write_raw_events(other, rows[7:] + rows[:7])  # the same events, other row ids
    kept = tmp_path / "kept"
    local = LocalPostHogSource(store, kept_in=kept)
    try:
        before = local.run(_query(), _values()).rows
        assert before and any(row[-1] for row in before)
        os.replace(other, store)
        assert local.run(_query(), _values()).rows == before
        assert local.kept("anything", {}) is None  # the name names another file now
    finally:
        local.close()
    fresh = LocalPostHogSource(store)
    try:
        sql = fresh.translation(_query().sql).sql
        expected = fresh._connection().execute(sql, _values()).fetchall()
        assert fresh.run(_query(), _values()).rows == expected
    finally:
        fresh.close()


def test_a_store_with_no_timed_use_builds_its_table_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table with no rows still names its store: the next commands read it, not the JSON."""
    monkeypatch.setattr(storecache, "SETTLE_NS", 0)
    store = tmp_path / "events.duckdb"
    props = json.dumps({"feature": "export", "duration": "90"})  # a string: not counted
    at = SPLIT + timedelta(hours=1)
    person = json.dumps({"email": "p@example.com"})
    write_raw_events(store, [(str(uuid.uuid4()), "feature_used", "p", "p", at, props, person)])
    builds: list[Path] = []
    build = feature_times.build

    def counted(store: Path, side: Path, key: str) -> bool:
        builds.append(side)
        return build(store, side, key)

    monkeypatch.setattr(feature_times, "build", counted)
    for _ in range(3):  # three commands, each with a source of its own
        local = LocalPostHogSource(store)
        try:
            query = _query()
            assert local.run(query, _values()).rows == [("export", True, 1, 1, 0, 0.0)]
            assert "read_parquet" in local._bound(query, _values(), "q")[0].sql
        finally:
            local.close()
    assert builds == [feature_times.side_of(store)]


def _slow_store(path: Path) -> tuple[Path, str]:
    """A store whose table takes a second or more to build (many feature_used events), and
    its key."""
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE events AS SELECT 'feature_used' AS event,"
        " TIMESTAMP '2026-06-01' + INTERVAL (i) SECOND AS timestamp,"
        ' \'{"feature": "f", "duration": \' || (i % 50) || \'}\' AS properties'
        " FROM range(1500000) t(i)"
    )
    con.close()
    key = feature_times.key_of(path)
    assert key is not None
    return path, key


def _leftovers(side: Path) -> list[Path]:
    return sorted(side.parent.glob(f".{side.name}.*.tmp"))


def test_a_cancelled_command_stops_the_build_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.core.errors import Cancelled
    from usertrack.engines.base import CancelToken, cancel_scope

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # a store written a moment ago is kept too
    store, key = _slow_store(tmp_path / "events.duckdb")
    side = feature_times.side_of(store)
    token = CancelToken()
    outcome: list[object] = []

    def run() -> None:
        with cancel_scope(token):
            try:
                outcome.append(feature_times.build(store, side, key))
            except BaseException as e:
                outcome.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.3)  # well into the build
    assert thread.is_alive(), outcome
    token.cancel()
    thread.join(5)
    assert not thread.is_alive(), "the build ran on after the cancel"
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert not side.exists() and _leftovers(side) == []


def test_ctrl_c_stops_the_build_as_an_interrupt_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # a store written a moment ago is kept too
    store, key = _slow_store(tmp_path / "events.duckdb")
    side = feature_times.side_of(store)
    # Python's own Ctrl-C (tests/conftest.py installs it where the run started with SIGINT
    # ignored, and holds every test to leave it), on this thread
    timer = threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            feature_times.build(store, side, key)
    finally:
        timer.cancel()
    # A hang, not a speed: no table written is what shows the build stopped before its end
    # (it takes a second or more alone, longer on a loaded machine).
    assert time.monotonic() - started < 20
    assert not side.exists() and _leftovers(side) == []


def test_a_build_removes_what_an_ended_build_left(store: Path) -> None:
    import fcntl

    side = feature_times.side_of(store)
    stale = side.with_name(f".{side.name}.abc123.tmp")
    stale.write_bytes(b"PAR1 half")
    running = side.with_name(f".{side.name}.def456.tmp")  # another build's, still held
    running.write_bytes(b"")
    with running.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        key = feature_times.key_of(store)
        assert key is not None and feature_times.build(store, side, key)
        assert _leftovers(side) == [running]
    assert feature_times.kept_key(duckdb.connect(), side) == key


def test_the_demo_builds_its_table_with_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's generation leaves the table beside its store, of that store as it is: the
    first `features` of a new home reads it, rather than building it (three times a warm run's
    CPU at 100,000 users)."""
    from datetime import date

    from usertrack.demo.generator import ensure_demo

    ws = ensure_demo(tmp_path / "home", users=50, anchor=date(2026, 6, 4))
    store = ws.events_path
    side = feature_times.side_of(store)
    assert side.is_file()
    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the store's key, however recent it is
    assert feature_times.kept_key(duckdb.connect(), side) == feature_times.key_of(store)
    builds: list[Path] = []
    build = feature_times.build

    def counted(store: Path, side: Path, key: str, *, written: bool = False) -> bool:
        builds.append(side)
        return build(store, side, key, written=written)

    monkeypatch.setattr(feature_times, "build", counted)
    local = LocalPostHogSource(store)
    try:
        query = _query()
        assert local.run(query, _values()).rows is not None
        assert "read_parquet" in local._bound(query, _values(), "q")[0].sql
    finally:
        local.close()
    assert builds == []
