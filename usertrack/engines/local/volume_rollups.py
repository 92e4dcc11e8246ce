"""Activity's sessions and events per UTC day (queries/posthog/activity_volume.sql) from the
events store's tables rather than every event of the range.

The events per day come from person_days for the whole days and from the events, by whole hours
of person_hours, for the part-days at either end (usertrack.engines.local.rollups). A day's sessions
are its distinct $session_ids among its kept events: a session of `session_spans` (a row per
$session_id of the whole store) is counted from its row when all of its events lie in the range
and have one email (an exclusion pattern keeps all of them or none) and its first and last
events are at most a day apart: it has events on the day of its first and the day of its last,
and on no other. Every other session of the range (cut by a bound, of several emails, or over
three days or more, whose days in between may hold none of its events) is counted from its
events, which lie in two windows of the range (from its start to the last end of those that
begin before it, have several emails or span three days; from the first start of those that
end after it on), read through the events' timestamp order. At 100,000 users the file reads
2.9 M events of 30 days; this scans 470,000 session rows, counting the whole sessions per day
in the scan and keeping only the few hundred others, then 590,000 person-days and a few
thousand events.

Only the file as shipped, with no --where, is answered so (`SHORTCUT`, usertrack.engines.shortcut);
tests/engines/test_volume_rollups.py and tests/engines/test_shortcuts.py check the rows against the
translation's.
"""

from __future__ import annotations

from usertrack.engines.local.rollups import AS_OF, DAY_EVENTS, KEPT, SESSIONS_TABLE, SINCE, TABLES
from usertrack.engines.shortcut import Shortcut

_DAYS_APART = "CAST(last_at AS DATE) - CAST(first_at AS DATE)"
_WHOLE = f"first_at >= {SINCE} AND last_at <= {AS_OF} AND one_email AND {_DAYS_APART} <= 1"
_SESSION_KEPT = f"""
    coalesce(prop_session_id, '') <> '' AND {KEPT}
    AND prop_session_id IN (SELECT session_id FROM spans)
"""
_IN_RANGE = f"first_at <= {AS_OF} AND last_at >= {SINCE}"
VOLUME_ROLLED = f"""
WITH spans AS MATERIALIZED (
    -- the sessions counted from their events: a few hundred of the range's
    SELECT session_id, first_at, last_at, one_email
    FROM {SESSIONS_TABLE}
    WHERE {_IN_RANGE} AND NOT ({_WHOLE})
),
whole AS MATERIALIZED (
    -- the others, counted from their rows in the scan: per day of their first event, and
    -- whether they have their last on the next
    SELECT CAST(first_at AS DATE) AS day, {_DAYS_APART} = 1 AS two_days, count(*) AS n
    FROM {SESSIONS_TABLE}
    WHERE {_IN_RANGE} AND {_WHOLE} AND {KEPT}
    GROUP BY ALL
),
cut AS (
    -- no such session: a window that holds no event
    SELECT coalesce(max(last_at) FILTER (WHERE first_at < {SINCE} OR NOT one_email
                                         OR {_DAYS_APART} > 1),
                    {SINCE} - INTERVAL 1 MICROSECOND) AS early,
           coalesce(min(first_at) FILTER (WHERE last_at > {AS_OF}),
                    {AS_OF} + INTERVAL 1 MICROSECOND) AS late
    FROM spans
),
counted AS (
    SELECT day, n FROM whole
    UNION ALL
    SELECT day + 1 AS day, n FROM whole WHERE two_days
    UNION ALL
    SELECT day, count(DISTINCT prop_session_id) AS n
    FROM (
        SELECT CAST(timestamp AS DATE) AS day, prop_session_id FROM events
        WHERE timestamp >= {SINCE} AND timestamp <= {AS_OF}
          AND timestamp <= (SELECT early FROM cut) AND {_SESSION_KEPT}
        UNION ALL
        SELECT CAST(timestamp AS DATE) AS day, prop_session_id FROM events
        WHERE timestamp >= {SINCE} AND timestamp <= {AS_OF}
          AND timestamp >= (SELECT late FROM cut) AND {_SESSION_KEPT}
    ) AS e
    GROUP BY day
),
day_sessions AS (SELECT day, sum(n) AS n FROM counted GROUP BY day),
day_events AS (SELECT day, sum(n) AS n FROM ({DAY_EVENTS}) AS d GROUP BY day)
SELECT day_events.day AS day, CAST(day_events.n AS BIGINT) AS events,
       CAST(coalesce(day_sessions.n, 0) AS BIGINT) AS sessions
FROM day_events LEFT JOIN day_sessions USING (day)
"""

SHORTCUT = Shortcut(
    "posthog/activity_volume",
    "49b0b7b6127acefc74f12f462efdb8eab179a15ee50e5e4c7fae5117b17cd51e",
    "statement",
    VOLUME_ROLLED,
    (*TABLES, SESSIONS_TABLE),
)
