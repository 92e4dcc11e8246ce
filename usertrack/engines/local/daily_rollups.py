"""The weekly report's daily active people (queries/posthog/daily_active.sql) from the events
store's per-person-per-day table (usertrack.engines.local.rollups), when the report's moment is a
midnight.

The file counts the persons of each 24 hours back from as_of: days_ago k is
(as_of - (k + 1) days, as_of - k days]. On the events, that is a distinct count over every
event of the span (3.2 M at 100,000 users). At a midnight (a week that is over ends on one),
the 24 hours of days_ago k are the UTC day that starts as_of - (k + 1) days, but for its first
instant (00:00:00.000000, which is days_ago k + 1's), with the first instant of the day after.
So: each row of person_days (a person, an email, a day) counts for its day, unless all its
events are at the day's first instant; and the events at a day's first instant, read from the
events (the timestamps of the span, most of them never matching), count for the day before.
The answer is the same, row for row; tests/engines/test_daily_rollups.py checks it on the edges.

Only for the file as shipped (`SHORTCUT`, usertrack.engines.shortcut), a whole number of days
and an as_of that is a midnight as the source sends it ('YYYY-MM-DD 00:00:00', UTC): any other
moment or text runs as translated, on the events. On PostHog the file runs as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from usertrack.engines.local.rollups import AS_OF, DAYS_TABLE, KEPT, TABLES
from usertrack.engines.shortcut import Shortcut

_SINCE = f"({AS_OF} - INTERVAL ($days) DAY)"
_FIRST = f"CAST({_SINCE} AS DATE)"
_LAST = f"CAST({AS_OF} AS DATE)"
# The days between a day and as_of's, less one: days_ago of the day's events but its first
# instant's (that one is a day more).
_AGO = "(CAST(date_diff('day', {day}, " + _LAST + ") AS BIGINT) - 1)"
# edge: each row's (person, email, day) events at the day's first instant, from the span's
# first day's (not in the span: it only tells that day's rows apart) to as_of's; a row of
# person_days counts for its day unless those are all its events.
DAILY_ACTIVE_AT_MIDNIGHT = f"""
WITH edge AS MATERIALIZED (
    SELECT person_id, person_email_norm, CAST(timestamp AS DATE) AS day, count(*) AS n
    FROM events
    WHERE timestamp >= {_SINCE} AND timestamp <= {AS_OF}
      AND timestamp = date_trunc('day', timestamp) AND {KEPT}
    GROUP BY ALL
)
SELECT days_ago, count(DISTINCT person_id) FILTER (WHERE (person_id) IS NOT NULL)
       AS active_users
FROM (
    SELECT {_AGO.format(day="d.day")} AS days_ago, d.person_id AS person_id
    FROM {DAYS_TABLE} AS d
    LEFT JOIN edge AS e
        ON e.person_id IS NOT DISTINCT FROM d.person_id
       AND e.person_email_norm IS NOT DISTINCT FROM d.person_email_norm AND e.day = d.day
    WHERE d.day >= {_FIRST} AND d.day < {_LAST}
      AND {KEPT.replace("person_email_norm", "d.person_email_norm")}
      AND (e.n IS NULL OR e.n < d.events)
    UNION ALL
    SELECT {_AGO.format(day="day")} + 1 AS days_ago, person_id FROM edge WHERE day > {_FIRST}
) AS a
GROUP BY days_ago
ORDER BY days_ago
LIMIT 1000
"""

_MIDNIGHT = re.compile(r"\d{4}-\d\d-\d\d 00:00:00")


def at_midnight(values: Mapping[str, Any]) -> bool:
    """Whether the values are a midnight and a whole number of days."""
    as_of, days = values.get("as_of"), values.get("days")
    if not (isinstance(as_of, str) and _MIDNIGHT.fullmatch(as_of)):
        return False
    return isinstance(days, int) and not isinstance(days, bool) and days >= 1


SHORTCUT = Shortcut(
    "posthog/daily_active",
    "b383547fb7b9fcc11260a34cf18f55642a36f7d13164471a36d914a0bfe8b5f3",
    "statement",
    DAILY_ACTIVE_AT_MIDNIGHT,
    TABLES,
    when=at_midnight,
)
