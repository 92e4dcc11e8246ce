"""segment_persons.sql's rows, every identified PostHog person with their email: from the events
store's per-person tables (the local engine), else from the events where they are (PostHog)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usertrack.engines.base import Result
    from usertrack.workspace import Workspace

QUERY = "posthog/segment_persons"
# An answer of more persons than this comes as an Arrow table (as a facts query's does past
# analytics.common's ARROW_OVER): at 200,000 persons a Python tuple each costs 0.7 s of CPU.
ARROW_OVER = 10_000


def persons_table(ws: Workspace, as_of: datetime) -> Any | None:
    """segment_persons.sql's rows from the events store's per-person tables (a tenth of the
    events' rows) as an Arrow table of person_id and email, but for the persons whose only
    emails are blanks, whose row with the email '' they leave out; None where they do not
    answer it (PostHog, an edited file, a store without them)."""
    query, values = ws.bind(QUERY, as_of)
    found = ws.sources[query.folder].segment_persons(query, values, arrow=True)
    return None if found is None else found.arrow


def persons_answer(ws: Workspace, as_of: datetime) -> Result:
    """segment_persons.sql's answer from the events, a row per person: past ARROW_OVER rows
    an Arrow table (Result.arrow) where the source answers one, which the persons' groups are
    found in without a Python value per person (by_segment.numbered_persons)."""
    query, values = ws.bind(QUERY, as_of)
    source = ws.sources[query.folder]
    if not source.arrow_results:
        return ws.run_query(QUERY, as_of)
    return source.run(query, values, arrow_over=ARROW_OVER)


def persons_query(ws: Workspace, as_of: datetime, answer: Result | None = None) -> list[Any]:
    """segment_persons.sql's rows from the events (PostHog, an edited file, a store without
    per-person tables, or a row of '' that can count): `answer`'s, when it is given."""
    if answer is None:
        answer = ws.run_query(QUERY, as_of)
    if answer.arrow is not None:
        from usertrack.engines.postgres.pg_copy import as_rows

        return as_rows(answer.arrow)
    return list(answer.rows)


def persons_of(ws: Workspace, as_of: datetime, ids: set[str]) -> list[Any]:
    """segment_persons.sql's rows (person_id, email) of the persons `ids`, and maybe of others:
    from the store's per-person tables, those persons' rows alone where they answer it (as
    `persons_table`), else every person's (`persons_query`)."""
    query, values = ws.bind(QUERY, as_of)
    rows = ws.sources[query.folder].segment_persons_of(query, values, sorted(ids))
    return persons_query(ws, as_of) if rows is None else rows
