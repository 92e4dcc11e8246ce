"""The events store's session and path tables (usertrack/engines/local/rollups.py): the facts
`sessions` and `paths` read from them are the ones the events give, whatever the bounds (a
session or a run of path events cut by them, gaps of just under and exactly 30 minutes, ties in
time, persons with no email, an internal one, one whose email changes, events with no person);
anything else (a --where, a store built before the tables, a range holding a person of several
emails for paths) runs on the events."""

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
from usertrack.analytics.common import FactsQuery, unnested
from usertrack.analytics.paths import run as paths_mod
from usertrack.analytics.sessions import run as sessions_mod
from usertrack.engines.local import rollups, sessions_filtered, shortcuts
from usertrack.engines.local.source import LocalPostHogSource, wire_value
from usertrack.queries.library import Query

START = datetime(2026, 3, 1)
CHANGES = datetime(2026, 3, 10)
PAGES = ["/", "/a", "/b", "/c"]
CUSTOM = ["signed_up", "run_started", "$identify"]  # ($-events but $pageview: not a path node)


def _events() -> list[tuple[Any, ...]]:
    """Runs of events per person, with and without a $session_id, whose gaps are a few seconds,
    29:59.999999, exactly 30 minutes or hours; some at the very time of the one before."""
    rng = random.Random(2023)
    people = [
        ("p1", '{"email": "ann@example.com"}'),
        ("p2", '{"email": " Bob@Example.com\\t"}'),
        ("p3", '{"email": "ops@datagen.dev"}'),
        ("p4", None),
        (None, None),
    ]
    changing = [("p5", '{"email": "cy@example.com"}'), ("p5", '{"email": "cy@datagen.dev"}')]
    gaps = [
        timedelta(seconds=5),
        timedelta(minutes=29, seconds=59, microseconds=999999),
        timedelta(minutes=30),
        timedelta(0),
        timedelta(hours=3),
        timedelta(minutes=7),
    ]
    out = []
    for run in range(160):
        person, props = rng.choice(people) if run < 150 else rng.choice(changing)
        at = START + timedelta(minutes=rng.randrange(0, 60 * 24 * 10))
        if run >= 150:  # p5's emails change: from CHANGES on
            at = CHANGES + timedelta(minutes=rng.randrange(0, 60 * 24))
        session = None if rng.random() < 0.3 else f"s{run}"
        for _ in range(rng.randrange(1, 12)):
            at += rng.choice(gaps)
            if run >= 150:
                person, props = rng.choice(changing)
            kind = rng.random()
            if kind < 0.55:
                event = "$pageview"
                page = rng.choice([*PAGES, None])
                properties: dict[str, Any] = {"$pathname": page}
                if page is not None and rng.random() < 0.8:
                    properties["$current_url"] = f"https://x.io{page}"
            elif kind < 0.7:
                event, properties = "$autocapture", {}
            else:
                event, properties = rng.choice(CUSTOM), {}
            properties["$browser"] = rng.choice(["Chrome", "Firefox", None])
            properties["$device_type"] = rng.choice(["Desktop", "Mobile"])
            properties["$geoip_country_code"] = rng.choice(["DE", "US"])
            if session is not None:
                properties["$session_id"] = session
            out.append(
                (str(uuid.UUID(int=rng.getrandbits(128))), event, f"d-{person}", person, at,
                 json.dumps(properties), props)
            )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return events_store(tmp_path_factory, "journeys", _events())


@pytest.fixture()
def source(store: Path) -> Iterator[LocalPostHogSource]:
    yield from opened(store)


BOUNDS = [
    # (since, until): whole days, cutting runs and sessions at both ends, within one run,
    # on an event's very time, past the data, until before since.
    (datetime(2026, 3, 2), datetime(2026, 3, 9)),
    (datetime(2026, 3, 2, 5, 30), datetime(2026, 3, 9, 17, 45, 10)),
    (datetime(2026, 3, 3, 7, 10), datetime(2026, 3, 3, 9, 50)),
    (datetime(2026, 3, 4, 12), datetime(2026, 3, 4, 12, 40)),
    (datetime(2026, 2, 1), datetime(2026, 4, 1)),
    (datetime(2026, 3, 5), datetime(2026, 3, 4, 12)),
]
AS_OF = datetime(2026, 3, 8, 13, 3)


def _values(since: datetime, until: datetime, as_of: datetime = AS_OF) -> dict[str, Any]:
    params = {"since": since, "until": until, "as_of": as_of, "exclude_pattern": EXCLUDE,
              "pageviews": 1, "screens": 0, "custom_events": 1}  # fmt: skip
    return {k: wire_value(v) for k, v in params.items()}


