"""A --by-segment group's funnel progress kept from everyone's (a person's progress is worked
out from their own events alone), and what the exclusion steps left out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.analytics.common import facts_bound
from usertrack.analytics.funnel.order import PLAIN, Shape

if TYPE_CHECKING:
    import duckdb

    from usertrack.workspace import Workspace

QUERY = "posthog/funnel_events"  # the funnel's facts (usertrack.analytics.funnel.run)


def progress_key(
    ws: Workspace,
    steps: list[str],
    as_of: datetime,
    window: timedelta,
    schema: dict[str, Any],
    params: dict[str, Any],
    shape: Shape = PLAIN,
) -> tuple[Any, ...] | None:
    """Where a --by-segment run keeps everyone's `progress` and `excluded` tables
    (`scope.facts_cache`), when the funnel's facts run once over everyone and each group
    keeps its persons' rows of them (usertrack.analytics.by_segment): a person's progress is
    worked out from their own events alone, so a group's is its persons' rows of everyone's,
    worked out once. None otherwise."""
    if ws.scope.person_rows is None or ws.scope.facts_cache is None:
        return None
    query, values, keep = facts_bound(ws, QUERY, as_of, schema, **params)
    if keep is None:  # a facts query without the {filters} slot: it runs per group
        return None
    values_key = repr(sorted(values.items()))
    return ("funnel progress", query.sql, values_key, tuple(steps), window, shape)


def kept_progress(con: duckdb.DuckDBPyConnection, ws: Workspace, whole: Any) -> None:
    """`progress` and `excluded`: the rows of the group's persons (`scope.person_rows`) of
    everyone's (`whole`: the two tables)."""
    from usertrack.engines.base import Result

    assert ws.scope.person_rows is not None
    for name, table in zip(("progress", "excluded"), whole, strict=True):
        rows = Result(columns=list(table.column_names), rows=[], arrow=table)
        con.register("_progress_in", ws.scope.person_rows.kept(rows).arrow)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _progress_in")
        con.unregister("_progress_in")


def excluded_line(count: int, exclusions: tuple[tuple[str, int, int], ...]) -> str:
    """The stderr line of the persons `--exclude` left out of the funnel."""
    what = " or ".join(f"{name} between steps {a} and {b}" for name, a, b in exclusions)
    persons = "person" if count == 1 else "persons"
    return f"--exclude left out {count:,} {persons} who did {what}"
