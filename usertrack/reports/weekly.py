"""The weekly report (Markdown): the analyst workflow's key metrics, segment movement, failures,
UX, traffic.

The week. A report covers one ISO week, Monday 00:00 UTC to the next Monday 00:00 UTC, as
(start, end] like every query window, and compares with the week before it. By default it is the
last complete week (on the demo: the last one before the end of its data); with --as-of, the week
containing that moment (a Monday 00:00 closes the week before it). The file is named by that
week: `usertrack-2026-W46.md` covers Monday 9 to Sunday 15 November 2026, whatever --as-of in it
was given, and the queries look from the week's end so that they all write the same file.
An existing report is replaced only when forced, and left alone when the new text is identical.

The same inputs give a byte-identical file: there is no generation timestamp, every list has a
stable order (ties broken by email or name), and numbers are formatted here, not by the template.

The text comes from a jinja2 template (`usertrack/reports/templates/weekly.md.j2`, or
`--template`). The template gets plain data (see `build_weekly`'s context) and filters: `table`
(a Markdown table from headers and rows), `signed` (+3 / -2), `num`, `quote` and `code`. Every
`{{ ... }}` is escaped Markdown unless a filter (or usertrack, with `style.Markdown`) wrote
Markdown, so a value from the data never becomes a link, an image or HTML. Charts are mermaid
blocks, which GitHub renders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.core import style
from usertrack.core.errors import UsageError
from usertrack.engines.concurrency import Background
from usertrack.reports.weekly_template import WEEKLY_TEMPLATE as WEEKLY_TEMPLATE  # the command's
from usertrack.reports.weekly_template import render_weekly as render_weekly  # for the tests
from usertrack.segments.history import Changes, Snapshot, compare
from usertrack.segments.rules import rule_columns

if TYPE_CHECKING:
    from usertrack.engines.base import Result
    from usertrack.segments.history import History
    from usertrack.segments.rules import Classification
    from usertrack.workspace import Workspace

Progress = Callable[[str], None]

WEEK = timedelta(days=7)
CHART_DAYS = 35  # the daily active users chart: the last five weeks
TOP_USERS = 5  # users shown per segment
MOVERS_SHOWN = 10  # emails listed per segment for "entered" and "left"
TABLE_ROWS = 10  # rows of the failure, UX and traffic tables


# --------------------------------------------------------------------------------------------
# The week


@dataclass(frozen=True)
class ReportWeek:
    """One ISO week, Monday 00:00 UTC to the next Monday 00:00 UTC, named by that week.

    Like every query window it is (start, end]: a moment at Monday 00:00 belongs to the week
    that ends there, so `--as-of 2026-11-16` (a Monday) is the whole week before it.
    """

    start: datetime
    end: datetime

    @classmethod
    def containing(cls, moment: datetime) -> ReportWeek:
        """The ISO week whose (Monday, next Monday] holds `moment`."""
        moment = moment.astimezone(UTC)
        monday = datetime.combine(
            moment.date() - timedelta(days=moment.weekday()), time(0, 0), tzinfo=UTC
        )
        if moment == monday:  # Monday 00:00 closes the week before
            monday -= WEEK
        return cls(start=monday, end=monday + WEEK)

    @classmethod
    def last_complete(cls, moment: datetime) -> ReportWeek:
        """The last week that is over at `moment` (its end is at or before it)."""
        week = cls.containing(moment)
        return week if week.end <= moment else week.previous()

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        """The Sunday: the last calendar day (UTC) of the week."""
        return (self.end - timedelta(microseconds=1)).date()

    @property
    def iso(self) -> tuple[int, int]:
        year, week, _ = self.first_day.isocalendar()
        return year, week

    @property
    def label(self) -> str:
        year, week = self.iso
        return f"{year}-W{week:02d}"

    @property
    def file_name(self) -> str:
        return f"usertrack-{self.label}.md"

    def previous(self) -> ReportWeek:
        return ReportWeek(start=self.start - WEEK, end=self.start)

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "iso_year": self.iso[0],
            "iso_week": self.iso[1],
            "start": style.moment(self.start),
            "end": style.moment(self.end),
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "first_weekday": self.first_day.strftime("%a"),
            "last_weekday": self.last_day.strftime("%a"),
            "whole_days": self.end.time() == time(0, 0),
            "file_name": self.file_name,
        }


def week_until(ws: Workspace, week: ReportWeek) -> datetime:
    """Where the report of `week` ends: the week's end, or, for a week that is not over, where
    the data ends (now; on the demo, the end of its data). A week's numbers are then to date:
    averages over the days begun, and no figure or header after that moment."""
    return min(week.end, ws.default_as_of())


def days_begun(week: ReportWeek, until: datetime) -> int:
    """The calendar days of `week` that had begun by `until` (7 for a week that is over)."""
    return max(1, min(7, math.ceil((until - week.start) / timedelta(days=1))))


def report_week(ws: Workspace, given: datetime | None) -> ReportWeek:
    """The week containing --as-of, else the last complete week (on the demo: before its end)."""
    if given is not None:
        return ReportWeek.containing(given)
    return ReportWeek.last_complete(ws.default_as_of())


# --------------------------------------------------------------------------------------------
# Key metrics (the analyst workflow's table, with its Good and Excellent thresholds)


@dataclass(frozen=True)
class Metric:
    id: str
    name: str
    source: str
    unit: str  # "people", "%" or "days"
    higher_is_better: bool
    good: float
    excellent: float
    good_text: str
    excellent_text: str
    definition: str
    good_inclusive: bool = False  # "5% of visitors" is Good at 5 % itself


METRICS: tuple[Metric, ...] = (
    Metric(
        "dau",
        "Average DAU",
        "PostHog",
        "people",
        True,
        10,
        50,
        "> 10",
        "> 50",
        "average daily active people (identified or anonymous, with any event) over the week's"
        " days (as `usertrack activity` counts them)",
    ),
    Metric(
        "mcp_connect_rate",
        "MCP connect rate",
        "PostHog",
        "%",
        True,
        5,
        10,
        "5% of visitors",
        "> 10%",
        "share of the week's visitors who clicked to connect an MCP server",
        good_inclusive=True,
    ),
    Metric(
        "signup_to_first_run",
        "Signup to first run",
        "Neon",
        "days",
        False,
        7,
        1,
        "< 7 days",
        "< 1 day",
        "median days from signup to the first run, over accounts whose first run was this week",
    ),
    Metric(
        "run_success_rate",
        "Run success rate",
        "Neon",
        "%",
        True,
        80,
        95,
        "> 80%",
        "> 95%",
        "completed runs out of all runs started this week",
    ),
    Metric(
        "credit_utilization",
        "Credit utilization",
        "Neon",
        "%",
        True,
        20,
        50,
        "> 20% using",
        "> 50% using",
        "share of accounts with fewer than 100 credits left (current balances)",
    ),
)


def metric_status(metric: Metric, value: float | None) -> str:
    """The status of `value` as the report shows it (one decimal): 0.958 days shows as "1.0 d",
    and "1.0 d" against "< 1 day" is not Excellent."""
    if value is None:
        return "n/a"
    value = round(value, 1)
    if metric.higher_is_better:
        if value > metric.excellent:
            return "Excellent"
        good = value >= metric.good if metric.good_inclusive else value > metric.good
        return "Good" if good else "Below target"
    if value < metric.excellent:
        return "Excellent"
    return "Good" if value < metric.good else "Below target"


def _ratio(part: Any, whole: Any) -> float | None:
    if part is None or not whole:
        return None
    return 100.0 * float(part) / float(whole)


def _fmt_value(metric: Metric, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric.unit == "%":
        return style.pct(value)
    if metric.unit == "days":
        return f"{value:.1f} d"
    return f"{value:.1f}"


def metric_display(metric: Metric, value: float | None, sample: tuple[Any, Any]) -> str:
    """A metric's value as the table shows it; a rate over fewer than THIN_SAMPLE (`sample`: its
    part and whole) with its sample and 95% interval, `7.7% (2 of 26; 2.1-24.1%)`, as
    retention's and a funnel's thin rates."""
    from usertrack.analytics.proportions import THIN_SAMPLE, rate_text

    part, whole = sample
    if value is None or metric.unit != "%" or not isinstance(whole, int) or whole >= THIN_SAMPLE:
        return _fmt_value(metric, value)
    return rate_text(value, int(part or 0), whole)


def _interval(sample: tuple[Any, Any]) -> dict[str, Any]:
    """A rate metric's JSON sample (its whole) and Wilson's 95% interval, as retention's points."""
    from usertrack.analytics.proportions import wilson

    part, whole = sample
    if not isinstance(whole, int) or whole <= 0:
        return {}
    low, high = wilson(int(part or 0), whole) or (0.0, 0.0)
    return {"sample": whole, "low": round(low, 1), "high": round(high, 1)}


