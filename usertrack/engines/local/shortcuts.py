"""Every local shortcut (usertrack.engines.shortcut), by the id of the query file it answers.

Each is declared beside the statement it runs, in the module that builds the tables it reads;
this module gathers them. `find` is how the local engine picks one: by the query's id, and
the gate (the file as shipped, no filter the shortcut cannot apply), never by its text.

The statements that answer a PostgreSQL file from the local copy of the app's tables are
declared the same way (shortcut.MirrorShortcut) and gathered in
usertrack.reports.mirror_shortcuts: the modules holding them import this package, so their
registry sits above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usertrack.engines.local import (
    churn_rollups,
    daily_rollups,
    email_lists,
    feature_times,
    first_starts,
    retention_rollups,
    rollups,
    sessions_filtered,
    summaries,
    volume_rollups,
)
from usertrack.engines.shortcut import Shortcut
from usertrack.queries.library import Query

REGISTRY: dict[str, Shortcut] = {
    cut.query_id: cut
    for cut in (
        *rollups.SHORTCUTS,
        rollups.SEGMENT_PERSONS,
        rollups.PATH_EVENTS,
        volume_rollups.SHORTCUT,
        daily_rollups.SHORTCUT,
        *email_lists.SHORTCUTS,
        sessions_filtered.SHORTCUT,
        *churn_rollups.SHORTCUTS,
        retention_rollups.SHORTCUT,
        first_starts.SHORTCUT,
        feature_times.SHORTCUT,
        *summaries.SHORTCUTS,
    )
}


def find(query: Query, entry: str, values: Mapping[str, Any] | None = None) -> Shortcut | None:
    """The shortcut that answers `query` where the engine takes `entry`, or None (the file
    then runs as written)."""
    cut = REGISTRY.get(query.id)
    if cut is None or cut.entry != entry or not cut.gate(query, values):
        return None
    return cut


def has_shortcut(query: Query) -> bool | None:
    """Whether the shortcut declared for `query`'s file takes it, its text being the shipped
    one's (`usertrack query --list`); None when none is declared."""
    cut = REGISTRY.get(query.id)
    if cut is None:
        return None
    origin = query.origin
    return origin is not None and origin.digest == cut.digest
