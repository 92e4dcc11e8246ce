"""A session's bounce, at its edges: the events store's `sessions."$is_bounce"`, PostHog's own
definition run on the tests' PostHog (ClickHouse), the documented rule (docs/metrics.md,
"Bounce") and the `sessions` figures, local and live, all agree.

PostHog's definition: `$is_bounce` of posthog/hogql/database/schema/sessions_v2.py (pageview
counting, its default): NULL when `$pageview_count` is 0, else
not(`$pageview_count` > 1 or `$autocapture_count` > 0 or `$session_duration` >= 10), where
`$pageview_count`/`$autocapture_count` count distinct event uuids and `$session_duration` is
`dateDiff('second', $start_timestamp, $end_timestamp)` (second boundaries crossed). The web
analytics entry page bounce rate is the average of it by `$entry_pathname`
(posthog/hogql_queries/web_analytics/stats_table.py, `to_entry_bounce_query`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import live_posthog, record, run_json, write_export

AS_OF = "2026-06-01"
RANGE = ["--since", "2026-05-01", "--until", "2026-05-31"]
D = datetime(2026, 5, 10, 10, tzinfo=UTC)

# (session, event, seconds after its start, page). Each session enters on a page of its own
# (its name), so the entry page table shows each session's bounce.
EVENTS: list[tuple[str, str, float, str | None]] = [
    # 0 pageviews and 1 autocapture: no bounce value
    ("no-pageview", "$autocapture", 0, "/no-pageview"),
    # 1 pageview and 1 autocapture, 2 s: not a bounce
    ("autocapture", "$pageview", 0, "/autocapture"),
    ("autocapture", "$autocapture", 2, "/autocapture"),
    # 1 pageview and a pageleave exactly 10 s later: not a bounce
    ("ten-seconds", "$pageview", 0, "/ten-seconds"),
    ("ten-seconds", "$pageleave", 10, "/ten-seconds"),
    # 2 pageviews of the same page, 1 s apart: two pageviews, not a bounce
    ("same-page-twice", "$pageview", 0, "/same-page-twice"),
    ("same-page-twice", "$pageview", 1, "/same-page-twice"),
    # 1 pageview and a custom event 9 s later: a bounce
    ("nine-seconds", "$pageview", 0, "/nine-seconds"),
    ("nine-seconds", "signup_clicked", 9, None),
    # 9.2 s from .9 to 10.1: 10 second boundaries crossed, so 10 s: not a bounce
    ("ten-boundaries", "$pageview", 0.9, "/ten-boundaries"),
    ("ten-boundaries", "signup_clicked", 10.1, None),
    # 9.8 s from .1 to 9.9: 9 boundaries: a bounce
    ("nine-boundaries", "$pageview", 0.1, "/nine-boundaries"),
    ("nine-boundaries", "signup_clicked", 9.9, None),
    # a lone pageview: a bounce
    ("one-pageview", "$pageview", 0, "/one-pageview"),
]
# By hand, from the comments above.
EXPECTED = {
    "no-pageview": None,
    "autocapture": False,
    "ten-seconds": False,
    "same-page-twice": False,
    "nine-seconds": True,
    "ten-boundaries": False,
    "nine-boundaries": True,
    "one-pageview": True,
}


def _records() -> list[dict[str, Any]]:
    out = []
    starts = {s: D + timedelta(hours=i) for i, s in enumerate(EXPECTED)}
    for n, (session, event, seconds, path) in enumerate(EVENTS, 1):
        when = starts[session] + timedelta(seconds=seconds)
        props: dict[str, Any] = {"$session_id": session}
        if path:
            props |= {"$pathname": path, "$current_url": f"https://app.example.com{path}"}
        rec = record(n, event, when, f"d-{session}", f"p-{session}", f"{session}@example.com",
                     props)  # fmt: skip
        rec["timestamp"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(rec)
    return out


def documented_rule(session: str) -> bool | None:
    """docs/metrics.md, "Bounce", applied to the events above."""
    events = [(e, s) for (name, e, s, _) in EVENTS if name == session]
    pageviews = sum(e == "$pageview" for e, _ in events)
    if pageviews == 0:
        return None
    times = [s for _, s in events]
    whole_seconds = math.floor(max(times)) - math.floor(min(times))
    autocaptures = sum(e == "$autocapture" for e, _ in events)
    return pageviews == 1 and autocaptures == 0 and whole_seconds < 10


# PostHog's `$is_bounce` (sessions_v2.py, as its printer writes it for ClickHouse) over the
# stand-in's events, grouped by `$session_id` as raw_sessions aggregates them.
POSTHOG_IS_BOUNCE = """
SELECT `$session_id`,
       if(uniqExactIf(uuid, event = '$pageview') = 0, NULL,
          not(uniqExactIf(uuid, event = '$pageview') > 1
              OR uniqExactIf(uuid, event = '$autocapture') > 0
              OR dateDiff('second', min(timestamp), max(timestamp)) >= 10)) AS is_bounce
FROM {db}.events
GROUP BY `$session_id`
ORDER BY `$session_id`
"""


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", _records())


def test_documented_rule_is_the_hand_worked_one() -> None:
    assert {s: documented_rule(s) for s in EXPECTED} == EXPECTED


def test_store_and_posthog_agree_with_the_rule(export: Path, tmp_path: Path) -> None:
    from tests.clickhouse_engine import run_sql
    from tests.posthog_server import clickhouse_for
    from usertrack.engines.local.eventstore import import_events, open_store

    store = tmp_path / "store.duckdb"
    import_events(export, store)
    con = open_store(store)
    try:
        local = dict(con.execute('SELECT session_id, "$is_bounce" FROM sessions').fetchall())
    finally:
        con.close()
    assert local == EXPECTED

    engine = clickhouse_for(store)
    rows = run_sql(POSTHOG_IS_BOUNCE.format(db=engine.database))
    posthog = {s: None if b is None else bool(int(b)) for s, b in rows}
    assert posthog == EXPECTED


def _entry_bounce_rates(doc: dict[str, Any]) -> dict[str, float | None]:
    return {r["page"]: r["bounce_rate"] for r in doc["entry_pages"]}


def test_sessions_figures_agree_local_and_live(export: Path, tmp_path: Path) -> None:
    rate = {True: 100.0, False: 0.0, None: None}
    want = {f"/{s}": rate[b] for s, b in EXPECTED.items()}
    bounces = sum(b is True for b in EXPECTED.values())
    viewed = sum(b is not None for b in EXPECTED.values())
    top = ["--top", str(len(EXPECTED))]
    local = run_json("sessions", [*RANGE, *top], as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert _entry_bounce_rates(local) == want
    assert local["bounce_rate"] == round(100 * bounces / viewed, 1)
    with live_posthog(export, tmp_path) as (_, env):
        live = run_json("sessions", [*RANGE, *top], as_of=AS_OF, **env)
    assert _entry_bounce_rates(live) == want
    assert live["bounce_rate"] == local["bounce_rate"]