def _fmt_change(metric: Metric, now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return "n/a"
    delta = round(now, 1) - round(before, 1)
    if abs(delta) < 0.05:
        return "±0"
    unit = {"%": " pp", "days": " d"}.get(metric.unit, "")
    return f"{delta:+.1f}{unit}"


def _trend(metric: Metric, now: float | None, before: float | None) -> str:
    if now is None or before is None or abs(round(now, 1) - round(before, 1)) < 0.05:
        return "steady"
    better = (now > before) == metric.higher_is_better
    return "better" if better else "worse"


# --------------------------------------------------------------------------------------------
# Running the queries


@dataclass
class WeeklyData:
    """Everything the report shows, before formatting."""

    week: ReportWeek
    until: datetime  # the week's end, or where its data ends when it is not over (to date)
    current: Classification
    baseline: Snapshot
    changes: Changes
    tables: dict[str, Result]
    failure_categories: tuple[list[str], list[list[Any]]] | None
    failure_categories_note: str
    workspace: str


# (result key, query id, extra params, which week)
_TABLE_QUERIES: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    ("daily_active", "posthog/daily_active", {"days": CHART_DAYS}, "this"),
    ("visitors", "posthog/weekly_visitors", {"days": 7}, "this"),
    ("visitors_before", "posthog/weekly_visitors", {"days": 7}, "previous"),
    ("ux_pages", "posthog/ux_pages", {"days": 7}, "this"),
    ("referrers", "posthog/referrers", {"days": 7}, "this"),
    ("neon_metrics", "neon/weekly_metrics", {"days": 7}, "this"),
    ("neon_metrics_before", "neon/weekly_metrics", {"days": 7}, "previous"),
    ("failing_tools", "neon/failing_tools", {"days": 7, "limit": TABLE_ROWS}, "this"),
    ("failing_runs", "neon/failing_runs", {"days": 7, "limit": TABLE_ROWS}, "this"),
)


