"""Retention by cohort as PostHog computes it (docs/metrics.md, "Retention").

On the local engine, two facts queries: queries/posthog/retention_activity.sql (per person and
period: a start event, a return event) and, for first-time cohorts,
queries/posthog/retention_first_starts.sql (each person's first start event ever); cohorts and
retained counts are worked out in DuckDB. Live, PostHog counts them itself
(queries/posthog/retention_summary.sql) and answers a row per cohort and period rather than one
per person (`from_summary`); in a live --by-segment or --segment run it answers the facts (a
row per person), once, and each group counts its persons' rows of them, as on the local engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from usertrack.analytics import weeks
from usertrack.analytics.common import (
    FactsTable,
    day_of,
    facts_bound,
    next_period,
    open_facts_tables,
)
from usertrack.analytics.proportions import judged, wilson
from usertrack.analytics.retention.options import (
    DEFAULT_START,
    Narrowing,
    Returns,
    breakdown_of,
    check_options,
    label,
    split_event,
    start_of,
)
from usertrack.analytics.unfinished import ended as period_ended
from usertrack.core.errors import UsageError
from usertrack.engines.local.summaries import counts_asked

SUMMARY_QUERY = "posthog/retention_summary"
EVER = datetime(1970, 1, 1)  # --by-account: every first start event, an account's earliest
MAX_PERIODS = 400
DAY_POINTS = (1, 7, 14, 30, 60, 90)


@dataclass
class Cohort:
    start: date
    size: int
    retained: list[int]  # persons in period 0 (the cohort), 1, 2, ... (periods begun by as_of)


@dataclass
class Point:
    """The average curve's period k: the cohorts whose period k is complete by as_of, their
    sizes' sum and retained persons' sum; rate = persons / size (PostHog's weighted mean)."""

    period: int
    cohorts: int
    size: int
    persons: int

    @property
    def rate(self) -> float | None:
        return 100.0 * self.persons / self.size if self.size else None

    def document(self) -> dict[str, Any]:
        interval = wilson(self.persons, self.size)
        return {
            **vars(self),
            "percent": _rounded(self.rate),
            "low": _rounded(interval[0]) if interval else None,
            "high": _rounded(interval[1]) if interval else None,
        }


@dataclass
class Change:
    """--compare at period k: this range's average against the previous range's."""

    period: int
    now: Point
    before: Point
    p_value: float | None
    verdict: str

    def document(self) -> dict[str, Any]:
        now, before = self.now.rate, self.before.rate
        return {
            "period": self.period,
            "percent": _rounded(now),
            "previous_percent": _rounded(before),
            "change": _rounded(now - before) if now is not None and before is not None else None,
            "p_value": None if self.p_value is None else round(self.p_value, 4),
            "verdict": self.verdict,
        }


@dataclass
class Breakdown:
    """--by: one value's cohorts ('' when the start event had no such property) and curve."""

    value: str
    cohorts: list[Cohort]
    average: list[Point]

    def document(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "size": sum(c.size for c in self.cohorts),
            "cohorts": _cohort_documents(self.cohorts),
            "average": [p.document() for p in self.average],
        }


@dataclass
class Retention:
    as_of: datetime
    period: str
    mode: str
    start_event: str  # '': any event (--start any)
    return_event: str | None  # None: any event
    cohorts: list[Cohort]
    notes: tuple[str, ...] = ()  # for stderr: a typed name the range's data does not have
    average: list[Point] = field(default_factory=list)
    previous: list[Cohort] | None = None  # --compare: the range before's cohorts
    previous_average: list[Point] = field(default_factory=list)
    by: str | None = None  # --by: a property of the start event (first touch), or of its person
    breakdown: list[Breakdown] = field(default_factory=list)
    by_account: bool = False  # --by-account: cohorts of accounts, not persons
    cumulative: bool = False  # --cumulative: period k counts a return in k or any later period
    min_occurrences: int = 1  # --min-occurrences: a period's return is this many return events
    narrowing: Narrowing = field(default_factory=lambda: Narrowing())  # EVENT:PROPERTY=VALUE
    week_start: str = weeks.MONDAY  # --week-start: the day weekly cohorts start on

    @property
    def start_label(self) -> str:
        """The start event as typed: its name (any event) and PROPERTY=VALUE, if narrowed."""
        return label(self.start_event or "any event", self.narrowing.start)

    @property
    def return_label(self) -> str:
        return label(self.return_event or "any event", self.narrowing.back)

    @property
    def day_points(self) -> list[tuple[int, Point | None]]:
        """Days 1, 7, 14, 30, 60 and 90 of the average curve (daily cohorts only)."""
        if self.period != "day":
            return []
        return [(d, self.average[d] if d < len(self.average) else None) for d in DAY_POINTS]

    @property
    def changes(self) -> list[Change]:
        if self.previous is None:
            return []
        out = []
        # period 0 is every cohort whole (100%): nothing to compare
        pairs = zip(self.average[1:], self.previous_average[1:], strict=False)
        for now, before in pairs:
            p_value, verdict = judged(now.persons, now.size, before.persons, before.size)
            out.append(Change(now.period, now, before, p_value, verdict))
        return out

    def running(self, cohort: Cohort, k: int) -> bool:
        """Whether the cohort's period k has not ended by as_of (the diagonal still counting)."""
        start = next_period(cohort.start, self.period, k)
        return not period_ended(start, self.period, self.as_of)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "as_of": self.as_of,
            "period": self.period,
            "mode": self.mode,
            "start_event": self.start_event or None,
            "return_event": self.return_event,
            "cumulative": self.cumulative,
            "min_occurrences": self.min_occurrences,
            **self.narrowing.document(),
            **({"week_start": self.week_start} if self.period == "week" else {}),
            "cohorts": _cohort_documents(self.cohorts),
            "average": [self._counted(p) for p in self.average],
        }
        for out, c in zip(doc["cohorts"], self.cohorts, strict=True):
            if c.retained and self.running(c, len(c.retained) - 1):  # its share still grows
                out["complete"] = False
        if self.by_account:
            doc["counted"] = "accounts"  # each period's count is under `accounts`
        if self.period == "day":
            doc["day_points"] = [
                {"day": d, **(self._counted(p) if p else {"percent": None})}
                for d, p in self.day_points
            ]
        if self.by is not None:
            doc["by"] = self.by
            doc["breakdown"] = [b.document() for b in self.breakdown]
        if self.previous is not None:
            doc["compare"] = {
                "previous_cohorts": _cohort_documents(self.previous),
                "previous_average": [self._counted(p) for p in self.previous_average],
                "changes": [c.document() for c in self.changes],
            }
        return doc

    def _counted(self, point: Point) -> dict[str, Any]:
        """A period's document, its count under `accounts` with --by-account."""
        doc = point.document()
        if self.by_account:
            return {"accounts" if k == "persons" else k: v for k, v in doc.items()}
        return doc