def _on_events(local: LocalPostHogSource, query: Query, values: dict[str, Any]) -> list[Any]:
    """The session facts the events give, a row per session or lone event, as the analysis
    types them."""
    sql = local.translation(query.sql).sql
    values = {k: v for k, v in values.items() if k in {p.name for p in query.params}}
    cur = local._connection().cursor()
    try:
        cur.execute(f"CREATE TEMP TABLE raw AS {sql}", values)
        found = [d[0] for d in cur.execute("SELECT * FROM raw LIMIT 0").description or []]
        listed = {c for c in found if c not in ("session_id", "person_id")}
        casts = ", ".join(f'CAST("{c}" AS {t})' for c, t in sessions_mod.SCHEMA.items())
        return sorted(
            cur.execute(f"SELECT {casts} FROM {unnested('raw', found, listed)}").fetchall(),
            key=repr,
        )
    finally:
        cur.close()


def _from_source(local: LocalPostHogSource, query: Query, values: dict[str, Any]) -> list[Any]:
    cur = local.facts_cursor(query, values, "facts")
    try:
        types = {d[0]: str(d[1]) for d in cur.execute("SELECT * FROM facts LIMIT 0").description}
        assert types == sessions_mod.SCHEMA  # typed as the analysis reads them: no copy to make
        return sorted(cur.execute("SELECT * FROM facts").fetchall(), key=repr)
    finally:
        cur.close()


@pytest.mark.parametrize(("since", "until"), BOUNDS)
def test_the_session_table_gives_the_facts_the_events_give(
    source: LocalPostHogSource, since: datetime, until: datetime
) -> None:
    query = facts(source, sessions_mod.QUERY)
    cut = shortcuts.find(query, "facts", {})
    assert cut is not None and cut.facts(query, "") == (
        rollups.SESSION_FACTS_ROLLED,
        rollups.SESSION_WINDOWS_SQL,
    )
    values = _values(since, until)
    want = _on_events(source, query, values)
    assert _from_source(source, query, values) == want
    if since < until and since < AS_OF:
        assert want, "bounds that hold events"


def _sequences_on_events(
    local: LocalPostHogSource, query: Query, values: dict[str, Any]
) -> tuple[Any, Any, list[tuple[int, Any]]]:
    con, sql, bound = local.facts_sql(query, values)
    try:
        facts = FactsQuery(con, f"(\n{sql}\n)", bound, query.id)
        kept, first = paths_mod._sequences(facts)
        return kept, first, facts.execute("SELECT code, node FROM path_nodes").fetchall()
    finally:
        con.close()


def _split(kept: Any, first: Any) -> list[tuple[int, ...]]:
    ends = [*first.tolist()[1:], len(kept)][: len(first)]
    return sorted(tuple(kept[a:b].tolist()) for a, b in zip(first.tolist(), ends, strict=True))


@pytest.mark.parametrize(("since", "until"), BOUNDS)
def test_the_path_table_gives_the_sequences_the_events_give(
    source: LocalPostHogSource, since: datetime, until: datetime
) -> None:
    query = facts(source, paths_mod.QUERY)
    # the range before p5 changes email: the table answers
    values = _values(since, min(until, CHANGES - timedelta(microseconds=1)))
    found = source.path_codes(query, values)
    assert found is not None
    kept, first, nodes = paths_mod.rolled_sequences(*found)
    want_kept, want_first, want_nodes = _sequences_on_events(source, query, values)
    assert nodes == want_nodes
    # the same sequences (persons come in another order: neither order means anything)
    assert _split(kept, first) == _split(want_kept, want_first)
    for steps, start, end in ((5, None, None), (2, "/a", None), (4, None, "/b"), (3, "/", "/c")):
        got = paths_mod.summarize_sequences(kept, first, nodes, steps, start, end, 20, 50)
        want = paths_mod.summarize_sequences(
            want_kept, want_first, want_nodes, steps, start, end, 20, 50
        )
        assert got == want
    if since < until and since < AS_OF:
        assert len(want_kept), "bounds that hold events"


def test_paths_read_the_events_when_the_range_holds_a_person_of_several_emails(
    source: LocalPostHogSource,
) -> None:
    query = facts(source, paths_mod.QUERY)
    cur = source._connection().cursor()
    try:
        (first, last), *_ = cur.execute(
            f"SELECT min(timestamp), max(timestamp) FROM {rollups.PATH_TABLE} WHERE NOT one_email"
        ).fetchall()
    finally:
        cur.close()
    assert first is not None, "the store has a person of several emails"
    assert source.path_codes(query, _values(first, last, last)) is None
    before = first - timedelta(microseconds=1)
    assert source.path_codes(query, _values(START, before, before)) is not None


# --where filters that keep some of a session's events (the test's sessions mix browsers), every
# event of a kind, two ANDed, and every event (each session within the bounds kept whole: its
# row of the store's session table).
FILTERS = [
    ["properties.$browser = 'Chrome'"],
    ["event = '$pageview'"],
    ["properties.$browser = 'Chrome'", "properties.$device_type = 'Mobile'"],
    ["properties.$device_type != 'Tablet'"],
]


