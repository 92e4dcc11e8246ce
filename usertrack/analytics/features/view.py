"""Feature usage in the terminal (rich). Only the CLI imports this module.

Feature names come from whoever sends events: every data cell is a rich `Text` via
`terminal.plain`, never markup; tables fit the console (`terminal.fitted_table`).
"""

from __future__ import annotations

from rich.console import Console

from usertrack.analytics.features.render import (
    COMPARED_HEADERS,
    compared_cells,
    feature_cells,
    features_about,
    unused_line,
)
from usertrack.analytics.features.run import Features
from usertrack.rendering.terminal import Col, fitted_table, plain

# A feature's trend by its colour.
TRENDS = {"up": "green", "down": "red", "flat": ""}


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
        Col("Retention", right=True, drop=1),
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