def _cohorts_of(
    starts: list[date], sizes: dict[int, int], back: dict[tuple[int, int], int]
) -> list[Cohort]:
    """A cohort per period of `starts`, each followed to the last (as `from_summary` counts)."""
    out = []
    for i, start in enumerate(starts):
        size = int(sizes.get(i, 0))
        later = [int(back.get((i, k), 0)) for k in range(1, len(starts) - i)]
        out.append(Cohort(start=start, size=size, retained=[size, *later]))
    return out


OTHER = "(other)"


def _top_values(
    per_value: dict[str, Any], starts: list[date], chosen: list[date], top: int
) -> list[tuple[str, Any]]:
    """The --by values with the most persons in the shown cohorts (ties by value), then the
    rest summed as OTHER, as PostHog's retention breakdown limit does."""
    shown = {i for i, s in enumerate(starts) if chosen[0] <= s <= chosen[-1]}
    totals = {v: sum(n for i, n in sz.items() if i in shown) for v, (sz, _) in per_value.items()}
    ranked = sorted((v for v in totals if totals[v]), key=lambda v: (-totals[v], v))
    out = [(v, per_value[v]) for v in ranked[:top]]
    rest = ranked[top:]
    if rest:
        sizes: dict[int, int] = {}
        back: dict[tuple[int, int], int] = {}
        for v in rest:
            for i, n in per_value[v][0].items():
                sizes[i] = sizes.get(i, 0) + n
            for ik, n in per_value[v][1].items():
                back[ik] = back.get(ik, 0) + n
        out.append((OTHER, (sizes, back)))
    return out