def run_report_queries(
    ws: Workspace,
    week: ReportWeek,
    progress: Progress | None,
    copied_now: Callable[[], None] = lambda: None,
) -> dict[str, Result]:
    """The report's table queries; the sources run at once (Workspace.run_queries). The key
    metrics, the failing tools and the failing runs come from the checked local copy of the
    app's tables where it answers (usertrack.reports.weekly_copy); `copied_now` is called once
    those are done, before the other queries."""
    from usertrack.reports.weekly_copy import from_copy

    wanted = {
        key: (query_id, week.end if which == "this" else week.start, params)
        for key, query_id, params, which in _TABLE_QUERIES
    }
    copied = from_copy(ws, wanted, progress)
    copied_now()
    found = ws.run_queries({k: v for k, v in wanted.items() if k not in copied}, progress)
    return {key: copied[key] if key in copied else found[key] for key in wanted}


def failure_categories(
    ws: Workspace, week: ReportWeek
) -> tuple[tuple[list[str], list[list[Any]]] | None, str]:
    """The week's failures by category (failures.yaml), workflow and tool level side by side."""
    from usertrack.core.config import resolve_failures_file
    from usertrack.reports.failures import failure_report, load_failure_rules

    rules = load_failure_rules(resolve_failures_file(None))
    rows = failure_report(ws, rules, week.end, days=7).categories
    if not rows:
        return ([], []), "No failures this week."
    columns = list(rows[0])
    return (columns, [[r.get(c) for c in columns] for r in rows]), ""


