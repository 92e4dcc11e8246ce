"""Retention results as JSON, csv and Markdown (the terminal's rich tables are in
usertrack.analytics.retention.view, which only the CLI imports)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from usertrack.analytics.common import csv_rows, md_section
from usertrack.analytics.proportions import THIN_SAMPLE, rate_text
from usertrack.analytics.retention.run import Retention
from usertrack.analytics.unfinished import MARK
from usertrack.core import style
from usertrack.rendering.export import md_table


def cohort_label(start: date, period: str) -> str:
    """A cohort as people read it: its day ('2026-11-21'), an hour's day and hour
    ('Nov 21 14:00', UTC)."""
    if period == "hour" and isinstance(start, datetime):
        return f"{start:%b %d %H:%M}"
    return style.day(start)


def cohort_stamp(start: date, period: str) -> str:
    """A cohort as a csv cell and a --persons cell name it: its day, an hour's
    '2026-11-21T14:00' (UTC)."""
    if period == "hour" and isinstance(start, datetime):
        return f"{start:%Y-%m-%dT%H:%M}"
    return style.day(start)


def retention_csv(r: Retention) -> str:
    """One row per cohort and period: the persons (accounts with --by-account) and their share
    of the cohort; then the average curve's rows (cohort `average`), and with --compare the
    previous range's."""
    rows: list[list[Any]] = []
    ranges = [("range", r.cohorts, r.average)]
    if r.previous is not None:
        ranges.append(("previous", r.previous, r.previous_average))
    ranges += [(f"{r.by} = {b.value}", [], b.average) for b in r.breakdown]  # averages only
    for name, cohorts, average in ranges:
        for c in cohorts:
            for k, n in enumerate(c.retained):
                share = round(100.0 * n / c.size, 1) if c.size else None
                rows.append([name, cohort_stamp(c.start, r.period), c.size, k, n, share])
        for p in average:
            doc = p.document()
            rows.append([name, "average", p.size, p.period, p.persons, doc["percent"]])
    unit = "accounts" if r.by_account else "persons"
    return csv_rows(["range", "cohort", "size", "period", unit, "percent"], rows)


def retention_average_cells(r: Retention) -> list[str]:
    """The average curve as cells under the cohorts' columns: its size, then each period's."""
    cells = [style.count(sum(c.size for c in r.cohorts))]
    cells += [_rate(p) for p in r.average]
    return cells


BREAKDOWN_NONE = "(none)"


def retention_breakdown_cells(r: Retention) -> tuple[list[str], list[list[str]]]:
    """--by: a row per value, its size and its average curve's rates."""
    n = max((len(b.average) for b in r.breakdown), default=0)
    headers = [str(r.by), "Size", *(f"{r.period.capitalize()} {k}" for k in range(n))]
    rows = []
    for b in r.breakdown:
        cells = [b.value or BREAKDOWN_NONE, style.count(sum(c.size for c in b.cohorts))]
        cells += [_rate(p) for p in b.average]
        rows.append(cells + [""] * (len(headers) - len(cells)))
    return headers, rows


def _rate(p: Any) -> str:
    return style.pct(p.rate)


def _sampled(p: Any) -> str:
    """A point's rate, with its sample and 95% interval when under THIN_SAMPLE persons."""
    if p.rate is None or p.size >= THIN_SAMPLE:
        return _rate(p)
    return rate_text(round(p.rate, 1), p.persons, p.size)


def retention_day_points(r: Retention) -> str:
    """`Day 1 40.0% · Day 7 ...` of the average curve, daily cohorts only."""
    parts = [f"day {d} {_sampled(p) if p else 'not reached'}" for d, p in r.day_points]
    return "Average of the cohorts: " + " · ".join(parts) if parts else ""


COMPARE_RETENTION_HEADERS = ["Period", "This range", "Previous", "Change", "p", "Verdict"]


def retention_change_cells(r: Retention) -> list[list[str]]:
    rows = []
    for c in r.changes:
        doc = c.document()
        change = doc["change"]
        rows.append(
            [
                str(c.period),
                f"{_rate(c.now)} of {style.count(c.now.size)}",
                f"{_rate(c.before)} of {style.count(c.before.size)}",
                "-" if change is None else f"{style.signed(change)} pts",
                "-" if c.p_value is None else f"{c.p_value:.3f}",
                c.verdict,
            ]
        )
    return rows


def retention_compare_about(r: Retention) -> str:
    if not r.previous:
        return ""
    return (
        "Average curve against the previous range's cohorts"
        f" ({cohort_label(r.previous[0].start, r.period)}"
        f" to {cohort_label(r.previous[-1].start, r.period)}): two-proportion z-test, changed"
        " when p < 0.05;"
        " too few to tell when a range expects under 5 persons retained or not"
    )


def retention_about(r: Retention) -> str:
    back = r.return_label
    if r.min_occurrences > 1:
        back += f" at least {r.min_occurrences} times in a {r.period}"
    if r.cumulative:
        back += f", cumulative (back in that {r.period} or a later one)"
    counted = ", accounts counted (an account starts and returns when any member does)"
    return (
        f"{r.mode} cohorts of {r.start_label} by {r.period}, returning with {back},"
        f" as of {style.moment(r.as_of)}{counted if r.by_account else ''}"
    )


def running_footnote(r: Retention) -> str:
    """The footnote of a table with a cell whose period has not ended by as_of, or ''."""
    if not any(c.retained and r.running(c, len(c.retained) - 1) for c in r.cohorts):
        return ""
    return (
        f"{MARK} the {r.period} holding the as-of ({style.moment(r.as_of)}) has not ended:"
        " that share still grows, not a drop."
    )


def retention_markdown(r: Retention) -> str:
    n = max((len(c.retained) for c in r.cohorts), default=0)
    headers = ["Cohort", "Size", *(f"{r.period.capitalize()} {k}" for k in range(n))]
    rows = []
    for c in r.cohorts:
        cells = [cohort_label(c.start, r.period), style.count(c.size)]
        for k in range(n):
            if k < len(c.retained):
                v = c.retained[k]
                mark = f" {MARK}" if r.running(c, k) else ""  # the diagonal still counting
                shown = f"{style.count(v)} · {style.share(v, c.size)}" if c.size else "0"
                cells.append(shown + mark)
            else:
                cells.append("")
        rows.append(cells)
    average = retention_average_cells(r)
    rows.append(["Average", *average, *[""] * (n + 1 - len(average))])
    lines = [style.md_text(retention_about(r) + ".")]
    tables = [md_table(headers, rows)]
    if running_footnote(r):
        tables.append(f"\n{style.md_text(running_footnote(r))}\n")
    if r.day_points:
        lines.append(style.md_text(retention_day_points(r) + "."))
    if r.by is not None:
        by_headers, by_cells = retention_breakdown_cells(r)
        tables.append(style.md_text(f"Average curve by {r.by} (first touch).") + "\n")
        tables.append(md_table(by_headers, by_cells))
    if r.previous is not None:
        tables.append(style.md_text(retention_compare_about(r) + ".") + "\n")
        tables.append(md_table(COMPARE_RETENTION_HEADERS, retention_change_cells(r)))
    return md_section("Retention", lines, tables)