def _cohort_documents(cohorts: list[Cohort]) -> list[dict[str, Any]]:
    return [{"start": c.start, "size": c.size, "retained": list(c.retained)} for c in cohorts]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def average_curve(
    cohorts: list[Cohort], all_starts: list[date], period: str, as_of: datetime
) -> list[Point]:
    """PostHog's weighted mean retention: per period k, over the cohorts with a size whose
    period k has ended by as_of (the period holding as_of is partial and left out, as
    PostHog's `isCurrentPeriod`), the retained persons' sum over the sizes' sum."""
    index = {s: i for i, s in enumerate(all_starts)}
    ended = [period_ended(s, period, as_of) for s in all_starts]
    n = max((len(c.retained) for c in cohorts), default=0)
    points = []
    for k in range(n):
        counted = [
            c for c in cohorts if c.size and k < len(c.retained) and ended[index[c.start] + k]
        ]
        points.append(
            Point(
                k, len(counted), sum(c.size for c in counted), sum(c.retained[k] for c in counted)
            )
        )
    while points and not points[-1].cohorts:
        points.pop()
    return points


def cohort_starts(
    as_of: datetime,
    period: str,
    periods: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    week_start: str = weeks.MONDAY,
) -> list[date]:
    """The cohorts' periods, oldest first: from `since`'s period to `until`'s (each within the
    last one begun by as_of), or the `periods` periods (default 8) ending with `until`'s, else
    with the last one begun by as_of. An as_of at a period's first instant (`--as-of DATE` is
    00:00 UTC) ends the period before, as in `activity`: the new one has not begun, so it is
    absent, not a cohort of 0. Weeks start on `week_start`'s day."""
    last = weeks.start_of(as_of - timedelta(microseconds=1), period, week_start)
    if until is not None:
        last = min(last, weeks.start_of(until, period, week_start))
    if since is not None:
        if periods is not None:
            raise UsageError("--periods and --since both set the first cohort; give one of them")
        first = weeks.start_of(since, period, week_start)
        if first > last:
            raise UsageError(f"--since {since:%Y-%m-%d} is after the last cohort ({last})")
        starts = [first]
        while starts[-1] < last:
            if len(starts) >= MAX_PERIODS:
                raise UsageError(
                    f"--since {since:%Y-%m-%d} gives more than {MAX_PERIODS} {period}s of cohorts"
                )
            starts.append(next_period(starts[-1], period))
        return starts
    periods = 8 if periods is None else periods
    if not 1 <= periods <= MAX_PERIODS:
        raise UsageError(f"--periods {periods} must be from 1 to {MAX_PERIODS}")
    return [next_period(last, period, -k) for k in range(periods - 1, -1, -1)]


def cohort_periods(
    as_of: datetime,
    period: str,
    periods: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    week_start: str = weeks.MONDAY,
) -> list[tuple[date, int]]:
    """Each cohort of `cohort_starts` with how many periods retention follows it (period 0
    included, to the last begun by as_of), as `retention` counts them whatever the data: the
    cells `--persons` takes."""
    last = weeks.start_of(as_of - timedelta(microseconds=1), period, week_start)
    out = []
    for start in cohort_starts(as_of, period, periods, since, until, week_start):
        at, n = start, 1
        while at < last:
            at, n = next_period(at, period), n + 1
        out.append((start, n))
    return out


