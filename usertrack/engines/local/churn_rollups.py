"""Churn's facts from the events store's per-person-per-day tables (the local engine's own
materialisation, as usertrack.engines.local.rollups is for activity, sessions and paths).

`person_day_spans` holds, per person, normalized email and UTC day with events, the first and
the last event's time (`person_id, person_email_norm, day, first_at, last_at`);
`person_day_events` the same per event name, with how many (`person_id, person_email_norm, day,
event, events`). Both are built with the store, in the same atomic write
(usertrack.engines.local.eventstore), from the events alone, so they are never older or newer than
the events: at 5.35 M events 0.59 M and 2.15 M rows.

For churn_periods.sql, churn_persons.sql and churn_events.sql as shipped (`SHORTCUTS`,
usertrack.engines.shortcut: no `--where`, no `--who`), the facts are read from these tables
(churn_periods from person_days) for the whole UTC days between the bounds and from the events
for the part-days at either end (at most a day each, read through the store's timestamp
order). The answer is the same, row for row (churn_periods' arrays as the rows they unnest
into, as churn reads them), whatever the bounds: a day's events all lie between two bounds
when the day does, and every other event is read itself; tests/engines/test_churn_rollups.py and
tests/engines/test_shortcuts.py check it. Anything else runs as translated, on the events; so does
every query on a store built before the tables. On PostHog the files run as written.
"""

from __future__ import annotations

from usertrack.engines.local.rollups import DAYS_TABLE, KEPT
from usertrack.engines.shortcut import Shortcut

SPANS_TABLE = "person_day_spans"
EVENTS_TABLE = "person_day_events"
TABLES = (SPANS_TABLE, EVENTS_TABLE)

# Built by eventstore._build after `events` (in timestamp order, so by day as well: each table
# in day order gives its `day` zone maps).
BUILD_SQL = f"""
CREATE TABLE {SPANS_TABLE} AS
SELECT person_id, person_email_norm, CAST(timestamp AS DATE) AS day,
       min(timestamp) AS first_at, max(timestamp) AS last_at
FROM events
GROUP BY ALL
ORDER BY day, person_id;
CREATE TABLE {EVENTS_TABLE} AS
SELECT person_id, person_email_norm, CAST(timestamp AS DATE) AS day, event,
       count(*) AS events
FROM events
GROUP BY ALL
ORDER BY day, person_id;
"""


def _at(name: str) -> str:
    """A moment parameter as the translation binds it."""
    return f"CAST(CAST(${name} AS TIMESTAMPTZ) AS TIMESTAMP)"


_AS_OF = _at("as_of")
_SINCE = _at("since")
_THEN = _at("then")
_THEN_SINCE = _at("then_since")


def _first_day(lo: str) -> str:
    """The first UTC midnight at or after `lo`."""
    return f"(date_trunc('day', {lo} - INTERVAL 1 MICROSECOND) + INTERVAL 1 DAY)"


def _spans(table: str, columns: str, raw: str, lo: str, hi: str, where: str = "true") -> str:
    """Rows of `columns` from `table` for the whole UTC days from `lo` to `hi`, and of `raw` from
    the events of the part-days at either end: together every event from `lo` to `hi`, each
    once (`where` applies to both)."""
    first = _first_day(lo)
    last = f"date_trunc('day', {hi})"
    span = f"timestamp >= {lo} AND timestamp <= {hi} AND {where} AND {KEPT}"
    return f"""
        SELECT {columns} FROM {table}
        WHERE day >= CAST({first} AS DATE) AND day < CAST({last} AS DATE) AND {where} AND {KEPT}
        UNION ALL
        SELECT {raw} FROM events WHERE {span} AND timestamp < {first}
        UNION ALL
        SELECT {raw} FROM events WHERE {span} AND timestamp >= greatest({first}, {last})
    """


