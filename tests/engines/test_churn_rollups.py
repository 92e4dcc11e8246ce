"""Churn's facts from the events store's per-person-per-day tables
(usertrack/engines/local/churn_rollups.py): churn_periods, churn_persons, churn_events and the
engagement score's engagement_facts answered from them are the rows the events give, row for
row, whatever the bounds; anything else (a --where, an edited file, a store built before the
tables) runs on the events."""

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

from tests.rollup_stores import EXCLUDE, events_store, facts, opened
from usertrack.engines.local import churn_rollups, shortcuts
from usertrack.engines.local.source import LocalPostHogSource, wire_value

START = datetime(2026, 3, 1)
FILES = (
    "posthog/churn_periods",
    "posthog/churn_persons",
    "posthog/churn_events",
    "posthog/engagement_facts",
)


def edge_rows() -> list[tuple[Any, ...]]:
    """Events on the days' edges (00:00:00.000000, 23:59:59.999999), in between, of product and
    PostHog's own names, of persons with no email, an internal one, one written with odd case
    and spaces, one whose email changes (to an internal one on some events), and events with
    no person."""
    rng = random.Random(41)
    people = [
        ("p1", '{"email": "ann@example.com"}'),
        ("p2", '{"email": " Bob@Example.com\\t"}'),
        ("p3", '{"email": "ops@datagen.dev"}'),
        ("p4", None),
        ("p5", '{"email": "cy@example.com"}'),
        ("p5", '{"email": "cy@datagen.dev"}'),
        ("p6", '{"email": "dee@example.com"}'),
        (None, None),
    ]
    # more than 64 product names: a person's names are counted as bits of several 64-bit words
    names = ["$pageview", "$autocapture", "ping", "open", "save", "share"]
    names += [f"tool_{i}" for i in range(66)]
    out = []
    for _ in range(2500):
        day = START + timedelta(days=rng.randrange(0, 40))
        offset = rng.choice(
            [
                timedelta(0),
                timedelta(days=1, microseconds=-1),
                timedelta(hours=12),
                timedelta(seconds=rng.randrange(86400)),
            ]
        )
        person, props = rng.choice(people)
        name = rng.choice(names[:6]) if rng.random() < 0.5 else rng.choice(names)
        out.append(
            (str(uuid.UUID(int=rng.getrandbits(128))), name, f"d-{person}", person,
             day + offset, json.dumps({"$browser": "Chrome"}), props)
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return events_store(tmp_path_factory, "churn_rollups", edge_rows())


@pytest.fixture()
def source(store: Path) -> Iterator[LocalPostHogSource]:
    yield from opened(store)


D = datetime
# (since, as_of, then, then_since): whole days, part-days at either end, bounds on a day's first
# and last microsecond, since and as_of in one day, then after as_of, the windows apart or
# overlapping, then on as_of's day, as_of before since, beyond the data.
BOUNDS = [
    (D(2026, 3, 10), D(2026, 3, 30), D(2026, 3, 20), D(2026, 3, 5)),
    (D(2026, 3, 10, 5, 30), D(2026, 3, 30, 17, 45, 10), D(2026, 3, 20, 8), D(2026, 3, 5, 1)),
    (
        D(2026, 3, 9, 23, 59, 59, 999999),
        D(2026, 3, 30, 0, 0, 0, 1),
        D(2026, 3, 20, 0, 0, 0, 1),
        D(2026, 3, 19, 23, 59, 59, 999999),
    ),
    (D(2026, 3, 12, 7), D(2026, 3, 12, 19), D(2026, 3, 12, 9), D(2026, 3, 11, 20)),
    (D(2026, 3, 20), D(2026, 3, 25, 6), D(2026, 3, 28), D(2026, 3, 1)),
    (D(2026, 3, 20, 3), D(2026, 3, 25, 6), D(2026, 3, 25, 2), D(2026, 3, 24, 22)),
    (D(2026, 3, 15), D(2026, 3, 14, 12), D(2026, 3, 10), D(2026, 3, 2)),
    (D(2026, 2, 1), D(2026, 5, 1), D(2026, 4, 1), D(2026, 1, 1)),
    (D(2026, 3, 1), D(2026, 3, 1, 0, 0, 0, 1), D(2026, 2, 20), D(2026, 2, 1)),
]


def _values(query_id: str, since: Any, as_of: Any, then: Any, then_since: Any, period: str) -> dict:
    values = {"since": since, "as_of": as_of, "exclude_pattern": EXCLUDE}
    if query_id.endswith("periods"):
        values["period"] = period
    if query_id.endswith("persons"):
        values.update(then=then, then_since=then_since)
    return values


def _rows(local: LocalPostHogSource, sql: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    cur = local._connection().cursor()
    try:
        rows = cur.execute(sql, values).fetchall()
    finally:
        cur.close()
    return _rows_of(rows)


@pytest.mark.parametrize("query_id", FILES)
@pytest.mark.parametrize("bounds", BOUNDS)
def test_the_tables_give_the_rows_the_events_give(
    source: LocalPostHogSource, query_id: str, bounds: tuple[datetime, ...]
) -> None:
    query = facts(source, query_id)
    events_sql = source.translation(query.sql).sql
    rolled = shortcuts.find(query, "facts", {})
    assert rolled is not None, f"{query_id} is no longer answered from the tables"
    periods = ["week", "day", "month"] if query_id.endswith("periods") else ["week"]
    for period in periods:
        values = _values(query_id, *(str(b) for b in bounds), period)
        want = _rows(source, events_sql, values)
        assert _rows(source, rolled.sql, values) == want, period
        if bounds[0] < bounds[1] and bounds is not BOUNDS[-1]:
            assert want, "bounds that hold events"


def test_churn_reads_the_tables_through_the_source_with_the_types_the_events_give(
    source: LocalPostHogSource,
) -> None:
    """facts_into (what churn runs) picks the tables for the shipped files, with the types the
    events give (it sends a datetime to the second, as the live path does)."""
    since, as_of, then, then_since = BOUNDS[1]
    for query_id in FILES:
        query = facts(source, query_id)
        params = _values(query_id, since, as_of, then, then_since, "week")
        cur = source._connection().cursor()
        try:
            source.facts_into(cur, query, params, "got")
            got = cur.execute("SELECT * FROM got").fetchall()
            got_types = cur.execute("DESCRIBE got").fetchall()
            tr, values = source._bound(query, params, "q")
            cur.execute(f"CREATE TEMP TABLE want AS {tr.sql}", values)
            want_types = cur.execute("DESCRIBE want").fetchall()
            want = cur.execute("SELECT * FROM want").fetchall()
        finally:
            cur.close()
        # an array's type as its elements' (the rows the arrays unnest into)
        want_types = [(t[0], t[1].removesuffix("[]")) for t in want_types]
        assert [t[:2] for t in got_types] == [t[:2] for t in want_types], query_id
        wired = {k: wire_value(v) for k, v in params.items()}
        assert _rows(source, tr.sql, wired) == _rows_of(want) == _rows_of(got), query_id


@pytest.mark.parametrize("bounds", BOUNDS)
def test_the_event_bits_hold_the_pairs_churn_events_gives(
    source: LocalPostHogSource, bounds: tuple[datetime, ...]
) -> None:
    """churn's at-risk traits read each person's event names as bits (EVENT_BITS_SQL over
    EVENT_NAMES_SQL): the pairs of person and name of churn_events.sql's rows, each once."""
    query = facts(source, "posthog/churn_events")
    events_sql = source.translation(query.sql).sql
    values = _values("posthog/churn_events", *(str(b) for b in bounds), "week")
    want = sorted({(r[0], r[1]) for r in _rows(source, events_sql, values) if r[0] is not None})
    cur = source._connection().cursor()
    try:
        cur.execute(f"CREATE TEMP TABLE names AS {churn_rollups.EVENT_NAMES_SQL}")
        sql = churn_rollups.EVENT_BITS_SQL.format(names="names")
        cur.execute(f"CREATE TEMP TABLE bits AS {sql}", values)
        got = cur.execute(
            "SELECT b.person_id, c.event FROM bits b JOIN names c ON c.code // 64 = b.word"
            " AND (b.bits >> CAST(c.code % 64 AS UBIGINT)) & CAST(1 AS UBIGINT) = 1"
        ).fetchall()
    finally:
        cur.close()
    assert sorted(got, key=repr) == sorted(want, key=repr)
    assert len(got) == len(set(got))
    if bounds[0] < bounds[1] and bounds is not BOUNDS[-1]:
        assert want, "bounds that hold events"


def _rows_of(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows as churn reads them: a row's arrays (churn_periods' periods) unnested into a
    row per element, as the tables give them (usertrack.analytics.common.unnested)."""
    found = []
    for row in rows:
        lists = [v for v in row if isinstance(v, list)]
        if not lists:
            found.append(row)
            continue
        for i in range(max(len(v) for v in lists)):
            found.append(
                tuple((v[i] if i < len(v) else None) if isinstance(v, list) else v for v in row)
            )
    return sorted(found, key=repr)


def test_a_where_an_edited_file_or_an_old_store_runs_on_the_events(
    source: LocalPostHogSource, store: Path, tmp_path: Path
) -> None:
    for query_id in FILES:
        filtered = facts(source, query_id, ["properties.$browser = 'Chrome'"])
        assert shortcuts.find(filtered, "facts", {}) is None
        query = facts(source, query_id)
        assert shortcuts.find(query, "facts", {}) is not None
        edited = replace(query, sql=query.sql.replace("count()", "count() + 1"))
        if edited.sql != query.sql:
            assert shortcuts.find(edited, "facts", {}) is None
    old = tmp_path / "old.duckdb"
    old.write_bytes(store.read_bytes())
    con = duckdb.connect(str(old))
    for table in churn_rollups.TABLES:
        con.execute(f"DROP TABLE {table}")
    con.close()
    without = LocalPostHogSource(old)
    try:
        assert not without.has_tables(churn_rollups.TABLES)
        since, as_of, then, then_since = BOUNDS[1]
        query = facts(without, "posthog/churn_persons")
        params = _values("posthog/churn_persons", since, as_of, then, then_since, "week")
        cur = without._connection().cursor()
        try:
            without.facts_into(cur, query, params, "got")
            got = _rows_of(cur.execute("SELECT * FROM got").fetchall())
        finally:
            cur.close()
        tr, values = source._bound(query, params, "q")
        assert got == _rows(source, tr.sql, values) and got
    finally:
        without.close()


def test_engagement_counts_each_active_day_of_a_window_longer_than_64_days(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """engagement_facts' active days from the tables are bits of 64-bit words, 64 days a word:
    days 64 apart (a bit of each word at the same place) and a window of several words count
    as the events count them."""
    since = D(2026, 1, 1)
    days = [0, 1, 63, 64, 65, 128, 129, 200]
    rows = [
        (str(uuid.UUID(int=n + 1)), "open", f"d-{person}", person,
         since + timedelta(days=day, hours=n % 24), "{}", f'{{"email": "{person}@example.com"}}')
        for person, offsets in (("ann", days), ("bob", days[2:5]), ("cy", [64, 128]))
        for n, day in enumerate(offsets)
    ]  # fmt: skip
    store = events_store(tmp_path_factory, "long_window", rows)
    local = LocalPostHogSource(store)
    try:
        query = facts(local, "posthog/engagement_facts")
        rolled = shortcuts.find(query, "facts", {})
        assert rolled is not None
        values = {"since": str(since), "as_of": str(since + timedelta(days=210)),
                  "exclude_pattern": EXCLUDE}  # fmt: skip
        want = _rows(local, local.translation(query.sql).sql, values)
        assert sorted((r[1], r[3]) for r in want) == [
            ("ann@example.com", len(days)),
            ("bob@example.com", 3),
            ("cy@example.com", 2),
        ]
        assert _rows(local, rolled.sql, values) == want
    finally:
        local.close()