def retention(
    ws: Any,
    as_of: datetime,
    *,
    period: str = "week",
    periods: int | None = None,
    start_event: str = DEFAULT_START,
    return_event: str | None = None,
    mode: str = "first-time",
    since: datetime | None = None,
    until: datetime | None = None,
    compare: bool = False,
    by: str | None = None,
    top: int = 10,
    progress: Any = None,
    by_account: bool = False,
    cumulative: bool = False,
    min_occurrences: int = 1,
    week_start: str = weeks.MONDAY,
) -> Retention:
    """The cohorts of `cohort_starts`, each followed to as_of; with `compare`, also the cohorts
    of as many periods just before them (docs/metrics.md, "Retention"). `cumulative` and
    `min_occurrences` are PostHog's retention options of those names (`check_options`)."""
    start_event, start_where = split_event(start_event)
    start_event = start_of(start_event)
    check_options(min_occurrences, by_account)
    how = Returns(cumulative, min_occurrences)
    back_where = ("", "")
    if return_event is not None and not return_event.strip():
        return_event = None
    if return_event is not None:
        return_event, back_where = split_event(return_event)
    narrowing = Narrowing(start_where, back_where)
    chosen = cohort_starts(as_of, period, periods, since, until, week_start)
    first = next_period(chosen[0], period, -len(chosen)) if compare else chosen[0]
    starts = [first]  # every period from the first cohort's to the last begun by as_of
    last = weeks.start_of(as_of - timedelta(microseconds=1), period, week_start)
    while starts[-1] < last:
        starts.append(next_period(starts[-1], period))
    since = weeks.instant(starts[0])
    source = ws.sources[ws.library.get("posthog/retention_activity").folder]
    # PostHog counts the cohorts, but not a --by-segment or --segment group's (summary_fits)
    from usertrack.analytics.by_segment import summary_fits

    per_value: dict[str, Any] = {}
    notes: tuple[str, ...] = ()
    if by is not None or by_account:  # PostHog counts neither: the facts, counted here
        notes, sizes, back = _counted(ws, as_of, since, period, starts, start_event,
                                      return_event, mode, progress, by=by, per_value=per_value,
                                      by_account=by_account, how=how,
                                      narrowing=narrowing)  # fmt: skip
    elif counts_asked(source, ws.library.get(SUMMARY_QUERY)) and summary_fits(ws):
        if progress:
            progress("fetching cohorts")
        result = ws.run_query(
            SUMMARY_QUERY,
            as_of,
            since=since,
            period=period,
            mode=mode,
            start_event=start_event,
            return_event=return_event or "",
            min_occurrences=min_occurrences,
            cumulative=int(cumulative),
            **narrowing.values(),
            week_start=week_start,
        )
        rows = [tuple(r) for r in result.rows]
        sizes, back = from_summary(starts, list(result.columns), rows, cumulative=cumulative,
                                   period=period)  # fmt: skip
    else:
        _, sizes, back = _counted(
            ws,
            as_of,
            since,
            period,
            starts,
            start_event,
            return_event,
            mode,
            progress,
            how=how,
            narrowing=narrowing,
        )
    every = _cohorts_of(starts, sizes, back)
    cohorts = [c for c in every if chosen[0] <= c.start <= chosen[-1]]
    breakdown = []
    for value, (v_sizes, v_back) in _top_values(per_value, starts, chosen, top):
        kept = [c for c in _cohorts_of(starts, v_sizes, v_back) if chosen[0] <= c.start]
        kept = [c for c in kept if c.start <= chosen[-1]]
        breakdown.append(Breakdown(value, kept, average_curve(kept, starts, period, as_of)))
    previous = [c for c in every if c.start < chosen[0]] if compare else None
    # In a --by-segment run, an event the whole answer's run counted (it runs first) is an
    # event of the range: a group that has none of it looks no name up.
    seen: set[str] = set()
    if ws.scope.facts_cache is not None:
        seen = ws.scope.facts_cache.setdefault(("retention events counted", as_of, since), set())
    typed: dict[str, str] = {}
    if any(c.size for c in every):
        seen.add(start_event)
    elif start_event and start_event not in seen:
        typed["--start"] = start_event
    if return_event is not None:
        if any(n for c in every for n in c.retained[1:]):
            seen.add(return_event)
        elif return_event not in seen:
            typed["--return"] = return_event
    if typed:
        from usertrack.analytics.names import event_names, unknown

        notes += unknown(typed, event_names(ws, as_of, since.replace(tzinfo=as_of.tzinfo)), "event")
    return Retention(
        as_of=as_of,
        period=period,
        mode=mode,
        start_event=start_event,
        return_event=return_event,
        cohorts=cohorts,
        notes=notes,
        average=average_curve(cohorts, starts, period, as_of),
        previous=previous,
        previous_average=average_curve(previous, starts, period, as_of) if previous else [],
        by=by,
        breakdown=breakdown,
        by_account=by_account,
        cumulative=cumulative,
        min_occurrences=min_occurrences,
        narrowing=narrowing,
        week_start=week_start,
    )


