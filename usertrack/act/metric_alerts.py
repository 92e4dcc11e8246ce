"""Metric alerts (alerts.yaml, kind "metric"): a figure per window, checked against a threshold
or against its usual range (docs/metrics.md, "Metric alerts").

A window is a complete UTC period before `as_of`: `1d` the last complete UTC day, `7d` the last
complete ISO week (Monday to Sunday). The period `as_of` falls in is never judged: it is not
over, and a half-day against whole days would read as a drop every morning. The history is the
`history` windows just before, worked out from the data at `as_of`, so an `--as-of` pass gives
the same answer whatever earlier passes saved.

Figures:
- `trend`: an event's trend (usertrack/analytics/trends/run.py) with its math (total, dau, ...),
  one point per window.
- `run_success_rate`, `runs`, `first_runs`, `signup_to_first_run`: the weekly report's Neon key
  metrics (queries/neon/weekly_metrics.sql, one query a window): completed runs over runs in %
  (no value without runs), the runs created, the accounts whose first run ever falls in the
  window, and the median days from signup to it (no value without first runs).
- `funnel_conversion`: of the persons whose funnel (usertrack/analytics/funnel/run.py, `steps`)
  starts in the window, the % who reach its last step within `within` (default: the window's
  length). A window is judged once its last entrant has had all of `within`: the last complete
  window before `as_of - within`, and every window of the history the same, so none has had
  less time to convert than the others.

Conditions: `below: X` fires when the value is under X, `above: X` when over X (a value equal
to X does not fire); `outside: {history: N, k: K}` fires when the value is outside
mean ± K · standard deviation (population) of the previous N windows that have a value. With
fewer than MIN_HISTORY of them, the pass says so and does not judge. With a standard deviation
of 0, the range is the mean alone: any other value is outside.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from usertrack.core.clock import naive_utc
from usertrack.core.errors import AlertsFileError
from usertrack.core.rulefiles import did_you_mean, key_line

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

METRICS = ("trend", "funnel_conversion", "run_success_rate", "runs", "first_runs",
           "signup_to_first_run")  # fmt: skip
WINDOWS = {"1d": "day", "7d": "week"}
CONDITIONS = ("below", "above", "outside")
LABELS = {
    "run_success_rate": "run success rate (%)",
    "runs": "runs",
    "first_runs": "first runs",
    "signup_to_first_run": "median days from signup to first run",
}
MIN_HISTORY = 3  # windows with a value the usual range needs at least
MAX_HISTORY = 60
DEFAULT_HISTORY = 8
DEFAULT_K = 3.0
MAX_K = 10.0
RECENT_SHOWN = 8  # of the chart's numbers in a message: the latest windows, the judged one last


class RunWindows(Protocol):
    """Where run_windows.sql's rows may come from instead of the database
    (usertrack.act.alerts_runs.RunsCopy): None when the file answers."""

    def run_windows(
        self, end: datetime, days: int, windows: int
    ) -> list[dict[str, Any]] | None: ...


@dataclass(frozen=True)
class MetricRule:
    metric: str
    window: str  # "1d" or "7d"
    condition: str  # one of CONDITIONS
    threshold: float = 0.0  # below / above
    history: int = DEFAULT_HISTORY  # outside
    k: float = DEFAULT_K  # outside
    event: str = ""  # trend
    math: str = "total"  # trend
    steps: tuple[str, ...] = ()  # funnel_conversion
    within: timedelta | None = None  # funnel_conversion: the conversion window

    @property
    def interval(self) -> str:
        return WINDOWS[self.window]

    def label(self) -> str:
        """What the figure is, for a message: `dau of signed_up`, `run success rate (%)`."""
        if self.metric == "trend":
            return f"{self.math} of {self.event}"
        if self.metric == "funnel_conversion":
            first, last = self.steps[0], self.steps[-1]
            more = f", {len(self.steps)} steps" if len(self.steps) > 2 else ""
            return f"conversion {first} → {last} (%{more})"
        return LABELS[self.metric]


def parse_rule(path: Path, item: dict[str, Any], tid: str, line: int) -> MetricRule:
    """A metric trigger's keys, checked; AlertsFileError naming file:line and the key."""

    def at(key: str) -> str:
        return f"{path}:{key_line(item, key, line)}: trigger {tid!r}"

    metric = item.get("metric")
    if not isinstance(metric, str) or metric.strip() not in METRICS:
        shown = metric if isinstance(metric, str) else ""
        raise AlertsFileError(
            f"{at('metric')}: metric must be one of {', '.join(METRICS)}, not {metric!r}"
            f"{did_you_mean(shown, METRICS)}"
        )
    metric = metric.strip()
    window = item.get("window", "1d")
    if window not in WINDOWS:
        raise AlertsFileError(
            f"{at('window')}: window must be one of {', '.join(WINDOWS)}, not {window!r}"
        )
    event, math_name = "", "total"
    if metric == "trend":
        given = item.get("event")
        if not isinstance(given, str) or not given.strip():
            raise AlertsFileError(f"{at('event')}: a trend metric needs an 'event' (its name)")
        event = given
        math_name = item.get("math", "total")
        from usertrack.analytics.trends.maths import parse_math
        from usertrack.core.errors import UsageError

        try:
            if not isinstance(math_name, str):
                raise UsageError(f"math {math_name!r} is not text")
            parse_math(math_name)
        except UsageError as e:
            raise AlertsFileError(f"{at('math')}: {str(e).removeprefix('--')}") from None
    else:
        for key in ("event", "math"):
            if key in item:
                raise AlertsFileError(f"{at(key)}: {key!r} is for metric trend only")
    steps: tuple[str, ...] = ()
    within = None
    if metric == "funnel_conversion":
        from usertrack.analytics.common import parse_window
        from usertrack.analytics.funnel.run import DEFAULT_STEPS, check_steps
        from usertrack.core.errors import UsageError

        raw_steps = item.get("steps", list(DEFAULT_STEPS))
        if not isinstance(raw_steps, list) or not all(isinstance(x, str) for x in raw_steps):
            raise AlertsFileError(f"{at('steps')}: steps must be a list of event names")
        raw_within = item.get("within", window)
        try:
            steps = tuple(check_steps(raw_steps))
            if not isinstance(raw_within, str):
                raise UsageError(f"within {raw_within!r} is not a duration such as 1d or 7d")
            within = parse_window(raw_within, "within")
        except UsageError as e:
            key = "within" if "within" in str(e) else "steps"
            raise AlertsFileError(f"{at(key)}: {e}") from None
    else:
        for key in ("steps", "within"):
            if key in item:
                raise AlertsFileError(f"{at(key)}: {key!r} is for metric funnel_conversion only")
    given = [c for c in CONDITIONS if c in item]
    if len(given) != 1:
        raise AlertsFileError(
            f"{at(given[1] if len(given) > 1 else 'metric')}: a metric trigger needs exactly one"
            f" of {', '.join(CONDITIONS)}"
        )
    condition = given[0]
    rule = {"metric": metric, "window": window, "condition": condition, "event": event,
            "math": math_name, "steps": steps, "within": within}  # fmt: skip
    raw = item[condition]
    if condition in ("below", "above"):
        if not _number(raw):
            raise AlertsFileError(f"{at(condition)}: {condition} must be a number, not {raw!r}")
        return MetricRule(**rule, threshold=float(raw))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise AlertsFileError(f"{at(condition)}: outside must be a mapping of history and k")
    raw = {k: v for k, v in raw.items() if k != "__line__"}
    unknown = sorted(set(raw) - {"history", "k"})
    if unknown:
        raise AlertsFileError(
            f"{at(condition)}: outside takes history and k, not {unknown[0]!r}"
            f"{did_you_mean(str(unknown[0]), ('history', 'k'))}"
        )
    history = raw.get("history", DEFAULT_HISTORY)
    if (
        not isinstance(history, int)
        or isinstance(history, bool)
        or not MIN_HISTORY <= history <= MAX_HISTORY
    ):
        raise AlertsFileError(
            f"{at(condition)}: outside.history must be a whole number from {MIN_HISTORY} to"
            f" {MAX_HISTORY}, not {history!r}"
        )
    k = raw.get("k", DEFAULT_K)
    if not _number(k) or not 0 < float(k) <= MAX_K:
        raise AlertsFileError(
            f"{at(condition)}: outside.k must be a number above 0 and at most {MAX_K:g}, not {k!r}"
        )
    return MetricRule(**rule, history=history, k=float(k))


