"""What the rollup tests share: an events store written from rows, a local source over it, and a
query file as an analysis runs it on the local engine (its `{filters}` filled, per event), so each
rollup table's rows can be compared with the rows the events give."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.edge_events import write_raw_events
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.queries.library import Query, load_queries

REPO = Path(__file__).resolve().parent.parent
EXCLUDE = r"@datagen\.dev$"


def events_store(factory: pytest.TempPathFactory, name: str, rows: list[tuple[Any, ...]]) -> Path:
    """An events store of `rows` (tests.edge_events.write_raw_events' tuples), rollups built."""
    path = factory.mktemp(name) / "events.duckdb"
    write_raw_events(path, rows)
    return path


def opened(store: Path) -> Iterator[LocalPostHogSource]:
    """A local source over the store, closed after the test (a fixture's body)."""
    local = LocalPostHogSource(store)
    yield local
    local.close()


def facts(local: LocalPostHogSource, query_id: str, where: list[str] | None = None) -> Query:
    """The shipped query file as the analysis runs it on the local engine: `{filters}` filled."""
    query = load_queries(REPO / "queries").get(query_id)
    return local.facts_query(query.filled(where))


def rows(local: LocalPostHogSource, sql: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of `sql` with `values` on a cursor of the source's store, in its order."""
    cur = local._connection().cursor()
    try:
        return cur.execute(sql, values).fetchall()
    finally:
        cur.close()


def sorted_rows(
    local: LocalPostHogSource, sql: str, values: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """`rows`, sorted by their text (rows holding None compare too)."""
    return sorted(rows(local, sql, values), key=repr)