def from_summary(
    starts: list[date],
    columns: list[str],
    rows: list[tuple[Any, ...]],
    cumulative: bool = False,
    period: str = "day",
) -> tuple[dict[int, int], dict[tuple[int, int], int]]:
    """The cohorts' sizes (by index of `starts`) and retained persons (by cohort index and
    periods later) from the rows of retention_summary.sql: a row per cohort and period, named
    by their first days; periods not among `starts` (one not begun by as_of) are left out, as
    the facts path's join leaves them out. `cumulative`: a later period's row counts the
    persons whose last return is in it, each retained in every period up to it. An hour's
    rows are named by its first instant (`period_of`)."""
    at = {c: i for i, c in enumerate(columns)}
    index = {start: i for i, start in enumerate(starts)}
    sizes: dict[int, int] = {}
    back: dict[tuple[int, int], int] = {}
    for row in rows:
        cohort = index.get(period_of(row[at["cohort"]], period))
        later = index.get(period_of(row[at["period"]], period))
        if cohort is None or later is None or later < cohort:
            continue
        n = int(row[at["persons"]])
        if later == cohort:
            sizes[cohort] = n
        elif cumulative:
            for k in range(1, later - cohort + 1):
                back[(cohort, k)] = back.get((cohort, k), 0) + n
        else:
            back[(cohort, later - cohort)] = n
    return sizes, back


def period_of(value: Any, period: str) -> date:
    """A period's start as PostHog's JSON gives it (ISO text) or DuckDB does (a date or a
    timestamp): an hour's first instant (a naive UTC datetime), else its first day."""
    if period != "hour":
        return day_of(value)
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return weeks.start_of(value, "hour")


