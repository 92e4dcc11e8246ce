"""Trends: an event's count, unique persons or sessions, weekly/monthly active persons, a count per
person's aggregate or a numeric property's sum, avg, min, max, median or p90 per interval
(docs/metrics.md, "Trends").

PostHog's trends insight (posthog/hogql_queries/insights/trends/): aggregation_operations.py for
each math, trends_query_builder.py for the cumulative unique persons, breakdown_values.py for the
top breakdown values. Facts queries: queries/posthog/trends_breakdown.sql (the values to keep),
trends_counts.sql (counts, sessions and property math per interval), trends_actor_counts.sql
(the count-per-actor maths), trends_persons.sql (per person,
for dau, weekly_active and monthly_active) and, for a live --by-segment or --segment group too
large to send PostHog as a list, trends_person_points.sql (both of the first two's figures,
per person).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.analytics import weeks
from usertrack.analytics.common import (
    DateRange,
    change,
    next_period,
)
from usertrack.analytics.retention.options import breakdown_of
from usertrack.analytics.trends import histogram, ranges
from usertrack.analytics.trends.maths import (
    ACTOR_MATHS,
    LOOKBACK,
    OTHER,
    PERSON_MATHS,
    SESSIONS,
    Math,
    Series,
    active_label,
    lookback,
)
from usertrack.analytics.trends.notes import unknown_names
from usertrack.analytics.unfinished import ended
from usertrack.analytics.weeks import MONDAY
from usertrack.core.clock import naive_utc
from usertrack.core.errors import UsageError, one_of
from usertrack.engines.local.summaries import counts_asked

if TYPE_CHECKING:
    from usertrack.analytics.common import FactsQuery
    from usertrack.analytics.trends.formula import Formula
    from usertrack.analytics.trends.histogram import Buckets
    from usertrack.engines.person_rows import GroupNumbers
    from usertrack.workspace import Workspace

INTERVALS = ("hour", "day", "week", "month")
MAX_POINTS = 2000
MAX_EVENTS = 10


def parse_interval(text: str) -> str:
    return one_of(text, INTERVALS, "--interval")


def points(span: DateRange, interval: str, week_start: str = MONDAY) -> list[datetime]:
    """Every interval start (a naive UTC datetime) from the one holding the range's start to the
    one holding its last instant (PostHog's date_from_start_of_interval to date_to; a range
    ending at 00:00 has no point of that day); weeks from `week_start`'s day."""
    out = []
    point = weeks.instant(weeks.start_of(span.start, interval, week_start))
    last = weeks.instant(weeks.start_of(span.last, interval, week_start))
    while point <= last:
        out.append(point)
        if len(out) > MAX_POINTS:
            raise UsageError(
                f"--interval {interval} gives more than {MAX_POINTS} points over the range:"
                " give a longer interval or a shorter range"
            )
        point = weeks.instant(next_period(point, interval))
    return out


# The maths whose points add up to a number of something (events, a property's sum). Daily
# uniques do not (a week's WAU is not the sum of its DAUs), nor do averages or percentiles, nor
# the running totals of --cumulative (their total is the last point).
SUMMABLE = ("total", "sum")
# With --cumulative these end on a number of something: the running total, or the persons seen
# so far (dau counts each person once over the run).
RUNNING = (*SUMMABLE, "dau")


