"""The profile's per-user files of the events, kept to a list of emails, on the local engine.

queries/posthog/activity.sql, mcp_clicks.sql and ux_issues.sql keep themselves to the emails of
`{segment_emails}` when `{segment_only}` is set (the people behind one number, `--persons`:
usertrack.segments.some). The translator writes that test on the store's email column as
`(person_email_norm IN (list) OR person_email_norm IS NULL)` (usertrack.sources.hogql.
expressions, `_email_in_list`: the email key reads '' for an event without an email, and ''
leads the list). Each of these files also keeps only the events whose person has a non-empty
email (`notEmpty(...)`, translated `(coalesce(length(coalesce(person_email, '')), 0) > 0)`),
and the normalized email of a non-empty email is never NULL (usertrack.emails), so the second
branch keeps no event the first does not. Without it DuckDB keeps the listed emails' events by
a semi-join rather than testing the OR on every event: a third of activity.sql's CPU for a
cell of 6,728 people at 5.35 M events (0.16 s to 0.11 s).

Only the three files as shipped are rewritten (their translation word for word, no
`--where`); tests/test_email_lists.py checks that their rows are the same either way.
"""

from __future__ import annotations

# The test as the translator writes it, and what runs instead.
_LISTED = (
    "(person_email_norm IN (SELECT unnest(list_concat([''], $segment_emails)) AS"
    " \"arrayJoin(arrayConcat([''], {segment_emails}))\")"
)
LISTED_OR_NULL = f"{_LISTED} OR person_email_norm IS NULL)"
LISTED_ONLY = f"{_LISTED})"
# What keeps each of the files' events to those with an email (and so a normalized one).
WITH_EMAIL = "AND (coalesce(length(coalesce(person_email, '')), 0) > 0)"

_HEAD = "SELECT coalesce(person_email_norm, '') AS email,"
_TAIL = (
    "AND (coalesce(length(coalesce(person_email, '')), 0) > 0)"
    " AND NOT regexp_matches(coalesce(person_email_norm, ''), $exclude_pattern)"
    f" AND ($segment_only IS NOT DISTINCT FROM 0 OR {LISTED_OR_NULL}) GROUP BY email"
)
_AS_OF = "CAST(CAST($as_of AS TIMESTAMPTZ) AS TIMESTAMP)"
# The translations of the three files as shipped, whitespace folded (rollups.words).
SHIPPED = frozenset(
    {
        f"{_HEAD} count(*) AS events, count(*) FILTER (WHERE event IS NOT DISTINCT FROM"
        " '$pageview') AS pageviews, min(timestamp) AS first_seen_at, max(timestamp) AS"
        f" last_seen_at FROM events WHERE timestamp <= {_AS_OF} {_TAIL}",
        f"{_HEAD} count(*) AS mcp_connect_clicks, list_sort(coalesce(list(DISTINCT"
        " prop_template_name) FILTER (WHERE (prop_template_name) IS NOT NULL), [])) AS"
        " mcp_servers, min(timestamp) AS first_mcp_click_at, max(timestamp) AS"
        " last_mcp_click_at FROM events WHERE event IS NOT DISTINCT FROM"
        f" 'mcp_connect_clicked' AND timestamp > {_AS_OF} - INTERVAL 30 DAY AND timestamp <="
        f" {_AS_OF} {_TAIL}",
        f"{_HEAD} count(*) FILTER (WHERE event IS NOT DISTINCT FROM '$rageclick') AS"
        " rage_clicks, count(*) FILTER (WHERE event IS NOT DISTINCT FROM '$exception') AS"
        " exceptions, max(timestamp) AS last_ux_issue_at FROM events WHERE event IN"
        f" ('$rageclick', '$exception') AND timestamp > {_AS_OF} - INTERVAL 7 DAY AND"
        f" timestamp <= {_AS_OF} {_TAIL}",
    }
)


# activity.sql's translation as shipped (one of SHIPPED).
ACTIVITY = min(SHIPPED, key=lambda text: "AS pageviews" not in text)

# activity.sql from the events store's per-person-per-day tables (usertrack.sources.
# churn_rollups): the events, pageviews, first and last event of each normalized email but ''
# from person_day_events and person_day_spans for the whole UTC days before as_of's, and from
# the events of as_of's day up to as_of; the email '' (an email of blanks: the tables keep no
# trace of which events had one, nor of an empty one) from the events as the file reads it.
# The same rows: every event up to as_of is in exactly one part, a day's rows all or none.
_KEPT = "NOT regexp_matches(coalesce(person_email_norm, ''), $exclude_pattern)"
_LIST = (
    "($segment_only IS NOT DISTINCT FROM 0"
    " OR person_email_norm IN (SELECT unnest(list_concat([''], $segment_emails))))"
)
_DAY = f"date_trunc('day', {_AS_OF})"
_NAMED = f"person_email_norm <> '' AND {_KEPT} AND {_LIST}"
ACTIVITY_ROLLED = f"""
SELECT email, CAST(sum(events) AS BIGINT) AS events, CAST(sum(pageviews) AS BIGINT) AS pageviews,
       min(first_at) AS first_seen_at, max(last_at) AS last_seen_at
FROM (
    SELECT person_email_norm AS email, events,
           CASE WHEN event = '$pageview' THEN events ELSE 0 END AS pageviews,
           CAST(NULL AS TIMESTAMP) AS first_at, CAST(NULL AS TIMESTAMP) AS last_at
    FROM person_day_events WHERE day < CAST({_DAY} AS DATE) AND {_NAMED}
    UNION ALL
    SELECT person_email_norm, 0, 0, first_at, last_at
    FROM person_day_spans WHERE day < CAST({_DAY} AS DATE) AND {_NAMED}
    UNION ALL
    SELECT coalesce(person_email_norm, ''), 1, CASE WHEN event = '$pageview' THEN 1 ELSE 0 END,
           timestamp, timestamp
    FROM events
    WHERE ((timestamp >= {_DAY} AND person_email_norm <> '') OR person_email_norm = '')
      AND timestamp <= {_AS_OF} AND (coalesce(length(coalesce(person_email, '')), 0) > 0)
      AND {_KEPT} AND {_LIST}
) AS e
GROUP BY email
"""
# The tables it reads (a store built before them runs the file as translated).
ACTIVITY_TABLES = ("person_day_events", "person_day_spans")


def listed_only(folded: str) -> str | None:
    """What runs instead of the translation `folded` (whitespace folded) when it is one of the
    three files' as shipped (activity.sql's: ACTIVITY_ROLLED), else None."""
    if folded not in SHIPPED:
        return None
    if folded == ACTIVITY:
        return ACTIVITY_ROLLED
    return folded.replace(LISTED_OR_NULL, LISTED_ONLY, 1)


def tables_read(sql: str) -> tuple[str, ...]:
    """Of the per-person tables of ACTIVITY_ROLLED, those `sql` reads."""
    return ACTIVITY_TABLES if sql is ACTIVITY_ROLLED else ()