def _counted(
    ws: Any,
    as_of: datetime,
    since: datetime,
    period: str,
    starts: list[date],
    start_event: str,
    return_event: str | None,
    mode: str,
    progress: Any,
    by: str | None = None,
    per_value: dict[str, Any] | None = None,
    by_account: bool = False,
    how: Returns | None = None,
    narrowing: Narrowing | None = None,
) -> tuple[tuple[str, ...], dict[int, int], dict[tuple[int, int], int]]:
    """The cohorts' sizes and retained persons (as `from_summary`'s) from the facts queries,
    counted in DuckDB (the local engine), with notes for stderr. With `by`, also each --by
    value's (into `per_value`: value -> (sizes, retained)); with `by_account`, accounts'
    (usertrack.analytics.by_account.as_accounts): an account's first start is its members'
    earliest ever, so every member's first start is fetched, not only those from `since`.
    `how`: what counts as a return (default: one return event, in that period); `narrowing`:
    the start and return events' EVENT:PROPERTY=VALUE (default: none)."""
    how = how or Returns()
    narrowing = narrowing or Narrowing()
    facts = [
        FactsTable(
            "posthog/retention_activity",
            "activity",
            {
                "person_id": "VARCHAR",
                "period_start": "TIMESTAMP" if period == "hour" else "DATE",
                # 0/1: a HogQL comparison is ClickHouse's UInt8, not a boolean
                "did_start": "BIGINT",
                "did_return": "BIGINT",
            },
            {
                "since": since,
                "period": period,
                "start_event": start_event,
                "return_event": return_event or "",
                "min_occurrences": how.min_occurrences,
                **narrowing.values(),
                "week_start": weeks.starting(starts) if period == "week" else weeks.MONDAY,
            },
            "fetching activity per period",
        )
    ]
    if mode == "first-time":
        facts.append(
            FactsTable(
                "posthog/retention_first_starts",
                "firsts",
                {"person_id": "VARCHAR", "first_start": "TIMESTAMP"},
                {
                    "since": EVER if by_account else since,
                    "start_event": start_event,
                    **narrowing.start_values(),
                },
                "fetching first start events",
            )
        )
    if by is not None:
        name, of_person = breakdown_of(by)
        facts.append(
            FactsTable(
                "posthog/retention_breakdown",
                "breakdown",
                {"person_id": "VARCHAR", "value": "VARCHAR"},
                {
                    "since": since,
                    "start_event": start_event,
                    **narrowing.start_values(),
                    "by": name,
                    "by_person": int(of_person),
                },
                f"fetching each person's {by}",
            )
        )
    key = None
    if by is None and not by_account:
        key = _cohorts_key(ws, as_of, facts, period, starts, mode, how.cumulative)
    whole = ws.scope.facts_cache.get(key) if key is not None else None
    if whole is not None:  # a group's run: its persons' rows of everyone's cohorts
        return ((), *_kept_counts(ws, *whole))
    notes: tuple[str, ...] = ()
    # On the local engine the facts are temporary tables of a cursor on the events store
    # (open_facts_tables): the analysis's own tables are temporary too. In a --by-segment run
    # too: its groups read the cohorts kept below, never the facts' rows.
    from usertrack.analytics.by_account import as_accounts, members_meanwhile

    with (
        members_meanwhile(ws, as_of, progress, by_account) as members,  # while events count
        open_facts_tables(ws, as_of, facts, progress, whole_in_place=True) as con,
    ):
        if members is not None:
            shapes = {"activity": "period_start, max(did_start) AS did_start,"
                                  " max(did_return) AS did_return"}  # fmt: skip
            if mode == "first-time":
                shapes["firsts"] = "min(first_start) AS first_start"
            notes = as_accounts(con, ws, as_of, progress, shapes, members)
        con.execute(
            "CREATE TEMP TABLE periods AS SELECT unnest($starts) AS start,"
            " generate_subscripts($starts, 1) - 1 AS idx",
            {"starts": starts},
        )
        if mode == "first-time":
            first_period = weeks.trunc_sql("f.first_start", period, weeks.starting(starts))
            cohort_sql = f"""
                SELECT f.person_id, p.idx FROM firsts f
                JOIN periods p ON p.start = {first_period}
            """
        else:
            cohort_sql = """
                SELECT a.person_id, p.idx FROM activity a
                JOIN periods p ON p.start = a.period_start WHERE a.did_start > 0
            """
        con.execute(f"CREATE TEMP TABLE cohort AS {cohort_sql}")
        sizes = dict(con.execute("SELECT idx, count(*) FROM cohort GROUP BY idx").fetchall())
        con.execute(f"CREATE TEMP TABLE returned AS {_returned_sql(how.cumulative)}")
        if key is None:
            kept = con.execute("SELECT idx, k, count(*) FROM returned GROUP BY ALL").fetchall()
        else:  # each person's returns kept for the groups, and counted from them
            returned = con.sql("SELECT person_id, idx, k FROM returned").to_arrow_table()
            ws.scope.facts_cache[key] = (
                con.sql("SELECT person_id, idx FROM cohort").to_arrow_table(),
                returned,
            )
            kept = _count_by(returned, "idx", "k")
        if by is not None and per_value is not None:
            valued = "LEFT JOIN breakdown b ON b.person_id = c.person_id"
            for value, i, n in con.execute(
                f"SELECT coalesce(b.value, ''), c.idx, count(*) FROM cohort c {valued} GROUP BY ALL"
            ).fetchall():
                per_value.setdefault(str(value), ({}, {}))[0][int(i)] = int(n)
            for value, i, k, n in con.execute(
                "SELECT coalesce(b.value, ''), c.idx, c.k, count(*) FROM returned c"
                f" {valued} GROUP BY ALL"
            ).fetchall():
                per_value.setdefault(str(value), ({}, {}))[1][(int(i), int(k))] = int(n)
    return (
        notes,
        {int(i): int(n) for i, n in sizes.items()},
        {(int(i), int(k)): int(n) for i, k, n in kept},
    )


