"""A metric trigger's figures from the events (a trend, a funnel's conversion), kept beside the
events store they were counted from (usertrack.engines.local.storecache) and read back while the
store is unchanged.

The activation funnel's 8 weeks and the DAU trend's 15 days are most of an alerts pass's own
CPU, and their answer depends on nothing but the store and what names it here: the rule, the
windows it counts (their first day and the end of the last: every pass of one day or week
counts the same ones, whatever its moment), the query library's PostHog files as they read
now, the exclusion pattern and usertrack's code (every module's text, hashed once a process).
A pass with a filter on the events or the persons (none today), or a source that keeps no
answers (PostHog's API), counts every time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.core.code_hash import code_hash
from usertrack.workspace import keeps_answers

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

Series = tuple[list[float | None], tuple[str, ...]]


def kept_series(
    ws: Workspace, rule: Any, windows: tuple[datetime, datetime], count: Callable[[], Series]
) -> Series:
    """`count()`'s figures and notes, or the ones kept for this store, rule (a
    metric_alerts.MetricRule) and `windows` (the first one's start and the last one's end, as
    metric_alerts.extent gives them)."""
    keeping = keeps_answers(ws)
    if keeping is None:
        return count()
    source, library = keeping
    kept = source.kept
    from usertrack.segments.profiles import exclude_pattern

    what = repr(("metric alert series", repr(rule), code_hash(), library))
    since, end = windows
    values = {
        "since": since.isoformat(),
        "end": end.isoformat(),
        "exclude_pattern": exclude_pattern(ws.rules.exclude),
    }
    found = kept(what, values, text=True)
    if found is not None and found[1] is not None:
        read = _read(found[1])
        if read is not None:
            return read
    figures, notes = count()
    if found is not None:
        source.keep(found[0], _text(figures, notes))
    return figures, notes


def _text(figures: list[float | None], notes: tuple[str, ...]) -> str:
    """The figures and notes as they are kept: JSON, read back without pyarrow (its import
    alone is a good part of a pass that reads them)."""
    import json

    numbers = [None if v is None else float(v) for v in figures]
    return json.dumps({"figures": numbers, "notes": list(notes)})


def _read(text: str) -> Series | None:
    """`_text`'s figures and notes, or None when the text is not theirs (damaged: counted
    again)."""
    import json

    try:
        doc = json.loads(text)
        figures, notes = doc["figures"], doc["notes"]
    except (ValueError, TypeError, KeyError):
        return None
    if not (isinstance(figures, list) and isinstance(notes, list)):
        return None
    if not all(v is None or type(v) is float for v in figures):
        return None
    if not all(isinstance(n, str) for n in notes):
        return None
    return figures, tuple(notes)
