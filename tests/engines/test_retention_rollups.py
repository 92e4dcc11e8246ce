"""Retention's activity facts from the events store's per-person-per-day table
(usertrack/engines/local/retention_rollups.py): retention_activity answered from it is the rows the
events give, row for row, whatever the bounds, the period and the events named; anything else
(a --where, an edited file, a store built before the table) runs on the events."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.rollup_stores import EXCLUDE, events_store, facts, opened, sorted_rows
from usertrack.engines.local import retention_rollups, shortcuts
from usertrack.engines.local.rollups import DAYS_TABLE
from usertrack.engines.local.source import LocalPostHogSource, wire_value

START = datetime(2026, 3, 1)
FILE = "posthog/retention_activity"


def _events() -> list[tuple[Any, ...]]:
    """Events on the days' edges (00:00:00.000000, 23:59:59.999999), in between, of a start
    event, a return event and others, of persons with no email, an internal one, one written
    with odd case and spaces, one whose email changes (to an internal one on some events), and
    events with no person."""
    rng = random.Random(57)
    people = [
        ("p1", '{"email": "ann@example.com"}'),
        ("p2", '{"email": " Bob@Example.com\\t"}'),
        ("p3", '{"email": "ops@datagen.dev"}'),
        ("p4", None),
        ("p5", '{"email": "cy@example.com"}'),
        ("p5", '{"email": "cy@datagen.dev"}'),
        ("p6", '{"email": "dee@example.com"}'),
        ("p7", '{"email": "eve@example.com"}'),
        (None, None),
    ]
    names = ["user_signed_up", "workspace_created", "$pageview", "save"]
    out = []
    for _ in range(2500):
        day = START + timedelta(days=rng.randrange(0, 70))
        offset = rng.choice(
            [
                timedelta(0),
                timedelta(days=1, microseconds=-1),
                timedelta(hours=12),
                timedelta(seconds=rng.randrange(86400)),
            ]
        )
        person, props = rng.choice(people)
        name = rng.choice(names[2:]) if rng.random() < 0.7 else rng.choice(names[:2])
        out.append(
            (str(uuid.UUID(int=rng.getrandbits(128))), name, f"d-{person}", person,
             day + offset, json.dumps({"$browser": "Chrome"}), props)
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return events_store(tmp_path_factory, "retention_rollups", _events())


@pytest.fixture()
def source(store: Path) -> Iterator[LocalPostHogSource]:
    yield from opened(store)


D = datetime
# (since, as_of): whole days, part-days at either end, bounds on a day's first and last
# microsecond, both in one day, as_of before since, beyond the data, a span of one microsecond.
BOUNDS = [
    (D(2026, 3, 9), D(2026, 4, 6)),
    (D(2026, 3, 10, 5, 30), D(2026, 3, 30, 17, 45, 10)),
    (D(2026, 3, 9, 23, 59, 59, 999999), D(2026, 3, 30, 0, 0, 0, 1)),
    (D(2026, 3, 12, 7), D(2026, 3, 12, 19)),
    (D(2026, 3, 15), D(2026, 3, 14, 12)),
    (D(2026, 2, 1), D(2026, 6, 1)),
    (D(2026, 3, 1), D(2026, 3, 1, 0, 0, 0, 1)),
]
# (period, start_event, return_event): any event back, a named one, one nobody did.
ASKS = [
    ("week", "user_signed_up", ""),
    ("day", "user_signed_up", ""),
    ("month", "user_signed_up", ""),
    ("week", "user_signed_up", "workspace_created"),
    ("day", "workspace_created", "user_signed_up"),
    ("week", "user_signed_up", "nobody_did_this"),
    ("day", "nobody_did_this", ""),
]


def _values(since: Any, as_of: Any, period: str, start: str, back: str) -> dict[str, Any]:
    return {"since": since, "as_of": as_of, "exclude_pattern": EXCLUDE, "period": period,
            "start_event": start, "return_event": back, "min_occurrences": 1,
            "start_property": "", "start_value": "", "return_property": "",
            "return_value": "", "week_start": "monday"}  # fmt: skip


def _read(values: dict[str, Any]) -> dict[str, Any]:
    """The values the shortcut's statement reads: not min_occurrences, which its gate holds
    at 1, nor the start and return events' property and value, which it holds at '', nor the
    week's first day, Monday (retention_rollups.applies)."""
    gated = {"min_occurrences", "start_property", "start_value", "return_property", "return_value",
             "week_start"}  # fmt: skip
    return {k: v for k, v in values.items() if k not in gated}