def _number(raw: Any) -> bool:
    return (
        isinstance(raw, int | float)
        and not isinstance(raw, bool)
        and math.isfinite(raw)
        and abs(raw) < 1e15
    )


# ----------------------------------------------------------------------------- the judgement


@dataclass(frozen=True)
class Verdict:
    fires: bool
    low: float | None = None  # the range (outside), or the threshold's side
    high: float | None = None
    note: str = ""  # why nothing was judged (too little history, no value)


def usual_range(history: Sequence[float], k: float) -> tuple[float, float] | None:
    """mean ± k · population standard deviation of `history`; None with fewer than
    MIN_HISTORY values."""
    if len(history) < MIN_HISTORY:
        return None
    mean = statistics.fmean(history)
    spread = statistics.pstdev(history) if len(history) > 1 else 0.0
    return mean - k * spread, mean + k * spread


def judge(rule: MetricRule, value: float | None, history: Sequence[float | None]) -> Verdict:
    """Whether `value` fires `rule`, given the previous windows' values (oldest first; None
    for a window without a value, left out of the range)."""
    if value is None:
        return Verdict(False, note="no value for the window")
    if rule.condition == "below":
        return Verdict(value < rule.threshold, low=rule.threshold)
    if rule.condition == "above":
        return Verdict(value > rule.threshold, high=rule.threshold)
    known = [v for v in history[-rule.history :] if v is not None]
    bounds = usual_range(known, rule.k)
    if bounds is None:
        return Verdict(
            False,
            note=f"{len(known)} of the previous {rule.history} windows have a value;"
            f" the usual range needs at least {MIN_HISTORY}",
        )
    low, high = bounds
    return Verdict(not low <= value <= high, low=low, high=high)


