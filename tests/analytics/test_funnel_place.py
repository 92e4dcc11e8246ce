"""A funnel's facts in place on the local engine (usertrack/analytics/funnel/place.py): the
facts and the progress worked out on a cursor of the events store are the rows the in-memory
copy gives, over random events with ties, repeats and steps out of order; a funnel that reads
more (a breakdown, emails) loads its facts as before."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.analytics_helpers import record, write_export
from usertrack.analytics.common import DateRange
from usertrack.analytics.funnel.run import DEFAULT_STEPS, DEFAULT_WINDOW, load_progress
from usertrack.checks.sandbox import release
from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
from usertrack.workspace import open_workspace

START = datetime(2026, 10, 1, tzinfo=UTC)
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
SPAN = DateRange(datetime(2026, 10, 3), datetime(2026, 10, 25))


def _records() -> list[dict[str, Any]]:
    rng = random.Random(11)
    names = [*DEFAULT_STEPS, "$pageview"]
    out = []
    for n in range(1500):
        person = f"p{rng.randrange(120)}"
        when = START + timedelta(days=rng.randrange(30), minutes=rng.choice([0, 0, 5, 90]))
        email = "ops@datagen.dev" if person == "p7" else f"{person}@x.io"
        out.append(record(n + 1, rng.choice(names), when, f"d-{person}", person, email))
    return out


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("place")
    events = write_export(root / "events.jsonl", _records())
    env = {"USERTRACK_HOME": str(root / "home"), "USERTRACK_EVENTS": str(events)}
    settings = load_settings({**env, "USERTRACK_CONFIG": "", "USERTRACK_CACHE_TTL": "0"})
    with open_workspace(
        settings,
        queries_dir=resolve_queries_dir(None),
        segments_path=resolve_segments_file(None),
        database=False,
    ) as opened:
        yield opened


def _tables(ws: Any, in_place: bool, **more: Any) -> tuple[list[Any], list[Any], bool]:
    """The funnel's progress and facts rows, and whether they were on the events store."""
    steps = list(DEFAULT_STEPS)
    con = load_progress(ws, steps, AS_OF, SPAN, DEFAULT_WINDOW, None, in_place=in_place, **more)
    try:
        progress = con.execute("SELECT * FROM progress ORDER BY ALL").fetchall()
        facts = con.execute("SELECT * FROM facts ORDER BY ALL").fetchall()
        # a cursor of the events store sees its `events`; the funnel's own database has none
        found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events'")
        on_store = found.fetchone() == (1,)
    finally:
        release(con)
    return progress, facts, on_store


def test_in_place_the_funnel_reads_the_rows_it_copied_before(ws: Any) -> None:
    placed = _tables(ws, in_place=True)
    copied = _tables(ws, in_place=False)
    assert placed[2] and not copied[2]
    assert placed[:2] == copied[:2]
    assert len(placed[0]) > 50 and len(placed[1]) > 500


def test_a_funnel_that_reads_emails_loads_its_facts_as_before(ws: Any) -> None:
    assert not _tables(ws, in_place=True, emails=True)[2]
