"""Funnels in the terminal (rich). Only the CLI imports this module.

Every data cell is a rich `Text` via `terminal.plain` (event names, property values and emails
come from whoever sends events: never markup); tables fit the console (`terminal.fitted_table`).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from usertrack.analytics.funnel.render import (
    COMPARE_HEADERS,
    compare_about,
    compare_cells,
    correlation_about,
    correlation_cells,
    correlation_sections,
    funnel_about,
    steps_cells,
)
from usertrack.analytics.funnel.run import Dropped, Funnel, Step
from usertrack.core import style
from usertrack.rendering.terminal import Col, fitted_table, plain


def _step_cols(f: Funnel) -> list[Col]:
    return [
        Col("#", right=True),
        Col("Step"),
        Col(f.unit.capitalize(), right=True),
        Col("From previous", right=True, drop=3),
        Col("From start", right=True),
        Col("Drop-off", right=True, drop=4),
        Col("Average time", right=True, drop=1),
        Col("Median time", right=True, drop=2),
    ]


def _step_rows(steps: list[Step], thin: bool = True) -> list[list[Text]]:
    rows = []
    for i, (s, cells) in enumerate(zip(steps, steps_cells(steps, thin), strict=True), 1):
        if i > 1 and s.persons == 0:
            cells[3] = "no one reached it"
        rows.append([plain(c) for c in cells])
    return rows


def render_funnel(console: Console, f: Funnel) -> None:
    width = console.width
    caption = None
    if not f.steps[0].persons:
        caption = f"No one did {f.steps[0].shown} in the range."
    console.print(
        fitted_table(
            width,
            _step_cols(f),
            _step_rows(f.steps, f.group),
            title=f"Funnel as of {style.moment(f.as_of)}: {funnel_about(f)}",
            caption=caption,
        )
    )
    if f.previous is not None:
        cols = [Col(h, right=h != "Step") for h in COMPARE_HEADERS]
        rows = [[plain(c) for c in row] for row in compare_cells(f)]
        console.print(fitted_table(width, cols, rows, title=plain(compare_about(f))))
    for index, (_, steps) in enumerate(f.breakdown):
        title = plain(f"{f.by} = {f.value_shown(index)}")
        console.print(fitted_table(width, _step_cols(f), _step_rows(steps), title=title))
    if f.time_to_convert is not None:
        from usertrack.analytics.funnel.render import time_headers, time_to_convert_about
        from usertrack.analytics.funnel.render import time_to_convert_rows as rows_of

        cols = [Col(h, right=h != "From") for h in time_headers(f)]
        cells = [[plain(c) for c in row] for row in rows_of(f)]
        title = plain(time_to_convert_about(f))
        console.print(fitted_table(width, cols, cells, title=title))
    if f.trend_interval is not None:
        from usertrack.analytics.funnel.render import (
            TREND_HEADERS,
            trend_about,
            trend_footnote,
            trend_rows,
        )

        cols = [Col(h, right=h != "Period") for h in TREND_HEADERS]
        cells = [[plain(c) for c in row] for row in trend_rows(f)]
        title = plain(trend_about(f))
        note = trend_footnote(f)
        console.print(fitted_table(width, cols, cells, title=title, caption=note or None))
    if f.correlation is not None:
        for line in correlation_about(f.correlation):
            console.print(plain(line))
        drops = {"Odds ratio": 2, "Likelihood": 4, "Phi": 1, "Strength": 3}
        for section, headers, correlated in correlation_sections(f.correlation):
            cols = [Col(h, right=0 < i < len(headers) - 1, drop=drops.get(h, 0))
                    for i, h in enumerate(headers)]  # fmt: skip
            cells = [[plain(c) for c in row] for row in correlation_cells(correlated)]
            console.print(fitted_table(width, cols, cells, title=plain(section)))


def render_dropped(console: Console, d: Dropped) -> None:
    rows = [
        [
            plain(p["email"] or ""),
            plain(p["person_id"]),
            plain(style.moment(p["reached_previous_at"])),
        ]
        for p in d.persons
    ]
    title = (
        f"{style.count(len(d.persons))} people reached {d.shown(previous=True)} and not {d.shown()}"
        f" (step {d.step}); window {style.duration(d.window.total_seconds())}"
    )
    reached = Col(f"Reached {d.shown(previous=True)}", right=True)
    cols = [Col("Email"), Col("Person", drop=1), reached]
    console.print(fitted_table(console.width, cols, rows, title=plain(title)))
    if d.paths is not None:
        from usertrack.analytics.paths.view import render_paths

        console.print(plain(f"What they did after {d.shown(previous=True)}", style_="bold"))
        render_paths(console, d.paths)
