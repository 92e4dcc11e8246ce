"""How a funnel's steps are matched beyond the ordered funnel of usertrack.analytics.funnel.run:
PostHog's funnelOrderType (strict, any order: its "unordered") and exclusion steps, per person
(docs/metrics.md, "Funnel")."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from usertrack.core.errors import UsageError

ORDERS = ("ordered", "strict", "any")
EXCLUDED = -1  # the rank of an exclusion event (person_progress)
OTHER = -2  # the rank of any other event (strict funnels read every event)


@dataclass(frozen=True)
class Shape:
    """How the steps are matched (PostHog's funnelOrderType: ordered, strict, or any order,
    its "unordered") and the exclusion steps: (EVENT or EVENT:PROPERTY=VALUE, from step, to
    step), 1-based."""

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
    """`--exclude EVENT` (between step 1 and the last), `EVENT:PROPERTY=VALUE` (only the
    events whose PROPERTY is VALUE, as a step is narrowed: PostHog's exclusion entity with a
    property filter), either followed by `:FROM-TO` (step numbers). The exclusion is kept as
    its text without the range (usertrack.analytics.funnel.step_syntax.split_step reads it)."""
    from usertrack.analytics.funnel.step_syntax import split_step, step_math

    events = {split_step(step)[0] for step in steps}
    found = []
    for text in texts or ():
        name, _, between = text.strip().rpartition(":")
        if not name or not re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", between):
            name, first, last = text.strip(), 1, len(steps)
        else:
            first, last = (int(x) for x in between.split("-"))
        if step_math(name.strip())[0] is not None:
            raise UsageError(f"--exclude {text!r}: a first-time prefix is for steps only")
        event, prop, value = split_step(name.strip())
        if not event.strip():
            raise UsageError("--exclude: an empty event name")
        if event in events:
            # PostHog refuses an exclusion equal to a step or matching all its events
            # (funnel_validation_rules.py, ValidateFunnelExclusions); one event is never both.
            raise UsageError(f"--exclude {event!r} is a step of this funnel, not an exclusion")
        if not 1 <= first < last <= len(steps):
            raise UsageError(
                f"--exclude {text!r}: FROM-TO must be step numbers with 1 <= FROM < TO <="
                f" {len(steps)}"
            )
        found.append((event if prop is None else f"{event}:{prop}={value}", first, last))
    return tuple(found)


def later_steps(steps: list[str]) -> list[tuple[int, ...]]:
    """For each step index i, the steps after step 1 (indexes >= 1) whose event is steps[i]'s,
    furthest first: where an event of that name may advance an attempt. An event name is
    known by the index of its first step (its rank), so only those indexes are looked up."""
    return [
        tuple(sorted((k for k, other in enumerate(steps) if other == name and k > 0), reverse=True))
        for name in steps
    ]


def person_progress(
    events: Sequence[tuple[int, int]],
    later: Sequence[tuple[int, ...]],
    window: int,
    starts: Collection[int] = (0,),
    entry: tuple[int, int] | None = None,
) -> list[int]:
    """One person's step times: the furthest any attempt reached, with the times of the first
    attempt that reached it. An empty list when no step-1 event. `entry` (from, to): only a
    step-1 event at from <= time < to starts an attempt (a --trend period's).

    `events` are (time, rank), oldest first, times in microseconds and rank the index of the
    event name's first step (`later_steps`). Events of one timestamp come lower step first (the
    caller sorts by rank), so a step may share the previous step's timestamp; each event fills
    at most one step: the furthest it can advance, else a new attempt when it is step 1.
    """
    attempts: list[list[int]] = []
    for when, rank in events:
        filled = False
        for k in later[rank]:
            # The most recent attempt that has reached exactly step k-1 (a list index: k).
            for attempt in reversed(attempts):
                if len(attempt) == k:
                    if when - attempt[0] <= window:
                        attempt.append(when)
                        filled = True
                    break
            if filled:
                break
        if not filled and rank in starts and (entry is None or entry[0] <= when < entry[1]):
            attempts.append([when])
    # max() keeps the first of equals: the oldest attempt to reach the furthest step wins.
    return max(attempts, key=len, default=[])


def shaped_progress(
    events: Sequence[tuple[int, int]],
    later: Sequence[tuple[int, ...]],
    window: int,
    shape: Shape,
    spans: Sequence[tuple[int, int]],
    starts: Collection[int] = (0,),
    entry: tuple[int, int] | None = None,
) -> list[int] | None:
    """person_progress (`entry` as there) for a strict funnel or one with exclusion steps (PostHog's
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
            if moved is None and rank in starts and (entry is None or entry[0] <= when < entry[1]):
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


def unordered_progress(events: Sequence[tuple[int, int]], window: int, n: int) -> list[int] | None:
    """A funnel in any order, as PostHog's unordered funnel counts it (funnel-udf/src/
    unordered_steps.rs, `loop_prop_val`, `process_event` and `update_max_step`): each of the
    person's step events is kept, by step, while within the window of the newest; an event
    first drops the kept events it is past the window of (the oldest first), noting before
    each drop the most distinct steps kept so far, with the oldest kept event of each; an
    exclusion event (rank EXCLUDED) then drops every kept event without noting them
    (posthog/hogql_queries/insights/funnels/funnel_unordered.py: "If you see an exclusion
    event => you're discarded"). The last event notes the steps kept after it, and a funnel
    with all `n` steps kept is noted at the next event. The person reaches the most steps
    noted, at the sorted times of those oldest events; None when none was (PostHog's UDF
    answers -1 and `funnel_udf.py` keeps `step_reached >= 0` only: out of the funnel)."""
    kept: dict[int, deque[int]] = {}  # rank: the times kept, oldest first
    best: list[int] = []
    for i, (when, rank) in enumerate(events):
        while kept:
            oldest = min(sorted(kept), key=lambda r: kept[r][0])  # ties: the lower step
            if len(kept) < n and kept[oldest][0] + window >= when:
                break
            if len(kept) > len(best):
                best = sorted(times[0] for times in kept.values())
            kept[oldest].popleft()
            if not kept[oldest]:
                del kept[oldest]
        if rank == EXCLUDED:
            kept = {}
        elif rank >= 0:
            kept.setdefault(rank, deque()).append(when)
        if len(best) == n:
            break
        if i == len(events) - 1 and len(kept) > len(best):
            best = sorted(times[0] for times in kept.values())
    return best or None


def unordered_periods(
    events: Sequence[tuple[int, int]], window: int, n: int, period: Callable[[int], Any]
) -> dict[Any, int]:
    """--trend of a funnel in any order, as PostHog's unordered funnel trends count it
    (funnel-udf/src/unordered_trends.rs, `loop_prop_val`, `oldest_event_loop` and
    `update_max_step`): events kept and dropped as in unordered_progress, and before each drop
    the distinct steps kept noted for the period (`period` of a time) of the event dropped,
    the oldest; the last event drops every kept event, noting each. For each period that some
    dropped event is in: the most steps noted for it (a person enters there, and converts with
    all `n`)."""
    kept: dict[int, deque[int]] = {}
    found: dict[Any, int] = {}

    def drop(when: int, last: bool) -> None:
        while kept:
            oldest = min(sorted(kept), key=lambda r: kept[r][0])  # ties: the lower step
            if not (last or len(kept) >= n or kept[oldest][0] + window < when):
                break
            key = period(kept[oldest][0])
            found[key] = max(found.get(key, 0), len(kept))
            kept[oldest].popleft()
            if not kept[oldest]:
                del kept[oldest]

    for i, (when, rank) in enumerate(events):
        drop(when, False)
        if rank == EXCLUDED:
            kept.clear()
        elif rank >= 0:
            kept.setdefault(rank, deque()).append(when)
        if i == len(events) - 1:
            drop(when, True)
    return found


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


# Per step or exclusion event (`$named`) of a person, the latest other event since their step
# or exclusion event before it (the person's events by time; an other event sorts first among
# a timestamp's events, so one at a step's time is before it): the one event of each run of
# other events that strict_events keeps, where a run ends before a step or exclusion event.
# Only the other events from the person's first step or exclusion event to their last can be
# kept: each other event is matched to its person's span first (one row a person), and only
# those inside it (77,000 of 2.77 M at 100,000 users) to the person's steps.
_BREAKS_SQL = """
WITH s AS (
    SELECT person_id, epoch_us(timestamp) AS t FROM ({facts}) AS f
    WHERE coalesce(list_contains($named, event), false)),
spans AS (SELECT person_id, min(t) AS lo, max(t) AS hi FROM s GROUP BY person_id),
o AS (
    SELECT o.person_id, o.t
    FROM (SELECT person_id, epoch_us(timestamp) AS t FROM ({facts}) AS f
          WHERE NOT coalesce(list_contains($named, event), false)) AS o
    JOIN spans AS p ON p.person_id IS NOT DISTINCT FROM o.person_id AND o.t >= p.lo
        AND o.t <= p.hi),
gaps AS (
    SELECT person_id, t,
           lag(t, 1, -9223372036854775807) OVER (PARTITION BY person_id ORDER BY t) AS before
    FROM s)
SELECT g.person_id, make_timestamp(max(o.t)) AS timestamp
FROM o JOIN gaps AS g ON g.person_id IS NOT DISTINCT FROM o.person_id AND o.t > g.before
    AND o.t <= g.t
GROUP BY g.person_id, g.t
"""


def strict_facts(
    con: Any, ws: Any, query_id: str, as_of: Any, schema: Any, params: dict[str, Any]
) -> bool:
    """`facts` for a strict funnel on the local engine: the step and exclusion events of the
    range (its query asked for those alone) and, as other events with no name, the ones of
    the rest that strict_events keeps (_BREAKS_SQL, worked out in the events store), rather
    than every event of the range through Arrow (2.9 M at 100,000 users: most of the
    command's time and memory). The same progress for every person; `facts` then holds no
    other event's breakdown or email. False, nothing loaded, where the source cannot (any
    source but the local engine, a group's run of --by-segment)."""
    from usertrack.analytics.common import facts_bound, load_facts

    query, values, keep = facts_bound(ws, query_id, as_of, schema, **{**params, "every": 1})
    source = ws.sources[query.folder]
    if not source.has_facts or keep is not None:
        return False
    breaks = source.facts_reduced(
        source.facts_query(query), values, _BREAKS_SQL, {"named": params["steps"]}
    )
    load_facts(con, ws, query_id, as_of, "facts", schema, **{**params, "every": 0})
    con.register("_breaks", breaks)
    con.execute(
        "INSERT INTO facts (person_id, timestamp, event, breakdown, email)"
        " SELECT person_id, timestamp, NULL, '', '' FROM _breaks"
    )
    con.unregister("_breaks")
    return True


def one_pass_progress(con: Any, n: int, limit: int, rows: str) -> None:
    """`_fast` (person_id) and `_fast_progress` (progress's columns): the persons whose step
    events (`rows`), by time then step, are the steps 0, 1, ..., m-1 once each (every step its
    own event), and their progress: the step times within `limit` microseconds of the first.

    One grouping, no list sorted per person: a person's ranks are 0..m-1 once each when m
    events set m distinct bits and the greatest is m-1 (a funnel has at most 20 steps); in that
    order by time then step when each step's time is at or after the one before's (a tie puts
    the lower step first). The times within `limit` of the first are then a prefix."""
    firsts = ", ".join(f"max(t) FILTER (WHERE rank = {i}) AS r{i}" for i in range(n))
    ordered = " AND ".join(f"(r{i} IS NULL OR r{i - 1} <= r{i})" for i in range(1, n)) or "true"
    within = [f"r{i} - r0 <= $limit" for i in range(n)]
    furthest = " + ".join(f"CAST(coalesce({w}, false) AS INTEGER)" for w in within)
    times = ", ".join(
        f"make_timestamp(CASE WHEN {w} THEN r{i} END) AS t{i + 1}" for i, w in enumerate(within)
    )
    con.execute(
        f"CREATE TEMP TABLE _fast_progress AS SELECT person_id,"
        f" CAST({furthest} AS INTEGER) AS furthest, {times} FROM ("
        f" SELECT person_id, count(*) AS m, bit_or(CAST(1 AS BIGINT) << rank) AS seen,"
        f" max(rank) AS last, {firsts}"
        f" FROM {rows} WHERE person_id IS NOT NULL GROUP BY person_id"
        f") WHERE bit_count(seen) = m AND last = m - 1 AND {ordered}",
        {"limit": limit},
    )
    con.execute("CREATE TEMP TABLE _fast AS SELECT person_id FROM _fast_progress")


def strict_progress(con: Any, n: int, limit: int, rows: str) -> None:
    """`_fast` (person_id) and `_fast_progress` (progress's columns) of a strict funnel whose
    steps are each their own event, with no exclusion step, for every person of `rows`
    (strict_events') but NULL, worked out in DuckDB to shaped_progress's end: every step-1
    event starts an attempt and ends the others, which then takes each next event while that
    is its next step within `limit` microseconds of its start (any other ends it); the person
    counts at the furthest step, by the oldest attempt that got there."""
    times = ", ".join(
        f"make_timestamp(CASE WHEN len >= {i} THEN ts[{i}] END) AS t{i}" for i in range(1, n + 1)
    )
    con.execute(
        f"""CREATE TEMP TABLE _fast_progress AS
        WITH r AS (
            SELECT person_id, t, rank, sum(CAST(rank = 0 AS INTEGER)) OVER (PARTITION BY
                person_id ORDER BY t, rank ROWS UNBOUNDED PRECEDING) AS attempt
            FROM {rows} WHERE person_id IS NOT NULL),
        s AS (
            SELECT person_id, attempt, t, rank,
                   row_number() OVER w - 1 AS pos, first_value(t) OVER w AS start
            FROM r WHERE attempt > 0
            WINDOW w AS (PARTITION BY person_id, attempt ORDER BY t, rank)),
        a AS (
            SELECT person_id, attempt, list(t ORDER BY pos) AS ts,
                   coalesce(min(pos) FILTER (WHERE rank <> pos OR t - start > $limit),
                            count(*)) AS len
            FROM s GROUP BY person_id, attempt)
        SELECT person_id, CAST(len AS INTEGER) AS furthest, {times}
        FROM (SELECT *, row_number() OVER (PARTITION BY person_id ORDER BY len DESC, attempt)
                  AS k FROM a)
        WHERE k = 1""",
        {"limit": limit},
    )
    con.execute("CREATE TEMP TABLE _fast AS SELECT person_id FROM _fast_progress")