def _part_days(lo: str, hi: str, flags: str) -> str:
    """The product events from `lo` to `hi` of the part-days at either end (as `_spans` reads
    them from the events), each with `flags` (in_now, in_then)."""
    first = _first_day(lo)
    span = f"timestamp >= {lo} AND timestamp <= {hi} AND {_PRODUCT} AND {KEPT}"
    return f"""SELECT person_id, event, {flags} FROM events WHERE {span} AND timestamp < {first}
    UNION ALL
    SELECT person_id, event, {flags} FROM events
    WHERE {span} AND timestamp >= greatest({first}, date_trunc('day', {hi}))"""


# queries/posthog/churn_periods.sql's periods, as translated.
_PERIOD = (
    "(CASE WHEN $period IS NOT DISTINCT FROM 'day' THEN {d} WHEN $period IS NOT DISTINCT FROM"
    " 'week' THEN ({d} - CAST(isodow({d}) - 1 AS INTEGER)) ELSE CAST(date_trunc('month',"
    " CAST({t} AS TIMESTAMP)) AS DATE) END)"
)
# Each person's days from person_days (whole days) and the events (the part-days), then their
# periods: a period is a function of the day. A row per person and period, the rows the file's
# arrays unnest into (as churn reads them): no list made per person to be unnested again.
_DAY_PERIOD = _PERIOD.format(d="day", t="day")
_PERIOD_DAYS = _spans(
    DAYS_TABLE, "person_id, day", "person_id, CAST(timestamp AS DATE) AS day", _SINCE, _AS_OF
)
_PERIODS_ROLLED = f"""
SELECT CAST(person_id AS VARCHAR) AS person_id, period_start
FROM (SELECT DISTINCT person_id, {_DAY_PERIOD} AS period_start FROM ({_PERIOD_DAYS}) AS d) AS p
"""

# queries/posthog/churn_events.sql: each person's events by name.
_EVENT_ROWS = _spans(
    EVENTS_TABLE, "person_id, event, events AS n", "person_id, event, 1 AS n", _SINCE, _AS_OF
)
_EVENTS_ROLLED = f"""
SELECT CAST(person_id AS VARCHAR) AS person_id, event, CAST(sum(n) AS BIGINT) AS events
FROM ({_EVENT_ROWS}) AS e
GROUP BY person_id, event
"""

# queries/posthog/churn_persons.sql from the tables. The file's kind 0 rows (per person and
# UTC day up to as_of) are person_day_spans' days before as_of's and the events of as_of's day;
# a day's latest event up to {then} is its last_at when that is up to {then}, and for the day
# holding {then} (where some may be after it) comes from that day's events up to {then}. The
# kind 1 rows add only their two counts (their events are some of kind 0's: the first and last
# event and the latest up to {then} are kind 0's): a product event name counts in breadth when
# the person did it from {since} to as_of, in breadth_then from {then_since} to {then} (and
# as_of), each from person_day_events' whole days and the events of the part-days. A person's
# distinct names are counted as the bits of a mask (each product event name of the store a bit
# of one 64-bit word) rather than by grouping the rows by person and name: a third of the CPU.
_LAST_DAY = f"date_trunc('day', {_AS_OF})"
_THEN_END = f"least({_THEN}, {_AS_OF})"
_PRODUCT = "NOT starts_with(event, '$')"
# The product event names of the store, each a bit's number (breadth's bits below).
_PRODUCT_NAMES = f"""
    SELECT event, CAST(row_number() OVER () - 1 AS INTEGER) AS code
    FROM (SELECT DISTINCT event FROM {EVENTS_TABLE} WHERE {_PRODUCT})
"""
_NAME_ROWS = f"""
    SELECT person_id, event,
           day >= CAST({_first_day(_SINCE)} AS DATE) AS in_now,
           day >= CAST({_first_day(_THEN_SINCE)} AS DATE)
               AND day < CAST(date_trunc('day', {_THEN_END}) AS DATE) AS in_then
    FROM {EVENTS_TABLE}
    WHERE day < CAST({_LAST_DAY} AS DATE) AND {_PRODUCT} AND {KEPT}
      AND (day >= CAST({_first_day(_SINCE)} AS DATE)
           OR (day >= CAST({_first_day(_THEN_SINCE)} AS DATE)
               AND day < CAST(date_trunc('day', {_THEN_END}) AS DATE)))
    UNION ALL
    {_part_days(_SINCE, _AS_OF, "true, false")}
    UNION ALL
    {_part_days(_THEN_SINCE, _THEN_END, "false, true")}
"""

