"""The local engine's own materialisation: the events store's per-person tables, and the facts
queries they answer instead of the events.

`person_hours` holds, for every person, normalized email and UTC hour with events, how many
(`person_id, person_email_norm, hour_start, events`), in `hour_start` order, with the person's
previous hour of the same weekday and hour (`prev_same`) and whether the person has one email
in the whole store (`one_email`, NULL taken as empty, as the exclusion pattern takes it).
`person_days` holds the same per UTC day, each row flagged `single` when it is the person's only
one that day (one email). Both are built with the store, in the same atomic write
(usertrack.sources.eventstore), so they are never older or newer than the events: at 5.35 M
events 1.05 M and 0.59 M rows.

A query file whose DuckDB translation is, word for word, one of `REWRITES`' (activity's
per-person-per-day facts and its hour-of-week heatmap, shipped as written, with no `--where`)
runs as the rewrite instead: the whole days (person_days) and whole hours (person_hours)
between its two bounds from the tables, the events of the part-hours at either end (at most an
hour each, read through the store's timestamp order) from `events`. The answer is the same,
row for row: an hour's (a day's) events are in the span all or none when it lies between the
bounds, and every other event is read itself; tests/test_rollups.py checks it. Any other text
(a `--where`, an edited file, a new version of the shipped one) runs as translated, on the
events; so does every query on a store built before the tables (`has_rollups`). On PostHog the
query files run as written: this module is the local engine's alone.
"""

from __future__ import annotations

import re

TABLE = "person_hours"
DAYS_TABLE = "person_days"
TABLES = (TABLE, DAYS_TABLE)

# Built by eventstore._build, after `events` (which is in timestamp order already, so the
# ORDER BY costs little and gives `hour_start` zone maps); person_days from person_hours.
BUILD_SQL = f"""
CREATE TABLE {TABLE} AS
SELECT person_id, person_email_norm, hour_start, events,
       min(coalesce(person_email_norm, '')) OVER person
           = max(coalesce(person_email_norm, '')) OVER person AS one_email,
       lag(hour_start) OVER (PARTITION BY person_id, isodow(hour_start), hour(hour_start)
                             ORDER BY hour_start) AS prev_same
FROM (
    SELECT person_id, person_email_norm, date_trunc('hour', timestamp) AS hour_start,
           count(*) AS events
    FROM events
    GROUP BY ALL
)
WINDOW person AS (PARTITION BY person_id)
ORDER BY hour_start, person_id;
CREATE TABLE {DAYS_TABLE} AS
SELECT person_id, person_email_norm, day, events,
       count(*) OVER (PARTITION BY person_id, day) = 1 AS single
FROM (
    SELECT person_id, person_email_norm, CAST(hour_start AS DATE) AS day,
           CAST(sum(events) AS BIGINT) AS events
    FROM {TABLE}
    GROUP BY ALL
)
ORDER BY day, person_id;
"""

# The bounds, as the translation binds them.
_LO = "CAST(CAST($since AS TIMESTAMPTZ) AS TIMESTAMP)"
_HI = "CAST(CAST($as_of AS TIMESTAMPTZ) AS TIMESTAMP)"
# The whole UTC days between them: from the first starting at or after `since` up to (not
# with) the day holding `as_of`.
_FIRST_DAY = f"(date_trunc('day', {_LO} - INTERVAL 1 MICROSECOND) + INTERVAL 1 DAY)"
_LAST_DAY = f"date_trunc('day', {_HI})"
_KEPT = "NOT regexp_matches(coalesce(person_email_norm, ''), $exclude_pattern)"


def _first_hour(lo: str) -> str:
    return f"(date_trunc('hour', {lo} - INTERVAL 1 MICROSECOND) + INTERVAL 1 HOUR)"


