"""Every app-mirror shortcut (usertrack.engines.shortcut.MirrorShortcut), by the id of the
PostgreSQL file it answers: a DuckDB statement of usertrack's own over the local copy of the
app's tables (usertrack.engines.postgres.app_mirror) in place of a shipped queries/neon file.

Each is declared beside its statement, in the module that answers from the copy; this module
gathers them (the local engine's shortcuts of HogQL files are in usertrack.engines.local.shortcuts:
those modules sit below the reports, segments, alerts and analyses that hold these). A file
may have several, one per command that reads it its own way. `usertrack query --list` names
them, and tests/reports/test_mirror_shortcuts.py runs each against its file on the demo's database.
"""

from __future__ import annotations

from usertrack.act import alerts_runs
from usertrack.analytics.churn import app as churn_app
from usertrack.engines.shortcut import MirrorShortcut
from usertrack.queries.library import Query
from usertrack.reports import (
    accounts_copy,
    failing_runs_copy,
    failure_copy,
    tool_sections,
    weekly_copy,
)
from usertrack.segments import profile_copy

SHORTCUTS: tuple[MirrorShortcut, ...] = (
    weekly_copy.SHORTCUT,
    accounts_copy.SHORTCUT,
    failing_runs_copy.SHORTCUT,
    *failure_copy.SHORTCUTS,
    *profile_copy.SHORTCUTS,
    *alerts_runs.SHORTCUTS,
    *tool_sections.SHORTCUTS,
    *churn_app.SHORTCUTS,
)

MIRROR: dict[str, tuple[MirrorShortcut, ...]] = {}
for _cut in SHORTCUTS:
    MIRROR[_cut.query_id] = (*MIRROR.get(_cut.query_id, ()), _cut)
del _cut


def has_shortcut(query: Query) -> bool | None:
    """Whether the app-mirror statements declared for `query`'s file take it, its text being
    the shipped one's (`usertrack query --list`); None when none is declared."""
    cuts = MIRROR.get(query.id)
    if not cuts:
        return None
    return all(cut.gate(query) for cut in cuts)


def used_by(query_id: str) -> list[str]:
    """The commands that answer the file `query_id` from the copy, each once."""
    return list(dict.fromkeys(cut.used_by for cut in MIRROR.get(query_id, ())))
