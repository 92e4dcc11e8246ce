"""The profile's per-user files of the events kept to a list of emails on the local engine
(usertrack/engines/local/email_lists.py): activity.sql as shipped runs from the store's per-person-
per-day tables, mcp_clicks.sql and ux_issues.sql without the NULL branch of their email test;
each gives the rows the translation gives, whatever the list and the moment; an edited file or
a --where runs as translated."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.rollup_stores import EXCLUDE, events_store, opened
from usertrack.engines.local.email_lists import ACTIVITY_ROLLED, LISTED_OR_NULL
from usertrack.engines.local.shortcuts import find
from usertrack.engines.local.source import LocalPostHogSource, wire_value
from usertrack.queries.library import Query, load_queries, parse_query

REPO = Path(__file__).resolve().parents[2]
FILES = ("posthog/activity", "posthog/mcp_clicks", "posthog/ux_issues")
AS_OF = datetime(2026, 3, 30, 12)

# person, person_properties as written: an email with capitals and spaces, one of blanks only
# (normalized to ''), none at all, an empty one, an internal one, one that changes, no person
PEOPLE = [
    ("p1", {"email": "ann@example.com"}),
    ("p2", {"email": " Bob@Example.com\t"}),
    ("p3", {"email": "  \t"}),
    ("p4", None),
    ("p5", {"email": ""}),
    ("p6", {"email": "ops@datagen.dev"}),
    ("p7", {"email": "cy@example.com"}),
    ("p7", {"email": "cy.new@example.com"}),
    (None, None),
]
NAMES = ["$pageview", "$autocapture", "mcp_connect_clicked", "$rageclick", "$exception", "run"]


def _events() -> list[tuple[Any, ...]]:
    rng = random.Random(40)
    out = []
    for _ in range(1500):
        person, props = rng.choice(PEOPLE)
        name = rng.choice(NAMES)
        at = AS_OF - timedelta(days=rng.randrange(0, 45), seconds=rng.randrange(86400))
        if rng.random() < 0.05:
            at = AS_OF + timedelta(hours=rng.randrange(1, 48))  # after as_of: never counted
        properties = {"template_name": rng.choice(["github", "slack", None])}
        out.append(
            (str(uuid.UUID(int=rng.getrandbits(128))), name, f"d-{person}", person, at,
             json.dumps(properties), None if props is None else json.dumps(props))
        )  # fmt: skip
    # on a day's edges and at the moments asked
    for n, at in enumerate([datetime(2026, 3, 20), datetime(2026, 3, 20, 23, 59, 59, 999999),
                            datetime(2026, 3, 21), AS_OF]):  # fmt: skip
        for person, props in (PEOPLE[0], PEOPLE[2], PEOPLE[7]):
            out.append(
                (str(uuid.UUID(int=n * 16 + len(out))), "$pageview", f"d-{person}", person, at,
                 "{}", json.dumps(props))
            )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return events_store(tmp_path_factory, "email_lists", _events())


@pytest.fixture()
def source(store: Path) -> Iterator[LocalPostHogSource]:
    yield from opened(store)


def _query(query_id: str) -> Query:
    return load_queries(REPO / "queries").get(query_id)


def _rows(local: LocalPostHogSource, sql: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of `sql`, sorted, after the names and types of its columns."""
    cur = local._connection().cursor()
    try:
        used = {k: wire_value(v) for k, v in values.items() if f"${k}" in sql}
        rows = cur.execute(sql, used).fetchall()
        described = tuple((d[0], str(d[1])) for d in cur.description or [])
    finally:
        cur.close()
    return [described, *sorted(rows, key=repr)]


# as_of at midday, on a day's first and last microsecond, before every event, after them all
MOMENTS = [
    AS_OF,
    datetime(2026, 3, 20),
    datetime(2026, 3, 20, 23, 59, 59, 999999),
    datetime(2026, 1, 1),
    datetime(2026, 5, 1),
]
LISTS = [
    [],
    ["ann@example.com"],
    ["bob@example.com", "cy@example.com", "nobody@example.com"],
    ["", "ann@example.com", "ops@datagen.dev", "cy.new@example.com"],
]


@pytest.mark.parametrize("query_id", FILES)
def test_the_files_run_without_the_null_branch_and_give_the_same_rows(
    source: LocalPostHogSource, query_id: str
) -> None:
    translated = source.translation(_query(query_id).sql).sql
    assert LISTED_OR_NULL in translated
    cut = find(_query(query_id), "statement", {})
    assert cut is not None, f"{query_id} has no shortcut any more"
    faster = cut.statement(_query(query_id), translated)
    assert LISTED_OR_NULL not in faster
    assert (faster is ACTIVITY_ROLLED) == (query_id == "posthog/activity")
    for as_of in MOMENTS:
        for only in (0, 1):
            for emails in LISTS:
                values = {"as_of": as_of, "exclude_pattern": EXCLUDE, "segment_only": only,
                          "segment_emails": emails}  # fmt: skip
                want = _rows(source, translated, values)
                assert _rows(source, faster, values) == want, (as_of, only, emails)
                if only and emails == LISTS[2] and as_of == AS_OF:
                    # '' leads the list: the person of an email of blanks too
                    assert {r[0] for r in want[1:]} == {"", "bob@example.com", "cy@example.com"}


def test_the_source_runs_the_rewrite(source: LocalPostHogSource) -> None:
    query = _query("posthog/activity")
    tr, _ = source._bound(query, {"as_of": AS_OF, "exclude_pattern": EXCLUDE,
                                  "segment_only": 1, "segment_emails": []}, "q")  # fmt: skip
    assert LISTED_OR_NULL not in tr.sql


def test_an_edited_file_or_a_where_runs_as_translated(source: LocalPostHogSource) -> None:
    for query_id in FILES:
        query = _query(query_id)
        assert find(query, "statement", {}) is not None
        text = query.path.read_text(encoding="utf-8")
        edited = parse_query(query.path, "posthog", text.replace("GROUP BY email", "GROUP BY 1"))
        assert edited.sql != query.sql
        assert find(edited, "statement", {}) is None
        where = replace(
            query, sql=query.sql.replace("GROUP BY email", "  AND event != 'x'\nGROUP BY email")
        )
        assert find(where, "statement", {}) is None
