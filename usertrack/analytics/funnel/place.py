"""A funnel's facts in place: on the local engine, the temporary table `facts` of a cursor on
the events store (LocalPostHogSource.facts_cursor), where the funnel is then worked out.

Elsewhere the facts (queries/posthog/funnel_events.sql's rows, an event a row) come back as an
Arrow table, copied into an in-memory DuckDB database of the funnel's own (load_facts): at
100,000 users the alerts panel's 8 weeks are 214,000 rows, made Arrow columns only to be copied
once more (0.03 s of CPU of 0.12 s, and their memory touched twice). In place, the store's own
DuckDB writes them once, as retention and activity read theirs (open_facts_tables).

Only for a funnel that reads nothing but `facts` and `progress` (no --by breakdown, no emails,
no accounts, no correlation, the plain ordered shape) and outside a group's run (--who,
--segment, --by-segment), whose facts are kept or filtered by the group: those load them as
before. The rows are the same either way: the same bound query, typed as load_facts types them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from usertrack.workspace import Workspace

# funnel_events.sql's columns as load_facts types them (load_progress's Arrow schema)
SCHEMA = {
    "person_id": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "event": "VARCHAR",
    "breakdown": "VARCHAR",
    "email": "VARCHAR",
}


def facts_in_place(
    ws: Workspace, query_id: str, as_of: datetime, params: dict[str, Any]
) -> duckdb.DuckDBPyConnection | None:
    """A cursor on the events store holding the funnel's facts as its temporary table `facts`
    (the caller releases it: usertrack.checks.sandbox.release closes it), or None where they are
    loaded as before (another source, a group's run)."""
    if (
        ws.scope.person_rows is not None
        or ws.scope.person_filter is not None
        or ws.scope.facts_cache is not None
    ):
        return None
    from usertrack.analytics.common import facts_bound, typed_table

    query, values, keep = facts_bound(ws, query_id, as_of, SCHEMA, **params)
    source = ws.sources[query.folder]
    if not source.has_facts or keep is not None:
        return None
    cur = source.facts_cursor(source.facts_query(query), values, "facts")
    try:
        typed_table(cur, "facts", SCHEMA, query_id)
    except BaseException:
        cur.close()
        raise
    return cur  # type: ignore[no-any-return]
