"""Trends' notes on names: an EVENT with no event in the range, a --by none of the events
carried, an -m property the events lack (each with the closest name; names.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from usertrack.analytics.retention.options import breakdown_of

if TYPE_CHECKING:
    from usertrack.analytics.common import DateRange
    from usertrack.analytics.trends.maths import Math, Series
    from usertrack.workspace import Workspace


def unknown_names(
    ws: Workspace,
    span: DateRange,
    events: list[str],
    series: list[Series],
    math: Math,
    by: str | None,
) -> tuple[str, ...]:
    """Notes for an EVENT with no event at all in the range, and for a --by none of the events
    carried (names.py: looked up only then), over an answer's `events` and `series` counted
    with `math` and broken down by `by`."""
    from usertrack.analytics.names import event_names, property_keys, unknown

    notes: tuple[str, ...] = ()
    empty = {e: e for e in events if not any(any(s.data) for s in series if s.event == e)}
    known: dict[str, int] = {}
    if empty:
        known = event_names(ws, span.end, span.start)
        for name in empty:
            notes += unknown({"EVENT": name}, known, "event")
        # Events that happened but count nothing under `-m avg:PROP`: PROP a typo, say so.
        happened = [e for e in empty if e in known]
        if math.property and happened:
            keys = property_keys(ws, span.end, span.start, happened)
            notes += unknown({"-m": math.property}, keys, "property of these events")
    present = [e for e in events if e not in empty]
    by = by if by is not None and not breakdown_of(by)[1] else None
    if by is not None and present and {s.breakdown for s in series} <= {""}:  # an event's
        keys = property_keys(ws, span.end, span.start, present)
        notes += unknown({"--by": by}, keys, "property of these events")
    return notes
