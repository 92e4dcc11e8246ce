"""The local engine's own materialisation: the events store's per-person tables, and the facts
queries they answer instead of the events.

`person_hours` holds, for every person, normalized email and UTC hour with events, how many
(`person_id, person_email_norm, hour_start, events`), in `hour_start` order, with the person's
previous hour of the same weekday and hour (`prev_same`) and whether the person has one email
in the whole store (`one_email`, NULL taken as empty, as the exclusion pattern takes it).
`person_days` holds the same per UTC day, each row flagged `single` when it is the person's only
one that day (one email). Both are built with the store, in the same atomic write
(usertrack.engines.local.eventstore), so they are never older or newer than the events: at 5.35 M
events 1.05 M and 0.59 M rows.

Activity's per-person-per-day facts, its hour-of-week heatmaps and its active persons have
shortcuts here (`SHORTCUTS`, usertrack.engines.shortcut: the files as shipped, with no
`--where`): the whole days (person_days) and whole hours (person_hours) between the two bounds
from the tables, the events of the part-hours at either end (at most an hour each, read through
the store's timestamp order) from `events`. The answer is the same, row for row: an hour's (a
day's) events are in the span all or none when it lies between the bounds, and every other
event is read itself; tests/engines/test_shortcuts.py checks it. Anything else (a `--where`, an
edited file) runs as translated, on the events; so does every query on a store built before the
tables. On PostHog the query files run as written: this module is the local engine's alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from usertrack.engines.shortcut import PERSONS, Shortcut

if TYPE_CHECKING:
    import duckdb

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


# queries/posthog/activity_days.sql in its per-event form (usertrack.engines.local.packed): the
# events per person and UTC day. The whole days from person_days: a person's day of one email as it
# is, the others' summed; the part-days at either end (at most a day each) by hours (_parts).
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

# Every event of the span as rows (person_id, day, n), as _ACTIVITY_DAYS_ROLLED reads them, and
# the bounds and exclusion as the translations write them: usertrack.engines.local.volume_rollups's.
DAY_EVENTS = f"""
    SELECT person_id, day, events AS n FROM {DAYS_TABLE} WHERE {_WHOLE_DAYS}
    UNION ALL
    {_parts(*_HOUR_ROWS, before=_FIRST_DAY)}
    UNION ALL
    {_parts(*_HOUR_ROWS, lo=f"greatest({_FIRST_DAY}, {_LAST_DAY})")}
