"""Activity in the terminal (rich). Only the CLI imports this module.

Every data cell is a rich `Text` via `terminal.plain`, never markup; tables fit the console
(`terminal.fitted_table`).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from usertrack.analytics.activity.render import (
    LIFECYCLE_HEADERS,
    activity_compared,
    activity_headline,
    day_labels,
    days_footnote,
    days_shown,
    lifecycle_cells,
    lifecycle_footnote,
)
from usertrack.analytics.activity.run import WEEKDAYS, Activity
from usertrack.analytics.common import sparkline
from usertrack.core import style
from usertrack.rendering.terminal import Col, fitted_table, plain

# Heatmap shades, lightest to darkest, by the cell's share of the busiest hour.
SHADES = (" ", "░", "▒", "▓", "█")


def _series_lines(a: Activity) -> Text:
    text = Text()
    labels = day_labels(a)
    text.append(f"Daily, {labels[0]} to {labels[-1]}\n", style="bold")
    rows: list[tuple[str, list[int | None]]] = [
        ("DAU", [d.dau for d in a.days]),
        ("WAU", [d.wau for d in a.days]),
        ("MAU", [d.mau for d in a.days]),
        ("Sessions", [d.sessions for d in a.days]),
        ("Events", [d.events for d in a.days]),
    ]
    for name, counted in rows:
        values = [v for v in counted if v is not None]
        if len(values) < len(counted):  # not counted (a segment group's days)
            continue
        text.append(f"{name} ")
        text.append(sparkline(values), style="cyan")
        text.append(f" {style.count(values[-1])} (max {style.count(max(values))})\n")
    if days_footnote(a):
        text.append(f"{days_footnote(a)}\n", style="dim")
    return text


def _heatmap(a: Activity) -> Text:
    seen = [e for e, _ in a.hours.values() if e]
    top, low = max(seen, default=0), min(seen, default=0)
    text = Text()
    text.append("Events by weekday and hour (UTC)\n", style="bold")
    text.append("    " + "".join(f"{h:<6d}" for h in range(0, 24, 3)) + "\n")
    for wd in range(1, 8):
        text.append(f"{WEEKDAYS[wd - 1]} ")
        for h in range(24):
            events = a.hours.get((wd, h), (0, 0))[0]
            # from the quietest hour with events (░) to the busiest (█)
            level = 0 if not events else 1 + round(3 * (events - low) / max(top - low, 1))
            text.append(SHADES[min(level, 4)] * 2, style="green")
        text.append("\n")
    text.append(
        f"    █ busiest hour: {style.count(top)} events; ░ quietest: {style.count(low)};"
        " blank: none\n",
        style="dim",
    )
    return text


def render_activity(console: Console, a: Activity) -> None:
    console.print(plain(f"Activity as of {style.moment(a.as_of)}, {days_shown(a)}"), style="bold")
    console.print(plain(activity_headline(a)))
    compared = activity_compared(a)
    if compared:
        console.print(plain(compared))
    console.print(_series_lines(a))
    cols = [Col(LIFECYCLE_HEADERS[0]), *(Col(h, right=True) for h in LIFECYCLE_HEADERS[1:])]
    console.print(
        fitted_table(
            console.width,
            cols,
            [[plain(c) for c in row] for row in lifecycle_cells(a)],
            title="Lifecycle by week",
            caption=" ".join(
                ("Dormant: active the week before, not this one.", lifecycle_footnote(a))
            ).strip(),
        )
    )
    rows = [[plain(n), plain(style.count(k)), plain("■" * max(1, round(30 * k / top)))]
            for top in [max((k for _, k in a.active_days), default=0)]
            for n, k in a.active_days if k]  # fmt: skip
    console.print(
        fitted_table(
            console.width,
            [
                Col(f"{a.stickiness_interval.title()}s", right=True),
                Col(a.unit, right=True),
                Col("", drop=1),
            ],
            rows,
            title=f"Active on exactly n of {len(a.active_days)} {a.stickiness_interval}s",
        )
    )
    console.print(_heatmap(a))
