"""Sessions and events per UTC day beside the active users (docs/metrics.md, "Active users"):
queries/posthog/activity_volume.sql, a row per day, one request; live, where PostHog counts
the figures, the same counts come in activity_summary.sql's rows of kind 4 instead
(usertrack.analytics.activity.run).

Counted for the whole answer (with any --where) and for accounts (`--by-account`: the same
events), not for a --segment, --who or --by-segment group: live, a group's query would bind its
persons as a list, which PostHog prints into the ClickHouse query (parsed only up to
max_query_size), and a group's figures are the same on every engine, so a group's days carry
none (null) on the local engine too.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from usertrack.analytics.common import day_of

QUERY = "posthog/activity_volume"


def counted(ws: Any) -> bool:
    """Whether this run counts the days' sessions and events: not a group's run."""
    rows = ws.scope.person_rows  # everyone's in a --by-segment run's whole answer
    return ws.scope.person_filter is None and (rows is None or rows.everyone)


def daily_volume(
    ws: Any, as_of: datetime, first_day: date, days: int, progress: Any = None
) -> dict[date, tuple[int, int]] | None:
    """Each day's (sessions, events) from `first_day` for `days` days (a day without an event
    is absent: 0, 0), or None in a group's run."""
    if not counted(ws):
        return None
    if progress:
        progress("fetching sessions and events per day")
    since = datetime.combine(first_day, datetime.min.time())
    result = ws.run_query(QUERY, as_of, since=since)
    at = {c: i for i, c in enumerate(result.columns)}
    last = first_day + timedelta(days=days - 1)
    out: dict[date, tuple[int, int]] = {}
    for row in result.rows:
        day = day_of(row[at["day"]])
        if first_day <= day <= last:
            out[day] = (int(row[at["sessions"]] or 0), int(row[at["events"]] or 0))
    return out