@dataclass
class Trends:
    as_of: datetime
    span: DateRange
    events: list[str]
    interval: str
    math: Math  # -m: every series' math but those given their own (EVENT@MATH)
    by: str | None
    top: int
    cumulative: bool
    points: list[datetime]
    series: list[Series]
    notes: tuple[str, ...] = field(default=())
    where: tuple[str, ...] = field(default=())
    previous: Trends | None = None  # --compare: the period of the same length before
    maths: tuple[Math | None, ...] = field(default=())  # each EVENT's own math, or None
    formula: str | None = None  # --formula's text: `series` are then its series
    week_start: str = MONDAY  # --week-start: the day weekly points start on
    histogram_bins: int | None = None  # --histogram-bins: `by`'s numbers in buckets

    def headline_of(self, s: Series) -> str:
        """What one number sums a series up as: "total" where its points add up to a number of
        something, else "average" (of its points: a daily-unique count, a percentile); a
        formula's series: "total", the sum of its points (PostHog's `count` of a formula)."""
        if s.formula is not None:
            return "total"
        kinds = RUNNING if self.cumulative else SUMMABLE
        math = s.math or self.math
        name = math.name
        if name in LOOKBACK and not lookback(math, self.interval):
            name = "dau"  # PostHog's own: the interval holds the window
        return "total" if name in kinds else "average"

    @property
    def headline(self) -> str:
        """The series' `headline_of`, when they all have the same; else "total or average"."""
        kinds = {self.headline_of(s) for s in self.series} or {
            self.headline_of(Series("", None, []))
        }
        return kinds.pop() if len(kinds) == 1 else "total or average"

    def summed(self, s: Series) -> float:
        """The series' `headline_of` number: its total (the last point of a --cumulative run:
        the running total, or the persons seen so far; every point's sum for a formula), or
        the average of its points."""
        if not s.data:
            return 0
        if self.headline_of(s) == "total":
            running = self.cumulative and s.formula is None
            return _number(s.data[-1] if running else sum(s.data))
        return _number(sum(s.data) / len(s.data))

    def previous_summed(self, s: Series) -> float:
        """The previous period's `headline_of` number of the same series (0 when it had
        none)."""
        before = self.previous_series(s)
        if before is None or self.previous is None:
            return 0
        return self.previous.summed(before)

    def _series_documents(self) -> list[dict[str, Any]]:
        docs = []
        for s in self.series:
            doc = s.document()
            doc[self.headline_of(s)] = self.summed(s)
            docs.append(doc)
        return docs

    def previous_series(self, s: Series) -> Series | None:
        """The previous period's series of the same event, math and breakdown value."""
        if self.previous is None:
            return None
        return next((p for p in self.previous.series if p.key == s.key), None)

    @property
    def math_label(self) -> str | None:
        """'DAU ($pageview)': an active-persons math named with the events it counts, when every
        series counts with it (no series' own math, no formula); else None."""
        if any(self.maths) or self.formula is not None:
            return None
        return active_label(self.math, self.events)

    def complete(self) -> list[bool]:
        """Each point's period whole in the range: False for a first one that begins before it
        (a week cut by --days) and a last one the range's end (as_of) cuts."""
        start = naive_utc(self.span.start)
        return [
            naive_utc(p) >= start and ended(p, self.interval, self.span.end) for p in self.points
        ]

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "as_of": self.as_of,
            **self.span.document(),
            "events": self.events,
            "interval": self.interval,
            "math": self.math.name,
        }
        if self.week_start != MONDAY:  # weeks from Sunday (ISO Monday weeks say nothing)
            doc["week_start"] = self.week_start
        if self.math.property:
            doc["math_property"] = self.math.property
        if (label := self.math_label) is not None:
            doc["math_label"] = label
        if any(self.maths):
            doc["maths"] = [(m or self.math).label() for m in self.maths]
        if self.formula is not None:
            doc["formula"] = self.formula
        if self.by is not None:
            doc["breakdown_property"] = self.by
            doc["top"] = self.top
        if self.histogram_bins is not None:
            doc["histogram_bins"] = self.histogram_bins
        doc["cumulative"] = self.cumulative
        doc["where"] = list(self.where)
        doc["points"] = self.points
        if not all(complete := self.complete()):  # a period cut by the range: partial
            doc["points_complete"] = complete
        doc["series"] = self._series_documents()
        if self.previous is not None:
            for s, out in zip(self.series, doc["series"], strict=True):
                out[f"previous_{self.headline_of(s)}"] = self.previous_summed(s)
                out["change"] = change(self.summed(s), self.previous_summed(s))
            doc["previous"] = {
                **self.previous.span.document(),
                "points": self.previous.points,
                "series": self.previous._series_documents(),
            }
        if self.notes:
            doc["notes"] = list(self.notes)
        return doc


