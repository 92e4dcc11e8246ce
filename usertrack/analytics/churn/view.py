"""Churn in the terminal (rich). Only the CLI imports this module.

Every data cell is a rich `Text` via `terminal.plain` (emails and event names come from whoever
sends events: never markup); tables fit the console (`terminal.fitted_table`).
"""

from __future__ import annotations

from rich.console import Console

from usertrack.analytics.churn.answer import Churn
from usertrack.analytics.churn.render import (
    BAND_HEADERS,
    PERIOD_HEADERS,
    TRAIT_HEADERS,
    TRAITS_TITLE,
    USER_HEADERS,
    at_risk_title,
    backtest_lines,
    band_cells,
    churn_about,
    period_cells,
    summary_lines,
    trait_cells,
    user_cells,
)
from usertrack.rendering.terminal import Col, fitted_table, plain


def _table(console: Console, title: str, headers: list[str], rows: list[list[str]]) -> None:
    cols = [Col(h, right=i > 0) for i, h in enumerate(headers)]
    cells = [[plain(c) for c in row] for row in rows]
    console.print(fitted_table(console.width, cols, cells, title=plain(title)))


def render_churn(console: Console, c: Churn) -> None:
    _table(console, f"Churn {churn_about(c)}", PERIOD_HEADERS, period_cells(c))
    for line in summary_lines(c):
        console.print(plain(line))
    _table(console, "Engagement score: persons now, and the backtest", BAND_HEADERS, band_cells(c))
    for line in backtest_lines(c):
        console.print(plain(line))
    if c.at_risk:
        _table(console, at_risk_title(c), USER_HEADERS, user_cells(c))
    if c.characteristics:
        _table(console, TRAITS_TITLE, TRAIT_HEADERS, trait_cells(c))
