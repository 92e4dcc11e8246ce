"""How a funnel's steps are matched beyond the ordered funnel of usertrack.analytics.funnel:
PostHog's funnelOrderType (strict, any order: its "unordered") and exclusion steps, per person
(docs/metrics.md, "Funnel")."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from usertrack.errors import UsageError

ORDERS = ("ordered", "strict", "any")
EXCLUDED = -1  # the rank of an exclusion event (person_progress)
OTHER = -2  # the rank of any other event (strict funnels read every event)


@dataclass(frozen=True)
class Shape:
    """How the steps are matched (PostHog's funnelOrderType: ordered, strict, or any order,
    its "unordered") and the exclusion steps: (event, from step, to step), 1-based."""

    order: str = "ordered"
    exclusions: tuple[tuple[str, int, int], ...] = ()


PLAIN = Shape()


def parse_order(text: str) -> str:
    value = text.strip().lower()
    value = "any" if value == "unordered" else value
    if value not in ORDERS:
        raise UsageError(f"--order {text!r} is not one of {', '.join(ORDERS)}")
    return value


def parse_exclusions(
    texts: Sequence[str] | None, steps: list[str]
) -> tuple[tuple[str, int, int], ...]:
    """`--exclude EVENT` (between step 1 and the last) or `EVENT:FROM-TO` (step numbers)."""
    found = []
    for text in texts or ():
        name, _, between = text.strip().rpartition(":")
        if not name or not re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", between):
            name, first, last = text.strip(), 1, len(steps)
        else:
            first, last = (int(x) for x in between.split("-"))
        if not name:
            raise UsageError("--exclude: an empty event name")
        if name in steps:
            raise UsageError(f"--exclude {name!r} is a step of this funnel, not an exclusion")
        if not 1 <= first < last <= len(steps):
            raise UsageError(
                f"--exclude {text!r}: FROM-TO must be step numbers with 1 <= FROM < TO <="
                f" {len(steps)}"
            )
        found.append((name, first, last))
    return tuple(found)


def shaped_progress(
    events: Sequence[tuple[int, int]],
    later: Sequence[tuple[int, ...]],
    window: int,
    shape: Shape,
    spans: Sequence[tuple[int, int]],
    starts: Collection[int] = (0,),
) -> list[int] | None:
    """person_progress for a strict funnel or one with exclusion steps (PostHog's
    funnel-udf/src/steps.rs, `process_event` and `loop_prop_val`); None for a person excluded
    from the funnel.

    An exclusion event (rank EXCLUDED) within the window of an attempt's step 1, once the
    attempt has reached step FROM and not yet step TO (`spans`: (FROM, TO) pairs), excludes
    that attempt. An excluded attempt may still take one more step (within its window), as
    PostHog's UDF carries the excluded state into the furthest step reached without storing
    it for the step after; then it advances no further. An exclusion event sharing its
    timestamp with an event of another rank is not read (PostHog's UDF leaves exclusions out
    of a timestamp's events of different steps). Strict: any event that advances no attempt
    (another event, rank OTHER, and an exclusion event included) ends every attempt in
    progress, and one that does ends all the others, so the steps must follow each other
    with nothing between. The person counts at the furthest step reached, by the oldest
    attempt that is not excluded; when every attempt that got that far is excluded, the
    person is left out of the funnel."""
    attempts: list[list[int]] = []
    out: set[int] = set()  # excluded attempts
    open_: set[int] = set()  # attempts that may still advance
    last: set[int] = set()  # excluded attempts that may take one more step
    mixed = {
        when for (when, rank), (before, other) in zip(events[1:], events, strict=False)
        if when == before and rank != other
    }  # fmt: skip
    for when, rank in events:
        if rank == EXCLUDED:
            if when not in mixed:
                for i, attempt in enumerate(attempts):
                    if (
                        i not in out
                        and when - attempt[0] <= window
                        and any(first <= len(attempt) < end for first, end in spans)
                    ):
                        out.add(i)
                        if i in open_:
                            open_.discard(i)
                            last.add(i)
            if shape.order == "strict":
                open_, last = set(), set()
            continue
        moved = None
        if rank >= 0:
            for k in later[rank]:
                for i in range(len(attempts) - 1, -1, -1):
                    attempt = attempts[i]
                    if len(attempt) == k and (i in open_ or i in last):
                        if when - attempt[0] <= window:
                            attempt.append(when)
                            moved = i
                            last.discard(i)
                        break
                if moved is not None:
                    break
            if moved is None and rank in starts:
                attempts.append([when])
                moved = len(attempts) - 1
                open_.add(moved)
        if shape.order == "strict":
            open_ = {moved} if moved is not None and moved not in out else set()
            last = set()
    if not attempts:
        return []
    furthest = max(len(a) for a in attempts)
    kept = [a for i, a in enumerate(attempts) if len(a) == furthest and i not in out]
    return kept[0] if kept else None


def unordered_progress(events: Sequence[tuple[int, int]], window: int) -> list[int]:
    """A funnel in any order (PostHog's unordered funnel, funnel-udf/src/unordered_steps.rs):
    from each step event, the distinct steps done within the window after it; the person
    reaches as many steps as the most any such start gives (the earliest start of those), at
    the sorted times of the first event of each."""
    best: list[int] = []
    for i, (start, rank) in enumerate(events):
        if rank < 0:
            continue
        firsts: dict[int, int] = {}
        for when, other in events[i:]:
            if when - start > window:
                break
            if other >= 0:
                firsts.setdefault(other, when)
        if len(firsts) > len(best):
            best = sorted(firsts.values())
    return best


def strict_events(con: Any, starts: Collection[int]) -> str:
    """`_strict_events`: the rows of `_step_events` that a strict funnel's shaped_progress
    reads to the same end, far fewer (every event of the range comes for a strict funnel, most
    of them other events). Before a person's first step-1 event (by time, then rank) no event
    changes anything, nor does any after their last step or exclusion event, and a person with
    no step-1 event is in no funnel. Of a run of other events (rank OTHER) the first ends every
    attempt in progress and the rest would end them again: the run's last is kept (an other
    event sorts first among a timestamp's events, so the last is the one that can share its
    timestamp with the next event, as the exclusions' rule reads)."""
    con.execute(
        f"""CREATE TEMP TABLE _strict_events AS
        WITH spans AS (
            SELECT person_id, min(t) FILTER (WHERE list_contains($starts, rank)) AS lo,
                   max(t) AS hi
            FROM _step_events WHERE rank <> {OTHER} GROUP BY person_id),
        inside AS (
            SELECT e.person_id, e.t, e.rank
            FROM _step_events e JOIN spans s ON s.person_id IS NOT DISTINCT FROM e.person_id
            WHERE e.t >= s.lo AND e.t <= s.hi)
        SELECT person_id, t, rank FROM (
            SELECT person_id, t, rank,
                   lead(rank) OVER (PARTITION BY person_id ORDER BY t, rank) AS after
            FROM inside)
        WHERE rank <> {OTHER} OR after IS DISTINCT FROM {OTHER}""",
        {"starts": sorted(starts)},
    )
    return "_strict_events"