def _parts(rolled: str, raw: str, lo: str = _LO, before: str | None = None) -> str:
    """The events from `lo` to as_of (and before `before`, when given): `rolled` over the
    person_hours rows of the whole hours in between, `raw` over the events before the first
    of them and from the last one's end on. The three never overlap, and together they are
    every event of the span (see the module's doc)."""
    first = _first_hour(lo)
    last = f"date_trunc('hour', {_HI})"
    span = f"timestamp >= {lo} AND timestamp <= {_HI}"
    if before is not None:
        last = f"least({last}, date_trunc('hour', {before}))"
        span += f" AND timestamp < {before}"
    return f"""
        SELECT {rolled} FROM {TABLE}
        WHERE hour_start >= {first} AND hour_start < {last} AND {_KEPT}
        UNION ALL
        SELECT {raw} FROM events
        WHERE {span} AND timestamp < {first} AND {_KEPT}
        UNION ALL
        SELECT {raw} FROM events
        WHERE {span} AND timestamp >= greatest({first}, {last}) AND {_KEPT}
    """


# queries/posthog/activity_days.sql in its per-event form (usertrack.sources.packed), `{filters}`
# TRUE: the events per person and UTC day.
_ACTIVITY_DAYS = """
SELECT d.person_id AS person_id, d.day AS day, d.n AS events
FROM (
    SELECT
        person_id,
        CAST(timestamp AS DATE) AS day,
        count(*) AS n
    FROM events
    WHERE timestamp >= CAST(CAST($since AS TIMESTAMPTZ) AS TIMESTAMP)
      AND timestamp <= CAST(CAST($as_of AS TIMESTAMPTZ) AS TIMESTAMP)
      AND NOT regexp_matches(coalesce(person_email_norm, ''), $exclude_pattern)
      AND true
    GROUP BY person_id, day
) AS d
"""
# The whole days from person_days: a person's day of one email as it is, the others' summed;
# the part-days at either end (at most a day each) by hours (_parts).
_HOUR_ROWS = ("person_id, CAST(hour_start AS DATE) AS day, events AS n",
              "person_id, CAST(timestamp AS DATE) AS day, 1 AS n")  # fmt: skip
_WHOLE_DAYS = f"day >= CAST({_FIRST_DAY} AS DATE) AND day < CAST({_LAST_DAY} AS DATE) AND {_KEPT}"
_ACTIVITY_DAYS_ROLLED = f"""
SELECT person_id, day, events FROM {DAYS_TABLE} WHERE {_WHOLE_DAYS} AND single
UNION ALL
SELECT person_id, day, CAST(sum(n) AS BIGINT) AS events
FROM (
    SELECT person_id, day, events AS n FROM {DAYS_TABLE} WHERE {_WHOLE_DAYS} AND NOT single
    UNION ALL
    {_parts(*_HOUR_ROWS, before=_FIRST_DAY)}
    UNION ALL
    {_parts(*_HOUR_ROWS, lo=f"greatest({_FIRST_DAY}, {_LAST_DAY})")}
) AS d
GROUP BY person_id, day
"""

