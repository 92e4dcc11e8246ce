"""Activity's sessions and events per day from the events store's tables
(usertrack/engines/local/volume_rollups.py): the rows are the ones the events give, whatever the
bounds (sessions cut by them, over midnight, over several days with or without events on the
days between, of several emails, of an excluded email, events with no session); a --where runs
on the events."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.rollup_stores import EXCLUDE, events_store, facts, opened
from usertrack.engines.local import rollups, shortcuts, volume_rollups
from usertrack.engines.local.source import LocalPostHogSource, wire_value

START = datetime(2026, 3, 1)
QUERY = "posthog/activity_volume"


def _events() -> list[tuple[Any, ...]]:
    """Sessions of a few events minutes or hours apart (some over midnight), events without a
    session, a person whose email changes within a session, and sessions of three and four
    days: one with an event every day, one with none on the days between its first and last."""
    rng = random.Random(41)
    people = [
        ("p1", '{"email": "ann@example.com"}'),
        ("p2", '{"email": " Bob@Example.com\\t"}'),
        ("p3", '{"email": "ops@datagen.dev"}'),
        ("p4", None),
        (None, None),
    ]
    changing = [("p5", '{"email": "cy@example.com"}'), ("p5", '{"email": "cy@datagen.dev"}')]
    gaps = [timedelta(seconds=5), timedelta(minutes=29), timedelta(0), timedelta(hours=5)]
    out = []

    def event(person: Any, props: Any, at: datetime, session: str | None) -> None:
        properties = {"$session_id": session} if session is not None else {}
        if session is None and rng.random() < 0.3:
            properties = {"$session_id": ""}  # as none
        out.append(
            (str(uuid.UUID(int=rng.getrandbits(128))), rng.choice(["$pageview", "clicked"]),
             f"d-{person}", person, at, json.dumps(properties), props)
        )  # fmt: skip

    for run in range(220):
        person, props = rng.choice(people)
        at = START + timedelta(minutes=rng.randrange(0, 60 * 24 * 10))
        session = None if rng.random() < 0.2 else f"s{run}"
        for _ in range(rng.randrange(1, 9)):
            at += rng.choice(gaps)
            if run >= 200:
                person, props = rng.choice(changing)
            event(person, props, at, session)
    every_day = START + timedelta(days=2, hours=22)
    for day in range(4):  # 4 days, an event on each
        event("p1", people[0][1], every_day + timedelta(days=day), "long-every-day")
    for at in (START + timedelta(days=5, hours=23), START + timedelta(days=8, hours=1)):
        event("p2", people[1][1], at, "long-gap")  # none on days 6 and 7
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return events_store(tmp_path_factory, "volume", _events())


@pytest.fixture()
def source(store: Path) -> Iterator[LocalPostHogSource]:
    yield from opened(store)


BOUNDS = [
    # (since, as_of): whole days, bounds cutting sessions (and the long ones), both in one day,
    # as_of before since, beyond the data.
    (datetime(2026, 3, 2), datetime(2026, 3, 9)),
    (datetime(2026, 3, 2, 5, 30), datetime(2026, 3, 9, 17, 45, 10)),
    (datetime(2026, 3, 4), datetime(2026, 3, 7)),
    (datetime(2026, 3, 6), datetime(2026, 3, 8, 12)),
    (datetime(2026, 3, 3, 7, 10), datetime(2026, 3, 3, 9, 50)),
    (datetime(2026, 3, 5), datetime(2026, 3, 4, 12)),
    (datetime(2026, 2, 1), datetime(2026, 4, 1)),
]


def _rows(local: LocalPostHogSource, sql: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    cur = local._connection().cursor()
    try:
        return sorted(cur.execute(sql, values).fetchall())
    finally:
        cur.close()


@pytest.mark.parametrize(("since", "as_of"), BOUNDS)
def test_the_tables_give_the_days_the_events_give(
    source: LocalPostHogSource, since: datetime, as_of: datetime
) -> None:
    events_sql = source.translation(facts(source, QUERY).sql).sql
    assert shortcuts.find(facts(source, QUERY), "statement", {}) is volume_rollups.SHORTCUT
    rolled_sql = volume_rollups.VOLUME_ROLLED
    params = {"since": since, "as_of": as_of, "exclude_pattern": EXCLUDE}
    values = {k: wire_value(v) for k, v in params.items()}
    want = _rows(source, events_sql, values)
    assert _rows(source, rolled_sql, values) == want
    # through the source, which picks the tables, with the column types the events give
    run = source.run(facts(source, QUERY), params)
    assert sorted(run.rows) == want
    assert rollups.SESSIONS_TABLE in source._bound(facts(source, QUERY), params, "q")[0].sql
    if since < as_of:
        assert any(sessions for _, _, sessions in want), "bounds that hold sessions"


def test_the_long_sessions_count_on_the_days_of_their_events_only(
    source: LocalPostHogSource,
) -> None:
    """Of the two sessions over several days, one has no event on two days in between: it does
    not count there (a count from its first and last event alone would)."""
    values = {"since": "2026-03-03 00:00:00", "as_of": "2026-03-10 00:00:00", "exclude_pattern": ""}
    rows = {day: n for day, _, n in _rows(source, volume_rollups.VOLUME_ROLLED, values)}
    cur = source._connection().cursor()
    try:
        per_day = dict(
            cur.execute(
                "SELECT CAST(timestamp AS DATE), count(DISTINCT prop_session_id) FROM events"
                " WHERE prop_session_id IN ('long-every-day', 'long-gap') GROUP BY 1"
            ).fetchall()
        )
    finally:
        cur.close()
    assert sorted(per_day) == [datetime(2026, 3, d).date() for d in (3, 4, 5, 6, 9)]
    assert datetime(2026, 3, 7).date() not in per_day
    events_sql = source.translation(facts(source, QUERY).sql).sql
    assert rows == {day: n for day, _, n in _rows(source, events_sql, values)}


def test_a_where_runs_on_the_events(source: LocalPostHogSource) -> None:
    filtered = facts(source, QUERY, ["properties.$browser = 'Chrome'"])
    params = {"since": START, "as_of": START, "exclude_pattern": ""}
    assert shortcuts.find(filtered, "statement", {}) is None
    assert rollups.SESSIONS_TABLE not in source._bound(filtered, params, "q")[0].sql


def test_only_the_sessions_counted_from_their_events_are_kept(
    source: LocalPostHogSource,
) -> None:
    """The statement's `spans` holds the sessions of the range counted from their events
    alone: the whole ones (most, 459,000 of 460,000 at 100,000 users) are counted per day in
    the scan of session_spans, not copied."""
    since, as_of = datetime(2026, 3, 2, 5, 30), datetime(2026, 3, 9, 17, 45, 10)
    values = {"since": wire_value(since), "as_of": wire_value(as_of), "exclude_pattern": EXCLUDE}
    head, cut, _ = volume_rollups.VOLUME_ROLLED.partition("\ncut AS (")
    assert cut, "the statement's CTEs: spans, then cut"
    bounds = {k: v for k, v in values.items() if k != "exclude_pattern"}
    spans = head.rstrip().rstrip(",") + "\nSELECT session_id FROM spans"
    kept = _rows(source, spans, bounds if "$exclude_pattern" not in spans else values)
    in_range = _rows(
        source,
        f"SELECT session_id, {volume_rollups._WHOLE} FROM {rollups.SESSIONS_TABLE}"
        f" WHERE first_at <= {rollups.AS_OF} AND last_at >= {rollups.SINCE}",
        bounds,
    )
    assert sum(1 for _, whole in in_range if whole) > 20, "whole sessions in the range"
    assert kept == sorted((s,) for s, whole in in_range if not whole)
    assert kept, "sessions cut by a bound"
