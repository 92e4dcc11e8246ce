"""`--persons CELL`: the people behind one number of an analysis (PostHog's "actors").

Each analysis names its cells its own way: a funnel step's converters or droppers (`3`,
`3:dropped`), a retention cohort's period (`2026-11-09:week2`), a trends point (`2026-11-20`),
a lifecycle status of a week (`dormant`, `2026-11-16:new`), a paths edge (`/pricing:/signup`).
The analysis is worked out first, so a cell outside its answer is refused (exit 2) with the
cells that exist; then the cell's persons come from the same facts queries, kept to the same
people (`--where`, `--who`, `--segment`: usertrack.analytics.by_segment), worked out as the
analysis works out its figure (docs/metrics.md, "The people behind a number"). Each person is
listed with their email (as `--segment` knows them: queries/posthog/segment_persons.sql) and,
when the app's database is there, their profile columns (queries/join/profile.sql, built by
usertrack.analytics.actors.profiles), so that `usertrack user EMAIL` opens any of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.analytics.actors.kept_cells import kept_people
from usertrack.analytics.retention.render import cohort_stamp
from usertrack.core.clock import naive_utc
from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    from usertrack.analytics.common import DateRange
    from usertrack.analytics.paths.run import Paths
    from usertrack.analytics.trends.run import Trends
    from usertrack.workspace import Workspace

# The profile columns the table and Markdown show beside each person (JSON and csv: all).
SHOWN = ("subscription_status", "credits", "run_count", "run_success_rate", "days_since_active")
STATUSES = ("new", "returning", "resurrecting", "dormant")
MAX_LISTED_CELLS = 12  # how many existing cells an error names


@dataclass
class Actors:
    """The people of one cell: `persons` (person_id, email, then `columns`), by email."""

    as_of: datetime
    command: str
    cell: str
    about: str  # what the cell is, for people
    persons: list[dict[str, Any]]
    columns: list[str] = field(default_factory=list)  # profile columns of each person
    notes: tuple[str, ...] = ()
    # each person's profile values (in `columns`' order), not yet in their objects: JSON
    # writes them column by column (actors_json), without an object per person
    profiles: list[tuple[Any, ...]] | None = None
    # the profiles where they still are (actors_profiles.ProfileRows), read by the first format
    # that needs them
    pending: Any = None

    def profile_rows(self) -> list[tuple[Any, ...]] | None:
        """`profiles`, read from `pending` if they are not yet."""
        if self.pending is not None and self.profiles is None:
            self.profiles = self.pending.rows(self.persons)
        return self.profiles

    def people(self) -> list[dict[str, Any]]:
        """`persons`, each with their profile columns."""
        rows = self.profile_rows()
        if rows is not None:
            self.pending, self.profiles = None, None
            for person, row in zip(self.persons, rows, strict=True):
                person.update(zip(self.columns, row, strict=True))
        return self.persons

    def document(self, persons: bool = True) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "command": self.command,
            "cell": self.cell,
            "about": self.about,
            "count": len(self.persons),
            "columns": ["person_id", "email", *self.columns],
            "persons": self.people() if persons else [],
        }


def refuse(option: str, text: str, cells: list[str]) -> UsageError:
    """The cell asked for and those that exist (page paths, event names: data) quoted apart
    from the words (usertrack.core.errors.UsertrackError)."""
    shown = cells[:MAX_LISTED_CELLS]
    if not cells:
        listed = "none: the answer is empty"
    elif len(cells) > len(shown):
        listed = f"{{cells}}, ... ({len(cells)} in all)"
    else:
        listed = "{cells}"
    return UsageError(
        f"--persons {{cell!r}} is no cell of this {option} (cells: {listed})",
        data={"cell": text, "cells": shown},
    )


def listed_persons(ws: Workspace, as_of: datetime, ids: set[str]) -> list[dict[str, Any]]:
    """The persons `ids` with their emails (segment_persons.sql's: '' without one), by email
    (those without one last, by person_id). Only their emails are read where the events store
    can keep to them (segment_persons.persons_of), not everyone's."""
    from usertrack.analytics.segment_persons import persons_of

    rows = persons_of(ws, as_of, ids)
    emails: dict[str, str] = {}
    for person_id, email in rows:
        if person_id is not None and str(person_id) in ids:
            emails[str(person_id)] = email or ""
    # sorted as pairs (no key function called per person), then the persons without an email
    named = sorted((email, p) for p, email in emails.items() if email)
    listed = [{"person_id": p, "email": email} for email, p in named]
    unnamed = ids.difference([p for _, p in named])
    listed += [{"person_id": p, "email": ""} for p in sorted(unnamed)]
    return listed


def cell_people(
    ws: Workspace, as_of: datetime, cell: tuple[Any, ...], find: Callable[[], set[str]]
) -> list[dict[str, Any]]:
    """The people of `cell` (`find()`: their ids) as listed_persons lists them, kept for the
    same cell asked again (usertrack.analytics.actors.kept_cells)."""
    listing = functools.partial(listed_persons, ws, as_of)
    return kept_people(ws, cell, lambda: (find(), {}), listing)[0]


# --------------------------------------------------------------------------------------------
# funnel: `N` or `N:converted` (reached step N), `N:dropped` (reached N-1, not N)


def funnel_cell(steps: list[str], text: str) -> tuple[int, str]:
    cells = [str(i) for i in range(1, len(steps) + 1)]
    cells += [f"{i}:dropped" for i in range(2, len(steps) + 1)]
    number, _, kind = text.strip().partition(":")
    kind = kind.strip().lower() or "converted"
    if number.strip().isdigit() and kind in ("converted", "dropped"):
        index = int(number)
        if 1 <= index <= len(steps) and not (kind == "dropped" and index == 1):
            return index, kind
    raise refuse("funnel", text, cells)


def funnel_actors(
    ws: Workspace,
    as_of: datetime,
    span: DateRange,
    steps: list[str],
    window: timedelta,
    text: str,
    shape: Any = None,
    labels: list[str | None] | None = None,
) -> Actors:
    """A step's people: reached it (`N`: its persons), or dropped there (`N:dropped`: reached
    the step before as their furthest, its drop-off), as the funnel counts them. `labels`:
    the steps' names (a steps file's), said instead of their events."""
    from usertrack.analytics.funnel import run as funnels
    from usertrack.checks.sandbox import release

    index, kind = funnel_cell(steps, text)
    shape = shape or funnels.PLAIN

    def find() -> set[str]:
        con = funnels.load_progress(ws, steps, as_of, span, window, None, None, shape)
        try:
            where = "furthest >= ?" if kind == "converted" else "furthest = ?"
            number = index if kind == "converted" else index - 1
            return {
                str(r[0])
                for r in con.execute(
                    f"SELECT person_id FROM progress WHERE {where} AND person_id IS NOT NULL",
                    [number],
                ).fetchall()
            }
        finally:
            release(con)

    cell = ("funnel", as_of, span.start, span.end, steps, window, shape, index, kind)
    people = cell_people(ws, as_of, cell, find)
    shown = [
        label or step for step, label in zip(steps, labels or [None] * len(steps), strict=True)
    ]
    about = (
        f"step {index} {shown[index - 1]}: reached it"
        if kind == "converted"
        else f"step {index} {shown[index - 1]}: dropped there (reached {shown[index - 2]})"
    )
    return Actors(as_of, "funnel", f"{index}:{kind}", about, people)


# --------------------------------------------------------------------------------------------
# retention: `COHORT` (its people) or `COHORT:PERIOD_N` (came back in its Nth period after)

_PERIOD = re.compile(r"^(?:(hour|day|week|month)s?\s*)?(\d+)$")


@dataclass
class RetentionCells:
    """A retention's cells: its cohorts, each with how many periods it is followed (period 0
    included: retention.cohort_periods, whatever the data), and what its people are read with."""

    period: str
    mode: str
    start_event: str
    return_event: str | None
    cohorts: list[tuple[date, int]]
    cumulative: bool = False  # --cumulative: back in period k or any later one
    min_occurrences: int = 1  # --min-occurrences: a period's return is this many events
    # --start / --return EVENT:PROPERTY=VALUE: the query files' start_property, start_value,
    # return_property and return_value (retention.run.Narrowing.values)
    narrowing: dict[str, str] = field(default_factory=dict)
    week_start: str = "monday"  # --week-start: the day weekly cohorts start on


_HOUR = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?Z?")


def _cohort_of(text: str, period: str) -> date | None:
    """The cohort a cell names (an hour's a naive UTC datetime: DATE, DATETHH:MM[:SS]), or
    None."""
    try:
        if period == "hour":
            if not _HOUR.fullmatch(text.strip()):  # fromisoformat reads `08:00:00:1` too
                return None
            return naive_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def retention_cell(result: RetentionCells, text: str) -> tuple[date, int]:
    """The cohort and period k of `COHORT` or `COHORT:PERIOD_N`; an hour's cohort holds colons
    of its own (`2026-11-21T14:00:hour2`), so the period is read after the last one."""
    cells = []  # each cohort with the range of its periods begun
    for start, periods in result.cohorts:
        last = periods - 1
        later = f"[:{result.period}1-{last}]" if last > 1 else f"[:{result.period}1]"
        cells.append(cohort_stamp(start, result.period) + (later if last else ""))
    named, later = _cohort_of(text, result.period), ""
    if named is None:
        first, _, later = text.strip().rpartition(":")
        named = _cohort_of(first, result.period)
    if named is None:
        raise refuse("retention", text, cells)
    start = named
    k = 0
    if later.strip():
        m = _PERIOD.match(later.strip().lower())
        if m is None or (m.group(1) and m.group(1) != result.period):
            raise refuse("retention", text, cells)
        k = int(m.group(2))
    followed = next((n for s, n in result.cohorts if s == start), None)
    if followed is None or k >= followed:
        raise refuse("retention", text, cells)
    return start, k


def _narrowed(result: RetentionCells, only: str = "") -> dict[str, str]:
    """The cells' narrowing parameters (those starting with `only`), each '' when not given."""
    names = ("start_property", "start_value", "return_property", "return_value")
    return {n: result.narrowing.get(n, "") for n in names if n.startswith(only)}


def retention_actors(ws: Workspace, as_of: datetime, result: RetentionCells, text: str) -> Actors:
    """A cohort's people (period 0), or those of it who came back in its k-th period after,
    as retention counts them (docs/metrics.md, "Retention"): with --cumulative, those who
    came back in that period or any later one begun by as_of."""
    from usertrack.analytics.common import FactsTable, next_period, open_facts_tables
    from usertrack.analytics.weeks import instant, start_of, trunc_sql

    start, k = retention_cell(result, text)
    period, mode = result.period, result.mode
    since = instant(start)
    facts = [
        FactsTable(
            "posthog/retention_activity",
            "activity",
            {"person_id": "VARCHAR", "period_start": "TIMESTAMP" if period == "hour" else "DATE",
             "did_start": "BIGINT", "did_return": "BIGINT"},
            {"since": since, "period": period, "start_event": result.start_event,
             "return_event": result.return_event or "",
             "min_occurrences": result.min_occurrences, **_narrowed(result),
             "week_start": result.week_start},
        )
    ]  # fmt: skip
    if mode == "first-time":
        facts.append(
            FactsTable(
                "posthog/retention_first_starts",
                "firsts",
                {"person_id": "VARCHAR", "first_start": "TIMESTAMP"},
                {"since": since, "start_event": result.start_event, **_narrowed(result, "start_")},
            )
        )
    back = next_period(start, period, k)
    if mode == "first-time":
        cohort = (
            f"SELECT DISTINCT person_id FROM firsts"
            f" WHERE {trunc_sql('first_start', period, result.week_start)} = $start"
        )
    else:
        cohort = (
            "SELECT DISTINCT person_id FROM activity WHERE period_start = $start AND did_start > 0"
        )
    sql = f"SELECT person_id FROM ({cohort}) c WHERE person_id IS NOT NULL"
    values: dict[str, Any] = {"start": start}
    if k:
        returned = "period_start = $back"
        values["back"] = back
        if result.cumulative:  # any period from k to the last begun by as_of
            returned = "period_start >= $back AND period_start <= $last"
            values["last"] = start_of(as_of - timedelta(microseconds=1), period, result.week_start)
        sql += (
            " AND person_id IN (SELECT person_id FROM activity"
            f" WHERE {returned} AND did_return > 0)"
        )

    def find() -> set[str]:
        with open_facts_tables(ws, as_of, facts) as con:
            return {str(r[0]) for r in con.execute(sql, values).fetchall()}

    kept = ("retention", as_of, period, mode, result.start_event, result.return_event, start, k,
            result.cumulative, result.min_occurrences)  # fmt: skip
    people = cell_people(ws, as_of, kept, find)
    named = cohort_stamp(start, period)
    about = f"cohort {named} ({result.start_event or 'any event'})"
    later = " or later" if result.cumulative else ""
    came = cohort_stamp(back, period)
    about += f", came back in {period} {k} ({came}){later}" if k else ": its people"
    cell = named + (f":{period}{k}" if k else "")
    return Actors(as_of, "retention", cell, about, people)


# --------------------------------------------------------------------------------------------
# trends: `POINT` (the first event's) or `POINT:EVENT`: who did the event in that interval


def trends_actors(ws: Workspace, as_of: datetime, result: Trends, text: str) -> Actors:
    """The persons the point counts: those with the event in the interval starting at the point
    (PostHog's trends actors; the persons its dau counts), or, for a rolling weekly_active or
    monthly_active, in its window: the days (hours) p with point - 7 (30) days < p <= point."""
    from usertrack.analytics.common import FactsTable, open_facts_tables
    from usertrack.analytics.trends.run import lookback

    points = [naive_utc(p) for p in result.points]
    fmt = "%Y-%m-%dT%H:%M" if result.interval == "hour" else "%Y-%m-%d"
    cells = [p.strftime(fmt) for p in points]
    stamp, event = _point_and_event(text, result.events)
    chosen = next((p for p, c in zip(points, cells, strict=True) if c == stamp), None)
    if chosen is None or event is None:
        listed = cells if len(result.events) == 1 else [f"{c}:{e}" for e in result.events
                                                         for c in cells]  # fmt: skip
        raise refuse("trends", text, listed)
    days = lookback(result.math, result.interval)
    since = max(naive_utc(result.span.start), chosen) - timedelta(days=days)
    facts = [
        FactsTable(
            "posthog/trends_persons",
            "persons",
            {"person_id": "VARCHAR", "breakdown": "VARCHAR", "point": "TIMESTAMP"},
            {"since": since if days else result.span.start, "until": result.span.end,
             "event": event, "interval": result.interval, "week_start": result.week_start,
             "by": "", "values": [],
             "active": int(bool(days))},
        )
    ]  # fmt: skip
    if days:
        sql = (
            "SELECT DISTINCT person_id FROM persons WHERE point <= $point"
            f" AND point > $point - INTERVAL {days} DAY AND person_id IS NOT NULL"
        )
    else:
        sql = (
            "SELECT DISTINCT person_id FROM persons WHERE point = $point AND person_id IS NOT NULL"
        )

    def find() -> set[str]:
        with open_facts_tables(ws, as_of, facts) as con:
            return {str(r[0]) for r in con.execute(sql, {"point": chosen}).fetchall()}

    cell = ("trends", as_of, result.span.start, result.span.end, result.interval, days, event,
            chosen)  # fmt: skip
    people = cell_people(ws, as_of, cell, find)
    about = f"{event} in the {result.interval} from {chosen.strftime(fmt)}"
    if days:
        about = f"{event} in the {days} days to the {result.interval} of {chosen.strftime(fmt)}"
    return Actors(as_of, "trends", f"{stamp}:{event}", about, people)


def _point_and_event(text: str, events: list[str]) -> tuple[str, str | None]:
    """`POINT` (the only or first event) or `POINT:EVENT` (an event of the answer)."""
    cleaned = text.strip()
    for event in sorted(events, key=len, reverse=True):
        if cleaned.endswith(f":{event}"):
            return cleaned[: -len(event) - 1].strip(), event
    return cleaned, events[0] if events else None


# --------------------------------------------------------------------------------------------
# activity: `STATUS` (the last week's) or `WEEK:STATUS` of the weekly lifecycle


def activity_cell(weeks: list[date], text: str) -> tuple[date, str]:
    """The week and status of `text` among the lifecycle's `weeks` (activity.lifecycle_weeks)."""
    cells = [*STATUSES, *(f"{w.isoformat()}:{s}" for w in weeks for s in STATUSES)]
    first, _, status = text.strip().rpartition(":")
    status = status.strip().lower().replace("resurrected", "resurrecting")
    if status in STATUSES and weeks:
        if not first.strip():
            return weeks[-1], status
        try:
            week = date.fromisoformat(first.strip())
        except ValueError:
            week = None
        if week in weeks:
            return week, status
    raise refuse("activity", text, cells)


def activity_actors(ws: Workspace, as_of: datetime, weeks: list[date], text: str) -> Actors:
    """The persons of a lifecycle status in a week of `weeks` (the lifecycle's: every
    week has its cells, so the analysis need not run first), as activity counts them (PostHog's
    lifecycle: new, returning, resurrecting, dormant)."""
    from usertrack.analytics.common import FactsTable, open_facts_tables
    from usertrack.analytics.weeks import starting, trunc_sql

    week, status = activity_cell(weeks, text)
    day_week, made_week = (trunc_sql(x, "week", starting(weeks)) for x in ("day", "created_at"))
    since = datetime.combine(week - timedelta(days=7), datetime.min.time())
    facts = [
        FactsTable("posthog/activity_days", "active",
                   {"person_id": "VARCHAR", "day": "DATE", "events": "BIGINT"}, {"since": since}),
    ]  # fmt: skip
    if status != "dormant":  # who was created in the week tells the other three apart
        facts.append(
            FactsTable("posthog/activity_created", "created",
                       {"person_id": "VARCHAR", "created_at": "TIMESTAMP"}, {"since": since})
        )  # fmt: skip
    weeks_sql = f"""
        WITH w AS (
            SELECT DISTINCT person_id, {day_week} AS week
            FROM active WHERE person_id IS NOT NULL
        ),
        this AS (SELECT person_id FROM w WHERE week = $week),
        before AS (SELECT person_id FROM w WHERE week = $week - 7)
    """
    if status == "dormant":
        sql = (
            weeks_sql
            + """
            SELECT person_id FROM before WHERE person_id NOT IN (SELECT person_id FROM this)
        """
        )
    else:
        sql = (
            weeks_sql
            + f""",
            made AS (SELECT person_id FROM created WHERE {made_week} = $week)
            SELECT person_id FROM this
            WHERE $status = CASE WHEN person_id IN (SELECT person_id FROM made) THEN 'new'
                                 WHEN person_id IN (SELECT person_id FROM before) THEN 'returning'
                                 ELSE 'resurrecting' END
        """
        )
    values: dict[str, Any] = {"week": week}
    if status != "dormant":
        values["status"] = status

    def find() -> set[str]:
        with open_facts_tables(ws, as_of, facts) as con:
            return {str(r[0]) for r in con.execute(sql, values).fetchall()}

    people = cell_people(ws, as_of, ("activity", as_of, week, status), find)
    about = f"{status} in the week of {week.isoformat()}"
    return Actors(as_of, "activity", f"{week.isoformat()}:{status}", about, people)


# --------------------------------------------------------------------------------------------
# paths: `FROM:TO`, an edge: who went straight from one node to the next in a path

_PATH_PERSONS = """
WITH both_nodes AS (
    -- only the persons with both nodes can have the edge (found in one pass over the facts)
    SELECT person_id FROM {facts}
    WHERE node = $source OR node = $target
    GROUP BY person_id
    HAVING bool_or(node = $source) AND bool_or(node = $target)
),
o AS (
    SELECT person_id, node, timestamp AS t,
           row_number() OVER w AS rn,
           lag(person_id) OVER w AS pp, lag(timestamp) OVER w AS pt, lag(node) OVER w AS pn
    FROM (
        -- their rows alone, whole
        SELECT * FROM {facts} WHERE person_id IN (SELECT person_id FROM both_nodes)
    ) AS f
    WINDOW w AS (ORDER BY person_id NULLS LAST, timestamp, node NULLS LAST)
),
s AS (
    SELECT *, (person_id IS NULL OR pp IS DISTINCT FROM person_id
               OR t - pt >= INTERVAL 30 MINUTE) AS fresh
    FROM o
),
q AS (
    SELECT *, sum(CAST(fresh AS INTEGER)) OVER (ORDER BY rn) AS seq FROM s
),
k AS (
    SELECT person_id, node, seq, row_number() OVER (PARTITION BY seq ORDER BY rn) AS pos
    FROM q WHERE fresh OR NOT coalesce(node = pn, false)
),
b AS (
    SELECT seq,
           CASE WHEN $start = '' THEN 1 ELSE min(pos) FILTER (WHERE node = $start) END AS lo,
           max(pos) AS stop
    FROM k GROUP BY seq
),
e AS (
    SELECT b.seq, b.lo, b.stop,
           CASE WHEN $end = '' THEN NULL
                ELSE (SELECT min(pos) FROM k WHERE k.seq = b.seq AND k.node = $end
                      AND k.pos >= b.lo) END AS hit
    FROM b WHERE b.lo IS NOT NULL
),
w AS (
    SELECT seq,
           CASE WHEN $end = '' THEN lo ELSE greatest(lo, hit + 1 - $steps) END AS first,
           CASE WHEN $end = '' THEN least(lo + $steps - 1, stop) ELSE hit END AS last
    FROM e WHERE $end = '' OR hit IS NOT NULL
),
kept AS (
    SELECT k.* FROM k JOIN w USING (seq) WHERE k.pos BETWEEN w.first AND w.last
)
SELECT DISTINCT a.person_id
FROM kept a JOIN kept z ON z.seq = a.seq AND z.pos = a.pos + 1
WHERE a.node = $source AND z.node = $target AND a.person_id IS NOT NULL
"""


def paths_actors(
    ws: Workspace,
    as_of: datetime,
    span: DateRange,
    text: str,
    options: tuple[Any, ...],
    analyse: Callable[[], Paths],
) -> Actors:
    """The persons with a path in which TO comes straight after FROM, the paths as the
    command makes them (`analyse()`: sequences, --from/--to, the first --steps nodes, as
    `options` name them). An edge no one took is refused with the answer's edges (a node may
    hold ':': each split is tried). A cell found before on the same store is read back
    (usertrack.analytics.actors.kept_cells) without working the paths out."""

    def find() -> tuple[set[str], dict[str, str]]:
        ids, source, target = _path_cell(ws, as_of, span, analyse(), text)
        return ids, {"source": source, "target": target}

    cell = ("paths", as_of, span.start, span.end, options, text)
    listing = functools.partial(listed_persons, ws, as_of)
    people, said = kept_people(ws, cell, find, listing, ("source", "target"))
    source, target = said["source"], said["target"]
    about = f"went from {source} straight to {target} in a path"
    return Actors(as_of, "paths", f"{source}:{target}", about, people)


def _path_cell(
    ws: Workspace, as_of: datetime, span: DateRange, result: Paths, text: str
) -> tuple[set[str], str, str]:
    """The persons of the edge `text` of the paths `result`, and its two nodes."""
    from usertrack.analytics.common import open_facts_query

    cleaned = text.strip()
    splits = [(cleaned[:i], cleaned[i + 1 :]) for i, ch in enumerate(cleaned) if ch == ":"]
    splits = [(a, b) for a, b in splits if a and b]
    if not splits:
        raise refuse("paths", text, [f"{s}:{t}" for s, t, _ in result.edge_totals])
    ids: set[str] = set()
    if result.whose is not None:  # the analysis's own sequences, with their persons
        for source, target in splits:
            ids = _edge_persons(result, source, target)
            if ids:
                break
    else:
        schema = {"person_id": "VARCHAR", "timestamp": "TIMESTAMP", "node": "VARCHAR"}
        with open_facts_query(
            ws, "posthog/path_events", as_of, schema, since=span.start, until=span.end
        ) as facts:
            for source, target in splits:
                values = {"start": result.start or "", "end": result.end or "",
                          "steps": result.steps, "source": source, "target": target}  # fmt: skip
                ids = {str(r[0]) for r in facts.execute(_PATH_PERSONS, values).fetchall()}
                if ids:
                    break
    if not ids:
        raise refuse("paths", text, [f"{s}:{t}" for s, t, _ in result.edge_totals])
    return ids, source, target


def _edge_persons(result: Paths, source: str, target: str) -> set[str]:
    """The persons of the sequences that take the edge (`source` straight to `target`) within
    their --from/--to/--steps window, from the sequences the analysis counted (Paths.whose):
    the edge's places among the kept codes, each looked up in the windows (which are in
    order and apart), as _PATH_PERSONS finds them in the facts."""
    import numpy as np

    from usertrack.analytics.paths.codes import trim_sequences

    assert result.whose is not None
    kept, first, names, row_person, people = result.whose
    code = {node: c for c, node in names}
    if source not in code or target not in code or len(kept) < 2:
        return set()
    lo, hi, _ = trim_sequences(
        kept,
        first,
        result.steps,
        None if result.start is None else code.get(result.start, -1),
        None if result.end is None else code.get(result.end, -1),
    )
    if not len(lo):
        return set()
    at = np.flatnonzero((kept[:-1] == code[source]) & (kept[1:] == code[target]))
    window = np.searchsorted(lo, at, side="right") - 1
    inside = window >= 0
    window = np.maximum(window, 0)
    inside &= (at >= lo[window]) & (at + 1 < hi[window])
    found = np.unique(row_person[at[inside]])
    return {str(people[i]) for i in found.tolist() if people[i] is not None}
