"""First-time funnel steps (`first:EVENT`, `first-matching:EVENT:PROPERTY=VALUE`): PostHog's
FunnelMathType.FIRST_TIME_FOR_USER and FIRST_TIME_FOR_USER_WITH_FILTERS
(posthog/hogql_queries/insights/funnels/base.py, `_build_step_query`, and
funnel_aggregation_operations.py's FirstTimeForUserAggregationQuery over
insights/utils/aggregations.py's FirstTimeForUserEventsQueryAlternator).

PostHog keeps, of a first-time step's events, the one event per person whose time is the
person's first of that event ever (every event of the name up to the range's end, no start:
`min(timestamp)`), when that first time is also within the range and, for
first_time_for_user, the first event matches the step's property (`minIf(timestamp, date_from
AND filters)` equal to the `min`); with filters, the first event ever that matches them. Here
the funnel's facts (queries/posthog/funnel_events.sql, the range's events) say of each event
of a first-time step's name whether it is the person's first of that name ever
(`first_time`) and their first of that name with its value of the funnel's property
(`first_matching`), from queries/posthog/funnel_first_times.sql; the step takes only the
events so marked (usertrack.analytics.funnel.run, `_narrowed_ranks`), and another step of the
same event any of them, as PostHog matches each step on its own. An event a first-time step
does not take is, in a strict funnel, an event between the steps, as in PostHog."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from usertrack.analytics.funnel.step_syntax import split_step, step_math

if TYPE_CHECKING:
    import duckdb

    from usertrack.analytics.common import DateRange
    from usertrack.workspace import Workspace

QUERY = "posthog/funnel_first_times"


def first_steps(steps: list[str]) -> list[tuple[str, str, str | None]]:
    """The first-time steps: (math, event, the value the step names or None)."""
    found = []
    for text in steps:
        math, _ = step_math(text)
        if math is not None:
            event, _, value = split_step(text)
            found.append((math, event, value))
    return found


def keep_first_times(
    con: duckdb.DuckDBPyConnection,
    ws: Workspace,
    steps: list[str],
    as_of: datetime,
    span: DateRange,
    by: str,
) -> None:
    """`facts` with the columns `first_time` and `first_matching` (the module's rule), when the
    funnel has a first-time step; `by`: the property the facts' `breakdown` holds."""
    import pyarrow as pa

    from usertrack.analytics.common import load_facts

    found = first_steps(steps)
    if not found:
        return
    schema = {
        "person_id": pa.string(),
        "event": pa.string(),
        "step_value": pa.string(),
        "first_at": pa.timestamp("us"),
    }
    events = sorted({event for _, event, _ in found})
    load_facts(con, ws, QUERY, as_of, "_first_times", schema, until=span.end, events=events, by=by)
    con.execute(
        "ALTER TABLE facts ADD COLUMN first_time BOOLEAN DEFAULT false;"
        " ALTER TABLE facts ADD COLUMN first_matching BOOLEAN DEFAULT false"
    )
    con.execute(
        "UPDATE facts SET"
        " first_time = coalesce(timestamp = (SELECT min(t.first_at) FROM _first_times t"
        " WHERE t.person_id = facts.person_id AND t.event = facts.event), false),"
        " first_matching = coalesce(timestamp = (SELECT min(t.first_at) FROM _first_times t"
        " WHERE t.person_id = facts.person_id AND t.event = facts.event"
        " AND t.step_value = coalesce(facts.breakdown, '')), false)"
        " WHERE list_contains($events, event)",
        {"events": events},
    )
    con.execute("DROP TABLE _first_times")
