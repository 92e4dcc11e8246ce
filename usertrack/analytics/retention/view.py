"""Retention in the terminal (rich). Only the CLI imports this module.

Every data cell is a rich `Text` via `terminal.plain` (breakdown values come from whoever sends
events: never markup); tables fit the console (`terminal.fitted_table`).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from usertrack.analytics.retention.render import (
    COMPARE_RETENTION_HEADERS,
    cohort_label,
    retention_about,
    retention_average_cells,
    retention_breakdown_cells,
    retention_change_cells,
    retention_compare_about,
    retention_day_points,
    running_footnote,
)
from usertrack.analytics.retention.run import Retention
from usertrack.analytics.unfinished import MARK
from usertrack.core import style
from usertrack.rendering.terminal import Col, fitted_table, plain

# Retention heatmap: a cell's background by the share of its cohort (the darkest under 10%).
HEAT = ((80, "bold black on green1"), (60, "black on green3"), (40, "white on green4"),
        (20, "white on dark_green"), (10, "white on grey30"), (0, "white on grey19"))  # fmt: skip


def _heat(share: float) -> str:
    return next(s for floor, s in HEAT if share >= floor)


def render_retention(console: Console, r: Retention) -> None:
    n = max((len(c.retained) for c in r.cohorts), default=0)
    cols = [Col("Cohort"), Col("Size", right=True)]
    # The furthest periods go first when the terminal is narrow.
    cols += [Col(str(k), right=True, drop=(n - k) if k else 0) for k in range(n)]
    rows = []
    for c in r.cohorts:
        cells: list[Text] = [plain(cohort_label(c.start, r.period)), plain(style.count(c.size))]
        for k in range(n):
            if k >= len(c.retained):
                cells.append(plain(""))
            elif not c.size:
                cells.append(plain("-"))
            else:
                share = 100.0 * c.retained[k] / c.size
                mark = f" {MARK}" if r.running(c, k) else ""
                cells.append(plain(style.pct(share) + mark, style_=_heat(share)))
        rows.append(cells)
    average = retention_average_cells(r)
    rows.append(
        [plain("Average", style_="bold"), *(plain(c, style_="bold") for c in average)]
        + [plain("")] * (n + 1 - len(average))
    )
    console.print(
        fitted_table(
            console.width,
            cols,
            rows,
            title=f"Retention: {retention_about(r)}",
            caption=f"Columns are {r.period}s after the cohort's; cells are the cohort's share;"
            " Average weighs each cohort by its size, over the periods ended by as of."
            + (f" {running_footnote(r)}" if running_footnote(r) else ""),
        )
    )
    if r.day_points:
        console.print(plain(retention_day_points(r)))
    if r.by is not None:
        by_headers, by_cells = retention_breakdown_cells(r)
        by_cols = [Col(h, right=i > 0) for i, h in enumerate(by_headers)]
        by_rows = [[plain(c) for c in row] for row in by_cells]
        title = plain(f"Average curve by {r.by} (first touch of {r.start_label})")
        console.print(fitted_table(console.width, by_cols, by_rows, title=title))
    if r.previous is not None:
        change_cols = [Col(h, right=h not in ("Verdict",)) for h in COMPARE_RETENTION_HEADERS]
        changes = [[plain(c) for c in row] for row in retention_change_cells(r)]
        console.print(
            fitted_table(
                console.width, change_cols, changes, title=plain(retention_compare_about(r))
            )
        )
