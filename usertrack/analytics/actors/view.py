"""The terminal's view of `--persons` (usertrack.analytics.actors.run): one table of the people."""

from __future__ import annotations

from rich.console import Console

from usertrack.analytics.actors.render import actors_title, shown_cell, shown_columns, shown_headers
from usertrack.analytics.actors.run import Actors
from usertrack.core import style
from usertrack.rendering.terminal import Col, fitted_table, plain


def render_actors(console: Console, found: Actors) -> None:
    shown = shown_columns(found)
    cols = [Col("Email"), Col("Person", drop=1)]
    cols += [Col(h, right=True, drop=2) for h in shown_headers(shown)]
    rows = [
        [plain(p["email"]), plain(p["person_id"]), *(plain(shown_cell(p, c)) for c in shown)]
        for p in found.people()
    ]
    caption = f"As of {style.moment(found.as_of)}. `usertrack user EMAIL` opens one of them."
    for note in found.notes:
        caption += f" {note}."
    console.print(
        fitted_table(console.width, cols, rows, title=plain(actors_title(found)),
                     caption=plain(caption))
    )  # fmt: skip