def collect_weekly(
    ws: Workspace,
    as_of: datetime,
    *,
    history: History | None = None,
    progress: Progress | None = None,
) -> WeeklyData:
    """Classify this week and last week (or take last week's snapshot), run the report queries."""
    import threading

    from usertrack.segments.history import baseline_for, workspace_identity

    week = ReportWeek.containing(as_of)
    until = week_until(ws, week)
    # The report's queries and the failure report do not wait for the classification: they
    # run beside it, on the database's other connections. The failure report waits for the
    # report's answers from the app tables' copy alone, not for its other queries: the copy is
    # then checked for both weeks, the failure report's one among them (checked at once, each
    # would read the week's rows from the database).
    checked = threading.Event()

    def report_tables() -> dict[str, Result]:
        try:
            return run_report_queries(ws, week, progress, checked.set)
        finally:
            checked.set()

    def by_category() -> tuple[tuple[list[str], list[list[Any]]] | None, str]:
        checked.wait()
        return failure_categories(ws, week)

    with (
        Background(report_tables) as tables_later,
        Background(by_category) as failures_later,
    ):
        current = ws.classify(until, progress)
        baseline = baseline_for(ws, history, week.start, progress)
        changes = compare(baseline, Snapshot.of(current), current.segments)
        if ws.scope.shared is not None:  # a dashboard's segments and alerts panels read the same
            ws.scope.shared[("changes", week.start, current.as_of)] = (baseline, changes)
        tables = tables_later.result()
        categories, note = failures_later.result()
    return WeeklyData(
        week=week,
        until=until,
        current=current,
        baseline=baseline,
        changes=changes,
        tables=tables,
        failure_categories=categories,
        failure_categories_note=note,
        workspace=workspace_identity(ws),
    )


# --------------------------------------------------------------------------------------------
# The template's context


def _cell(value: Any, column: str | None = None) -> str:
    """A value as a report cell, in the house style (usertrack.core.style)."""
    return style.human(value, column)


def _first(result: Result) -> dict[str, Any]:
    rows = result.as_dicts()
    return rows[0] if rows else {}


def _metrics(data: WeeklyData) -> list[dict[str, Any]]:
    t = data.tables
    daily = _daily_series(t["daily_active"], CHART_DAYS)
    counts = [row["active_users"] for row in reversed(daily)]  # newest first
    # The series ends with the week's Sunday: the days not begun are left out of the average.
    begun = days_begun(data.week, data.until)
    this_week = counts[7 - begun : 7]
    dau_now = sum(this_week) / begun
    dau_before = sum(counts[7:14]) / 7
    vis, vis_b = _first(t["visitors"]), _first(t["visitors_before"])
    neon, neon_b = _first(t["neon_metrics"]), _first(t["neon_metrics_before"])

    def median_days(row: Mapping[str, Any]) -> float | None:
        value = row.get("median_days_to_first_run")
        return None if value is None else float(value)

    values: dict[str, tuple[float | None, float | None]] = {
        "dau": (dau_now, dau_before),
        "mcp_connect_rate": (
            _ratio(vis.get("mcp_clickers"), vis.get("visitors")),
            _ratio(vis_b.get("mcp_clickers"), vis_b.get("visitors")),
        ),
        "signup_to_first_run": (median_days(neon), median_days(neon_b)),
        "run_success_rate": (
            _ratio(neon.get("runs_completed"), neon.get("runs")),
            _ratio(neon_b.get("runs_completed"), neon_b.get("runs")),
        ),
        "credit_utilization": (
            _ratio(neon.get("accounts_using_credits"), neon.get("accounts")),
            _ratio(neon_b.get("accounts_using_credits"), neon_b.get("accounts")),
        ),
    }
    basis = {
        "dau": f"{sum(this_week):,} person-days" + ("" if begun == 7 else f" in {begun} days"),
        "mcp_connect_rate": (
            f"{vis.get('mcp_clickers', 0):,} of {vis.get('visitors', 0):,} visitors"
        ),
        "signup_to_first_run": f"{neon.get('first_runs', 0):,} first runs",
        "run_success_rate": f"{neon.get('runs_completed', 0):,} of {neon.get('runs', 0):,} runs",
        "credit_utilization": (
            f"{neon.get('accounts_using_credits', 0):,} of {neon.get('accounts', 0):,} accounts"
        ),
    }
    samples = {  # a rate's part and whole, this week's and the week before's
        "mcp_connect_rate": ((vis.get("mcp_clickers"), vis.get("visitors")),
                             (vis_b.get("mcp_clickers"), vis_b.get("visitors"))),
        "run_success_rate": ((neon.get("runs_completed"), neon.get("runs")),
                             (neon_b.get("runs_completed"), neon_b.get("runs"))),
        "credit_utilization": ((neon.get("accounts_using_credits"), neon.get("accounts")),
                               (neon_b.get("accounts_using_credits"), neon_b.get("accounts"))),
    }  # fmt: skip
    out = []
    for m in METRICS:
        now, before = values[m.id]
        sample, sample_before = samples.get(m.id, ((None, None), (None, None)))
        out.append(
            {
                "id": m.id,
                "name": m.name,
                "source": m.source,
                "definition": style.Markdown(m.definition),  # ours, with `code` in it
                "value": None if now is None else round(now, 4),
                "previous": None if before is None else round(before, 4),
                "display": style.Markdown(metric_display(m, now, sample)),
                "previous_display": style.Markdown(metric_display(m, before, sample_before)),
                "change": style.Markdown(_fmt_change(m, now, before)),
                "trend": _trend(m, now, before),
                "status": metric_status(m, now),
                "previous_status": metric_status(m, before),
                "good": style.Markdown(m.good_text),
                "excellent": style.Markdown(m.excellent_text),
                "basis": style.Markdown(basis[m.id]),
                **_interval(sample),
            }
        )
    return out