"""
SINCE, AS_OF, KEPT = _LO, _HI, _KEPT

# queries/posthog/activity_person_hours.sql in its per-event form: each person's events by
# weekday-hour cell (activity --by-account's heatmap, which counts accounts), from the whole
# hours of person_hours and the part-hours at either end from the events (_parts).
_CELL = "(isodow({t}) - 1) * 24 + hour({t}) AS cell"
_CELL_ROWS = (f"person_id, {_CELL.format(t='hour_start')}, events AS n",
              f"person_id, {_CELL.format(t='timestamp')}, 1 AS n")  # fmt: skip
_ACTIVITY_PERSON_HOURS_ROLLED = f"""
SELECT person_id, cell, CAST(sum(n) AS BIGINT) AS events
FROM ({_parts(*_CELL_ROWS)}) AS h
GROUP BY person_id, cell
"""

# queries/posthog/activity_hours.sql: events and persons by weekday and hour.
# The persons of a weekday and hour without a distinct count over every person-hour: a person of
# one email (all or none of whose events an exclusion pattern leaves out) counts on the first of
# their rows in the span for that weekday and hour, the one whose previous row for it
# (prev_same) is before the span; persons of several emails (a few) by a distinct count; those
# of the part-hours at either end when no row of the span has them already.
_FIRST_HOUR = _first_hour(_LO)
_LAST_HOUR = f"date_trunc('hour', {_HI})"
_RAW_SPAN = f"timestamp >= {_LO} AND timestamp <= {_HI} AND {_KEPT}"
_ROLLED_SPAN = f"hour_start >= {_FIRST_HOUR} AND hour_start < {_LAST_HOUR} AND {_KEPT}"


# The same heatmap for every --by-segment group at once (usertrack.engines.local.grouped): each row
# of events and person_hours with its person's group (`usertrack_person_groups`, any other
# person's `{rest}`, "no account"), rows without a person left out (in no group, as the
# group's filter leaves them out), every part grouped by it as well. A group's rows are the
# ones _ACTIVITY_HOURS_ROLLED with that group's filter gives (Shortcut.statement): a
# person is in one group, so each part keeps the same persons' rows.
def _with_groups(table: str) -> str:
    return (
        f"(SELECT usertrack_t.*, coalesce(usertrack_g.usertrack_group, {{rest}})"
        f" AS usertrack_group FROM {table} AS usertrack_t"
        " LEFT JOIN usertrack_person_groups AS usertrack_g"
        " ON usertrack_g.person_id = CAST(usertrack_t.person_id AS VARCHAR)"
        f" WHERE usertrack_t.person_id IS NOT NULL) AS {table}"
    )


def _activity_hours(grouped: bool) -> str:
    """_ACTIVITY_HOURS_ROLLED, or (`grouped`) _ACTIVITY_HOURS_GROUPED: the same statement
    with each row's group first, read from the tables `_with_groups` makes."""
    g = "usertrack_group, " if grouped else ""
    events = _with_groups("events") if grouped else "events"
    hours = _with_groups(TABLE) if grouped else TABLE
    return f"""
WITH raw AS (
    SELECT {g}isodow(timestamp) AS weekday, hour(timestamp) AS hour, person_id
    FROM {events}
    WHERE {_RAW_SPAN} AND timestamp < {_FIRST_HOUR}
    UNION ALL
    SELECT {g}isodow(timestamp) AS weekday, hour(timestamp) AS hour, person_id
    FROM {events}
    WHERE {_RAW_SPAN} AND timestamp >= greatest({_FIRST_HOUR}, {_LAST_HOUR})
),
rolled AS (
    SELECT {g}isodow(hour_start) AS weekday, hour(hour_start) AS hour,
           CAST(sum(events) AS BIGINT) AS n,
           count(*) FILTER (WHERE person_id IS NOT NULL AND one_email
                            AND (prev_same IS NULL OR prev_same < {_FIRST_HOUR})) AS persons
    FROM {hours} WHERE {_ROLLED_SPAN}
    GROUP BY ALL
),
-- apart: a distinct count's FILTER in the same grouping would still group every person-hour
several AS (
    SELECT {g}isodow(hour_start) AS weekday, hour(hour_start) AS hour,
           count(DISTINCT person_id) AS persons
    FROM {hours} WHERE {_ROLLED_SPAN} AND NOT one_email AND person_id IS NOT NULL
    GROUP BY ALL
),
raw_only AS (
    SELECT {g}weekday, hour, count(*) AS persons
    FROM (SELECT DISTINCT {g}weekday, hour, person_id FROM raw
          WHERE person_id IS NOT NULL) AS r
    WHERE NOT EXISTS (
        SELECT 1 FROM {TABLE} AS t
        WHERE {_ROLLED_SPAN} AND t.person_id = r.person_id
          AND isodow(t.hour_start) = r.weekday AND hour(t.hour_start) = r.hour
    )
    GROUP BY ALL
),
raw_counts AS (SELECT {g}weekday, hour, count(*) AS n FROM raw GROUP BY ALL)
SELECT {g}weekday, hour,
       CAST(coalesce(rolled.n, 0) + coalesce(raw_counts.n, 0) AS BIGINT) AS events,
       CAST(coalesce(rolled.persons, 0) + coalesce(several.persons, 0)
            + coalesce(raw_only.persons, 0) AS BIGINT) AS persons
FROM rolled
FULL JOIN raw_counts USING ({g}weekday, hour)
LEFT JOIN several USING ({g}weekday, hour)
LEFT JOIN raw_only USING ({g}weekday, hour)
ORDER BY {g}weekday, hour
"""


_ACTIVITY_HOURS_ROLLED = _activity_hours(grouped=False)
_ACTIVITY_HOURS_GROUPED = _activity_hours(grouped=True)


def grouped(sql: str, rest: int) -> str | None:
    """What answers the rewrite `sql` (rewritten's, with no group's filter) for every
    --by-segment group at once, a first column `usertrack_group`; None for any other."""
    if sql == _ACTIVITY_HOURS_ROLLED:
        return _ACTIVITY_HOURS_GROUPED.replace("{rest}", str(int(rest)))
    return None