# `days` is read where it is used (NOT MATERIALIZED): written out once for both of its readers,
# it would be 587,000 rows of eight columns at 100,000 users; the mixed persons' reading of it
# keeps only their rows.
# The days are first counted per person and email (per_email: one row for most persons), so
# the emails' minimum and maximum are taken over 138,000 rows, not over every day's: a fifth
# of the query's CPU.
_PERSONS_ROLLED = f"""
WITH days AS NOT MATERIALIZED (
    SELECT person_id, day, coalesce(person_email_norm, '') AS email,
           person_email_norm IS NULL AS anonymous, true AS whole, first_at, last_at,
           CASE WHEN day < CAST(date_trunc('day', {_THEN}) AS DATE) THEN last_at END AS last_then
    FROM {SPANS_TABLE}
    WHERE day < CAST({_LAST_DAY} AS DATE) AND {KEPT}
    UNION ALL
    SELECT person_id, CAST({_LAST_DAY} AS DATE), max(coalesce(person_email_norm, '')), NULL,
           false, min(timestamp), max(timestamp), max(timestamp) FILTER (WHERE timestamp <= {_THEN})
    FROM events
    WHERE timestamp >= {_LAST_DAY} AND timestamp <= {_AS_OF} AND {KEPT}
    GROUP BY person_id
    UNION ALL
    SELECT person_id, CAST(date_trunc('day', {_THEN}) AS DATE), NULL, NULL, false, NULL, NULL,
           max(timestamp)
    FROM events
    WHERE timestamp >= date_trunc('day', {_THEN}) AND timestamp <= {_THEN}
      AND timestamp < {_LAST_DAY} AND {KEPT}
    GROUP BY person_id
),
per_email AS (
    SELECT person_id, email, anonymous, whole, min(first_at) AS first_at,
           max(last_at) AS last_at, max(last_then) AS last_then,
           count(*) FILTER (WHERE last_at >= {_SINCE}) AS active_days,
           count(*) FILTER (WHERE last_then >= {_THEN_SINCE}) AS active_days_then
    FROM days
    GROUP BY person_id, email, anonymous, whole
),
per_row AS (
    SELECT person_id, max(email) AS email, min(first_at) AS first_seen,
           max(last_at) AS last_seen, max(last_then) AS last_then,
           CAST(sum(active_days) AS BIGINT) AS active_days,
           CAST(sum(active_days_then) AS BIGINT) AS active_days_then,
           coalesce(min(email) FILTER (WHERE whole) <> max(email) FILTER (WHERE whole)
                    OR (bool_or(anonymous) FILTER (WHERE whole)
                        AND NOT bool_and(anonymous) FILTER (WHERE whole)), false) AS mixed
    FROM per_email
    GROUP BY person_id
),
mixed_days AS (
    SELECT d.person_id, max(d.last_at) AS last_at, max(d.last_then) AS last_then
    FROM days AS d
    JOIN per_row AS m ON m.mixed AND m.person_id IS NOT DISTINCT FROM d.person_id
    GROUP BY d.person_id, d.day
),
per_day AS (
    SELECT p.person_id, p.email, p.first_seen, p.last_seen, p.last_then,
           coalesce(m.active_days, p.active_days) AS active_days,
           coalesce(m.active_days_then, p.active_days_then) AS active_days_then
    FROM per_row AS p
    LEFT JOIN (
        SELECT person_id, count(*) FILTER (WHERE last_at >= {_SINCE}) AS active_days,
               count(*) FILTER (WHERE last_then >= {_THEN_SINCE}) AS active_days_then
        FROM mixed_days GROUP BY person_id
    ) AS m ON m.person_id IS NOT DISTINCT FROM p.person_id
),
names AS ({_PRODUCT_NAMES}),
per_name AS (
    SELECT person_id, CAST(sum(bit_count(now)) AS BIGINT) AS breadth,
           CAST(sum(bit_count(then_)) AS BIGINT) AS breadth_then
    FROM (
        SELECT person_id, bit_or(bit) FILTER (WHERE in_now) AS now,
               bit_or(bit) FILTER (WHERE in_then) AS then_
        FROM (
            SELECT n.person_id, n.in_now, n.in_then, c.code // 64 AS word,
                   CAST(1 AS UBIGINT) << (c.code % 64) AS bit
            FROM ({_NAME_ROWS}) AS n
            JOIN names AS c ON c.event = n.event
        ) AS n
        GROUP BY person_id, word
    ) AS n
    GROUP BY person_id
)
SELECT CAST(p.person_id AS VARCHAR) AS person_id, p.email, p.first_seen, p.last_seen,
       p.active_days, coalesce(b.breadth, 0) AS breadth,
       CASE WHEN p.first_seen <= {_THEN} THEN p.last_then ELSE NULL END AS last_seen_then,
       p.active_days_then, coalesce(b.breadth_then, 0) AS breadth_then
FROM per_day AS p
LEFT JOIN per_name AS b ON b.person_id IS NOT DISTINCT FROM p.person_id
"""