# queries/posthog/activity_hours.sql, `{filters}` TRUE: events and persons by weekday and hour.
_ACTIVITY_HOURS = """
SELECT
    isodow(CAST(timestamp AS TIMESTAMP)) AS weekday,
    hour(CAST(timestamp AS TIMESTAMP)) AS hour,
    count(*) AS events,
    count(DISTINCT person_id) FILTER (WHERE (person_id) IS NOT NULL) AS persons
FROM events
WHERE timestamp >= CAST(CAST($since AS TIMESTAMPTZ) AS TIMESTAMP)
  AND timestamp <= CAST(CAST($as_of AS TIMESTAMPTZ) AS TIMESTAMP)
  AND NOT regexp_matches(coalesce(person_email_norm, ''), $exclude_pattern)
  AND true
GROUP BY weekday, hour
ORDER BY weekday, hour
"""
# The persons of a weekday and hour without a distinct count over every person-hour: a person of
# one email (all or none of whose events an exclusion pattern leaves out) counts on the first of
# their rows in the span for that weekday and hour, the one whose previous row for it
# (prev_same) is before the span; persons of several emails (a few) by a distinct count; those
# of the part-hours at either end when no row of the span has them already.
_FIRST_HOUR = _first_hour(_LO)
_LAST_HOUR = f"date_trunc('hour', {_HI})"
_RAW_SPAN = f"timestamp >= {_LO} AND timestamp <= {_HI} AND {_KEPT}"
_ROLLED_SPAN = f"hour_start >= {_FIRST_HOUR} AND hour_start < {_LAST_HOUR} AND {_KEPT}"
_ACTIVITY_HOURS_ROLLED = f"""
WITH raw AS (
    SELECT isodow(timestamp) AS weekday, hour(timestamp) AS hour, person_id FROM events
    WHERE {_RAW_SPAN} AND timestamp < {_FIRST_HOUR}
    UNION ALL
    SELECT isodow(timestamp) AS weekday, hour(timestamp) AS hour, person_id FROM events
    WHERE {_RAW_SPAN} AND timestamp >= greatest({_FIRST_HOUR}, {_LAST_HOUR})
),
rolled AS (
    SELECT isodow(hour_start) AS weekday, hour(hour_start) AS hour, CAST(sum(events) AS BIGINT)
               AS n,
           count(*) FILTER (WHERE person_id IS NOT NULL AND one_email
                            AND (prev_same IS NULL OR prev_same < {_FIRST_HOUR})) AS persons
    FROM {TABLE} WHERE {_ROLLED_SPAN}
    GROUP BY ALL
),
-- apart: a distinct count's FILTER in the same grouping would still group every person-hour
several AS (
    SELECT isodow(hour_start) AS weekday, hour(hour_start) AS hour,
           count(DISTINCT person_id) AS persons
    FROM {TABLE} WHERE {_ROLLED_SPAN} AND NOT one_email AND person_id IS NOT NULL
    GROUP BY ALL
),
raw_only AS (
    SELECT weekday, hour, count(*) AS persons
    FROM (SELECT DISTINCT weekday, hour, person_id FROM raw WHERE person_id IS NOT NULL) AS r
    WHERE NOT EXISTS (
        SELECT 1 FROM {TABLE} AS t
        WHERE {_ROLLED_SPAN} AND t.person_id = r.person_id
          AND isodow(t.hour_start) = r.weekday AND hour(t.hour_start) = r.hour
    )
    GROUP BY ALL
),
raw_counts AS (SELECT weekday, hour, count(*) AS n FROM raw GROUP BY ALL)
SELECT weekday, hour,
       CAST(coalesce(rolled.n, 0) + coalesce(raw_counts.n, 0) AS BIGINT) AS events,
       CAST(coalesce(rolled.persons, 0) + coalesce(several.persons, 0)
            + coalesce(raw_only.persons, 0) AS BIGINT) AS persons
FROM rolled
FULL JOIN raw_counts USING (weekday, hour)
LEFT JOIN several USING (weekday, hour)
LEFT JOIN raw_only USING (weekday, hour)
ORDER BY weekday, hour
"""


def _words(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


# A translation, whitespace folded -> what runs instead on a store with the table.
REWRITES: dict[str, str] = {
    _words(_ACTIVITY_DAYS): _ACTIVITY_DAYS_ROLLED,
    _words(_ACTIVITY_HOURS): _ACTIVITY_HOURS_ROLLED,
}


# A --by-segment group's filter in the `{filters}` slot (usertrack.analytics.by_segment, as the
# local engine writes it), translated: a test of person_id alone, which keeps the same persons'
# rows of person_hours and person_days as of the events (a row without a person in neither, as
# IN of NULL is NULL). A shipped file with it runs as its rewrite with the test ANDed to every
# part: activity's heatmap per group reads the table, not every event once more per group.
_PERSONS_IN = (
    "CAST(person_id AS VARCHAR) IN (SELECT unnest($usertrack_segment_persons)"
    ' AS "arrayJoin({usertrack_segment_persons})")'
)
PERSON_FILTERS = (f"(({_PERSONS_IN}))", f"((NOT {_PERSONS_IN}))")


def rewritten(sql: str) -> str | None:
    """What runs instead of the translation `sql` on a store with the table, or None."""
    words = _words(sql)
    found = REWRITES.get(words)
    if found is not None:
        return found
    for persons in PERSON_FILTERS:
        slot = f" AND {persons} "
        if slot in words:
            whole = REWRITES.get(words.replace(slot, " AND true ", 1))
            if whole is not None:
                return whole.replace(_KEPT, f"{_KEPT} AND {persons}")
    return None