# queries/posthog/segment_persons.sql's persons (each person with an email on an event up to
# as_of, and the greatest of their normalized emails: --by-segment's person -> email mapping)
# from person_days (the whole days before as_of's), person_hours (that day's whole hours
# before as_of's) and the events of as_of's own hour, but for one kind of person: the tables
# keep the normalized email alone, so a person whose only emails are blanks (normalized to '')
# has a row with '' from the events and none from the tables. Not a rewrite of the file, then:
# the caller (usertrack.analytics.by_segment) takes it only where no row of '' changes its
# answer (no account and no segment of the email '').
_NORMALIZED = f"coalesce(person_email_norm, '') <> '' AND {_KEPT}"
_SEGMENT_PERSONS_FROM = f"""
SELECT CAST(person_id AS VARCHAR) AS person_id, max(email) AS email
FROM (
    SELECT person_id, person_email_norm AS email FROM {DAYS_TABLE}
    WHERE day < CAST(date_trunc('day', {_HI}) AS DATE) AND {_NORMALIZED}
    UNION ALL
    SELECT person_id, person_email_norm AS email FROM {TABLE}
    WHERE hour_start >= date_trunc('day', {_HI}) AND hour_start < date_trunc('hour', {_HI})
      AND {_NORMALIZED}
    UNION ALL
    SELECT person_id, coalesce(person_email_norm, '') AS email FROM events
    WHERE timestamp >= date_trunc('hour', {_HI}) AND timestamp <= {_HI}
      AND (coalesce(length(coalesce(person_email, '')), 0) > 0) AND {_KEPT}
) AS e
"""
SEGMENT_PERSONS_ROLLED = f"{_SEGMENT_PERSONS_FROM}GROUP BY person_id\n"
# The same rows of some persons only (`$usertrack_ids`, their ids as text: the people of a
# `--persons` cell), kept before they are grouped: a hash lookup per row rather than every
# person's group (half the CPU for 6,700 persons of 100,000).
SEGMENT_PERSONS_OF = (
    f"{_SEGMENT_PERSONS_FROM}WHERE CAST(person_id AS VARCHAR) IN (SELECT unnest($usertrack_ids))\n"
    "GROUP BY person_id\n"
)


# Read by LocalPostHogSource.segment_persons and its kin, never in place of the file's rows.
SEGMENT_PERSONS = Shortcut(
    "posthog/segment_persons",
    "34d610420c8b7d14cf552b65dbe33299a059e00adf478e6def84d609afb0b2d9",
    "segment_persons",
    SEGMENT_PERSONS_ROLLED,
    TABLES,
)


# queries/posthog/active_persons.sql: the persons with an event after since (not at it: from
# its next microsecond, the events' times being microseconds) up to as_of, from the whole days
# of person_days and the part-days at either end by hours (_parts).
_AFTER = f"({_LO} + INTERVAL 1 MICROSECOND)"
_AFTER_DAY = f"(date_trunc('day', {_AFTER} - INTERVAL 1 MICROSECOND) + INTERVAL 1 DAY)"
_ACTIVE_PERSONS_ROLLED = f"""
SELECT count(DISTINCT person_id) FILTER (WHERE (person_id) IS NOT NULL) AS persons
FROM (
    SELECT person_id FROM {DAYS_TABLE}
    WHERE day >= CAST({_AFTER_DAY} AS DATE) AND day < CAST({_LAST_DAY} AS DATE) AND {_KEPT}
    UNION ALL
    {_parts("person_id", "person_id", lo=_AFTER, before=_AFTER_DAY)}
    UNION ALL
    {_parts("person_id", "person_id", lo=f"greatest({_AFTER_DAY}, {_LAST_DAY})")}
) AS p
"""

