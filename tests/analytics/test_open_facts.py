"""open_facts: a facts query's rows as one DuckDB table with the columns and types an analysis
asks for, the same on the local engine (a temporary table on the events store's own DuckDB) and
through the live HTTP path (rows loaded into an in-memory DuckDB)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import record, write_export
from tests.posthog_server import DEFAULT_KEY, serve
from usertrack.analytics.common import open_facts, open_facts_query
from usertrack.core.config import load_settings
from usertrack.core.errors import QueryError
from usertrack.engines.local.eventstore import import_events
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.engines.posthog import PostHogHTTPSource
from usertrack.queries.library import load_queries
from usertrack.segments.rules import load_segments
from usertrack.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
D = datetime(2026, 5, 10, 12, tzinfo=UTC)
# Its columns in another order than the analysis asks, one it does not ask for (event), and
# n as INTEGER where the analysis wants BIGINT.
PROBE = """-- name: facts_probe
-- description: Events per person and event name.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\\.dev$
SELECT event, toInt32(count()) AS n, person_id
FROM events
WHERE timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(coalesce(person.properties.email, ''))), {exclude_pattern})
GROUP BY person_id, event
"""
SCHEMA = {"n": "BIGINT", "person_id": "VARCHAR"}


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """An events store and a query library holding the probe."""
    records = [
        record(1, "$pageview", D, "a", "p1", "ann@example.com"),
        record(2, "$pageview", D, "a2", "p1", "ann@example.com"),  # ann's second distinct_id
        record(3, "signup", D, "a", "p1", "ann@example.com"),
        record(4, "$pageview", D, "b", "p2", "bob@example.com"),
        record(5, "$pageview", D, "z", "p3", "zed@datagen.dev"),  # internal: left out
        record(6, "$pageview", datetime(2026, 6, 2, tzinfo=UTC), "b", "p2", "bob@example.com"),
    ]
    store = tmp_path / "events.duckdb"
    import_events(write_export(tmp_path / "events.jsonl", records), store)
    queries = tmp_path / "queries"
    (queries / "posthog").mkdir(parents=True)
    (queries / "posthog" / "facts_probe.sql").write_text(PROBE)
    return store, queries


def workspace(queries: Path, source: object) -> Workspace:
    return Workspace(
        settings=load_settings(),
        library=load_queries(queries),
        rules=load_segments(REPO / "segments.yaml"),
        sources={"posthog": source},  # type: ignore[dict-item]
    )


@contextmanager
def both(store: Path, queries: Path) -> Iterator[list[Workspace]]:
    """The local engine on the store, and the live HTTP path to a server over the same store."""
    with serve(store, project_id=4242) as fake:
        http = PostHogHTTPSource(DEFAULT_KEY, 4242, host=fake.url)
        yield [workspace(queries, LocalPostHogSource(store)), workspace(queries, http)]


def test_the_schema_columns_typed_the_same_on_both_paths(setup: tuple[Path, Path]) -> None:
    store, queries = setup
    # ann (p1): two pageviews (two distinct_ids, one person) and a signup; bob (p2): one
    # pageview before as_of; zed is internal.
    expected = [(1, "p1"), (1, "p2"), (2, "p1")]
    with both(store, queries) as workspaces:
        for ws in workspaces:
            with open_facts(ws, "posthog/facts_probe", AS_OF, SCHEMA) as con:
                columns = [(c[0], c[1]) for c in con.execute('DESCRIBE "facts"').fetchall()]
                assert columns == [("n", "BIGINT"), ("person_id", "VARCHAR")]
                assert sorted(con.execute("SELECT n, person_id FROM facts").fetchall()) == expected
            # The table went with its connection: a second analysis starts afresh.
            with open_facts(ws, "posthog/facts_probe", AS_OF, SCHEMA, table="other") as con:
                assert con.execute("SELECT count(*) FROM other").fetchone() == (3,)


@pytest.mark.parametrize("opener", [open_facts, open_facts_query])
def test_a_missing_column_names_the_query_on_both_paths(
    setup: tuple[Path, Path], opener: Any
) -> None:
    store, queries = setup
    with both(store, queries) as workspaces:
        for ws in workspaces:
            with (
                pytest.raises(QueryError, match="query posthog/facts_probe returns no column day"),
                opener(ws, "posthog/facts_probe", AS_OF, {**SCHEMA, "day": "DATE"}),
            ):
                pass


def test_a_facts_query_gives_the_same_typed_rows_on_both_paths(setup: tuple[Path, Path]) -> None:
    store, queries = setup
    expected = [(1, "p1"), (1, "p2"), (2, "p1")]  # as in the first test
    with both(store, queries) as workspaces:
        for ws in workspaces:
            with open_facts_query(ws, "posthog/facts_probe", AS_OF, SCHEMA) as facts:
                # n comes as INTEGER and is read as BIGINT; event is not asked for
                rows = facts.execute("SELECT * FROM {facts} ORDER BY ALL")
                columns = [(d[0], str(d[1])) for d in rows.description]
                assert columns == [("n", "BIGINT"), ("person_id", "VARCHAR")]
                assert rows.fetchall() == expected
                # {facts} can be read more than once, and statements without it run as they are
                found = facts.execute("SELECT count(*) FROM {facts} WHERE n > 1").fetchone()
                assert found == (1,)
                assert facts.execute("SELECT 40 + 2").fetchone() == (42,)


def test_a_statement_refused_on_facts_names_the_query_on_both_paths(
    setup: tuple[Path, Path],
) -> None:
    store, queries = setup
    with both(store, queries) as workspaces:
        for ws in workspaces:
            with (
                open_facts_query(ws, "posthog/facts_probe", AS_OF, SCHEMA) as facts,
                pytest.raises(QueryError, match=r"query posthog/facts_probe: .*nope"),
            ):
                facts.execute("SELECT nope FROM {facts}")
