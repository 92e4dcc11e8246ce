"""First-time retention's first starts on the local engine
(usertrack/engines/local/first_starts.py): every person's first start worked out once per moment,
each span's rows those of it from its `since`, the rows the file gives; a changed store is read
anew; any other text runs as it is."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow  # noqa: F401  (the dashboard has it loaded: the answers are kept as Arrow)
import pytest

from tests.edge_events import write_raw_events
from tests.rollup_stores import EXCLUDE, facts, sorted_rows
from usertrack.engines.local import shortcuts
from usertrack.engines.local.source import LocalPostHogSource, wire_value

START = datetime(2026, 3, 1)
QUERY = "posthog/retention_first_starts"


def _events(seed: int, count: int) -> list[tuple[Any, ...]]:
    """Sign-ups and other events of persons with and without an email, an internal one, events
    without a person, some at the same microsecond."""
    rng = random.Random(seed)
    people = [(f"p{i}", json.dumps({"email": f"u{i}@example.com"})) for i in range(40)]
    people += [("p40", None), ("p41", '{"email": "ops@datagen.dev"}'), (None, None)]
    out = []
    for _ in range(count):
        person, props = rng.choice(people)
        at = START + timedelta(days=rng.randrange(60), seconds=rng.choice([0, 0, 1, 4000]))
        event = rng.choice(["user_signed_up", "user_signed_up", "$pageview"])
        out.append((str(uuid.UUID(int=rng.getrandbits(128))), event, f"d-{person}", person, at,
                    "{}", props))  # fmt: skip
    return out


def _asked(local: LocalPostHogSource, values: dict[str, Any], where: list[str] | None = None):
    cur = local._connection().cursor()
    try:
        local.facts_into(cur, facts(local, QUERY, where), values, "firsts")
        return sorted(cur.execute("SELECT * FROM firsts").fetchall(), key=repr)
    finally:
        cur.close()


def _values(since: datetime, as_of: datetime) -> dict[str, Any]:
    return {"as_of": as_of, "since": since, "start_event": "user_signed_up",
            "exclude_pattern": EXCLUDE, "start_property": "", "start_value": ""}  # fmt: skip


def test_each_span_gives_the_files_rows_from_one_answer(tmp_path: Path) -> None:
    store = tmp_path / "events.duckdb"
    write_raw_events(store, _events(7, 600))
    local = LocalPostHogSource(store)
    try:
        text = local.translation(facts(local, QUERY).sql).sql
        as_of = START + timedelta(days=45)
        answers = []
        for since in (START, START + timedelta(days=20), START + timedelta(days=20, seconds=1),
                      START + timedelta(days=50), START - timedelta(days=1)):  # fmt: skip
            values = _values(since, as_of)
            want = sorted_rows(local, text, {k: str(v) for k, v in values.items()})
            assert _asked(local, values) == want, since
            answers += [answer for _, answer in local._first_starts._kept.values()]
            if since < as_of:
                assert want, since
        # worked out once for the moment: one answer kept; another moment's replaces it
        assert len(local._first_starts._kept) == 1
        assert all(answer is answers[0] for answer in answers)
        later = _values(START + timedelta(days=20), START + timedelta(days=59))
        want = sorted_rows(local, text, {k: str(v) for k, v in later.items()})
        assert _asked(local, later) == want
        (key,) = local._first_starts._kept
        assert key[0] == repr(wire_value(later["as_of"]))
    finally:
        local.close()
    assert not local._first_starts._kept


def test_a_changed_store_is_read_anew(tmp_path: Path) -> None:
    store = tmp_path / "events.duckdb"
    write_raw_events(store, _events(7, 300))
    local = LocalPostHogSource(store)
    values = _values(START, START + timedelta(days=61))
    try:
        before = _asked(local, values)
    finally:
        local.close()
    write_raw_events(store, _events(8, 300))
    local = LocalPostHogSource(store)
    try:
        after = _asked(local, values)
        text = local.translation(facts(local, QUERY).sql).sql
        assert after == sorted_rows(local, text, {k: str(v) for k, v in values.items()})
        assert after != before
    finally:
        local.close()


@pytest.mark.parametrize("where", [["properties.$browser = 'Chrome'"]])
def test_a_where_runs_the_file_as_it_is(tmp_path: Path, where: list[str]) -> None:
    store = tmp_path / "events.duckdb"
    write_raw_events(store, _events(7, 200))
    local = LocalPostHogSource(store)
    try:
        text = local.translation(facts(local, QUERY, where).sql).sql
        assert shortcuts.find(facts(local, QUERY, where), "first_starts", {}) is None
        assert shortcuts.find(facts(local, QUERY), "first_starts", {}) is not None
        values = _values(START, START + timedelta(days=61))
        assert _asked(local, values, where) == sorted_rows(
            local, text, {k: str(v) for k, v in values.items()}
        )
        assert not local._first_starts._kept
    finally:
        local.close()