def check(
    events: list[str], interval: str, math: Math, top: int, maths: tuple[Math | None, ...] = ()
) -> None:
    """Refuse what no run could answer, before any query."""
    if not events:
        raise UsageError("trends needs at least one EVENT")
    if len(events) > MAX_EVENTS:
        raise UsageError(f"trends takes at most {MAX_EVENTS} events side by side")
    if any(not e.strip() for e in events):  # as funnel's STEP: never "no event in the range"
        raise UsageError("EVENT: an empty event name")
    own = maths or (None,) * len(events)
    series = [(e, (m or math).label()) for e, m in zip(events, own, strict=True)]
    if len(set(series)) != len(series):
        raise UsageError("an EVENT is given twice (with the same math)")
    if not 1 <= top <= 100:
        raise UsageError(f"--breakdown-limit {top} must be from 1 to 100")


def trends(
    ws: Workspace,
    as_of: datetime,
    span: DateRange,
    events: list[str],
    *,
    interval: str = "day",
    math: Math | None = None,
    maths: tuple[Math | None, ...] = (),
    formula: Formula | None = None,
    by: str | None = None,
    top: int = 10,
    cumulative: bool = False,
    compare: bool = False,
    histogram_bins: int | None = None,
    progress: Any = None,
    week_start: str = MONDAY,
    _values: dict[int, list[str]] | None = None,
) -> Trends:
    """The trends of `events` over `span` (each with its own math of `maths` where one is
    given, else `math`), counted from the start of its first interval unless its start was
    given as a DATETIME (`ranges.counted`); with `compare`, also over the period before
    (`ranges.previous`), with the current period's breakdown values; with `formula`, its
    series instead of the events' (formula.py); with `histogram_bins`, `by`'s numbers in that
    many buckets, each a series (histogram.py). `week_start`: the day a week's points start
    on (PostHog's week_start_day, in utils/query_date_range.py)."""
    math = math or Math("total")
    maths = maths or (None,) * len(events)
    check(events, interval, math, top, maths)
    histogram.check_bins(histogram_bins, by, compare)
    asked, span = span, ranges.counted(span, interval)
    ticks = points(span, interval, week_start)
    series: list[Series] = []
    columns: list[dict[str | None, list[float]]] = []  # each event's data per breakdown value
    chosen: dict[int, list[str]] = {}
    for i, (event, own) in enumerate(zip(events, maths, strict=True)):
        ask = _Ask(ws, as_of, span, event, interval, own or math, by, week_start, histogram_bins)
        given = None if _values is None else _values.get(i, [])
        values, found = _event(ask, top, given, ticks, cumulative, progress)
        chosen[i] = values
        keys = [""] if by is None else [*values, *([OTHER] if OTHER in found else [])]
        columns.append({})
        for key in keys:
            per_point = found.get(key, {})
            data = [per_point.get(p, 0) for p in ticks]
            if cumulative:
                data = _running(data)
            series.append(Series(event, None if by is None else key, data, own))
            columns[-1][series[-1].breakdown] = data
    result = Trends(
        as_of=as_of, span=span, events=list(events), interval=interval, math=math, by=by,
        top=top, cumulative=cumulative, points=ticks, series=series, where=ws.scope.where,
        maths=tuple(maths) if any(maths) else (), week_start=week_start,
        histogram_bins=histogram_bins,
    )  # fmt: skip
    # A name no event has is said of the whole answer: a group's empty series is no typo (and
    # looking the names up again for each group would cost PostHog queries).
    group = (
        ws.scope.person_parts
        and ws.scope.person_rows is not None
        and not ws.scope.person_rows.everyone
    )
    if _values is None and not group:
        result.notes = unknown_names(ws, span, result.events, result.series, result.math, result.by)
    if formula is not None:
        from usertrack.analytics.trends.formula import formula_series

        result.series = formula_series(formula, columns, len(ticks), by is not None)
        result.formula = formula.text
    if compare:
        if progress:
            progress("fetching the previous period")
        result.previous = trends(
            ws, as_of, ranges.previous(asked, interval), events, interval=interval, math=math,
            maths=maths, formula=formula, by=by, top=top, cumulative=cumulative,
            progress=progress, week_start=week_start, _values=chosen,
        )  # fmt: skip
    return result