# ----------------------------------------------------------------------------- the figures


def windows(as_of: datetime, rule: MetricRule, count: int) -> list[date]:
    """The first days of the `count` complete windows before `as_of`, oldest first."""
    from usertrack.analytics.common import period_start

    current = period_start(as_of, rule.interval)
    step = timedelta(days=1 if rule.interval == "day" else 7)
    return [current - step * n for n in range(count, 0, -1)]


def extent(rule: MetricRule, as_of: datetime) -> tuple[list[date], timedelta, datetime]:
    """The first days of the windows `series` gives (the judged one last), their length and
    the end of the last (midnight UTC)."""
    count = (rule.history if rule.condition == "outside" else RECENT_SHOWN - 1) + 1
    # A funnel's window is judged once its last entrant has had the whole conversion window.
    starts = windows(as_of - (rule.within or timedelta(0)), rule, count)
    step = timedelta(days=1 if rule.interval == "day" else 7)
    end = datetime.combine(starts[-1] + step, datetime.min.time(), tzinfo=UTC)
    return starts, step, end


def series(
    ws: Workspace,
    rule: MetricRule,
    as_of: datetime,
    progress: Callable[[str], None] | None = None,
    from_copy: RunWindows | None = None,
) -> tuple[list[date], list[float | None], tuple[str, ...]]:
    """The window starts, the figure of each (the judged window last), and notes (an event
    name PostHog has never seen...)."""
    starts, step, end = extent(rule, as_of)
    if rule.metric in ("funnel_conversion", "trend"):
        from usertrack.act.alerts_kept import kept_series

        first = datetime.combine(starts[0], datetime.min.time(), tzinfo=UTC)
        values, notes = kept_series(
            ws, rule, (first, end), lambda: _events_series(ws, rule, starts, end, progress)
        )
        return starts, values, notes
    if rule.metric in ("runs", "run_success_rate"):
        return starts, _run_windows(ws, rule, starts, step, end, progress, from_copy), ()
    # The weekly report's Neon figures (queries/neon/weekly_metrics.sql), one window a query.
    if progress:
        progress("running neon/weekly_metrics")
    out: list[float | None] = []
    # Every window at once, on the database's lanes (a dashboard's key metrics ran two already):
    # the first runs need every account's first run ever, so one window a query.
    wanted = {
        s.isoformat(): (
            "neon/weekly_metrics",
            datetime.combine(s + step, datetime.min.time(), tzinfo=UTC),
            {"days": step.days},
        )
        for s in starts
    }
    results = ws.run_queries(wanted)
    for s in starts:
        rows = results[s.isoformat()].as_dicts()
        row = rows[0] if rows else {}
        if rule.metric == "first_runs":
            out.append(float(row.get("first_runs") or 0))
        else:  # signup_to_first_run
            days = row.get("median_days_to_first_run")
            out.append(None if days is None else round(float(days), 2))
    return starts, out, ()