# queries/posthog/engagement_facts.sql from the tables: churn_persons' rows for as_of alone,
# kept to the persons with an event in the window, read from the window's days only. A person's
# days in the window are person_day_spans' from {since}'s day on whose last event is from {since}
# (a day with two emails has a row for each: its day counts once), and as_of's day from the
# events; their email is the greatest over every day up to as_of, so the days before the window
# add theirs (since's day again: the greatest of a value twice is the same). Breadth counts the
# product event names as churn_persons' bits do, and the active days are counted the same way:
# each day a bit of a 64-bit word (the days from {since}'s on, 64 a word), the words of a
# person's rows OR-ed, rather than the days made distinct per person by a grouping of their
# own (a sixth of the query's CPU at 100,000 users).
_WINDOW_DAY = f"CAST({_SINCE} AS DATE)"
_WINDOW_NAMES = f"""
    SELECT person_id, event, true AS in_now
    FROM {EVENTS_TABLE}
    WHERE day >= CAST({_first_day(_SINCE)} AS DATE) AND day < CAST({_LAST_DAY} AS DATE)
      AND {_PRODUCT} AND {KEPT}
    UNION ALL
    {_part_days(_SINCE, _AS_OF, "true")}
"""
_ENGAGEMENT_ROLLED = f"""
WITH window_days AS (
    SELECT person_id, day, coalesce(person_email_norm, '') AS email, last_at
    FROM {SPANS_TABLE}
    WHERE day >= CAST({_SINCE} AS DATE) AND day < CAST({_LAST_DAY} AS DATE)
      AND last_at >= {_SINCE} AND {KEPT}
    UNION ALL
    SELECT person_id, CAST({_LAST_DAY} AS DATE), max(coalesce(person_email_norm, '')),
           max(timestamp)
    FROM events
    WHERE timestamp >= {_LAST_DAY} AND timestamp <= {_AS_OF} AND {KEPT}
    GROUP BY person_id
    HAVING max(timestamp) >= {_SINCE}
),
per_person AS (
    SELECT person_id, max(email) AS email, max(last_at) AS last_seen,
           CAST(sum(bit_count(days)) AS BIGINT) AS active_days
    FROM (
        SELECT person_id, max(email) AS email, max(last_at) AS last_at,
               bit_or(CAST(1 AS UBIGINT) << CAST((day - {_WINDOW_DAY}) % 64 AS UBIGINT)) AS days
        FROM window_days
        GROUP BY person_id, (day - {_WINDOW_DAY}) // 64
    ) AS w
    GROUP BY person_id
),
before AS (
    SELECT person_id, max(coalesce(person_email_norm, '')) AS email
    FROM {SPANS_TABLE}
    WHERE day <= CAST({_SINCE} AS DATE) AND day < CAST({_LAST_DAY} AS DATE) AND {KEPT}
      AND (person_id IN (SELECT person_id FROM per_person) OR person_id IS NULL)
    GROUP BY person_id
),
names AS ({_PRODUCT_NAMES}),
per_name AS (
    SELECT person_id, CAST(sum(bit_count(now)) AS BIGINT) AS breadth
    FROM (
        SELECT n.person_id, c.code // 64 AS word,
               bit_or(CAST(1 AS UBIGINT) << (c.code % 64)) AS now
        FROM ({_WINDOW_NAMES}) AS n
        JOIN names AS c ON c.event = n.event
        GROUP BY n.person_id, word
    ) AS n
    GROUP BY person_id
)
SELECT CAST(p.person_id AS VARCHAR) AS person_id, greatest(p.email, coalesce(b.email, '')) AS email,
       p.last_seen, p.active_days, coalesce(n.breadth, 0) AS breadth
FROM per_person AS p
LEFT JOIN before AS b ON b.person_id IS NOT DISTINCT FROM p.person_id
LEFT JOIN per_name AS n ON n.person_id IS NOT DISTINCT FROM p.person_id
WHERE greatest(p.email, coalesce(b.email, '')) <> ''
"""