@dataclass(frozen=True, eq=False)
class _Ask:
    """One event's series as the run asks it: the workspace, the moment and the range, the
    event, the interval, the math, the --by property (None without) and the week's first
    day."""

    ws: Workspace
    as_of: datetime
    span: DateRange
    event: str
    interval: str
    math: Math
    by: str | None
    week_start: str = MONDAY
    bins: int | None = None  # --histogram-bins
    buckets: Buckets | None = None  # their buckets, once found (histogram.py)

    def bounds(self, **more: Any) -> dict[str, Any]:
        """The facts queries' range, event and breakdown values, and `more`; with an
        `interval`, the day its weeks start on too."""
        span = self.span
        if "interval" in more:
            more["week_start"] = self.week_start
            more.update(self.buckets.params() if self.buckets is not None else {})
        name, person = breakdown_of(self.by) if self.by is not None else ("", False)
        return {"since": span.start, "until": span.end, "event": self.event, "by": name,
                "by_of": "person" if person else "event", **more}  # fmt: skip


def _event(
    ask: _Ask,
    top: int,
    given: list[str] | None,
    ticks: list[datetime],
    cumulative: bool,
    progress: Any,
) -> tuple[list[str], dict[str, dict[datetime, float]]]:
    """One event's breakdown values (`given`, else its top `top` values of `by`; none without
    `by`) and each value's figure per point."""
    by, math = ask.by, ask.math
    if ask.bins is not None:
        return _histogram(ask, ticks, cumulative, progress)
    if given is None:
        answer = _group_answer(ask, top)
        if answer is not None:  # a group's part of every group's, worked out once
            return answer
    # the ranking (a --by's values, unless given) and the counts (not the person maths')
    read = (by is not None and given is None) or math.name not in PERSON_MATHS
    with _person_points(ask) if read else contextlib.nullcontext() as facts:
        values: list[str] = []
        if by is not None and given is not None:
            values = given
        elif by is not None:
            if progress:
                progress(f"ranking {ask.event}'s {by} values")
            values = _top_values(ask, top, facts)
        if progress:
            progress(f"fetching {ask.event} per {ask.interval}")
        if math.name in PERSON_MATHS:
            found = _persons(ask, values, ticks, cumulative)
        else:
            found = _counts(ask, values, facts)
    return values, found


def _histogram(
    ask: _Ask, ticks: list[datetime], cumulative: bool, progress: Any
) -> tuple[list[str], dict[str, dict[datetime, float]]]:
    """`_event`'s answer for histogram buckets (histogram.py): those with events, in order."""
    if _by_person(ask):  # a group's per-person rows hold the property as text, not its number
        raise UsageError("--histogram-bins counts every person at once: not over a group")
    assert ask.bins is not None
    buckets = histogram.fetch(ask.ws, ask.as_of, ask.bounds(), ask.bins)
    ask = dataclasses.replace(ask, buckets=buckets)  # the counting files' edges and buckets
    if progress:
        progress(f"fetching {ask.event} per {ask.interval}")
    persons = ask.math.name in PERSON_MATHS
    found = _persons(ask, [], ticks, cumulative) if persons else _counts(ask, [])
    return buckets.order(found), found


def _running(data: list[float]) -> list[float]:
    out, total = [], 0.0
    for value in data:
        total += value
        out.append(int(total) if float(total).is_integer() else total)
    return out


def _number(value: Any) -> float:
    number = float(value or 0)
    return int(number) if number.is_integer() else round(number, 4)


def _top_values(ask: _Ask, top: int, facts: FactsQuery | None = None) -> list[str]:
    """The `top` values of `by` on `event`, ranked by the series' aggregate over the whole range
    (persons for the person maths), then by value; from the per-person rows `facts` when given
    (summed over their points)."""
    math = ask.math
    if facts is not None:
        rows = _aggregated(facts, math, {"value": "value"})
    else:
        rows = ask.ws.run_query(
            "posthog/trends_breakdown", ask.as_of, **ask.bounds(property=math.property or "")
        ).as_dicts()
    return _ranked(rows, math, top)


