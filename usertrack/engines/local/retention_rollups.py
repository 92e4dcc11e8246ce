"""Retention's activity facts from the events store's per-person-per-day table (the local
engine's own materialisation, as usertrack.engines.local.rollups is for activity and
usertrack.engines.local.churn_rollups for churn).

retention_activity.sql gives, per person who did the start event in the span and per period
(a UTC day, an ISO week, a month) they had an event in, whether they did the start event and
the return event there: on the events, a grouping of every event of the span. When its
file is the shipped one (`SHORTCUT`, usertrack.engines.shortcut: no `--where`; a `--who`,
`--segment` or `--by-segment` runs it for everyone and keeps its persons' rows; a return once
a period, `min_occurrences` 1: the days say whether, not how many times; a named start event,
not any; no EVENT:PROPERTY=VALUE; periods of whole days, not hours), the periods
a person had an event in come from person_days for the whole UTC days between the bounds and
from the events for the part-days at either end (at most a day each, read through
the store's timestamp order), and the start and return events themselves from the events, by
name. The answer is the same, row for row, whatever the bounds and the values: a day's events
all lie between two bounds when the day does, every other event is read itself, and a period
is a function of the day; tests/engines/test_retention_rollups.py and
tests/engines/test_shortcuts.py check it. Anything else runs as translated, on the events; so does
every query on a store built before the table. On PostHog the file runs as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usertrack.engines.local.rollups import AS_OF, DAYS_TABLE, KEPT, SINCE
from usertrack.engines.shortcut import Shortcut

_FIRST = f"(date_trunc('day', {SINCE} - INTERVAL 1 MICROSECOND) + INTERVAL 1 DAY)"
_LAST = f"date_trunc('day', {AS_OF})"
_SPAN = f"timestamp >= {SINCE} AND timestamp <= {AS_OF}"
# A period is named by its first instant, a TIMESTAMP, as the file's (its multiIf holds an
# hour's toStartOfHour, so every branch is a DateTime).
_PERIOD = (
    "CAST((CASE WHEN $period IS NOT DISTINCT FROM 'day' THEN {d} WHEN $period IS NOT DISTINCT"
    " FROM 'week' THEN ({d} - CAST(isodow({d}) - 1 AS INTEGER)) ELSE CAST(date_trunc('month',"
    " CAST({t} AS TIMESTAMP)) AS DATE) END) AS TIMESTAMP)"
)

# queries/posthog/retention_activity.sql in its per-event form (usertrack.engines.local.packed):
# each person's days with a kept event (whole days from person_days, the part-days
# from the events), which are returns when any event is one; and the start and return events
# themselves, by name, from the events: read once, for the persons who did the start event and
# for the kept ones' marks. A period is the day's.
_ANY = "$return_event IS NOT DISTINCT FROM ''"
_NAMED = f"""
    SELECT person_id, CAST(timestamp AS DATE) AS day, event, {KEPT} AS kept FROM events
    WHERE {_SPAN}
      AND (event IS NOT DISTINCT FROM $start_event OR event IS NOT DISTINCT FROM $return_event)
"""
_MARKS = f"""
    SELECT person_id, day, false AS started, {_ANY} AS returned FROM {DAYS_TABLE}
    WHERE day >= CAST({_FIRST} AS DATE) AND day < CAST({_LAST} AS DATE) AND {KEPT}
    UNION ALL
    SELECT person_id, CAST(timestamp AS DATE) AS day, false AS started, {_ANY} AS returned
    FROM events WHERE {_SPAN} AND {KEPT} AND timestamp < {_FIRST}
    UNION ALL
    SELECT person_id, CAST(timestamp AS DATE) AS day, false AS started, {_ANY} AS returned
    FROM events WHERE {_SPAN} AND {KEPT} AND timestamp >= greatest({_FIRST}, {_LAST})
    UNION ALL
    SELECT person_id, day, event IS NOT DISTINCT FROM $start_event AS started,
           event IS NOT DISTINCT FROM $return_event AS returned
    FROM named WHERE kept
"""
_ACTIVITY_ROLLED = f"""
WITH named AS MATERIALIZED ({_NAMED})
SELECT person_id, {_PERIOD.format(d="day", t="day")} AS period_start,
       bool_or(started) AS did_start, bool_or(returned) AS did_return
FROM ({_MARKS}) AS d
WHERE person_id IN (SELECT person_id FROM named WHERE event IS NOT DISTINCT FROM $start_event)
GROUP BY person_id, period_start
"""


def applies(values: Mapping[str, Any]) -> bool:
    """Whether the statement gives the file's rows for `values`: one return event a period is
    a return (`min_occurrences` 1, the file's default), as it marks a period returned by a day
    with an event, not by a count of them; and the start event is named (not '', any event),
    as it reads the start events by name; and neither event is narrowed to a property's value
    (--start / --return EVENT:PROPERTY=VALUE), as it marks them by name alone; and weeks start
    on Monday, as its periods do; and the period is a day, a week or a month, as its periods
    are whole days (an hour's cohorts run the file as written)."""
    n = values.get("min_occurrences", 1)
    once = not isinstance(n, bool) and str(n) == "1"
    narrowed = values.get("start_property") or values.get("return_property")
    monday = values.get("week_start", "monday") == "monday"
    days = values.get("period", "day") in ("day", "week", "month")
    return once and values.get("start_event") != "" and not narrowed and monday and days


SHORTCUT = Shortcut(
    "posthog/retention_activity",
    "ddae539f72e08ee3c53681950d6be1d5c099e4debd0b30fc6bcb20bffab47713",
    "facts",
    _ACTIVITY_ROLLED,
    (DAYS_TABLE, "events"),
    form="facts",
    when=applies,
)
