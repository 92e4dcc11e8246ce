"""Names a user types (an event, a property) checked against what the data has.

A typo in a funnel step, a retention `--start` or a `--by` gives an empty answer that reads as
"no one did it". When an analysis finds no one for a typed name, these look the name up in the
range's events and say so, with the closest name there is (as `paths --from` does). Only then:
the lookup is one more query, and an answer with people in it needs none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

EVENT_NAMES = "posthog/event_names"
PROPERTY_KEYS = "posthog/property_keys"


def event_names(ws: Workspace, as_of: datetime, since: datetime) -> dict[str, int]:
    """Every event name from `since` to `as_of`, with its count."""

    def names() -> dict[str, int]:
        result = ws.run_query(EVENT_NAMES, as_of, since=since)
        return {
            str(r["event"]): int(r["events"]) for r in result.as_dicts() if r["event"] is not None
        }

    return _once(ws, EVENT_NAMES, (as_of, since), names)


def property_keys(
    ws: Workspace, as_of: datetime, since: datetime, events: Iterable[str]
) -> dict[str, int]:
    """Every property key the `events` carried from `since` to `as_of`, with its count."""
    chosen = list(events)

    def keys() -> dict[str, int]:
        result = ws.run_query(PROPERTY_KEYS, as_of, since=since, events=chosen)
        return {str(r["key"]): int(r["events"]) for r in result.as_dicts() if r["key"] is not None}

    return _once(ws, PROPERTY_KEYS, (as_of, since, tuple(chosen)), keys)


def _once(
    ws: Workspace, query_id: str, args: tuple[object, ...], lookup: Callable[[], dict[str, int]]
) -> dict[str, int]:
    """`lookup()`; within a --by-segment run (`scope.facts_cache`) once for all the groups when the
    query takes no filter (no `{filters}` slot: no group's, no --where), as its answer is then
    the same in every group's run (each group's note names what the whole answer's does)."""
    cache = ws.scope.facts_cache
    if cache is None or "{filters}" in ws.library.get(query_id).sql:
        return lookup()
    key = ("names", query_id, args)
    if key not in cache:
        cache[key] = lookup()
    return dict(cache[key])


def unknown(typed: Mapping[str, str], known: Mapping[str, int], what: str) -> tuple[str, ...]:
    """A note for each typed name (option or step label -> name) that `known` lacks:
    "--start 'signed_up' is no event in the range (did you mean 'user_signed_up'?)"."""
    from usertrack.core.rulefiles import did_you_mean

    return tuple(
        f"{label} {name!r} is no {what} in the range{did_you_mean(name, known, n=3)}"
        for label, name in typed.items()
        if name not in known
    )