# churn's at-risk traits (usertrack.analytics.churn.run) on a store with the tables, where
# churn_events.sql as shipped would give a row per person and event name from {since} to as_of:
# the same pairs as the bits of each person's 64-bit words, a bit per name of the store's
# (EVENT_NAMES_SQL), grouped by person rather than by person and name (a fifth of the CPU).
# Persons and names as the file's rows hold them (a NULL name its own); a row of no person is
# no person's.
EVENT_NAMES_SQL = f"""
SELECT event, CAST(row_number() OVER () - 1 AS INTEGER) AS code
FROM (SELECT DISTINCT event FROM {EVENTS_TABLE})
"""
_EVENT_PAIRS = _spans(EVENTS_TABLE, "person_id, event", "person_id, event", _SINCE, _AS_OF)
EVENT_BITS_SQL = f"""
SELECT CAST(p.person_id AS VARCHAR) AS person_id, c.code // 64 AS word,
       bit_or(CAST(1 AS UBIGINT) << CAST(c.code % 64 AS UBIGINT)) AS bits
FROM ({_EVENT_PAIRS}) AS p
JOIN {{names}} AS c ON c.event IS NOT DISTINCT FROM p.event
WHERE p.person_id IS NOT NULL
GROUP BY p.person_id, word
"""

# The shortcuts of churn's facts files (usertrack.engines.shortcut: the files as shipped, with
# no filter), read by an analysis's facts table (LocalPostHogSource.facts_into).
SHORTCUTS = (
    Shortcut(
        "posthog/churn_periods",
        "ea154f6b6aabf946d6cca119ff76d464cf3fa3aaf3b220f599a7298a23966811",
        "facts",
        _PERIODS_ROLLED,
        (DAYS_TABLE,),
    ),
    Shortcut(
        "posthog/churn_events",
        "21c4c82f08600161a1736963de3f4373c01afbc40f9fdf7780d0f533fb263c09",
        "facts",
        _EVENTS_ROLLED,
        (EVENTS_TABLE,),
    ),
    Shortcut(
        "posthog/churn_persons",
        "3659bb8aa7ca4cf89d0bf2ccb65310bb4822aa937bff782003741e68bdfa9405",
        "facts",
        _PERSONS_ROLLED,
        TABLES,
    ),
    Shortcut(
        "posthog/engagement_facts",
        "c0c4cd2521f22d230c755b13aa8e7a4a2a9a76b4f0ac638fb94af65d83772aa7",
        "facts",
        _ENGAGEMENT_ROLLED,
        TABLES,
    ),
)
