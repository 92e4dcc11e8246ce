"""Sessions in the terminal (rich). Only the CLI imports this module.

Every data cell is a rich `Text` via `terminal.plain` (pages come from whoever sends events:
never markup); tables fit the console (`terminal.fitted_table`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console

from usertrack.analytics.paths.render import about, share_rows
from usertrack.analytics.sessions.render import (
    LIST_EXTRAS,
    listed_rows,
    session_lists,
    sessions_summary,
)
from usertrack.analytics.sessions.run import Sessions
from usertrack.core import style
from usertrack.rendering.terminal import Col, fitted_table, plain


def _shares(
    console: Console, title: str, header: str, rows: list[list[str]], extras: Sequence[str] = ()
) -> None:
    """A list's table: its value, sessions and share, then the `extras` columns."""
    cols = [Col(header, wrap=True), Col("Sessions", right=True), Col("Share", right=True, drop=1)]
    cols += [Col(h, right=True, drop=2) for h in extras]
    cells = [[plain(c) for c in row] for row in rows]
    console.print(fitted_table(console.width, cols, cells, title=title))


def render_sessions(console: Console, s: Sessions) -> None:
    cols = [Col("Metric"), Col("Value", right=True)]
    rows = [[plain(k), plain(v)] for k, v in sessions_summary(s)]
    # Said above the narrow table, not as its caption: a caption wraps at the table's width.
    moment = "" if s.as_of == s.range.end else f" (as of {style.moment(s.as_of)})"
    console.print(plain(f"Sessions from {about(s.range)}{moment}"))
    console.print(fitted_table(console.width, cols, rows, title="Sessions"))
    _shares(console, "Length", "Length", share_rows(list(s.buckets), s.sessions))
    for title, header, kind, values in session_lists(s):
        extras = [h for h, _ in LIST_EXTRAS[kind]]
        _shares(console, title, header, listed_rows(values, s.sessions, kind), extras)
