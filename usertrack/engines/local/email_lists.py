"""The profile's per-user files of the events, kept to a list of emails, on the local engine.

queries/posthog/activity.sql, mcp_clicks.sql and ux_issues.sql keep themselves to the emails of
`{segment_emails}` when `{segment_only}` is set (the people behind one number, `--persons`:
usertrack.segments.some). The translator writes that test on the store's email column as
`(person_email_norm IN (list) OR person_email_norm IS NULL)` (usertrack.engines.hogql.
expressions, `_email_in_list`: the email key reads '' for an event without an email, and ''
leads the list). Each of these files also keeps only the events whose person has a non-empty
email (`notEmpty(...)`, translated `(coalesce(length(coalesce(person_email, '')), 0) > 0)`),
and the normalized email of a non-empty email is never NULL (usertrack.core.emails), so the second
branch keeps no event the first does not. Without it DuckDB keeps the listed emails' events by
a semi-join rather than testing the OR on every event: a third of activity.sql's CPU for a
cell of 6,728 people at 5.35 M events (0.16 s to 0.11 s).

Only the three files as shipped have these shortcuts (`SHORTCUTS`, usertrack.engines.shortcut);
tests/engines/test_email_lists.py and tests/engines/test_shortcuts.py check that their rows are the
same either way. activity.sql's reads the events store's per-person-per-day tables besides.
"""

from __future__ import annotations

from usertrack.engines.local.rollups import AS_OF, KEPT
from usertrack.engines.shortcut import Shortcut

# The test as the translator writes it, and what runs instead.
_LISTED = (
    "(person_email_norm IN (SELECT unnest(list_concat([''], $segment_emails)) AS"
    " \"arrayJoin(arrayConcat([''], {segment_emails}))\")"
)
LISTED_OR_NULL = f"{_LISTED} OR person_email_norm IS NULL)"
LISTED_ONLY = f"{_LISTED})"
# What keeps each of the files' events to those with an email (and so a normalized one).
# activity.sql from the events store's per-person-per-day tables
# (usertrack.engines.local.churn_rollups): the events, pageviews, first and last event of each
# normalized email but '' from person_day_events and person_day_spans for the whole UTC days before
# as_of's, and from the events of as_of's day up to as_of; the email '' (an email of blanks: the
# tables keep no trace of which events had one, nor of an empty one) from the events as the file
# reads it. The same rows: every event up to as_of is in exactly one part, a day's rows all or none.
_LIST = (
    "($segment_only IS NOT DISTINCT FROM 0"
    " OR person_email_norm IN (SELECT unnest(list_concat([''], $segment_emails))))"
)
_DAY = f"date_trunc('day', {AS_OF})"
_NAMED = f"person_email_norm <> '' AND {KEPT} AND {_LIST}"
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
      AND timestamp <= {AS_OF} AND (coalesce(length(coalesce(person_email, '')), 0) > 0)
      AND {KEPT} AND {_LIST}
) AS e
GROUP BY email
"""
# The tables it reads (a store built before them runs the file as translated).
ACTIVITY_TABLES = ("person_day_events", "person_day_spans")


def listed_only(translated: str) -> str:
    """A file's translation without the second branch of its list test (see the module's
    doc)."""
    return translated.replace(LISTED_OR_NULL, LISTED_ONLY, 1)


SHORTCUTS = (
    Shortcut(
        "posthog/activity",
        "26eee6c9e33d9656d740ebc648053954d97dd8c4e633dfc0aaf29575e66f2e2d",
        "statement",
        ACTIVITY_ROLLED,
        ACTIVITY_TABLES,
    ),
    Shortcut(
        "posthog/mcp_clicks",
        "63b63c55ecefe528e486408860b77b5ad2ad6c40e799f17576510d911e5a0d9c",
        "statement",
        "",
        edit=listed_only,
    ),
    Shortcut(
        "posthog/ux_issues",
        "fc835ea0e54a47ebb4ec459632cfd8c635c467470cbc966ccccdf4b4e2a87bbf",
        "statement",
        "",
        edit=listed_only,
    ),
)