def _events_series(
    ws: Workspace,
    rule: MetricRule,
    starts: list[date],
    end: datetime,
    progress: Callable[[str], None] | None,
) -> tuple[list[float | None], tuple[str, ...]]:
    """A funnel's or a trend's figure of each window, and the notes, from the events."""
    if rule.metric == "funnel_conversion":
        from usertrack.analytics.common import DateRange
        from usertrack.analytics.funnel.run import funnel

        assert rule.within is not None
        until = end + rule.within  # at or before as_of
        span = DateRange(datetime.combine(starts[0], datetime.min.time()), naive_utc(until))
        found = funnel(ws, until, span, steps=list(rule.steps), window=rule.within,
                       trend=rule.interval, progress=progress)  # fmt: skip
        points = {p.start: p for p in found.trend}
        values: list[float | None] = []
        for s in starts:
            point = points.get(s)
            values.append(point.conversion_rate if point is not None and point.entered else None)
        return values, tuple(found.notes)
    if rule.metric == "trend":
        from usertrack.analytics.common import DateRange
        from usertrack.analytics.trends.maths import parse_math
        from usertrack.analytics.trends.run import trends

        span = DateRange(datetime.combine(starts[0], datetime.min.time()), naive_utc(end))
        counted = trends(ws, end, span, [rule.event], interval=rule.interval,
                         math=parse_math(rule.math), progress=progress)  # fmt: skip
        by_point = dict(zip(counted.points, counted.series[0].data, strict=True))
        counts: list[float | None] = [
            _plain(by_point.get(datetime.combine(s, datetime.min.time()), 0)) for s in starts
        ]
        return counts, tuple(counted.notes)
    raise AssertionError(rule.metric)


def _run_windows(
    ws: Workspace,
    rule: MetricRule,
    starts: list[date],
    step: timedelta,
    end: datetime,
    progress: Callable[[str], None] | None,
    from_copy: RunWindows | None = None,
) -> list[float | None]:
    """Runs, or the run success rate, of every window in one query (queries/neon/run_windows.sql
    counts them as weekly_metrics.sql does, window by window): the runs are read once, not
    once a window with every account's first run besides."""
    rows = from_copy.run_windows(end, step.days, len(starts)) if from_copy else None
    if rows is None:
        if progress:
            progress("running neon/run_windows")
        rows = ws.run_query("neon/run_windows", end, days=step.days, windows=len(starts)).as_dicts()
    by_end = {_day_of(row["window_end"]): row for row in rows}
    out: list[float | None] = []
    for s in starts:
        row = by_end.get(s + step, {})
        runs = int(row.get("runs") or 0)
        if rule.metric == "runs":
            out.append(float(runs))
        else:
            completed = int(row.get("runs_completed") or 0)
            out.append(round(100 * completed / runs, 2) if runs else None)
    return out


def _day_of(value: Any) -> date:
    """A window's end as the query gives it (a moment at midnight UTC) as its day."""
    if isinstance(value, datetime):
        return (value if value.tzinfo is None else value.astimezone(UTC)).date()
    return date.fromisoformat(str(value)[:10])


def _plain(value: Any) -> float:
    return round(float(value), 4)


def shown(value: float | None) -> str:
    """A figure as a message shows it: whole numbers without decimals, others with two."""
    if value is None:
        return "none"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def evaluate(
    ws: Workspace,
    rule: MetricRule,
    as_of: datetime,
    progress: Callable[[str], None] | None = None,
    from_copy: RunWindows | None = None,
) -> tuple[dict[str, Any], Verdict, tuple[str, ...]]:
    """The rule's figures at `as_of` and its verdict: ({window, value, low, high, recent...},
    verdict, notes). `from_copy`: the run figures from the local copy where it answers."""
    starts, values, notes = series(ws, rule, as_of, progress, from_copy)
    value, history = values[-1], values[:-1]
    verdict = judge(rule, value, history)
    label = starts[-1].isoformat() if rule.window == "1d" else f"week of {starts[-1]}"
    recent = [
        {"window": s.isoformat(), "value": v}
        for s, v in zip(starts[-RECENT_SHOWN:], values[-RECENT_SHOWN:], strict=True)
    ]
    figures = {
        "metric": rule.label(),
        "window": label,
        "value": value,
        "condition": rule.condition,
        # shown to 4 decimals; the judgement compared the exact figures
        "low": None if verdict.low is None else round(verdict.low, 4),
        "high": None if verdict.high is None else round(verdict.high, 4),
        # How the range is worked out (outside only)
        "range": f"mean ± {rule.k:g} sd of the previous {rule.history} windows"
        if rule.condition == "outside"
        else None,
        "recent": recent,
    }
    return figures, verdict, notes


def describe(rule: MetricRule, figures: dict[str, Any]) -> str:
    """One line: the value, the threshold or range it broke, and the recent values."""
    value = shown(figures["value"])
    if rule.condition == "below":
        bound = f"below {shown(rule.threshold)}"
    elif rule.condition == "above":
        bound = f"above {shown(rule.threshold)}"
    else:
        bound = f"outside {shown(figures['low'])} to {shown(figures['high'])} ({figures['range']})"
    recent = ", ".join(shown(r["value"]) for r in figures["recent"])
    return f"{figures['metric']} {figures['window']}: {value}, {bound}; recent: {recent}"