def _ranked(rows: list[dict[str, Any]], math: Math, top: int) -> list[str]:
    """The `top` values of trends_breakdown.sql's `rows` by the series' aggregate (persons for
    the person maths, events for unique_session and the count-per-actor maths), then by
    value."""
    column = "persons" if math.name in PERSON_MATHS else math.name
    if math.name == SESSIONS or math.name in ACTOR_MATHS:
        column = "total"  # ranked by the events, as trends_breakdown.sql counts them
    ranked = sorted(rows, key=lambda r: (-float(r[column] or 0), str(r["value"])))
    return [str(r["value"]) for r in ranked[:top]]


def _counts(
    ask: _Ask, values: list[str], facts: FactsQuery | None = None
) -> dict[str, dict[datetime, float]]:
    """Each breakdown value's figure per point: trends_counts.sql's, or from the per-person
    rows `facts` when given (a value among `values` as it is, any other OTHER)."""
    math = ask.math
    if facts is not None:
        keys = {"breakdown": "''", "point": "point"}
        params: dict[str, Any] = {}
        if ask.by is not None:
            kept = "CASE WHEN list_contains($values::VARCHAR[], value) THEN value ELSE $other END"
            keys["breakdown"] = kept
            params = {"values": list(values), "other": OTHER}
        rows = _aggregated(facts, math, keys, params)
    elif math.name in ACTOR_MATHS:
        rows = ask.ws.run_query(
            "posthog/trends_actor_counts", ask.as_of,
            **ask.bounds(interval=ask.interval, values=values),
        ).as_dicts()  # fmt: skip
    else:
        sessions = int(math.name == SESSIONS)
        rows = ask.ws.run_query(
            "posthog/trends_counts", ask.as_of,
            **ask.bounds(interval=ask.interval, values=values, property=math.property or "",
                         sessions=sessions),
        ).as_dicts()  # fmt: skip
    return _found(rows, math)


def _found(rows: list[dict[str, Any]], math: Math) -> dict[str, dict[datetime, float]]:
    """trends_counts.sql's `rows` as each breakdown value's figure per point."""
    found: dict[str, dict[datetime, float]] = {}
    for row in rows:
        point = _as_datetime(row["point"])
        found.setdefault(str(row["breakdown"]), {})[point] = _number(row[math.name])
    return found


# --------------------------------------------------------------------------------------------
# A --by-segment or --segment group whose counts and ranking come from every person's rows
# (trends_person_points.sql, fetched once over everyone in the run; _by_person): live, a group
# too large to send PostHog as a list; locally, a --by-segment run reading the events' JSON.
# The rows are aggregated as trends_counts.sql and trends_breakdown.sql aggregate the events.

PERSON_POINTS = "posthog/trends_person_points"
_POINTS_SCHEMA = {
    "person_id": "VARCHAR", "value": "VARCHAR", "point": "TIMESTAMP", "events": "BIGINT",
    "sum": "DOUBLE", "min": "DOUBLE", "max": "DOUBLE", "numbers": "BIGINT", "number": "DOUBLE",
}  # fmt: skip
# The aggregates of a set of trends_person_points rows, as trends_counts.sql's of their events
# (0 when no event has a number: PostHog's ifNull(..., 0)); median and p90 interpolate between
# the values, each `numbers` times (ClickHouse's quantile, DuckDB's quantile_cont).
_AGGREGATES = """
    sum(events) AS total,
    sum(sum) AS sum,
    CASE WHEN sum(numbers) > 0 THEN sum(sum) / sum(numbers) ELSE 0 END AS avg,
    coalesce(min(min) FILTER (WHERE numbers > 0), 0) AS min,
    coalesce(max(max) FILTER (WHERE numbers > 0), 0) AS max,
    count(DISTINCT person_id) AS persons"""
# The count-per-actor maths over each person's events per key (`n`), as trends_actor_counts.sql.
_ACTOR_AGGREGATES = """
    avg(n) AS avg_count_per_actor, min(n) AS min_count_per_actor,
    max(n) AS max_count_per_actor, quantile_cont(n, 0.5) AS median_count_per_actor,
    quantile_cont(n, 0.75) AS p75_count_per_actor, quantile_cont(n, 0.9) AS p90_count_per_actor,
    quantile_cont(n, 0.95) AS p95_count_per_actor, quantile_cont(n, 0.99) AS p99_count_per_actor"""