@pytest.mark.parametrize("where", FILTERS)
@pytest.mark.parametrize(("since", "until"), BOUNDS)
def test_a_where_gives_the_session_facts_the_translation_gives(
    source: LocalPostHogSource, where: list[str], since: datetime, until: datetime
) -> None:
    """Under a --where the session facts come from the events in a cheaper form
    (usertrack.engines.local.sessions_filtered): the translation's rows, ties in time included."""
    query = facts(source, sessions_mod.QUERY, where)
    sql = source.translation(query.sql).sql
    cut = shortcuts.find(query, "facts", {})
    assert cut is not None
    found = cut.facts(query, sql)
    assert found is not None and found[0] == sessions_filtered.filtered(query, sql)
    values = _values(since, until)
    want = _on_events(source, query, values)
    assert _from_source(source, query, values) == want
    if (since, until) == BOUNDS[4]:
        assert want, "bounds around every event"


def test_the_filter_is_read_from_the_translation_with_its_own_spaces(
    source: LocalPostHogSource,
) -> None:
    query = facts(source, sessions_mod.QUERY, ["properties.$browser = 'Chro  me'"])
    found = sessions_filtered.filter_of(query, source.translation(query.sql).sql)
    assert found is not None and "'Chro  me'" in found
    assert found == "((prop_browser  IS NOT DISTINCT FROM  'Chro  me'))"
    # an edited text has no origin: it runs as translated
    edited = replace(query, sql=query.sql.replace("AS country", "AS land", 1))
    assert edited.sql != query.sql
    assert shortcuts.find(edited, "facts", {}) is None
    # a translation that is not the file's with one filter in its slots: none read
    other = source.translation(edited.sql).sql
    assert sessions_filtered.filter_of(query, other) is None


def test_a_where_or_a_store_without_the_tables_reads_the_events(
    store: Path, source: LocalPostHogSource, tmp_path: Path
) -> None:
    values = _values(*BOUNDS[1])
    # a --where filters events: the tables cannot answer it
    filtered = facts(source, paths_mod.QUERY, ["properties.$browser = 'Chrome'"])
    assert source.path_codes(filtered, values) is None
    filtered = facts(source, sessions_mod.QUERY, ["properties.$browser = 'Chrome'"])
    cut = shortcuts.find(filtered, "facts", {})
    found = None if cut is None else cut.facts(filtered, source.translation(filtered.sql).sql)
    assert found is not None and found[0] != rollups.SESSION_FACTS_ROLLED
    old = tmp_path / "old.duckdb"
    old.write_bytes(store.read_bytes())
    con = duckdb.connect(str(old))
    for table in (*rollups.SESSION_TABLES, *rollups.PATH_TABLES):
        con.execute(f"DROP TABLE {table}")
    con.close()
    without = LocalPostHogSource(old)
    try:
        assert not without.has_tables(rollups.SESSION_TABLES)
        assert without.path_codes(facts(without, paths_mod.QUERY), values) is None
        query = facts(without, sessions_mod.QUERY)
        cur = without.facts_cursor(query, values, "facts")
        try:
            described = cur.execute("SELECT * FROM facts LIMIT 0").description or []
            assert str(described[0][1]).endswith("[]"), "the file's own arrays, from the events"
        finally:
            cur.close()
        assert _on_events(without, query, values) == _from_source(
            source, facts(source, sessions_mod.QUERY), values
        )
    finally:
        without.close()


def test_path_steps_built_a_slice_of_persons_at_a_time_are_the_one_statements_rows(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """path_steps is built in slices of persons (its windows outgrow the demo's 200 MB write at
    10.7 M events in one statement): slices of a few events give the rows one statement over
    every event gives, in the same order (the order paths reads the table in)."""
    copy = tmp_path / "events.duckdb"
    copy.write_bytes(store.read_bytes())
    monkeypatch.setattr(rollups, "PATH_SLICE_EVENTS", 7)
    con = duckdb.connect(str(copy))
    try:
        con.execute(f"DROP TABLE {rollups.PATH_TABLE}")
        for table in (rollups.SESSIONS_TABLE, rollups.PATH_NODES_TABLE):
            con.execute(f"DROP TABLE {table}")
        rollups.build_journeys(con)
        sliced = con.execute(f"SELECT * FROM {rollups.PATH_TABLE}").fetchall()
        whole = con.execute(rollups._PATH_STEPS_SQL.replace("{persons}", "true")).fetchall()
        persons = con.execute(
            f"SELECT count(DISTINCT person_id) FROM {rollups.PATH_TABLE}"
        ).fetchone()
    finally:
        con.close()
    assert persons is not None and persons[0] >= 4
    assert len(sliced) > 7 * 4  # several slices, not one
    assert sliced == whole