# The shortcuts of activity's files (usertrack.engines.shortcut): with a --by-segment group's
# filter of persons in their `{filters}` (a test of person_id alone, which keeps the same
# persons' rows of person_hours and person_days as of the events: a row without a person in
# neither, as IN of NULL is NULL), the test is ANDed to every part (Shortcut.statement):
# activity's heatmap per group reads the tables, not every event once more per group.
SHORTCUTS = (
    Shortcut(
        "posthog/activity_days",
        "2c4d51958115d9c74bec8bcad0066e6018ebedbffaba95e1f8f62a5880985192",
        "statement",
        _ACTIVITY_DAYS_ROLLED,
        TABLES,
        form="facts",
        filters=PERSONS,
    ),
    Shortcut(
        "posthog/activity_hours",
        "561b55ee9f832317c4cdf22b81812efe8ddf18c41d462a470e9cea801dd4cddc",
        "statement",
        _ACTIVITY_HOURS_ROLLED,
        TABLES,
        filters=PERSONS,
    ),
    Shortcut(
        "posthog/activity_person_hours",
        "db9a0016889411e0d7cbc92cdd503e0af43167dd05c9ecdfb560654783a7e701",
        "statement",
        _ACTIVITY_PERSON_HOURS_ROLLED,
        TABLES,
        form="facts",
        filters=PERSONS,
    ),
    Shortcut(
        "posthog/active_persons",
        "0013fc4dd1f3cc23f15b9b0bdcd69728f6c05efd068499575334f066c058f633",
        "statement",
        _ACTIVE_PERSONS_ROLLED,
        TABLES,
        filters=PERSONS,
    ),
)


# --------------------------------------------------------------------------------------------
# Sessions and paths: tables an analysis reads instead of the events (never a query's rows).
#
# session_facts.sql and path_events.sql give an analysis (usertrack.analytics.sessions.run,
# paths.run) its facts; on the local engine, for the files as shipped with no --where and no
# --segment (their shortcuts: usertrack.engines.local.sessions_filtered, PATH_EVENTS), the analysis
# reads these tables instead:
#
# `session_spans`: one row per $session_id of the whole store with the facts session_facts.sql
# works out for it (span, pageviews, autocaptures, entry/exit page, device, browser, country,
# by the same expressions), whether its events have one normalized email (`one_email`) and that
# email. A session inside the range's bounds whose events have one email is the row as it is
# (an exclusion pattern keeps all of its events or none); a session the bounds cut, or of
# several emails, is worked out from its events in the range, as the file does. Those events lie
# in two windows of the range (`SESSION_WINDOWS_SQL`: up to the last end of the sessions that
# began before it, from the first start of those that end after it), read through the events'
# timestamp order; the events without a $session_id come from the events as ever.
#
# `path_steps`: every event path_events.sql keeps, in the order paths reads them (per person in
# time order, ties by node: its `person_id`, `timestamp`, node code), the node as a code of
# `path_node_names` (codes in the order of the names, as paths numbers the nodes of a range), the
# time of the person's previous kept event (`prev_t`), whether the event opens a sequence on
# the whole store (no person, no previous event, or a gap of 30 minutes or more: `opens`) and
# whether it is kept in its sequence (`keep`: it opens one or its node differs from the one
# before). In a range, an event whose previous one is before the range opens a sequence too
# (it is its person's first there) and is kept; nothing else changes, as the range has all of a
# person's events between its bounds. That holds for a person of one email (`one_email`: an
# exclusion pattern keeps all of its events or none); when the range holds events of a person
# of several, paths works on the events (`PATHS_MIXED_SQL`).

SESSIONS_TABLE = "session_spans"
PATH_TABLE = "path_steps"
PATH_NODES_TABLE = "path_node_names"
SESSION_TABLES = (SESSIONS_TABLE,)
PATH_TABLES = (PATH_TABLE, PATH_NODES_TABLE)


def session_columns(key: str) -> str:
    """The session facts' expressions (session_facts.sql's first part, as translated), a
    session's first and last event picked by `key` (sessions_filtered's too)."""
    url = "coalesce(prop_current_url, '') IS DISTINCT FROM ''"
    return f"""
    min(timestamp) AS first_at,
    max(timestamp) AS last_at,
    count(*) FILTER (WHERE event IS NOT DISTINCT FROM '$pageview') AS pageviews,
    count(*) FILTER (WHERE event IS NOT DISTINCT FROM '$autocapture') AS autocaptures,
    coalesce(arg_min(prop_pathname, {key}) FILTER (WHERE {url}), '') AS entry_page,
    coalesce(arg_max(prop_pathname, {key}) FILTER (WHERE {url}), '') AS exit_page,
    coalesce(arg_min(prop_device_type, {key}), '') AS device_type,
    coalesce(arg_min(prop_browser, {key}), '') AS browser,
    coalesce(arg_min(prop_geoip_country_code, {key}), '') AS country
"""


