"""The events store's per-person-per-hour table (usertrack/engines/local/rollups.py): activity's
facts answered from it are the ones the events give, row for row, whatever the bounds; anything else
(a --where, an edited file, a store built before the table) runs on the events."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.edge_events import write_raw_events
from tests.rollup_stores import EXCLUDE, REPO, events_store, facts, opened, sorted_rows
from usertrack.analytics.where import spliced
from usertrack.engines.local import person_emails, rollups, shortcuts
from usertrack.engines.local.source import LocalPostHogSource, wire_value
from usertrack.queries.library import Query, load_queries

START = datetime(2026, 3, 1)
FILES = ("posthog/activity_days", "posthog/activity_hours", "posthog/activity_person_hours",
         "posthog/active_persons")  # fmt: skip


def _events() -> list[tuple[Any, ...]]:
    """Events on the hours' edges (xx:00:00.000000, xx:59:59.999999), in between, of persons
    with no email, an internal one, one written with odd case and spaces, one whose email
    changes, and events with no person."""
    rng = random.Random(23)
    people = [
        ("p1", '{"email": "ann@example.com"}'),
        ("p2", '{"email": " Bob@Example.com\\t"}'),
        ("p3", '{"email": "ops@datagen.dev"}'),
        ("p4", None),
        ("p5", '{"email": "cy@example.com"}'),
        ("p5", '{"email": "cy@datagen.dev"}'),  # the same person, another email on some events
        (None, None),
    ]
    out = []
    for _ in range(1500):
        hour = START + timedelta(hours=rng.randrange(0, 24 * 12))
        offset = rng.choice(
            [
                timedelta(0),
                timedelta(hours=1, microseconds=-1),
                timedelta(minutes=30),
                timedelta(seconds=rng.randrange(3600)),
            ]
        )
        person, props = rng.choice(people)
        out.append(
            (str(uuid.UUID(int=rng.getrandbits(128))), "$pageview", f"d-{person}", person,
             hour + offset, json.dumps({"$browser": rng.choice(["Chrome", "Firefox"])}), props)
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return events_store(tmp_path_factory, "rollups", _events())


@pytest.fixture()
def source(store: Path) -> Iterator[LocalPostHogSource]:
    yield from opened(store)


def _shortcut(query: Query) -> str | None:
    """The statement of the shortcut that answers `query` (its registry's), or None."""
    cut = shortcuts.find(query, "statement", {})
    return None if cut is None else cut.statement(query)


BOUNDS = [
    # (since, as_of): whole days, part-hours at either end, bounds on an hour's first and last
    # microsecond, both in one hour, as_of before since, beyond the data.
    (datetime(2026, 3, 2), datetime(2026, 3, 9)),
    (datetime(2026, 3, 2, 5, 30), datetime(2026, 3, 9, 17, 45, 10)),
    (datetime(2026, 3, 3, 7), datetime(2026, 3, 3, 8)),
    (datetime(2026, 3, 3, 7, 0, 0, 1), datetime(2026, 3, 3, 7, 59, 59, 999999)),
    (datetime(2026, 3, 3, 7, 10), datetime(2026, 3, 3, 7, 50)),
    (datetime(2026, 3, 3, 6, 59, 59, 999999), datetime(2026, 3, 3, 9, 0, 0, 1)),
    (datetime(2026, 3, 5), datetime(2026, 3, 4, 12)),
    (datetime(2026, 2, 1), datetime(2026, 4, 1)),
    (datetime(2026, 3, 1), datetime(2026, 3, 1, 0, 0, 0, 1)),
]


@pytest.mark.parametrize("query_id", FILES)
@pytest.mark.parametrize(("since", "as_of"), BOUNDS)
def test_the_table_gives_the_rows_the_events_give(
    source: LocalPostHogSource, query_id: str, since: datetime, as_of: datetime
) -> None:
    query = facts(source, query_id)
    events_sql = source.translation(query.sql).sql
    rolled_sql = _shortcut(query)
    assert rolled_sql is not None, f"{query_id} is no longer answered from {rollups.TABLE}"
    values = {"since": str(since), "as_of": str(as_of), "exclude_pattern": EXCLUDE}
    want = sorted_rows(source, events_sql, values)
    got = sorted_rows(source, rolled_sql, values)
    assert got == want
    # and through the source, which picks the table, with the types the events give (it sends
    # a datetime to the second, as the live path does)
    params = {"since": since, "as_of": as_of, "exclude_pattern": EXCLUDE}
    run = source.run(query, params)
    wired = {k: wire_value(v) for k, v in params.items()}
    assert sorted(run.rows, key=repr) == sorted_rows(source, events_sql, wired)
    if since < as_of and (since, as_of) != BOUNDS[-1]:
        assert want, "bounds that hold events"


def test_the_source_runs_activity_from_the_table_and_the_rest_on_the_events(
    source: LocalPostHogSource,
) -> None:
    assert source.has_rollups()
    for query_id in FILES:
        query = facts(source, query_id)
        tr, _ = source._bound(query, {"since": START, "as_of": START, "exclude_pattern": ""}, "q")
        assert rollups.TABLE in tr.sql, query_id
        # a --where filters events: the table cannot answer it
        filtered = facts(source, query_id, ["properties.$browser = 'Chrome'"])
        tr, _ = source._bound(
            filtered, {"since": START, "as_of": START, "exclude_pattern": ""}, "q"
        )
        assert rollups.TABLE not in tr.sql, query_id
    other = load_queries(REPO / "queries").get("posthog/activity_created")
    tr, _ = source._bound(other, {"since": START, "as_of": START}, "q")
    assert rollups.TABLE not in tr.sql


def test_a_store_built_before_the_table_answers_on_the_events(store: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.duckdb"
    old.write_bytes(store.read_bytes())
    con = duckdb.connect(str(old))
    con.execute(f"DROP TABLE {rollups.TABLE}")
    con.close()
    values = {"since": BOUNDS[1][0], "as_of": BOUNDS[1][1], "exclude_pattern": EXCLUDE}
    with_table, without = LocalPostHogSource(store), LocalPostHogSource(old)
    try:
        assert with_table.has_rollups() and not without.has_rollups()
        for query_id in FILES:
            query = facts(with_table, query_id)
            tr, _ = without._bound(query, values, "q")
            assert rollups.TABLE not in tr.sql
            got = sorted(without.run(query, values).rows, key=repr)
            assert got == sorted(with_table.run(query, values).rows, key=repr)
            assert got
    finally:
        with_table.close()
        without.close()


@pytest.mark.parametrize("query_id", FILES)
@pytest.mark.parametrize("negate", [False, True])
@pytest.mark.parametrize(("since", "as_of"), [BOUNDS[1], BOUNDS[5], BOUNDS[7]])
def test_a_segments_group_is_answered_from_the_table_too(
    source: LocalPostHogSource, query_id: str, negate: bool, since: datetime, as_of: datetime
) -> None:
    """A --by-segment group's filter on the local engine (a test of person_id alone, IN or NOT
    IN the bound list) keeps the same persons' rows of the table as of the events: the shipped
    files so filtered run on the table, with the rows the events give (a row without a person
    in no group)."""
    from usertrack.analytics.by_segment import NO_ACCOUNT, PLACEHOLDER, PersonSegments

    # the filter as a --by-segment run writes it on the local engine: a segment's, no account's
    mapping = PersonSegments.listed(START, ("s", NO_ACCOUNT), {"s": ["p2"]}, "computed")
    keep, _ = mapping.person_filter(NO_ACCOUNT if negate else "s", local=True)
    assert keep.startswith("NOT ") == negate
    query = facts(source, query_id, [keep])
    events_sql = source.translation(query.sql).sql
    rolled_sql = _shortcut(query)
    assert rolled_sql is not None and rollups.TABLE in rolled_sql
    # p5's two emails, one internal: a person whose rows are not all kept by the exclusion
    values = {"since": str(since), "as_of": str(as_of), "exclude_pattern": EXCLUDE,
              PLACEHOLDER: ["p2", "p5"]}  # fmt: skip
    want = sorted_rows(source, events_sql, values)
    assert want
    assert sorted_rows(source, rolled_sql, values) == want
    tr, _ = source._bound(query, {**values, "since": since, "as_of": as_of}, "q")
    assert rollups.TABLE in tr.sql
    # with a --where too, the events
    both = facts(source, query_id, ["properties.$browser = 'Chrome'", keep])
    assert _shortcut(both) is None


def test_the_tables_give_segment_persons_but_for_persons_of_blank_emails_only(
    tmp_path: Path,
) -> None:
    """--by-segment's person -> email mapping from person_days, person_hours and the events of
    as_of's hour: segment_persons.sql's rows, whatever as_of, but for a person whose only emails
    are blanks (a row with '' from the events, none from the tables, which keep the normalized
    email alone); a person with a blank and a real email has the real one either way. Some
    persons' rows (a --persons cell's) from person_emails are the same but for the rows of ''
    (none), and so are they from the other tables in a store built before person_emails."""
    extra = [
        (str(uuid.UUID(int=n)), "$pageview", f"d-{person}", person, START + timedelta(hours=n),
         "{}", props)
        for n, (person, props) in enumerate(
            [("p6", '{"email": "  "}'), ("p7", '{"email": " \\t"}'),
             ("p7", '{"email": "dee@example.com"}'), ("p6", '{"email": ""}')] * 30
        )
    ]  # fmt: skip
    path = tmp_path / "events.duckdb"
    write_raw_events(path, _events() + extra)
    before = tmp_path / "before.duckdb"  # a store built before person_emails
    before.write_bytes(path.read_bytes())
    con = duckdb.connect(str(before))
    con.execute(f"DROP TABLE {person_emails.TABLE}")
    con.close()
    local, older = LocalPostHogSource(path), LocalPostHogSource(before)
    try:
        assert local.has_tables((person_emails.TABLE,))
        assert not older.has_tables((person_emails.TABLE,))
        from dataclasses import replace

        query = load_queries(REPO / "queries").get("posthog/segment_persons")
        query = replace(query, sql=spliced(query.sql, None))
        assert shortcuts.find(query, "segment_persons") is rollups.SEGMENT_PERSONS
        edited = replace(query, sql=query.sql.replace("max(", "min("))
        assert shortcuts.find(edited, "segment_persons") is None
        assert local.segment_persons(edited, {"as_of": START}) is None
        for _, as_of in BOUNDS:
            params = {"as_of": as_of, "exclude_pattern": EXCLUDE}
            want = sorted(local.run(query, params).rows, key=repr)
            found = local.segment_persons(query, params)
            assert found is not None
            got = sorted(found.rows, key=repr)
            blank = [row for row in want if row[1] == ""]
            # every row of a real email; of the blanks' persons those of as_of's hour at most
            assert [row for row in got if row[1] != ""] == [row for row in want if row[1] != ""]
            assert set(got) <= set(want) and {row[0] for row in blank} <= {"p6"}
            if as_of > START + timedelta(hours=3):
                assert blank == [("p6", "")] and ("p7", "dee@example.com") in got
            # some persons' rows alone (a --persons cell's): the same rows of those persons
            some = ["p2", "p6", "p7", "nobody"]
            of = older.segment_persons_of(query, params, some)
            assert of is not None and sorted(of, key=repr) == [r for r in got if r[0] in some]
            named = local.segment_persons_of(query, params, some)
            assert named is not None
            assert sorted(named, key=repr) == [r for r in sorted(of, key=repr) if r[1] != ""]
            if as_of > START + timedelta(hours=3):
                assert ("p7", "dee@example.com") in named
        assert local.segment_persons_of(edited, {"as_of": START}, ["p1"]) is None
    finally:
        local.close()
        older.close()


def test_a_store_written_again_gives_its_new_emails(tmp_path: Path) -> None:
    """person_emails is the store's own, written with it: once the store is written again from
    other events (p1's email changed, p5's first event later), a --persons cell's emails are
    the new ones, the old neither read nor kept."""
    query = load_queries(REPO / "queries").get("posthog/segment_persons")
    params = {"as_of": START + timedelta(days=20), "exclude_pattern": EXCLUDE}
    path = tmp_path / "events.duckdb"
    rows = _events()
    write_raw_events(path, rows)
    local = LocalPostHogSource(path)
    try:
        first = dict(local.segment_persons_of(query, params, ["p1", "p2", "p5"]) or [])
    finally:
        local.close()
    assert first == {"p1": "ann@example.com", "p2": "bob@example.com", "p5": "cy@example.com"}
    changed = [
        (*r[:4], r[4] + timedelta(days=15), *r[5:]) if r[3] == "p5"
        else (*r[:6], '{"email": "Ann.New@Example.com"}') if r[3] == "p1"
        else r
        for r in rows
    ]  # fmt: skip
    write_raw_events(path, changed)
    local = LocalPostHogSource(path)
    try:
        again = dict(local.segment_persons_of(query, params, ["p1", "p2", "p5"]) or [])
        # p5's events now start after the 12th day: as of the 13th, none yet
        early = {**params, "as_of": START + timedelta(days=13)}
        assert "p5" not in dict(local.segment_persons_of(query, early, ["p5"]) or [])
    finally:
        local.close()
    assert again == {"p1": "ann.new@example.com", "p2": "bob@example.com", "p5": "cy@example.com"}


@pytest.mark.parametrize(("since", "as_of"), BOUNDS)
def test_the_heatmap_for_every_group_at_once_is_each_groups_own(
    source: LocalPostHogSource, since: datetime, as_of: datetime
) -> None:
    """activity's heatmap from the tables for every --by-segment group in one statement
    (rollups.grouped): each group's rows are those of the heatmap with the group's filter
    (the shortcut's, as a group's run reads it), the rest ("no account") everyone not listed, an
    event without a person in no group."""
    import pyarrow as pa

    query = facts(source, "posthog/activity_hours")
    whole = _shortcut(query)
    assert whole is not None
    sql = rollups.grouped(whole, 2)
    assert sql is not None and rollups.grouped(sql, 2) is None
    listed = {"p1": 0, "p5": 0, "p2": 1}
    values = {"since": str(since), "as_of": str(as_of), "exclude_pattern": EXCLUDE}
    cur = source._connection().cursor()
    try:
        cur.register(
            "usertrack_person_groups",
            pa.table({"person_id": list(listed), "usertrack_group": list(listed.values())}),
        )
        rows = cur.execute(sql, values).fetchall()
    finally:
        cur.close()
    groups = {0: (["p1", "p5"], False), 1: (["p2"], False), 2: (list(listed), True)}
    for number, (ids, negate) in groups.items():
        filtered = facts(
            source,
            "posthog/activity_hours",
            [("NOT " if negate else "") + "toString(person_id) IN"
             " (SELECT arrayJoin({usertrack_segment_persons}))"],
        )  # fmt: skip
        rolled = _shortcut(filtered)
        assert rolled is not None
        want = sorted_rows(source, rolled, {**values, "usertrack_segment_persons": ids})
        assert sorted((r[1:] for r in rows if r[0] == number), key=repr) == want, number
    assert {r[0] for r in rows} <= {0, 1, 2}
    if since < as_of and (since, as_of) != BOUNDS[-1]:
        assert rows, "bounds that hold events"