@pytest.mark.parametrize("bounds", BOUNDS)
def test_the_table_gives_the_rows_the_events_give(
    source: LocalPostHogSource, bounds: tuple[datetime, datetime]
) -> None:
    query = facts(source, FILE)
    events_sql = source.translation(query.sql).sql
    rolled = shortcuts.find(query, "facts", {})
    assert rolled is retention_rollups.SHORTCUT, f"{FILE} is no longer answered from {DAYS_TABLE}"
    for ask in ASKS:
        values = _values(*(str(b) for b in bounds), *ask)
        want = sorted_rows(source, events_sql, values)
        assert sorted_rows(source, rolled.sql, _read(values)) == want, ask
        if bounds[1] - bounds[0] >= timedelta(days=7) and "nobody" not in ask[1]:
            assert want, "bounds that hold events"


def test_retention_reads_the_table_through_the_source_with_the_types_the_events_give(
    source: LocalPostHogSource,
) -> None:
    """facts_into (what retention runs) picks the table for the shipped file, with the types
    the events give (it sends a datetime to the second, as the live path does)."""
    since, as_of = BOUNDS[1]
    query = facts(source, FILE)
    params = _values(since, as_of, "week", "user_signed_up", "")
    cur = source._connection().cursor()
    try:
        source.facts_into(cur, query, params, "got")
        got = cur.execute("SELECT * FROM got").fetchall()
        got_types = cur.execute("DESCRIBE got").fetchall()
        tr, values = source._bound(query, params, "q")
        assert DAYS_TABLE not in tr.sql
        cur.execute(f"CREATE TEMP TABLE want AS {tr.sql}", values)
        want_types = cur.execute("DESCRIBE want").fetchall()
        want = cur.execute("SELECT * FROM want").fetchall()
    finally:
        cur.close()
    assert [t[:2] for t in got_types] == [t[:2] for t in want_types]
    wired = {k: wire_value(v) for k, v in params.items()}
    assert sorted_rows(source, tr.sql, wired) == sorted(want, key=repr) == sorted(got, key=repr)
    assert got


def test_a_where_an_edited_file_or_an_old_store_runs_on_the_events(
    source: LocalPostHogSource, store: Path, tmp_path: Path
) -> None:
    filtered = facts(source, FILE, ["properties.$browser = 'Chrome'"])
    assert shortcuts.find(filtered, "facts", {}) is None
    query = facts(source, FILE)
    assert shortcuts.find(query, "facts", {}) is retention_rollups.SHORTCUT
    edited = replace(query, sql=query.sql.replace("> 0 AS started", ">= 0 AS started"))
    assert edited.sql != query.sql
    assert shortcuts.find(edited, "facts", {}) is None
    old = tmp_path / "old.duckdb"
    old.write_bytes(store.read_bytes())
    con = duckdb.connect(str(old))
    con.execute(f"DROP TABLE {DAYS_TABLE}")
    con.close()
    without = LocalPostHogSource(old)
    try:
        assert not without.has_tables((DAYS_TABLE,))
        since, as_of = BOUNDS[0]
        params = _values(since, as_of, "week", "user_signed_up", "")
        query = facts(without, FILE)
        cur = without._connection().cursor()
        try:
            without.facts_into(cur, query, params, "got")
            got = sorted(cur.execute("SELECT * FROM got").fetchall(), key=repr)
        finally:
            cur.close()
        tr, values = source._bound(query, params, "q")
        assert got == sorted_rows(source, tr.sql, values) and got
    finally:
        without.close()