_SESSION_COLUMNS = session_columns("row(timestamp, uuid)")
# The facts' row of a lone event (no $session_id): its own session (sessions_filtered's too).
LONE_EVENT_COLUMNS = """CAST(uuid AS VARCHAR) AS session_key, '' AS session_id,
       CAST(person_id AS VARCHAR) AS person_id, timestamp AS first_at, timestamp AS last_at,
       CAST(CASE WHEN event IS NOT DISTINCT FROM '$pageview' THEN 1 ELSE 0 END AS BIGINT)
           AS pageviews,
       CAST(CASE WHEN event IS NOT DISTINCT FROM '$autocapture' THEN 1 ELSE 0 END AS BIGINT)
           AS autocaptures,
       CASE WHEN coalesce(prop_current_url, '') IS DISTINCT FROM ''
            THEN coalesce(prop_pathname, '') ELSE '' END AS entry_page,
       CASE WHEN coalesce(prop_current_url, '') IS DISTINCT FROM ''
            THEN coalesce(prop_pathname, '') ELSE '' END AS exit_page,
       coalesce(prop_device_type, '') AS device_type, coalesce(prop_browser, '') AS browser,
       coalesce(prop_geoip_country_code, '') AS country"""
# path_events.sql's kept events and their node.
# A pageview's node drops one trailing slash (path_events.sql; RE2 in both engines).
_PATH_NODE = """CASE WHEN event IS NOT DISTINCT FROM '$pageview'
    THEN regexp_replace(prop_pathname, '(.)/$', '\\1') ELSE event END"""
_PATH_KEPT = """(event IS NOT DISTINCT FROM '$pageview' OR NOT starts_with(event, '$'))
    AND (CASE WHEN event IS NOT DISTINCT FROM '$pageview' THEN coalesce(prop_pathname, '')
         ELSE event END) IS DISTINCT FROM ''"""
_GAP_US = 30 * 60 * 1_000_000  # usertrack.analytics.paths.run.GAP_SECONDS

JOURNEY_BUILD_SQL = f"""
CREATE TABLE {SESSIONS_TABLE} AS
SELECT prop_session_id AS session_id,
       {_SESSION_COLUMNS},
       min(coalesce(person_email_norm, '')) = max(coalesce(person_email_norm, '')) AS one_email,
       min(person_email_norm) AS person_email_norm
FROM events
WHERE coalesce(prop_session_id, '') IS DISTINCT FROM ''
GROUP BY prop_session_id
ORDER BY first_at, session_id;
CREATE TABLE {PATH_NODES_TABLE} AS
SELECT node, (row_number() OVER (ORDER BY node) - 1)::INTEGER AS code
FROM (SELECT DISTINCT {_PATH_NODE} AS node FROM events WHERE {_PATH_KEPT});
"""

# path_steps is built a slice of persons at a time, in person_id order (NULL last), each slice
# its own INSERT: its windows are per person, so a slice gives its persons' rows exactly, and the
# slices one after the other keep the table in the order paths reads it. DuckDB's window operator
# holds a partition's blocks pinned, so one statement over every event outgrows a store write's
# memory cap (the demo's 200 MB at 10.7 M events); a slice of about PATH_SLICE_EVENTS kept events
# does not, whatever the store's size.
PATH_SLICE_EVENTS = 1_000_000
_PATH_STEPS_SQL = f"""
SELECT person_id, timestamp, code, prev_t,
       person_id IS NULL OR prev_t IS NULL OR epoch_us(timestamp) - epoch_us(prev_t) >= {_GAP_US}
           AS opens,
       person_id IS NULL OR prev_t IS NULL OR epoch_us(timestamp) - epoch_us(prev_t) >= {_GAP_US}
           OR code IS DISTINCT FROM prev_code OR node IS NULL AS keep,
       person_email_norm,
       person_id IS NULL OR min(coalesce(person_email_norm, '')) OVER person
           = max(coalesce(person_email_norm, '')) OVER person AS one_email
FROM (
    SELECT e.person_id, e.timestamp, n.code, e.node, e.person_email_norm,
           lag(e.timestamp) OVER steps AS prev_t, lag(n.code) OVER steps AS prev_code
    FROM (SELECT person_id, timestamp, person_email_norm, {_PATH_NODE} AS node
          FROM events WHERE {_PATH_KEPT} AND {{persons}}) AS e
    JOIN {PATH_NODES_TABLE} AS n ON e.node IS NOT DISTINCT FROM n.node
    WINDOW steps AS (PARTITION BY e.person_id ORDER BY e.timestamp, n.code)
)
WINDOW person AS (PARTITION BY person_id)
ORDER BY person_id NULLS LAST, timestamp, code
"""
_PATH_PERSONS = f"FROM events WHERE {_PATH_KEPT} AND person_id IS NOT NULL"


