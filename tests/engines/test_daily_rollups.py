"""The weekly report's daily active people at a midnight from the per-person-per-day table
(usertrack/engines/local/daily_rollups.py): the rows the events give, row for row, with events on a
day's first and last microsecond; any other moment, or an edited file, runs on the events."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.rollup_stores import EXCLUDE, REPO, events_store, opened, rows
from usertrack.engines.local import daily_rollups, rollups, shortcuts
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.queries.library import load_queries, parse_query

START = datetime(2026, 3, 1)


def _events() -> list[tuple[Any, ...]]:
    """Events on a day's first instant (some persons' only events of that day), its last
    microsecond and in between, of persons with no email, an internal one, one whose email
    changes within a day, and events with no person."""
    rng = random.Random(41)
    people = [
        ("p1", '{"email": "ann@example.com"}'),
        ("p2", '{"email": " Bob@Example.com\\t"}'),
        ("p3", '{"email": "ops@datagen.dev"}'),
        ("p4", None),
        ("p5", '{"email": "cy@example.com"}'),
        ("p5", '{"email": "cy@datagen.dev"}'),
        ("p6", '{"email": "di@example.com"}'),
        ("p6", '{"email": "di2@example.com"}'),
        (None, None),
    ]
    for n in range(7, 40):  # persons seen on one day's first instant alone, now and then
        people.append((f"p{n}", f'{{"email": "u{n}@example.com"}}'))
    out = []
    for _ in range(2500):
        day = START + timedelta(days=rng.randrange(0, 40))
        offset = rng.choice(
            [
                timedelta(0),
                timedelta(0),
                timedelta(days=1, microseconds=-1),
                timedelta(hours=rng.randrange(24), seconds=rng.randrange(3600)),
            ]
        )
        person, props = rng.choice(people)
        out.append(
            (str(uuid.UUID(int=rng.getrandbits(128))), "$pageview", f"d-{person}", person,
             day + offset, json.dumps({"$browser": "Chrome"}), props)
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return events_store(tmp_path_factory, "daily", _events())


@pytest.fixture()
def source(store: Path) -> Iterator[LocalPostHogSource]:
    yield from opened(store)


def _query() -> Any:
    return load_queries(REPO / "queries").get("posthog/daily_active")


@pytest.mark.parametrize(
    ("as_of", "days"),
    [
        (datetime(2026, 3, 20), 7),
        (datetime(2026, 3, 20), 35),
        (datetime(2026, 4, 11), 35),  # as_of just past the data's last day
        (datetime(2026, 3, 2), 1),
        (datetime(2026, 5, 1), 90),  # beyond the data
        (datetime(2026, 2, 1), 35),  # before it
    ],
)
def test_at_a_midnight_the_table_gives_the_rows_the_events_give(
    source: LocalPostHogSource, as_of: datetime, days: int
) -> None:
    query = _query()
    events_sql = source.translation(query.sql).sql
    values = {"as_of": as_of.strftime("%Y-%m-%d %H:%M:%S"), "days": days,
              "exclude_pattern": EXCLUDE}  # fmt: skip
    assert shortcuts.find(query, "statement", values) is daily_rollups.SHORTCUT, (
        "daily_active is no longer answered from person_days"
    )
    rolled = daily_rollups.DAILY_ACTIVE_AT_MIDNIGHT
    want = rows(source, events_sql, values)
    assert rows(source, rolled, values) == want
    # and through the source, which picks the table
    run = source.run(query, {"as_of": as_of, "days": days, "exclude_pattern": EXCLUDE})
    assert [tuple(r) for r in run.rows] == want
    if START < as_of <= START + timedelta(days=41):
        assert want, "bounds that hold events"


def test_the_edges_matter_here(source: LocalPostHogSource) -> None:
    """Some persons' only events of a day are at its first instant: counted for the day before."""
    cur = source._connection().cursor()
    try:
        found = cur.execute(
            "SELECT count(*) FROM person_days d WHERE events = (SELECT count(*) FROM events e"
            " WHERE e.person_id IS NOT DISTINCT FROM d.person_id"
            " AND e.person_email_norm IS NOT DISTINCT FROM d.person_email_norm"
            " AND e.timestamp = CAST(d.day AS TIMESTAMP))"
        ).fetchone()
    finally:
        cur.close()
    assert found is not None and found[0] > 0


def test_any_other_moment_or_text_runs_on_the_events(source: LocalPostHogSource) -> None:
    query = _query()
    midnight = {"as_of": "2026-03-20 00:00:00", "days": 35, "exclude_pattern": EXCLUDE}
    assert shortcuts.find(query, "statement", midnight) is not None
    for other in ({"as_of": "2026-03-20 00:00:01"}, {"as_of": "2026-03-20T00:00:00"},
                  {"days": 0}, {"days": 1.5}, {"days": True}):  # fmt: skip
        assert shortcuts.find(query, "statement", {**midnight, **other}) is None, other
    edited = parse_query(
        query.path, "posthog", query.path.read_text(encoding="utf-8").replace("86400", "3600")
    )
    assert shortcuts.find(edited, "statement", midnight) is None
    # the source runs the events' text at any other moment, the table's at a midnight
    for as_of, table in ((datetime(2026, 3, 20, 0, 0, 1), False), (datetime(2026, 3, 20), True)):
        tr, _ = source._bound(query, {"as_of": as_of, "days": 35, "exclude_pattern": ""}, "q")
        assert (rollups.DAYS_TABLE in tr.sql) is table
