"""Events at one moment: the queries that pick a first or last event break the tie the same way
on both engines (the least uuid first, the greatest last), whatever order ClickHouse reads the
rows in. The tests' PostHog sorts its events table as PostHog's does (by day, then event name):
a tie picked by read order takes the event whose name sorts first, not the one the local engine
takes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.edge_events import write_raw_events
from tests.engine_compare import PACKED, facts_params, ordered, rows_of
from tests.handmade import AS_OF
from tests.posthog_server import DEFAULT_KEY, serve
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.engines.posthog import PostHogHTTPSource
from usertrack.queries.library import load_queries

REPO = Path(__file__).resolve().parents[2]
PROJECT = 4242
BASE = AS_OF.replace(tzinfo=None)
FIRST = BASE - timedelta(days=2)
EMAIL = "tie@edge.io"
PERSON = "00000000-0000-4000-8000-0000000000a1"
LONE = "00000000-0000-4000-8000-0000000000a2"
RET = "00000000-0000-4000-8000-0000000000a3"
PLAN: dict[str, Any] = {
    "events": ["$pageview", "zz_clicked"],
    "event_keys": [["$pathname"], ["$pathname"]],
    "event_enum_keys": [[], []],
    "keys": ["email"],
}
QUERIES = ["session_facts", "session_summary", "retention_breakdown", "alert_activity"]


def _rows() -> list[tuple[Any, ...]]:
    """Per pair at one moment: the lesser uuid first as stored, its event name sorting last
    (`zz_clicked` after `$pageview`), its properties different from the other's."""
    person = json.dumps({"email": EMAIL, "name": "Tie"})
    lone = json.dumps({"email": "lone@edge.io", "name": "Lone"})

    def props(page: str, device: str, browser: str, country: str, sid: str | None) -> str:
        p = {
            "$pathname": page,
            "$current_url": f"https://app.example{page}",
            "$device_type": device,
            "$browser": browser,
            "$geoip_country_code": country,
        }
        if sid:
            p["$session_id"] = sid
        return json.dumps(p)

    out: list[tuple[Any, ...]] = []
    for sid, pid, who, at, tag in (
        ("s-tie", PERSON, person, FIRST, "1"),
        (None, LONE, lone, FIRST + timedelta(hours=1), "2"),
    ):
        low = f"00000000-0000-4000-8000-00000000{tag}001"
        high = f"ffffffff-0000-4000-8000-00000000{tag}fff"
        last = at + timedelta(seconds=90)
        out += [
            (
                low,
                "zz_clicked",
                f"d-{pid}",
                pid,
                at,
                props("/low", "Desktop", "Firefox", "FR", sid),
                who,
            ),
            (
                high,
                "$pageview",
                f"d-{pid}",
                pid,
                at,
                props("/high", "Mobile", "Safari", "US", sid),
                who,
            ),
            (
                f"11111111-0000-4000-8000-00000000{tag}111",
                "$pageview",
                f"d-{pid}",
                pid,
                last - timedelta(seconds=30),
                props("/mid", "Tablet", "Chrome", "DE", sid),
                who,
            ),
            (
                f"00000000-0000-4000-8000-00000000{tag}abc",
                "zz_clicked",
                f"d-{pid}",
                pid,
                last,
                props("/end-low", "Tablet", "Chrome", "DE", sid),
                who,
            ),
            (
                f"eeeeeeee-0000-4000-8000-00000000{tag}abc",
                "$pageview",
                f"d-{pid}",
                pid,
                last,
                props("/end-high", "Tablet", "Chrome", "DE", sid),
                who,
            ),
        ]
    # Two first $pageviews of one person at one moment (retention --by): by distinct_id's hash,
    # as PostHog's table sorts, the greater uuid's is read first.
    ret = json.dumps({"email": "ret@edge.io", "name": "Ret"})
    for u, distinct_id, page in (
        ("00000000-0000-4000-8000-000000000b01", "d-first", "/r-low"),
        ("ffffffff-0000-4000-8000-000000000b02", "d-second", "/r-high"),
    ):
        out.append(
            (
                u,
                "$pageview",
                distinct_id,
                RET,
                FIRST - timedelta(days=1),
                props(page, "Desktop", "Firefox", "FR", "s-ret"),
                ret,
            )
        )
    # The alerts' latest event: two at as_of's last minute, the greater uuid a $pageleave.
    for u, event, page in (
        ("00000000-0000-4000-8000-000000000c01", "$pageview", "/a"),
        ("ffffffff-0000-4000-8000-000000000c02", "$pageleave", "/b"),
    ):
        out.append(
            (
                u,
                event,
                f"d-{PERSON}",
                PERSON,
                BASE - timedelta(minutes=1),
                props(page, "Desktop", "Firefox", "FR", "s-now"),
                person,
            )
        )
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ties") / "events.duckdb"
    write_raw_events(path, _rows())
    return path


@pytest.mark.parametrize("name", QUERIES)
def test_a_tie_at_one_moment_gives_the_same_answer_on_both_engines(store: Path, name: str) -> None:
    query = load_queries(REPO / "queries").get(f"posthog/{name}")
    params = facts_params(query, BASE, email=EMAIL, plan=PLAN)
    with serve(store, project_id=PROJECT, timezone="UTC") as fake:
        remote = PostHogHTTPSource(DEFAULT_KEY, PROJECT, host=fake.url, backoff_base=0.01)
        local = LocalPostHogSource(store)
        try:
            want = local.run(query, params)
            got = remote.run(query, params)
        finally:
            remote.close()
            local.close()
    assert got.columns == want.columns
    in_order, packed = ordered(query), query.id in PACKED
    assert rows_of(got.rows, in_order, packed) == rows_of(want.rows, in_order, packed)
    if name == "session_summary":
        # Each session's first event is the tie's lesser uuid's, its last the greater's.
        text = json.dumps(want.rows, default=str)
        assert "Desktop" in text and "/end-high" in text and "/low" in text
        assert "Mobile" not in text and "Safari" not in text and "/end-low" not in text
    if name == "retention_breakdown":
        values = {tuple(map(str, r)) for r in want.rows}
        assert (RET, "/r-low") in values
