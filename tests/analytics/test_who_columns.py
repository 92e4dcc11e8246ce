"""`--who`'s per-user queries of the app's database answer only email and the columns the
expression reads (usertrack.segments.narrow.kept_columns): the same rows of those columns as the
whole file's."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from tests.handmade import SCHEMA

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 6, 10)


@pytest.fixture()
def db(make_database: Callable[[str], str]) -> str:
    uri = make_database(SCHEMA)
    accounts = [(1, " Carol@Beta.com", "trialing"), (2, "CAROL@beta.com\t", "active"),
                (3, "bob@acme.io", None), (4, "erin@datagen.dev", "trialing")]  # fmt: skip
    with psycopg.connect(uri, autocommit=True) as conn:
        for wid, email, status in accounts:
            conn.execute(
                "INSERT INTO wasp_user VALUES (%s, %s, %s, %s, '2026-06-01', '2026-05-01')",
                (wid, email, 40 + wid, status),
            )
    return uri


def test_only_the_columns_read_are_asked_of_the_database(db: str) -> None:
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.queries.library import load_queries, resolve_params
    from usertrack.segments.narrow import kept_columns

    library = load_queries(REPO / "queries")
    query = library.get("neon/accounts")
    values = resolve_params(
        query, {"as_of": AS_OF, "exclude_pattern": r"@datagen\.dev$"}, now_value=AS_OF
    )
    source = PostgresSource(db)
    try:
        whole = source.run(query, values)
        kept = kept_columns(query, whole.columns, {"subscription_status"})
        assert kept.sql != query.sql
        for over in (None, 0):  # rows, and COPY's Arrow table
            if over is None:
                mine = source.run(kept, values)
                rows = mine.rows
            else:
                mine = source.run(kept, values, arrow_over=over)
                rows = list(zip(*(c.to_pylist() for c in mine.arrow.columns), strict=True))
            assert mine.columns == ["email", "subscription_status"]
            at = [whole.columns.index(c) for c in mine.columns]
            assert sorted(rows) == sorted(tuple(r[i] for i in at) for r in whole.rows)
            assert len(rows) == 2  # carol's two accounts as one; erin excluded
        # every column read, or no email among them: the file as it is
        assert kept_columns(query, whole.columns, set(whole.columns)) is query
        assert kept_columns(query, ["status"], {"status"}) is query
        # a query of the events: as it is
        events = dataclasses.replace(query, folder="posthog")
        assert kept_columns(events, whole.columns, {"subscription_status"}) is events
    finally:
        source.close()
