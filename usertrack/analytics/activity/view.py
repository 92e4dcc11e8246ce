"""Activity and feature usage in the terminal (rich). Only the CLI imports this module.

Feature names come from whoever sends events: every data cell is a rich `Text` via
`terminal.plain`, never markup; tables fit the console (`terminal.fitted_table`).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from usertrack.analytics.activity.render import (
    COMPARED_HEADERS,
    LIFECYCLE_HEADERS,
    activity_compared,
    activity_headline,
    compared_cells,
    days_shown,
    feature_cells,
    features_about,
    lifecycle_cells,
    unused_line,
)
from usertrack.analytics.activity.run import WEEKDAYS, Activity
from usertrack.analytics.common import sparkline
from usertrack.analytics.features.run import Features
from usertrack.core import style
from usertrack.rendering.terminal import Col, fitted_table, plain

# Heatmap shades, lightest to darkest, by the cell's share of the busiest hour.
SHADES = (" ", "░", "▒", "▓", "█")
TRENDS = {"up": "green", "down": "red", "flat": ""}


def _series_lines(a: Activity) -> Text:
    text = Text()
    first, last = style.day(a.days[0].date), style.day(a.days[-1].date)
    text.append(f"Daily, {first} to {last}\n", style="bold")
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
            caption="Dormant: active the week before, not this one.",
        )
    )
    rows = [[plain(n), plain(style.count(k)), plain("■" * max(1, round(30 * k / top)))]
            for top in [max((k for _, k in a.active_days), default=0)]
            for n, k in a.active_days if k]  # fmt: skip
    console.print(
        fitted_table(
            console.width,
            [Col("Days", right=True), Col(a.unit, right=True), Col("", drop=1)],
            rows,
            title=f"Active on exactly n of {len(a.days)} days",
        )
    )
    console.print(_heatmap(a))


def render_features(console: Console, f: Features) -> None:
    rows = []
    for x in f.features:
        cells = [plain(c) for c in feature_cells(x, f.by)]
        cells[-1] = plain(x.trend, style_=TRENDS.get(x.trend, ""))
        if f.compared:
            cells += [plain(c) for c in compared_cells(x)]
        rows.append(cells)
    cols = [
        Col(f.by.capitalize()),
        *([Col("Category", drop=2)] if f.by == "feature" else []),
        Col("Uses", right=True),
        Col("Persons", right=True),
        Col("Adoption", right=True),
        Col("Avg time", right=True, drop=1),
        Col("Previous uses", right=True, drop=1),
        Col("Trend"),
    ]
    if f.compared:
        # The change is the point of --compare: never dropped; the previous figures it comes
        # from go before it when the terminal is narrow.
        previous_persons, previous_adoption, moved = COMPARED_HEADERS
        cols += [
            Col(previous_persons, right=True, drop=3),
            Col(previous_adoption, right=True, drop=2),
            Col(moved, right=True),
        ]
    caption = None if f.features else "No feature was used in either period."
    unused = unused_line(f)
    if unused:
        caption = unused if caption is None else f"{caption} {unused}"
    console.print(
        fitted_table(
            console.width, cols, rows, title=plain(f"Features: {features_about(f)}"),
            caption=caption,
        )
    )  # fmt: skip