def build_journeys(con: duckdb.DuckDBPyConnection) -> None:
    """session_spans, path_node_names, then path_steps a slice of persons at a time."""
    con.execute(JOURNEY_BUILD_SQL)
    steps = _PATH_STEPS_SQL
    con.execute(f"CREATE TABLE {PATH_TABLE} AS {steps.replace('{persons}', 'false')}")
    # Where each slice begins: walk the persons in person_id order by their kept events.
    bounds: list[str] = []
    held = 0
    counts = con.execute(
        f"SELECT person_id, count(*) {_PATH_PERSONS} GROUP BY person_id ORDER BY person_id"
    ).fetchall()
    for person, n in counts:
        if held >= PATH_SLICE_EVENTS:
            bounds.append(person)
            held = 0
        held += int(n)
    edges: list[str | None] = [None, *bounds, None]
    insert = f"INSERT INTO {PATH_TABLE} {steps}"
    for lo, hi in itertools.pairwise(edges):
        test = ["person_id IS NOT NULL"]
        values: dict[str, str] = {}
        if lo is not None:
            test.append("person_id >= $lo")
            values["lo"] = lo
        if hi is not None:
            test.append("person_id < $hi")
            values["hi"] = hi
        con.execute(insert.replace("{persons}", " AND ".join(test)), values)
    con.execute(insert.replace("{persons}", "person_id IS NULL"))


_UNTIL = "CAST(CAST($until AS TIMESTAMPTZ) AS TIMESTAMP)"
# A session row within the bounds: all its events are in the range.
_SESSION_INSIDE = f"first_at >= {_LO} AND last_at < {_UNTIL} AND last_at <= {_HI}"
_SESSION_IN_RANGE = f"first_at < {_UNTIL} AND first_at <= {_HI} AND last_at >= {_LO}"
_SESSION_CUT = f"{_SESSION_IN_RANGE} AND NOT ({_SESSION_INSIDE} AND one_email)"
_RANGE = f"timestamp >= {_LO} AND timestamp < {_UNTIL} AND timestamp <= {_HI}"

# The windows of the range that hold the events of the sessions worked out from their events:
# from the range's start to `cut_early` (the last end of those that began before the range or
# have several emails), and from `cut_late` (the first start of those that end after it) on,
# the second starting after the first ends (NULL: no such window).
SESSION_WINDOWS_SQL = f"""
SELECT early AS cut_early,
       CASE WHEN late IS NOT NULL THEN greatest(late, early + INTERVAL 1 MICROSECOND) END
           AS cut_late
FROM (
    SELECT max(last_at) FILTER (WHERE first_at < {_LO} OR NOT one_email) AS early,
           min(first_at) FILTER (WHERE last_at >= {_UNTIL} OR last_at > {_HI}) AS late
    FROM {SESSIONS_TABLE}
    WHERE {_SESSION_CUT}
) AS cut
"""