_QUANTILES = """
    coalesce(quantile_cont(number, 0.5), 0) AS median,
    coalesce(quantile_cont(number, 0.9), 0) AS p90"""


def _by_person(ask: _Ask) -> bool:
    """Whether this run's counts come from per-person rows: live, a group's run whose persons
    are too many to bind as a list (by_segment.summary_fits), and every run of --by-segment
    (its whole answer's too: one query for all); on the local engine, the same where the file
    is edited (usertrack.engines.local.summaries: else its shortcut), and a
    --by-segment run reading the events' properties (a property math, --by), which then reads
    them once for every group, not twice (ranking, counts) for everyone and again for the
    groups."""
    from usertrack.analytics.by_segment import summary_fits

    ws = ask.ws
    query = ws.library.get(PERSON_POINTS)
    source = ws.sources.get(query.folder)
    if source is None or counts_asked(source, query):  # live (or the file edited): the whole
        # answer of a --by-segment run too (`person_parts`), so PostHog reads the events once
        # for it and every group
        split = ws.scope.person_parts or not summary_fits(ws, short_list=True)
    else:
        split = ws.scope.person_rows is not None and (
            ask.math.property is not None or ask.by is not None
        )
    if split and ask.math.name == SESSIONS:
        # a person's rows carry no session ids, and a session's events may be two persons'
        raise UsageError(
            f"--math {SESSIONS} counts sessions over every person at once: not with"
            " --by-segment, nor with --segment over a group too large to send PostHog"
            " as a list"
        )
    return split


def _person_points(ask: _Ask) -> contextlib.AbstractContextManager[FactsQuery | None]:
    """trends_person_points.sql's rows of the run's group (open_facts_query), for the ranking
    and the counts of `event` when they come from per-person rows (_by_person); else None."""
    from usertrack.analytics.common import open_facts_query

    if not _by_person(ask):
        return contextlib.nullcontext()
    return open_facts_query(ask.ws, PERSON_POINTS, ask.as_of, _POINTS_SCHEMA, **_points_params(ask))


def _points_params(ask: _Ask) -> dict[str, Any]:
    """trends_person_points.sql's values for `ask`."""
    math = ask.math
    quantiles = int(math.name in ("median", "p90"))
    return ask.bounds(interval=ask.interval, property=math.property or "", quantiles=quantiles)


