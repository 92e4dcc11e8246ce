"""A group's filter of persons (`--who`, `--segment`) on the local engine, and where it can be
applied to a per-person facts query's rows instead of to every event.

A group's run fills a query's `{filters}` slot with KEEP_LOCAL, which DuckDB answers with a
hash join of every event of the query's range against the group's person ids. A facts query
whose every row is one person's (its person_id the events' person_id, grouped by person, and
`{filters}` read by nothing but that grouping) gives the group's rows when it runs for everyone
and only the group's persons' rows are kept: the same rows, for a hash join of one row per
person instead of one per event (retention's facts at 100,000 users: half the CPU).
PER_PERSON names the shipped files that are of that kind; an edited file, or one filtered by a
--where too, runs as filled (both read from the query's origin, usertrack.queries.library).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from usertrack.queries.library import Query

PLACEHOLDER = "usertrack_segment_persons"  # cannot clash with a query file's parameters
# On the local engine: DuckDB's list_contains (has) scans the list for every event, which for
# "no account" (everyone else: 100,000 persons) is minutes at 5 M events; IN of the list's rows
# is one hash join. Same answer: NULL for an event without a person, as has()'s.
KEEP_LOCAL = f"toString(person_id) IN (SELECT arrayJoin({{{PLACEHOLDER}}}))"

# Shipped facts files each of whose rows is one person's (person_id), every `{filters}` in them
# filtering the events of a grouping by person.
PER_PERSON = frozenset(
    {
        "posthog/funnel_events",
        "posthog/retention_activity",
        "posthog/retention_first_starts",
    }
)

# The rows of a per-person query (its text as `{sql}`) kept to the group's persons.
KEPT_ROWS = (
    "SELECT * FROM ({sql}) AS usertrack_rows"
    f" WHERE CAST(usertrack_rows.person_id AS VARCHAR) IN (SELECT unnest(${PLACEHOLDER}))"
)


def for_everyone(query: Query, facts_form: Callable[[Query], Query]) -> Query | None:
    """`query` (as an analysis reads it: `facts_form` of the filled file) run for everyone, when
    its `{filters}` hold the group's filter alone and it is a PER_PERSON file as shipped (read
    from its origin); its rows are then kept with KEPT_ROWS. None otherwise. The query for
    everyone is the same file filled with `true`, in the same form, its origin saying so."""
    from usertrack.queries.library import shipped_digest

    origin = query.origin
    if query.id not in PER_PERSON or origin is None or origin.filters != (KEEP_LOCAL,):
        return None
    if origin.digest != shipped_digest(query.id):
        return None
    made = dataclasses.replace(origin, filters=None, form="file", sql=origin.body)
    everyone = facts_form(dataclasses.replace(query, sql=origin.body, made=made).filled(()))
    found = everyone.origin
    return everyone if found is not None and found.form == origin.form else None
