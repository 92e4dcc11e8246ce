"""The support triggers at and just past every threshold, on both engines.

People are placed by hand on both sides of each edge of alerts.yaml's default params (see
docs/metrics.md,
"Alerts"): windows are (as_of - N minutes, as_of], "more than" is strict. The flags of
queries/posthog/alert_activity.sql must be the expected ones on the local engine and on PostHog
(the tests' stand-in: PostHog's printing on real ClickHouse).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.edge_events import write_raw_events
from tests.handmade import AS_OF
from tests.posthog_server import DEFAULT_KEY, serve
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.engines.posthog import PostHogHTTPSource
from usertrack.queries.library import load_queries

REPO = Path(__file__).resolve().parents[2]
NOW = AS_OF.replace(tzinfo=None)
FLAGS = ("in_session", "stuck_on_page", "low_activity", "multiple_errors", "long_inactivity")


def ago(minutes: float = 0, seconds: float = 0) -> datetime:
    return NOW - timedelta(minutes=minutes, seconds=seconds)


# name -> events as (minutes ago, event, $pathname or None, $session_id or None)
Event = tuple[float, str, str | None, str | None]
PEOPLE: dict[str, list[Event]] = {
    # on the page exactly 5:00 (not more than 5 minutes) / 5:01
    "stuck-500": [(5, "$pageview", "/a", "s1"), (1, "click", None, "s1")],
    "stuck-501": [(5 + 1 / 60, "$pageview", "/a", "s2"), (1, "click", None, "s2")],
    # the case: on /docs for 65 minutes, still clicking there, last event 2 minutes ago
    "stuck-65": [(65, "$pageview", "/docs", "s3")]
    + [(m, "$autocapture", "/docs", "s3") for m in (50, 40, 30, 20, 10, 2)],
    # a reload of the same page does not restart the time on it
    "reload": [(20, "$pageview", "/a", "s4"), (3, "$pageview", "/a", "s4"), (1, "x", None, "s4")],
    # an event on another page does: back on /a 4 minutes ago
    "moved": [
        (20, "$pageview", "/a", "s5"),
        (10, "$autocapture", "/b", "s5"),
        (4, "$pageview", "/a", "s5"),
        (1, "x", None, "s5"),
    ],
    # an event without a $pathname is on no page
    "no-path": [(9, "$pageview", "/settings", "s6"), (2, "settings_saved", None, "s6")],
    # a $pageleave last: out of session
    "left": [(20, "$pageview", "/a", "s7"), (1, "$pageleave", "/a", "s7")],
    # a new session: its own page, not the old session's
    "new-session": [
        (120, "$pageview", "/y", "s8a"),
        (10, "$pageview", "/z", "s8b"),
        (1, "x", None, "s8b"),
    ],
    # in session: an event in the last 30 minutes (30:00 is out, 29:59 in)
    "session-30": [(30, "$pageview", "/a", "s9")],
    "session-2959": [(29 + 59 / 60, "$pageview", "/a", "s10")],
    # more than 3 $exception in the last 5 minutes (one at exactly 5:00 is outside)
    "errors-3": [(5, "$exception", "/a", "s11")]
    + [(m, "$exception", "/a", "s11") for m in (3, 2, 1)],
    "errors-4": [(m, "$exception", "/a", "s12") for m in (4, 3, 2, 1)],
    # fewer than 3 events in the last 10 minutes (one at exactly 10:00 is outside)
    "low-2": [(10, "$pageview", "/a", "s13"), (6, "x", None, "s13"), (2, "x", None, "s13")],
    "low-3": [(9, "$pageview", "/a", "s14"), (6, "x", None, "s14"), (2, "x", None, "s14")],
    # nothing in the last 15 minutes (15:00 counts as nothing, 14:59 does not)
    "idle-15": [(40, "$pageview", "/a", "s15"), (15, "x", None, "s15")],
    "idle-1459": [(40, "$pageview", "/a", "s16"), (14 + 59 / 60, "x", None, "s16")],
    # no $session_id at all: the events of the lookback are the session
    "no-session": [(8, "$pageview", "/n", None), (1, "x", None, None)],
    # the day: every session's events of the last 24 hours (24:00:00 ago is outside)
    "day": [
        (24 * 60, "$exception", "/a", "d0"),
        (24 * 60 - 1, "$exception", "/a", "d1"),
        (300, "$exception", "/b", "d2"),
        (2, "$pageview", "/a", "d3"),
    ],
}

EXPECTED: dict[str, dict[str, int]] = {
    "stuck-500": {"in_session": 1, "stuck_on_page": 0, "low_activity": 1},
    "stuck-501": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1},
    "stuck-65": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1},
    "reload": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1},
    "moved": {"in_session": 1, "stuck_on_page": 0, "low_activity": 1},
    "no-path": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1},
    "left": {},
    "new-session": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1},
    "session-30": {"long_inactivity": 1},
    "session-2959": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1, "long_inactivity": 1},
    "errors-3": {"in_session": 1, "stuck_on_page": 0},
    "errors-4": {"in_session": 1, "stuck_on_page": 0, "multiple_errors": 1},
    "low-2": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1},
    "low-3": {"in_session": 1, "stuck_on_page": 1},
    "idle-15": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1, "long_inactivity": 1},
    "idle-1459": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1},
    "no-session": {"in_session": 1, "stuck_on_page": 1, "low_activity": 1},
    "day": {"in_session": 1, "low_activity": 1},
}
# Time on the current page, where there is one (minutes).
PAGE_SINCE: dict[str, float] = {
    "stuck-500": 5,
    "stuck-65": 65,
    "reload": 20,
    "moved": 4,
    "no-path": 9,
    "new-session": 10,
    "no-session": 8,
    "day": 2,
}


@pytest.fixture(scope="module")
def threshold_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows: list[tuple[Any, ...]] = []
    for n, (name, events) in enumerate(PEOPLE.items()):
        person = f"00000000-0000-4000-8000-{n:012d}"
        email = f"{name}@Thresholds.io" if n % 2 else f"{name}@thresholds.io"
        person_props = json.dumps({"email": email, "name": name})
        for minutes, event, page, session in events:
            props: dict[str, Any] = {}
            if page is not None:
                props["$pathname"] = page
                props["$current_url"] = f"https://app.example.com{page}"
            if session is not None:
                props["$session_id"] = session
            did = f"{name}-{'a' if minutes > 30 else 'b'}"  # several distinct_ids
            rows.append(
                (
                    str(uuid.uuid4()),
                    event,
                    did,
                    person,
                    ago(minutes),
                    json.dumps(props),
                    person_props,
                )
            )
    path = tmp_path_factory.mktemp("thresholds") / "events.duckdb"
    write_raw_events(path, rows)
    return path


def _flags(rows: list[tuple[Any, ...]], columns: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        name = str(record["email"]).split("@")[0]
        out[name] = record
    return out


def _run(store: Path, engine: str) -> dict[str, dict[str, Any]]:
    query = load_queries(REPO / "queries").get("posthog/alert_activity")
    params = {p.name: p.default for p in query.params}
    values = {k: int(v) if v and v.isdigit() else v for k, v in params.items()}
    values["as_of"] = NOW
    if engine == "local":
        local = LocalPostHogSource(store)
        try:
            result = local.run(query, values)
        finally:
            local.close()
    else:
        with serve(store, project_id=4242, timezone=engine) as fake:
            remote = PostHogHTTPSource(DEFAULT_KEY, 4242, host=fake.url, backoff_base=0.01)
            try:
                result = remote.run(query, values)
            finally:
                remote.close()
    return _flags(list(result.rows), list(result.columns))


@pytest.mark.parametrize("engine", ["local", "UTC", "America/Los_Angeles"])
def test_every_trigger_at_and_past_its_threshold(threshold_store: Path, engine: str) -> None:
    got = _run(threshold_store, engine)
    assert sorted(got) == sorted(PEOPLE)
    for name, record in got.items():
        want = {flag: EXPECTED[name].get(flag, 0) for flag in FLAGS}
        assert {flag: int(record[flag]) for flag in FLAGS} == want, name
        if name in PAGE_SINCE:
            assert record["page_since"] == ago(PAGE_SINCE[name]), name
    assert got["stuck-65"]["current_page"] == "/docs"
    assert got["new-session"]["current_page"] == "/z"
    assert got["moved"]["current_page"] == "/a"
    for name, events in PEOPLE.items():  # the day: (as_of - 24 h, as_of], every session
        day = [e for e in events if e[0] < 24 * 60]
        assert int(got[name]["day_events"]) == len(day), name
        assert int(got[name]["day_errors"]) == sum(1 for e in day if e[1] == "$exception"), name
    assert (got["day"]["day_events"], got["day"]["day_errors"]) == (3, 2)


# ----------------------------------------------------------------------------- Slack shapes

BASE_ALERT: dict[str, Any] = {
    "email": "ann@acme.io",
    "name": "<!here> Ann",
    "plan": "trialing",
    "detail": "",
    "current_page": "/docs",
    "time_on_page_seconds": 65 * 60,
    "session_events": 7,
    "session_errors": 0,
    "day_events": 45,
    "day_errors": 2,
    "last_active_at": AS_OF - timedelta(minutes=2),
    "distinct_id": "ann",
    "posthog_url": None,
}


def _texts(msg: dict[str, Any]) -> str:
    return "\n".join(
        str(b.get("text", {}).get("text", "")) for b in msg["blocks"] if b["type"] != "actions"
    )


def _within_block_kit(msg: dict[str, Any]) -> None:
    assert len(msg["blocks"]) <= 50
    for block in msg["blocks"]:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000


def test_each_kind_of_trigger_has_its_own_slack_message() -> None:
    from usertrack.act.slack import message

    stuck = message(
        {**BASE_ALERT, "kind": "activity", "trigger": "stuck_on_page", "trigger_name": "Stuck"},
        AS_OF,
    )
    entered = message(
        {
            **BASE_ALERT,
            "kind": "segment",
            "trigger": "entered_segment",
            "trigger_name": "Entered a segment",
            "detail": "entered Failing users",
            "current_page": None,
            "session_events": None,
        },
        AS_OF,
    )
    spike = message(
        {
            "kind": "failures",
            "trigger": "failure_spike",
            "trigger_name": "Run failure spike today",
            "detail": "2026-11-15: 40 failures against 6 a day",
            "email": "",
            "name": None,
        },
        AS_OF,
    )
    for msg in (stuck, entered, spike):
        _within_block_kit(msg)
    assert "Current page: /docs" in _texts(stuck) and "Time on page: 1.1h" in _texts(stuck)
    assert "Events: 7 in this session, 45 in the last 24 hours" in _texts(stuck)
    assert "Errors: 0 in this session, 2 in the last 24 hours" in _texts(stuck)
    assert "entered Failing users" in _texts(entered)
    assert "Current page" not in _texts(entered) and "in this session" not in _texts(entered)
    assert "Last active: 2 minutes ago" in _texts(entered)
    assert "40 failures against 6 a day" in _texts(spike)
    for absent in ("👤", "Plan", "in this session", "Last active", "All users"):
        assert absent not in _texts(spike) and absent not in spike["text"]
    # a name is data: plain_text in the blocks (shown as written, never a mention), escaped in
    # the fallback text
    (person,) = [b["text"] for b in stuck["blocks"] if "Ann" in str(b.get("text", {}))]
    assert person["type"] == "plain_text" and "<!here> Ann" in person["text"]
    assert "<!here>" not in stuck["text"] and "&lt;!here&gt; Ann" in stuck["text"]