def _daily_series(result: Result, days: int) -> list[dict[str, Any]]:
    """Oldest first, every day present (0 when nobody came)."""
    by_day = {int(r["days_ago"]): int(r["active_users"]) for r in result.as_dicts()}
    return [{"days_ago": k, "active_users": by_day.get(k, 0)} for k in range(days - 1, -1, -1)]


def _nice_max(value: float) -> int:
    """A round axis maximum above `value` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 10
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * power
        if top > value:
            return math.ceil(top)
    return int(10 * power)


def _chart_labels(end: datetime, days: int) -> list[str]:
    """The day each 24-hour period ends in, written as the other charts' date axes write a day
    (Nov 16), oldest first."""
    return [
        (end - timedelta(days=k) - timedelta(microseconds=1)).strftime("%b %d")
        for k in range(days - 1, -1, -1)
    ]


# Friendlier table headers for the shipped queries' columns; other columns show as they are.
HEADERS = {
    "tool_name": "Tool",
    "tool_provider": "Provider",
    "calls": "Calls",
    "failures": "Failures",
    "failure_rate": "Failure rate",
    "affected_users": "Affected users",
    "failed_runs": "Failed runs",
    "error": "Error",
    "first_failed_at": "First",
    "last_failed_at": "Last",
    "page": "Page",
    "rage_clicks": "Rage clicks",
    "exceptions": "Exceptions",
    "people": "People",
    "referring_domain": "Referring domain",
    "pageviews": "Pageviews",
    "visitors": "Visitors",
}


def _table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int = TABLE_ROWS
) -> dict[str, Any]:
    return {
        "columns": list(columns),
        "headers": [HEADERS.get(c) or style.human_header(c) for c in columns],
        "rows": [[_cell(v, c) for v, c in zip(row, columns, strict=True)] for row in rows[:limit]],
        "total": len(rows),
    }


def _result_table(result: Result) -> dict[str, Any]:
    return _table(result.columns, result.rows)


def _movers(label: str, nobody: str, emails: Sequence[str]) -> str:
    """'Entered (12): a, b, … and 2 more' (the first MOVERS_SHOWN, by email), as Markdown."""
    if not emails:
        return style.Markdown(nobody)
    shown = style.LIST_SEP.join(style.md_text(e) for e in emails[:MOVERS_SHOWN])
    more = f" … and {len(emails) - MOVERS_SHOWN:,} more" if len(emails) > MOVERS_SHOWN else ""
    return style.Markdown(f"{label} ({len(emails):,}): {shown}{more}")


def _segments(data: WeeklyData) -> list[dict[str, Any]]:
    cur = data.current
    names = {s.id: s.name for s in cur.segments}  # humans read segment names, not ids
    # each segment's first TOP_USERS members, in one query (not every member's row)
    firsts = cur.members_of([s.id for s in cur.segments], TOP_USERS)
    out = []
    for seg in cur.segments:
        move = data.changes.get(seg.id)
        cols = rule_columns(seg, cur.columns)
        members = firsts[seg.id]
        top = [
            {
                "email": u["email"],
                "cells": [_cell(u[c], c) for c in cols],
                "also_in": [names.get(s, s) for s in u["segments"] if s != seg.id],
            }
            for u in members[:TOP_USERS]
        ]
        out.append(
            {
                "id": seg.id,
                "name": seg.name,
                "action": seg.action,
                "description": seg.description,
                "rule": seg.rule,
                "count": cur.counts[seg.id],
                "previous": move.before,
                "change": move.change,
                "entered": list(move.entered),
                "left": list(move.left),
                "entered_count": len(move.entered),
                "left_count": len(move.left),
                "entered_shown": list(move.entered[:MOVERS_SHOWN]),
                "left_shown": list(move.left[:MOVERS_SHOWN]),
                "entered_text": _movers("Entered", "Nobody entered.", move.entered),
                "left_text": _movers("Left", "Nobody left.", move.left),
                "columns": cols,
                "top": top,
                "top_rows": [
                    [t["email"], *t["cells"], style.LIST_SEP.join(t["also_in"])] for t in top
                ],
                "top_headers": ["Email", *(style.human_header(c) for c in cols), "Also in"],
            }
        )
    return out


def build_context(data: WeeklyData) -> dict[str, Any]:
    """The template's data: plain values and preformatted text, in a stable order."""
    week, prev = data.week, data.week.previous()
    begun = days_begun(week, data.until)
    # The days not begun are not on the chart (a 0 there would read as nobody came).
    daily = _daily_series(data.tables["daily_active"], CHART_DAYS)[: CHART_DAYS - (7 - begun)]
    labels = _chart_labels(week.end, CHART_DAYS)[: len(daily)]
    segments = _segments(data)
    categories = None
    if data.failure_categories is not None:
        categories = _table(*data.failure_categories)
    return {
        "week": week.describe(),
        "previous_week": prev.describe(),
        "as_of": style.moment(data.until),
        "to_date": data.until < week.end,
        "days_begun": begun,
        "workspace": data.workspace,
        "demo": data.workspace.startswith("demo:"),
        # counts the classification keeps: no user's row is fetched for them
        "users_total": data.current.user_count,
        "users_segmented": data.current.segmented_count,
        "metrics": _metrics(data),
        "daily_active": [{"label": label, **row} for label, row in zip(labels, daily, strict=True)],
        "baseline": {
            "as_of": style.moment(data.baseline.as_of),
            "source": data.baseline.source,
        },
        "warnings": list(data.current.warnings),  # e.g. current-only columns in a past week
        "segments": segments,
        "failing_tools": _result_table(data.tables["failing_tools"]),
        "failing_runs": _result_table(data.tables["failing_runs"]),
        "failure_categories": categories,
        "failure_categories_note": data.failure_categories_note,
        "ux_pages": _result_table(data.tables["ux_pages"]),
        "referrers": _result_table(data.tables["referrers"]),
        "charts": {
            "dau_max": _nice_max(max((d["active_users"] for d in daily), default=0)),
            "segments_max": _nice_max(max((s["count"] for s in segments), default=0)),
        },
        "limits": {
            "top_users": TOP_USERS,
            "movers": MOVERS_SHOWN,
            "table_rows": TABLE_ROWS,
            "chart_days": CHART_DAYS,
        },
    }


# --------------------------------------------------------------------------------------------
# Writing (the template's rendering is in usertrack.reports.weekly_template)


def write_report(
    path: Path, text: str, *, force: bool = False, beside: Mapping[Path, str] | None = None
) -> str:
    """Write the report atomically; 'wrote', 'replaced' or 'unchanged' (identical: not touched).
    `beside`: files written with it (its charts), all of them and the report or none.

    A different report already there is kept unless `force`: a re-run never loses an edited or
    older copy by surprise, nor the charts beside it.
    """
    from usertrack.rendering.output import write_together

    new = text.encode("utf-8")
    try:
        old: bytes | None = path.read_bytes()
    except FileNotFoundError:
        old = None
    except IsADirectoryError:
        raise UsageError(f"cannot write {path}: it is a folder") from None
    if old == new:
        if beside:  # the same charts, written again where one went missing
            write_together(beside)
        return "unchanged"
    if old is not None and not force:
        raise UsageError(
            f"{path} already exists and differs from this run's report: add --force to replace it"
        )
    write_together({**(beside or {}), path: text})
    return "wrote" if old is None else "replaced"
