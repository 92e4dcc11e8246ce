"""Paths in the terminal (rich). Only the CLI imports this module.

Every data cell is a rich `Text` via `terminal.plain` (pages and event names come from whoever
sends events: never markup); tables fit the console (`terminal.fitted_table`).
"""

from __future__ import annotations

from rich.console import Console

from usertrack.analytics.paths.render import (
    CONVERSION_HEADER,
    CONVERSION_NOTE,
    EDGE_TOTALS_CAPTION,
    path_rows,
    paths_about,
    share_rows,
)
from usertrack.analytics.paths.run import Paths
from usertrack.core import style
from usertrack.rendering.terminal import Col, fitted_table, plain


def render_paths(console: Console, p: Paths) -> None:
    width = console.width
    total = p.total_sequences
    cols = [Col("Path", wrap=True), Col("Sequences", right=True), Col("Share", right=True, drop=2),
            Col("Completion", right=True, drop=3), Col("Drop-off", wrap=True, drop=1)]  # fmt: skip
    if p.end is not None:
        cols.append(Col(CONVERSION_HEADER, right=True, drop=4))
    wrapped = (0, 4)  # the path and its drop-off
    rows = [[plain(c, one_line=i not in wrapped) for i, c in enumerate(r)] for r in path_rows(p)]
    many = style.counted(total, "sequence")
    caption = f"As of {style.moment(p.as_of)}: {paths_about(p)}; {many}."
    if not p.paths:
        caption += " No sequence in the range."
    elif p.end is not None:
        caption += " " + CONVERSION_NOTE
    console.print(fitted_table(width, cols, rows, title="Paths", caption=plain(caption)))
    if not p.paths:
        return
    for heading, values in (("Entry nodes", p.entry_nodes), ("Exit nodes", p.exit_nodes)):
        ncols = [Col("Node", wrap=True), Col("Sequences", right=True),
                 Col("Share", right=True, drop=1)]  # fmt: skip
        nrows = [[plain(c) for c in row] for row in share_rows(list(values), total)]
        console.print(fitted_table(width, ncols, nrows, title=heading))
    ecols = [Col("From", wrap=True), Col("To", wrap=True), Col("Count", right=True)]
    erows = [[plain(s), plain(t), plain(style.count(n))] for s, t, n in p.edge_totals]
    edge_caption = plain(EDGE_TOTALS_CAPTION)
    console.print(fitted_table(width, ecols, erows, title="Edges", caption=edge_caption))
