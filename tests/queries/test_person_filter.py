"""A group's filter on the local engine (usertrack/queries/person_filter.py): a per-person facts
file as shipped runs for everyone and keeps the group's persons' rows, which are the rows the
filter on every event gives; an edited file, or a group's filter beside a --where, runs as
filled."""

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

from tests.rollup_stores import EXCLUDE, REPO, events_store, facts, opened
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.queries.library import load_queries, parse_query
from usertrack.queries.person_filter import KEEP_LOCAL, PER_PERSON, PLACEHOLDER, for_everyone

START = datetime(2026, 3, 1)


def _events() -> list[tuple[Any, ...]]:
    """Sign-ups and returns of persons with emails, an internal one, none, and no person."""
    rng = random.Random(7)
    people = [
        ("p1", '{"email": "ann@example.com"}'),
        ("p2", '{"email": "bob@example.com"}'),
        ("p3", '{"email": "ops@datagen.dev"}'),
        ("p4", None),
        ("p5", '{"email": "cy@example.com"}'),
        (None, None),
    ]
    out = []
    for _ in range(1500):
        person, props = rng.choice(people)
        when = START + timedelta(days=rng.randrange(40), seconds=rng.randrange(86400))
        event = rng.choice(["user_signed_up", "$pageview", "save"])
        out.append(
            (str(uuid.UUID(int=rng.getrandbits(128))), event, f"d-{person}", person, when,
             json.dumps({"$browser": "Chrome"}), props)
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return events_store(tmp_path_factory, "person_filter", _events())


@pytest.fixture()
def source(store: Path) -> Iterator[LocalPostHogSource]:
    yield from opened(store)


PARAMS: dict[str, Any] = {
    "as_of": datetime(2026, 4, 5),
    "since": START,
    "until": datetime(2026, 4, 1),
    "steps": ["save", "user_signed_up"],
    "by": "",
    "by_of": "event",
    "by2": "",
    "by2_of": "event",
    "by3": "",
    "by3_of": "event",
    "by_sep": "|",
    "every": 0,
    "emails": 0,
    "period": "week",
    "start_event": "user_signed_up",
    "return_event": "",
    "start_property": "",
    "start_value": "",
    "return_property": "",
    "return_value": "",
    "week_start": "monday",
    "min_occurrences": 1,
    "exclude_pattern": EXCLUDE,
    PLACEHOLDER: ["p1", "p3", "p5", "nobody"],
}


def _rows(source: LocalPostHogSource, query_id: str, where: list[str]) -> list[tuple[Any, ...]]:
    filled = facts(source, query_id, where)
    cur = source.facts_cursor(filled, PARAMS, "facts")
    try:
        return sorted(cur.execute("SELECT * FROM facts").fetchall(), key=repr)
    finally:
        cur.close()


@pytest.mark.parametrize("query_id", sorted(PER_PERSON))
def test_a_groups_per_person_facts_are_everyones_rows_kept(
    source: LocalPostHogSource, query_id: str
) -> None:
    query = load_queries(REPO / "queries").get(query_id)
    filled = source.facts_query(query.filled([KEEP_LOCAL]))
    everyone = for_everyone(filled, source.facts_query)
    assert everyone is not None
    assert everyone.sql == source.facts_query(query.filled(())).sql
    assert everyone.origin is not None and everyone.origin.filters == ()
    # beside another filter (here `true`), the group's filter reads every event, as filled
    beside = source.facts_query(query.filled(["true", KEEP_LOCAL]))
    assert for_everyone(beside, source.facts_query) is None
    # the file's text changed by hand: it runs as filled
    assert for_everyone(replace(filled, sql=f"{filled.sql} "), source.facts_query) is None
    kept = _rows(source, query_id, [KEEP_LOCAL])
    assert kept == _rows(source, query_id, ["true", KEEP_LOCAL])
    assert kept and {r[0] for r in kept} <= {"p1", "p5"}  # p3's email is internal
    assert kept != _rows(source, query_id, [])  # the others' rows are left out


def test_an_edited_or_other_file_runs_as_filled(source: LocalPostHogSource) -> None:
    library = load_queries(REPO / "queries")
    query = library.get("posthog/retention_first_starts")
    filled = source.facts_query(query.filled([KEEP_LOCAL]))
    assert for_everyone(filled, source.facts_query) is not None
    edited = replace(filled, sql=filled.sql.replace("min(timestamp)", "max(timestamp)"))
    assert for_everyone(edited, source.facts_query) is None
    # an edited copy of the file in a library of one's own: runs as filled
    text = query.path.read_text(encoding="utf-8").replace("min(timestamp)", "max(timestamp)")
    copy = parse_query(query.path, "posthog", text)
    assert for_everyone(source.facts_query(copy.filled([KEEP_LOCAL])), source.facts_query) is None
    other = library.get("posthog/trends_counts")  # an aggregate: no row is a person's
    filled = source.facts_query(other.filled([KEEP_LOCAL]))
    assert for_everyone(filled, source.facts_query) is None


@pytest.mark.parametrize("query_id", sorted(PER_PERSON))
def test_everyones_facts_are_kept_for_the_store_and_read_back(
    store: Path, source: LocalPostHogSource, tmp_path: Path, monkeypatch: Any, query_id: str
) -> None:
    """Where the source keeps answers and pyarrow is imported (a group's run), everyone's
    facts are kept under the store's stamp once and read back by the next run: the same rows
    as without (the kept file is what is read: emptied, the group keeps no row)."""
    import pyarrow as pa

    from usertrack.engines.local import storecache

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the store was written just now
    kept_in = tmp_path / "kept"
    want = _rows(source, query_id, [KEEP_LOCAL])
    keeping = LocalPostHogSource(store, kept_in=kept_in)
    try:
        assert _rows(keeping, query_id, [KEEP_LOCAL]) == want
        files = list(kept_in.glob(f"*{storecache.SUFFIX}"))
        assert len(files) == 1
        assert _rows(keeping, query_id, [KEEP_LOCAL]) == want
        table = storecache.load(kept_in, files[0].stem)
        assert table is not None and table.num_rows > len(want)  # everyone's rows
        storecache.save(kept_in, files[0].stem, pa.Table.from_pylist([], schema=table.schema))
        assert _rows(keeping, query_id, [KEEP_LOCAL]) == []
    finally:
        keeping.close()


def test_a_groups_funnel_facts_run_are_everyones_rows_kept(
    store: Path, source: LocalPostHogSource, tmp_path: Path, monkeypatch: Any
) -> None:
    """funnel_events as a funnel's facts are fetched (LocalPostHogSource.run) in a group's run:
    where the source keeps answers and pyarrow is imported, the group's rows of everyone's,
    kept under the store's stamp once and read back by the next run (emptied, the group keeps
    no row): the rows the filter on every event gives."""
    import pyarrow as pa

    from usertrack.engines.local import storecache

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the store was written just now
    filled = facts(source, "posthog/funnel_events", [KEEP_LOCAL])
    want = sorted(source.run(filled, PARAMS).rows, key=repr)  # keeps nothing: the filter
    everyone = sorted(source.run(facts(source, "posthog/funnel_events", []), PARAMS).rows, key=repr)
    assert want and {r[0] for r in want} <= {"p1", "p5"} and len(everyone) > len(want)
    kept_in = tmp_path / "kept"
    keeping = LocalPostHogSource(store, kept_in=kept_in)
    try:
        assert sorted(keeping.run(filled, PARAMS).rows, key=repr) == want
        files = list(kept_in.glob(f"*{storecache.SUFFIX}"))
        assert len(files) == 1
        assert sorted(keeping.run(filled, PARAMS).rows, key=repr) == want
        table = storecache.load(kept_in, files[0].stem)
        assert table is not None and table.num_rows == len(everyone)
        storecache.save(kept_in, files[0].stem, pa.Table.from_pylist([], schema=table.schema))
        assert keeping.run(filled, PARAMS).rows == []
    finally:
        keeping.close()