# queries/posthog/session_facts.sql's facts (its shortcut:
# usertrack.engines.local.sessions_filtered) a row per session or lone event (the rows the file's
# arrays unnest into), typed as usertrack.analytics.sessions.run.SCHEMA: the sessions inside the
# bounds from the table (their person, their first event's, from the store's `sessions` table: every
# event of such a session is in the range), the others from their events in the two windows, the
# events without a $session_id as ever. A session's `$start_timestamp` in `sessions` is its
# `first_at` (both the first of all its events), so only the rows starting in the range are joined
# (at 100,000 users the join's build side is then 470,000 of the 890,000 sessions).
SESSION_FACTS_ROLLED = f"""
SELECT sp.session_id AS session_key, sp.session_id, CAST(ss.person_id AS VARCHAR) AS person_id,
       sp.first_at, sp.last_at, sp.pageviews, sp.autocaptures, sp.entry_page, sp.exit_page,
       sp.device_type, sp.browser, sp.country
FROM (SELECT * FROM {SESSIONS_TABLE} WHERE {_SESSION_INSIDE} AND one_email AND {_KEPT})
    AS sp
LEFT JOIN (
    SELECT session_id, person_id FROM sessions
    WHERE "$start_timestamp" >= {_LO} AND "$start_timestamp" < {_UNTIL}
) AS ss ON ss.session_id = sp.session_id
UNION ALL
SELECT prop_session_id AS session_key, prop_session_id AS session_id,
       CAST(arg_min(person_id, row(timestamp, uuid)) AS VARCHAR) AS person_id,
       {_SESSION_COLUMNS}
FROM (
    SELECT * FROM events
    WHERE timestamp >= {_LO} AND timestamp <= CAST($cut_early AS TIMESTAMP)
    UNION ALL
    SELECT * FROM events WHERE timestamp >= CAST($cut_late AS TIMESTAMP) AND timestamp <= {_HI}
) AS e
WHERE coalesce(prop_session_id, '') IS DISTINCT FROM '' AND {_RANGE} AND {_KEPT}
  AND prop_session_id IN (SELECT session_id FROM {SESSIONS_TABLE} WHERE {_SESSION_CUT})
GROUP BY prop_session_id
UNION ALL
SELECT {LONE_EVENT_COLUMNS}
FROM events
WHERE coalesce(prop_session_id, '') IS NOT DISTINCT FROM '' AND {_RANGE} AND {_KEPT}
  AND CAST(uuid AS VARCHAR) IS NOT NULL
"""

# Whether the range holds events of a person of several emails (then paths reads the events).
PATHS_MIXED_SQL = f"SELECT count(*) FROM {PATH_TABLE} WHERE {_RANGE} AND NOT one_email"
# The kept nodes of the range's sequences, in sequence order (the table's), as codes of
# path_node_names, and whether each starts a sequence (see above).
PATH_CODES_SQL = f"""
SELECT code, opens OR prev_t < {_LO} AS starts
FROM {PATH_TABLE}
WHERE {_RANGE} AND (keep OR prev_t < {_LO}) AND {_KEPT}
"""
# The same rows of a few persons only (their ids bound as a list): a filtered scan gives its
# rows out of the table's order, so they are put back in it.
PATH_CODES_OF_SQL = f"""
{PATH_CODES_SQL.strip()}
  AND list_contains($usertrack_path_persons, person_id)
ORDER BY rowid
"""
PATH_NAMES_SQL = f"SELECT code, node FROM {PATH_NODES_TABLE} ORDER BY code"
# The persons of those rows in the table's order (person_id, NULL last) and how many rows each
# has: a --by-segment run keeps a group's rows, whole persons, so whole sequences, from them.
PATH_PERSONS_SQL = f"""
SELECT person_id, count(*) AS n
FROM {PATH_TABLE}
WHERE {_RANGE} AND (keep OR prev_t < {_LO}) AND {_KEPT}
GROUP BY person_id
ORDER BY person_id NULLS LAST
"""


def _pages_and_custom(values: Mapping[str, Any]) -> bool:
    """path_events.sql keeping pageviews and custom events, not screens: the kinds of event
    the path table holds (_PATH_KEPT), every paths run's but one of another --type."""
    kinds = (values.get("pageviews", 1), values.get("screens", 0), values.get("custom_events", 1))
    return tuple(str(k) for k in kinds) == ("1", "0", "1")  # given as numbers or as texts


# path_events.sql in its per-event form (usertrack.engines.local.packed), as shipped, with no
# filter and its default kinds of event: paths reads PATH_CODES_SQL's codes instead of its rows
# (LocalPostHogSource.path_codes).
PATH_EVENTS = Shortcut(
    "posthog/path_events",
    "932c64b79f89378f7a90571fc777fa9df55b93a85168f91dc0f309ef5fffe3ab",
    "path_codes",
    PATH_CODES_SQL,
    PATH_TABLES,
    form="facts",
    when=_pages_and_custom,
)
