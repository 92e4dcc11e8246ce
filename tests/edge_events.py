"""An events store of edge cases, for the engines' differential tests
(tests/engines/test_engines_agree.py).

As of 2026-11-16 00:00 UTC (tests.handmade.AS_OF). The JSON texts are written as SDKs write them,
escape sequences included: posthog-python's json.dumps escapes non-ASCII (`\\u00e9`), every SDK
escapes tabs and newlines (`\\t`, `\\n`).
- tab@edge.io        person email written with a leading space and a trailing tab
                     (`" Tab@Edge.io\\t"`); several distinct_ids; pageviews around midnight with
                     fractional seconds (00:00:00.7 and 23:59:59.9)
- émile@edge.io      email written as `"\\u00c9mile@Edge.io"` (escaped Unicode)
- nl@edge.io         email with a trailing newline (`"nl@edge.io\\n"`)
- stuck@edge.io      a pageview of /settings, then a custom event without `$pathname`, still in
                     session: stuck on /settings (the custom event is not another page)
- nulls@edge.io      `$pathname: null`, a pageview without `$session_id`, template_id 53 (a
                     JSON number) and 7.5, a numeric string property, hostile strings
- ops@datagen.dev    internal (excluded)
- an anonymous distinct_id without email
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.handmade import AS_OF

HOSTILE = "'; DROP TABLE events; -- {as_of} %s \\ \" `x` <b>&amp;</b>"
# In a pathname: no `"` or backslash (a browser percent-encodes them in a URL path). PostHog reads
# `properties.X` as the raw JSON text, escapes and all; the local engine reads it decoded.
HOSTILE_PATH = "/'; DROP TABLE events; -- {as_of} %s `x` <b>&amp;</b>"
BASE = AS_OF.replace(tzinfo=None)


def _at(days: float = 0, *, minutes: float = 0, seconds: float = 0) -> datetime:
    return BASE - timedelta(days=days, minutes=minutes, seconds=seconds)


def _person(raw_email_json: str, name: str) -> str:
    """A person_properties JSON text with the email exactly as written (escapes kept)."""
    return '{"email": ' + raw_email_json + ', "name": ' + json.dumps(name) + "}"


def rows() -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []

    def add(
        event: str,
        distinct_id: str,
        person_id: str,
        ts: datetime,
        props: str | dict[str, Any],
        person: str | None,
    ) -> None:
        text = props if isinstance(props, str) else json.dumps(props)
        out.append((str(uuid.uuid4()), event, distinct_id, person_id, ts, text, person))

    tab = _person('" Tab@Edge.io\\t"', "Tab Person")
    p_tab = "00000000-0000-4000-8000-000000000001"
    midnight = BASE.replace(hour=0, minute=0, second=0) - timedelta(days=3)
    for did, ts in (
        ("tab-web", midnight + timedelta(microseconds=700_000)),  # 00:00:00.7 on day -3
        ("tab-web", midnight - timedelta(microseconds=100_000)),  # 23:59:59.9 on day -4
        ("tab-phone", _at(1, minutes=30)),
        ("tab-phone", _at(10)),
    ):
        add("$pageview", did, p_tab, ts, {"$pathname": "/dashboard", "$session_id": "s-tab"}, tab)
    add("mcp_connect_clicked", "tab-web", p_tab, _at(2), {"server": "GitHub"}, tab)
    add("$exception", "tab-web", p_tab, _at(2, seconds=5), {"$exception_message": "x"}, tab)

    emile = _person('"\\u00c9mile@Edge.io"', "\u00c9mile")
    p_emile = "00000000-0000-4000-8000-000000000002"
    for days in (1, 5, 9):
        add("$pageview", "emile", p_emile, _at(days), {"$pathname": "/projects"}, emile)
    add("run_started", "emile", p_emile, _at(1, minutes=-1), {"template_name": "caf\u00e9"}, emile)

    nl = _person('"nl@edge.io\\n"', "New Line")
    p_nl = "00000000-0000-4000-8000-000000000003"
    add("$pageview", "nl", p_nl, _at(4), {"$pathname": "/docs", "$session_id": "s-nl"}, nl)
    add("$pageview", "nl", p_nl, _at(4, minutes=-3), {"$pathname": "/pricing"}, nl)

    stuck = _person('"stuck@edge.io"', "Stuck")
    p_stuck = "00000000-0000-4000-8000-000000000004"
    add("$pageview", "stuck", p_stuck, _at(minutes=9), {"$pathname": "/settings"}, stuck)
    add("settings_saved", "stuck", p_stuck, _at(minutes=2), {"field": "name"}, stuck)

    nulls = _person('"Nulls@Edge.io"', HOSTILE)
    p_nulls = "00000000-0000-4000-8000-000000000005"
    add(
        "$pageview",
        "nulls",
        p_nulls,
        _at(3),
        '{"$pathname": null, "$session_id": "s-nulls", "count": "12"}',
        nulls,
    )
    add("$pageview", "nulls", p_nulls, _at(3, minutes=-1), {"$pathname": HOSTILE_PATH}, nulls)
    add("run_started", "nulls", p_nulls, _at(2), {"template_id": 53, "template_name": "t"}, nulls)
    add("run_started", "nulls", p_nulls, _at(2, minutes=-5), {"template_id": 7.5}, nulls)
    add("$rageclick", "nulls", p_nulls, _at(1), {"$pathname": "/settings"}, nulls)
    # a numeric property: PostHog types template_id Numeric and reads it as Float64 (53.0)
    click = {"template_id": 53, "template_name": "GitHub"}
    add("mcp_connect_clicked", "nulls", p_nulls, _at(2, minutes=-9), click, nulls)

    ops = _person('"ops@datagen.dev"', "Ops")
    add("$pageview", "ops", "00000000-0000-4000-8000-000000000006", _at(1), {"$pathname": "/"}, ops)
    add("$pageview", "anon-1", "00000000-0000-4000-8000-000000000007", _at(1), {}, None)
    return out


def write_raw_events(path: Path, data: list[tuple[Any, ...]]) -> int:
    """An events store at `path` of rows (uuid, event, distinct_id, person_id, timestamp,
    properties JSON text, person_properties JSON text), the JSON texts kept as written; the
    number of events stored."""
    from usertrack.engines.local.eventstore import write_events

    def load(con: Any) -> str:
        con.execute(
            "CREATE TEMP TABLE raw (uuid VARCHAR, event VARCHAR, distinct_id VARCHAR,"
            " person_id VARCHAR, timestamp TIMESTAMP, properties VARCHAR,"
            " person_properties VARCHAR)"
        )
        con.executemany("INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?)", data)
        return "SELECT * FROM raw"

    return write_events(path, load)


def write(path: Path) -> Path:
    write_raw_events(path, rows())
    return path
