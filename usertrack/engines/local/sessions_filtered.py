"""Sessions' facts under a filter on the local engine (`sessions --where`): a filter may keep
some of a session's events, so the store's session table alone cannot answer them; they come
from the events, as the translation of queries/posthog/session_facts.sql does, in a cheaper form.

For the file as shipped (`SHORTCUT`, usertrack.engines.shortcut), with no filter the facts
come from the store's session table (usertrack.engines.local.rollups); under a filter (`--where`, a
group's persons) they run as `FILTERED` with the filter's translated text in the same places:
the same rows, typed as usertrack.analytics.sessions.run reads them, a row per session or lone
event (the file's arrays as their rows, as the store's session table gives them). Three
things differ from the translation, none in the answer:

- a session the filter keeps whole (its events in the range, of one email, each of them kept:
  as many as the store's `sessions` table counts for it, `event_count`) is its row of
  `session_spans` (usertrack.engines.local.rollups), its person the `sessions` table's, both worked
  out from all of its events as the translation works them out from the kept ones; only the
  other sessions' events are grouped (at 100,000 users, Chrome's 286,000 sessions of 30 days
  are all kept whole: the facts' CPU from 1.3 s to 0.9 s);
- a session's first and last event (its person, entry and exit page, device, browser, country)
  are picked by one key per event, the sort key of its time and uuid text (`create_sort_key`:
  bytes that compare as the pair does, the translation's `row(timestamp, CAST(uuid AS
  VARCHAR))`), made once per event, where the pair is made and compared by each of the six
  picks;
- a lone event (no $session_id) is its own row rather than an element of its person's arrays,
  which are then not unnested into a copy of the facts.

Each pick keeps its own rule (arg_min and arg_max skip a NULL value: the first event with a
device, not the first event's device), so the key is the only change.
tests/engines/test_journey_rollups.py checks the rows against the translation's for several filters
and bounds. A store without the session tables runs the translation.
"""

from __future__ import annotations

import functools

from usertrack.engines.local.rollups import (
    LONE_EVENT_COLUMNS,
    SESSION_FACTS_ROLLED,
    SESSION_TABLES,
    SESSION_WINDOWS_SQL,
    SESSIONS_TABLE,
    session_columns,
)
from usertrack.engines.shortcut import ANY_FILTER, Shortcut
from usertrack.queries.library import Query

# A placeholder in the file's `{filters}` slots, to tell the slots' text in a translation from
# the rest (filter_of).
_SLOT = "usertrack_filters_slot"

_LO = "CAST(CAST($since AS TIMESTAMPTZ) AS TIMESTAMP)"
_UNTIL = "CAST(CAST($until AS TIMESTAMPTZ) AS TIMESTAMP)"
_HI = "CAST(CAST($as_of AS TIMESTAMPTZ) AS TIMESTAMP)"
_KEPT = f"""timestamp >= {_LO} AND timestamp < {_UNTIL} AND timestamp <= {_HI}
  AND NOT regexp_matches(coalesce(person_email_norm, ''), $exclude_pattern)"""
_KEY = "create_sort_key(timestamp, 'ASC NULLS LAST', CAST(uuid AS VARCHAR), 'ASC NULLS LAST')"

# The sessions the filter keeps whole (see above), their rows as session_spans holds them.
_WHOLE = f"""
WITH counted AS (
    SELECT prop_session_id AS session_id, count(*) AS n
    FROM events
    WHERE coalesce(prop_session_id, '') IS DISTINCT FROM '' AND {_KEPT}
      AND {{filters}}
    GROUP BY prop_session_id
),
started AS (
    SELECT session_id, person_id, event_count FROM sessions
    WHERE "$start_timestamp" >= {_LO} AND "$start_timestamp" < {_UNTIL}
),
whole AS (
    SELECT sp.*, ss.person_id
    FROM counted
    JOIN {SESSIONS_TABLE} AS sp USING (session_id)
    JOIN started AS ss USING (session_id)
    WHERE sp.first_at >= {_LO} AND sp.last_at < {_UNTIL} AND sp.last_at <= {_HI} AND sp.one_email
      AND counted.n = ss.event_count
)
SELECT session_id AS session_key, session_id, CAST(person_id AS VARCHAR) AS person_id,
       first_at, last_at, pageviews, autocaptures, entry_page, exit_page, device_type, browser,
       country
FROM whole
UNION ALL"""

# {filters}: the translation's filter text, as it stands in its slots.
FILTERED = f"""{_WHOLE}
SELECT prop_session_id AS session_key, prop_session_id AS session_id,
       CAST(arg_min(person_id, k) AS VARCHAR) AS person_id,{session_columns("k")}FROM (
    SELECT *, {_KEY} AS k
    FROM events
    WHERE coalesce(prop_session_id, '') IS DISTINCT FROM '' AND {_KEPT}
      AND {{filters}} AND prop_session_id NOT IN (SELECT session_id FROM whole)
) AS e
GROUP BY prop_session_id
UNION ALL
SELECT {LONE_EVENT_COLUMNS}
FROM events
WHERE coalesce(prop_session_id, '') IS NOT DISTINCT FROM '' AND {_KEPT}
  AND CAST(uuid AS VARCHAR) IS NOT NULL
  AND {{filters}}
"""


@functools.lru_cache(maxsize=8)
def _around(body: str) -> tuple[str, ...]:
    """The translation of a file's text `body` cut at its `{filters}` slots."""
    from usertrack.engines.hogql import translate

    return tuple(translate(body.replace("{filters}", f"{{{_SLOT}}}")).sql.split(f"${_SLOT}"))


def filter_of(query: Query, translated: str) -> str | None:
    """The translated text in the `{filters}` slots of `query` (the file's text, filled), read
    from its translation `translated` (a literal's spaces kept): the translation of the file
    with a placeholder in its slots gives the text around them; None where `translated` is not
    that text with one filter text in every slot."""
    origin = query.origin
    if origin is None:
        return None
    parts = _around(origin.body)
    slots = len(parts) - 1
    extra = len(translated) - sum(len(p) for p in parts)
    if slots < 1 or extra < 0 or extra % slots:
        return None
    found = translated[len(parts[0]) : len(parts[0]) + extra // slots]
    return found if found.join(parts) == translated else None


def filtered(query: Query, translated: str) -> str | None:
    """What the facts of `query` (session_facts.sql as shipped, under a filter) run as:
    FILTERED with the filter's translated text; None where it cannot be read."""
    found = filter_of(query, translated)
    return None if found is None else FILTERED.replace("{filters}", found)


# session_facts.sql: from the store's session table (usertrack.engines.local.rollups), after the
# windows of the range that hold the cut sessions' events; under a filter, FILTERED.
SHORTCUT = Shortcut(
    "posthog/session_facts",
    "769dc4cf85428e3541b1ac60978d894eecea4feac5d861dea577dfb48b0306bb",
    "facts",
    SESSION_FACTS_ROLLED,
    (*SESSION_TABLES, "sessions"),
    filters=ANY_FILTER,
    prepare=SESSION_WINDOWS_SQL,
    filtered=filtered,
)
