"""feature_used's time spent from its table beside the events store (usertrack.sources.
feature_times): the same rows as the events' JSON gives, for every kind of `duration` value."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.edge_events import write_raw_events
from usertrack.analytics.where import spliced
from usertrack.sources import feature_times, storecache
from usertrack.sources.posthog_local import LocalPostHogSource
from usertrack.sources.queries import Query, load_queries

REPO = Path(__file__).resolve().parent.parent
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
    query = load_queries(REPO / "queries").get("posthog/feature_usage")
    return replace(query, sql=spliced(query.sql, where))


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
            assert feature_times.rewritten(sql, _values("event"), side, "k") is None
            other = {**_values(), "duration": "seconds"}
            assert feature_times.rewritten(sql, other, side, "k") is None
        edited = local.translation(_query().sql.replace("ORDER BY feature, current", "")).sql
        assert feature_times.rewritten(edited, _values(), side, "k") is None
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
