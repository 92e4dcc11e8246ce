"""Trends in the terminal (rich). Only the CLI imports this module.

Event names and breakdown values come from whoever sends events: every data cell is a rich
`Text` via `terminal.plain`, never markup; tables fit the console (`terminal.fitted_table`).
"""

from __future__ import annotations

from rich.console import Console

from usertrack.analytics.common import sparkline
from usertrack.analytics.trends.render import (
    about,
    change_text,
    point_labels,
    points_footnote,
    value_text,
)
from usertrack.analytics.trends.run import Trends
from usertrack.rendering.terminal import Col, fitted_table, plain


def render_trends(console: Console, t: Trends) -> None:
    summary = []
    for s in t.series:
        row = [
            plain(s.label),
            plain(sparkline(s.data), style_="cyan"),
            plain(value_text(s.data[-1] if s.data else 0)),
            plain(value_text(max(s.data, default=0))),
            plain(value_text(t.summed(s))),
        ]
        if t.previous is not None:
            row.extend(plain(x) for x in change_text(t, s))
        summary.append(row)
    cols = [Col("Series", wrap=True), Col("Trend", drop=1), Col("Last", right=True),
            Col("Max", right=True, drop=2), Col(t.headline.capitalize(), right=True)]  # fmt: skip
    if t.previous is not None:
        cols += [Col("Previous", right=True), Col("Change", right=True)]
    console.print(fitted_table(console.width, cols, summary, title=plain(f"Trends: {about(t)}")))
    columns = [Col("Point"), *(Col(s.label, right=True, drop=1) for s in t.series)]
    rows = [
        [plain(label), *(plain(value_text(s.data[i])) for s in t.series)]
        for i, label in enumerate(point_labels(t))
    ]
    console.print(fitted_table(console.width, columns, rows, caption=points_footnote(t) or None))
