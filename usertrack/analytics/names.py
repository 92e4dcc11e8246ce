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
    """Every event name from `since` to `as_of`, with its count (asked once per --by-segment
    run: `_once`)."""

    def ask() -> dict[str, int]:
        result = ws.run_query(EVENT_NAMES, as_of, since=since)
        rows = result.as_dicts()
        return {str(r["event"]): int(r["events"]) for r in rows if r["event"] is not None}

    return _once(ws, (EVENT_NAMES, as_of, since), ask)


def property_keys(
    ws: Workspace, as_of: datetime, since: datetime, events: Iterable[str]
) -> dict[str, int]:
    """Every property key the `events` carried from `since` to `as_of`, with its count (asked
    once per --by-segment run: `_once`)."""
    chosen = list(events)

    def ask() -> dict[str, int]:
        result = ws.run_query(PROPERTY_KEYS, as_of, since=since, events=chosen)
        return {str(r["key"]): int(r["events"]) for r in result.as_dicts() if r["key"] is not None}

    return _once(ws, (PROPERTY_KEYS, as_of, since, tuple(chosen)), ask)


def _once(
    ws: Workspace, key: tuple[object, ...], ask: Callable[[], dict[str, int]]
) -> dict[str, int]:
    """`ask()`'s answer, kept for the rest of a --by-segment run (`ws.facts_cache`): the
    shipped files of these queries (`key[0]`) have no {filters} slot, so every group's run
    would ask PostHog the same again. A file edited to have one is asked in each run."""
    memo = getattr(ws, "facts_cache", None)
    if memo is None or "{filters}" in ws.library.get(str(key[0])).sql:
        return ask()
    if key not in memo:
        memo[key] = ask()
    return dict(memo[key])


def unknown(typed: Mapping[str, str], known: Mapping[str, int], what: str) -> tuple[str, ...]:
    """A note for each typed name (option or step label -> name) that `known` lacks:
    "--start 'signed_up' is no event in the range (did you mean 'user_signed_up'?)"."""
    from usertrack.rulefiles import did_you_mean

    return tuple(
        f"{label} {name!r} is no {what} in the range{did_you_mean(name, known, n=3)}"
        for label, name in typed.items()
        if name not in known
    )
