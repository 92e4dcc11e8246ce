"""Rich rendering for the terminal: tables and progress. Only the CLI imports this module."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from usertrack.export import cell_text
from usertrack.segments import Classification, rule_columns
from usertrack.sources.base import Result

ACTION_STYLE = {
    "Support": "red",
    "Fix UX": "magenta",
    "Outreach": "green",
    "Re-engage": "yellow",
    "Nurture": "cyan",
}


def stderr_console() -> Console:
    return Console(stderr=True)


@contextlib.contextmanager
def progress_status(console: Console, first: str) -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal; nothing at all when stderr is piped (so logs stay clean)."""
    if not console.is_terminal:
        yield lambda _msg: None
        return
    with console.status(first) as status:
        yield lambda msg: status.update(msg)


def _cell(value: Any) -> str:
    """Compact text for a terminal cell: minutes, not seconds; lists with commas."""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return cell_text(value)


def _header(column: str) -> str:
    # Spaces let rich wrap a long header onto two lines instead of cutting it.
    return column.replace("_", " ")


def render_segments(
    console: Console, result: Classification, segment: str | None = None, limit: int = 5
) -> None:
    as_of = cell_text(result.as_of)
    segments = [s for s in result.segments if segment is None or s.id == segment]
    total = len(result.users)
    segmented = sum(1 for u in result.users if u["segments"])
    summary = Table(
        title=f"Segments as of {as_of}",
        caption=f"{total} users · {segmented} in at least one segment",
        title_justify="left",
    )
    summary.add_column("Segment")
    summary.add_column("Users", justify="right")
    summary.add_column("Share", justify="right")
    summary.add_column("Action")
    for seg in segments:
        count = result.counts[seg.id]
        share = f"{100 * count / total:.0f}%" if total else "-"
        style = ACTION_STYLE.get(seg.action, "")
        summary.add_row(
            seg.name, str(count), share, f"[{style}]{seg.action}[/]" if style else seg.action
        )
    console.print(summary)

    for seg in segments:
        members = result.members(seg.id)
        shown = members if segment else members[:limit]
        if not shown:
            continue
        cols = rule_columns(seg, result.columns)
        table = Table(
            title=f"{seg.name} — {seg.action}",
            caption=f"{len(shown)} of {len(members)} · rule: {seg.rule}",
            title_justify="left",
        )
        table.add_column("email", no_wrap=True)
        for col in cols:
            table.add_column(_header(col), justify="right" if _numeric(shown, col) else "left")
        if not segment:
            table.add_column("also in")
        for user in shown:
            row = [user["email"], *(_cell(user[c]) for c in cols)]
            if not segment:
                row.append(", ".join(s for s in user["segments"] if s != seg.id))
            table.add_row(*row)
        console.print()
        console.print(table)


def _numeric(users: list[dict[str, Any]], column: str) -> bool:
    return all(isinstance(u[column], (int, float)) or u[column] is None for u in users)


def render_result_table(console: Console, result: Result, title: str | None = None) -> None:
    """Any query's answer as a rich table."""
    table = Table(title=title, title_justify="left", caption=f"{len(result.rows)} rows")
    for i, column in enumerate(result.columns):
        numeric = all(isinstance(r[i], (int, float)) or r[i] is None for r in result.rows)
        table.add_column(column, justify="right" if numeric and result.rows else "left")
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