def _returned_sql(cumulative: bool) -> str:
    """Each cohort person's returns, a row per (person_id, idx, k) once: came back k periods
    after their cohort `idx` (the temp tables `cohort`, `activity` and `periods`). Cumulative,
    in every period from the first after the cohort to their last return (PostHog's
    `_build_cumulative_actors_query` and `_explode_cumulative_actors`: the greatest period
    after the cohort with a return, and every period up to it)."""
    distinct = """
        SELECT DISTINCT c.person_id, c.idx, r.idx - c.idx AS k
        FROM cohort c
        JOIN (SELECT a.person_id, p.idx FROM activity a
              JOIN periods p ON p.start = a.period_start WHERE a.did_return > 0) r
          ON r.person_id = c.person_id AND r.idx > c.idx
    """
    if not cumulative:
        return distinct
    return f"""
        SELECT person_id, idx, unnest(range(1, furthest + 1)) AS k
        FROM (SELECT person_id, idx, max(k) AS furthest FROM ({distinct}) GROUP BY ALL)
    """


def _cohorts_key(
    ws: Any,
    as_of: datetime,
    facts: list[FactsTable],
    period: str,
    starts: list[date],
    mode: str,
    cumulative: bool = False,
) -> tuple[Any, ...] | None:
    """Where a --by-segment run keeps everyone's cohorts, each row a person's (`scope.facts_cache`),
    when the facts are per-person facts fetched once over everyone and each group keeps its
    persons' rows of them (usertrack.analytics.by_segment): a person's cohorts and returns come
    from their own rows alone, so a group's sizes and retained persons are counted from its
    persons' rows of everyone's, worked out once. None otherwise."""
    if ws.scope.person_rows is None or ws.scope.facts_cache is None:
        return None
    key: list[Any] = ["retention cohorts", period, tuple(starts), mode, cumulative]
    for t in facts:
        query, values, keep = facts_bound(ws, t.query_id, as_of, t.schema, **t.params)
        if keep is None:  # a facts query without the {filters} slot: it runs per group
            return None
        key += [query.sql, repr(sorted(values.items()))]
    return tuple(key)


def _kept_counts(
    ws: Any, cohort: Any, returned: Any
) -> tuple[dict[int, int], dict[tuple[int, int], int]]:
    """_counted's answer for the group's persons (`scope.person_rows`), from everyone's cohort rows
    (person_id, idx) and distinct returns (person_id, idx, k): the rows kept by person, then
    counted (a person returns once per cohort and k, as count(DISTINCT person_id) counts)."""
    from usertrack.engines.base import Result

    def kept(table: Any) -> Any:
        return ws.scope.person_rows.kept(
            Result(columns=table.column_names, rows=[], arrow=table)
        ).arrow

    sizes = _count_by(kept(cohort), "idx")
    back = _count_by(kept(returned), "idx", "k")
    return {int(i): int(n) for i, n in sizes}, {(int(i), int(k)): int(n) for i, k, n in back}


def _count_by(table: Any, first: str, second: str | None = None) -> list[tuple[int, ...]]:
    """`count(*) GROUP BY first[, second]` of an Arrow table's integer columns (each >= 0, as
    cohort indexes and their distances are): pyarrow.compute's value_counts of one key, the
    pair as first * width + second (Table.group_by would import pyarrow's acero engine, a third
    of a second, for a handful of groups)."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    if second is None:
        counted = pc.value_counts(table[first]).to_pylist()
        return [(int(c["values"]), int(c["counts"])) for c in counted]
    width = int(pc.max(table[second]).as_py()) + 1
    key = pc.add(pc.multiply(table[first].cast("int64"), width), table[second].cast("int64"))
    return [
        (int(c["values"]) // width, int(c["values"]) % width, int(c["counts"]))
        for c in pc.value_counts(key).to_pylist()
    ]