def _aggregated(
    facts: FactsQuery, math: Math, keys: dict[str, str], params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The group's per-person rows aggregated per `keys` (alias -> expression over the rows):
    the sums over every row; the quantiles over the values, each row's `number` repeated
    `numbers` times (a row per value with {quantiles} = 1)."""
    from usertrack.analytics.common import FACTS

    names = ", ".join(keys)
    rows = (
        f"rows AS (SELECT {', '.join(f'{e} AS {a}' for a, e in keys.items())},"
        f" person_id, events, sum, min, max, numbers, number FROM {FACTS})"
    )
    sql = f"WITH {rows} SELECT {names}, {_AGGREGATES} FROM rows GROUP BY {names}"
    if math.name in ACTOR_MATHS:  # each person's events per key, then over the persons
        sql = f"""WITH {rows},
            sums AS (SELECT {names}, {_AGGREGATES} FROM rows GROUP BY {names}),
            actors AS (SELECT {names}, person_id, sum(events) AS n FROM rows
                       GROUP BY {names}, person_id),
            counts AS (SELECT {names}, {_ACTOR_AGGREGATES} FROM actors GROUP BY {names})
            SELECT sums.*, counts.* EXCLUDE ({names})
            FROM sums LEFT JOIN counts USING ({names})"""
    if math.name in ("median", "p90"):
        sql = f"""WITH {rows},
            sums AS (SELECT {names}, {_AGGREGATES} FROM rows GROUP BY {names}),
            quantiles AS (
                SELECT {names}, {_QUANTILES}
                FROM (SELECT {names}, number, unnest(range(numbers)) FROM rows WHERE numbers > 0)
                GROUP BY {names})
            SELECT sums.*, coalesce(quantiles.median, 0) AS median,
                   coalesce(quantiles.p90, 0) AS p90
            FROM sums LEFT JOIN quantiles USING ({names})"""
    cur = facts.execute(sql, params)
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


# The group of the persons numbered in none ("no account"), as PersonRows(negate=True) keeps
# them; not -1, which numbered_persons gives a person of a group the rules no longer have (in
# no group's rows, as PersonRows keeps them).
_REST = -2


def _group_answer(ask: _Ask, top: int) -> tuple[list[str], dict[str, dict[datetime, float]]] | None:
    """The run's group's top values and counts (`_event`'s answer) from every group's, worked
    out once per run from everyone's per-person rows (`scope.facts_cache`), rather than the
    group's rows loaded and aggregated for each group; None outside a group's run of the
    per-person rows (_by_person) or for the person maths."""
    rows = ask.ws.scope.person_rows
    cache = ask.ws.scope.facts_cache
    if rows is None or rows.numbers is None or rows.everyone or cache is None:
        return None
    if ask.math.name in PERSON_MATHS or not _by_person(ask):
        return None
    key = ("trends groups", ask.event, ask.span, ask.interval, ask.week_start, ask.math, ask.by,
           top)  # fmt: skip
    answers = cache.get(key)
    if answers is None:
        answers = cache[key] = _every_group(ask, rows.numbers, top)
    return answers.get(_REST if rows.negate else rows.number, ([], {}))


def _every_group(
    ask: _Ask, numbers: GroupNumbers, top: int
) -> dict[int, tuple[list[str], dict[str, dict[datetime, float]]]]:
    """Every group's top values and counts (keyed by group number; _REST: the persons with
    none), from everyone's rows of trends_person_points.sql, each row's group its person's:
    the same answers as each group's own rows give (PersonRows keeps a row without a person in
    no group)."""
    import pyarrow as pa

    from usertrack.analytics.common import (
        FactsQuery,
        arrow_schema,
        facts_connection,
        fetch_everyones_facts,
        store_rows,
    )
    from usertrack.checks.sandbox import release

    math, by = ask.math, ask.by
    everyone = fetch_everyones_facts(
        ask.ws, PERSON_POINTS, ask.as_of, _POINTS_SCHEMA, **_points_params(ask)
    )
    con = facts_connection()
    try:
        store_rows(con, everyone, "facts", arrow_schema(_POINTS_SCHEMA), PERSON_POINTS)
        con.register("_groups", pa.table({"person_id": numbers.ids, "g": numbers.numbers}))
        con.execute(
            f"""CREATE TEMP TABLE grouped AS
                SELECT f.*, coalesce(m.g, {_REST}) AS usertrack_group
                FROM facts AS f LEFT JOIN _groups AS m ON m.person_id = f.person_id
                WHERE f.person_id IS NOT NULL"""
        )
        con.unregister("_groups")
        facts = FactsQuery(con, '"grouped"', {}, PERSON_POINTS)
        group = {"usertrack_group": "usertrack_group"}
        chosen: dict[int, list[str]] = {}
        if by is not None:
            ranks: dict[int, list[dict[str, Any]]] = {}
            for row in _aggregated(facts, math, {**group, "value": "value"}):
                ranks.setdefault(int(row.pop("usertrack_group")), []).append(row)
            chosen = {g: _ranked(r, math, top) for g, r in ranks.items()}
            pairs = [(g, v) for g, vs in chosen.items() for v in vs]
            con.register(
                "_chosen",
                pa.table({"g": [p[0] for p in pairs], "v": [p[1] for p in pairs]},
                         schema=pa.schema([("g", pa.int32()), ("v", pa.string())])),
            )  # fmt: skip
            facts.relation = """(SELECT f.*, c.v IS NOT NULL AS chosen FROM "grouped" AS f
                LEFT JOIN _chosen AS c ON c.g = f.usertrack_group AND c.v = f.value)"""
            keys = {**group, "breakdown": "CASE WHEN chosen THEN value ELSE $other END"}
            counts = _aggregated(facts, math, {**keys, "point": "point"}, {"other": OTHER})
        else:
            counts = _aggregated(facts, math, {**group, "breakdown": "''", "point": "point"})
        per_group: dict[int, list[dict[str, Any]]] = {}
        for row in counts:
            per_group.setdefault(int(row.pop("usertrack_group")), []).append(row)
        return {
            g: (chosen.get(g, []), _found(per_group.get(g, []), math))
            for g in {*chosen, *per_group}
        }
    finally:
        release(con)


def _as_datetime(value: Any) -> datetime:
    """A point as a naive UTC datetime, whichever way the source typed it."""
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time())
    raise TypeError(f"not a point in time: {value!r}")


def _persons(
    ask: _Ask, values: list[str], ticks: list[datetime], cumulative: bool
) -> dict[str, dict[datetime, float]]:
    from usertrack.analytics.common import FACTS, open_facts_query

    interval = ask.interval
    days = lookback(ask.math, interval)
    schema = {"person_id": "VARCHAR", "breakdown": "VARCHAR", "point": "TIMESTAMP"}
    params = ask.bounds(interval=interval, values=values, active=int(bool(days)))
    params["since"] = ask.span.start - timedelta(days=days)
    first, last = ticks[0], ticks[-1]
    with open_facts_query(ask.ws, "posthog/trends_persons", ask.as_of, schema, **params) as facts:
        if days and interval in ("day", "hour"):
            # A point d counts the persons with an event in a day (an hour, at --interval hour)
            # p with d - days < p <= d: a person's p covers the points in [p, p + days). Each p
            # keeps only the points the person's next p does not cover too ([p, min(p + days,
            # next))), so that every covered point is counted once per person: count(*) of a
            # join that matches each person at most once a point, rather than count(DISTINCT)
            # over every (p, point) pair of the window (days times the rows: with a point a
            # day or an hour, not with a week's, which the plain join below serves).
            sql = f"""
                WITH ticks AS (SELECT unnest($ticks::TIMESTAMP[]) AS tick),
                spans AS (
                    SELECT breakdown, point AS lo,
                           least(point + INTERVAL {days} DAY,
                                 coalesce(lead(point) OVER (
                                     PARTITION BY breakdown, person_id ORDER BY point),
                                     point + INTERVAL {days} DAY)) AS hi
                    FROM {FACTS} WHERE person_id IS NOT NULL
                )
                SELECT s.breakdown, ticks.tick, count(*)
                FROM spans AS s JOIN ticks ON ticks.tick >= s.lo AND ticks.tick < s.hi
                GROUP BY 1, 2
            """
            rows = facts.execute(sql.replace("$ticks", _list_literal(ticks))).fetchall()
        elif days:
            # The same count (monthly_active a week at a time): each day of a person once for
            # every point of its window.
            sql = f"""
                WITH ticks AS (SELECT unnest($ticks::TIMESTAMP[]) AS tick)
                SELECT f.breakdown, ticks.tick, count(DISTINCT f.person_id)
                FROM {FACTS} AS f JOIN ticks
                  ON f.point <= ticks.tick
                 AND f.point > ticks.tick - INTERVAL {days} DAY
                GROUP BY 1, 2
            """
            rows = facts.execute(sql.replace("$ticks", _list_literal(ticks))).fetchall()
        elif cumulative:
            # PostHog counts each person once, at their first point (trends_query_builder.py).
            rows = facts.execute(
                f"""SELECT breakdown, first, count(*) FROM (
                        SELECT breakdown, person_id, min(point) AS first FROM {FACTS}
                        GROUP BY 1, 2) GROUP BY 1, 2"""
            ).fetchall()
        else:
            rows = facts.execute(
                f"SELECT breakdown, point, count(DISTINCT person_id) FROM {FACTS} GROUP BY 1, 2"
            ).fetchall()
    found: dict[str, dict[datetime, float]] = {}
    for key, point, persons in rows:
        moment = _as_datetime(point)
        if first <= moment <= last:
            found.setdefault(str(key), {})[moment] = int(persons)
    return found


def _list_literal(ticks: list[datetime]) -> str:
    """The points as a DuckDB list literal (our own datetimes: no data text in it)."""
    return "[" + ", ".join(f"TIMESTAMP '{t:%Y-%m-%d %H:%M:%S}'" for t in ticks) + "]"
