"""Rich rendering for the terminal: tables and progress. Only the CLI imports this module.

Two rules hold for every table here:
- Data is never markup. Every cell, title and message is a rich `Text` built from plain strings
  (control characters made visible, see `style.terminal_text`); colour comes from `style=`,
  never from "[red]...[/]" strings around data. An email like `mallory[/]@evil.io` or an
  exception message holding `[link=...]` prints as itself.
- Nothing important is cut. Each table lists its columns in order of importance (`Col.drop`):
  emails, ids, dates and numbers are never shortened (`no_wrap`); free text wraps; when the
  console is too narrow for all columns, the least important are left out and the caption says
  so ("narrow terminal: 2 columns hidden: Provider, Avg ms"). A pipe counts as 80 columns.
Numbers, dates and headers follow the house style of usertrack.core.style.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from usertrack.core import pseudonyms, style
from usertrack.engines.base import Result
from usertrack.segments.profile_labels import profile_label
from usertrack.segments.rules import Classification, rule_columns

ACTION_STYLE = {
    "Support": "red",
    "Fix UX": "magenta",
    "Outreach": "green",
    "Re-engage": "yellow",
    "Nurture": "cyan",
}
WRAP_MIN = 12  # a free-text column narrower than this is unreadable: drop others first
WORD_MAX = 24  # a longer word in free text folds rather than widen its column


class _AnswerConsole(Console):
    def on_broken_pipe(self) -> None:
        # Rich answers a closed pipe with SystemExit(1); raise BrokenPipeError instead, so the
        # CLI exits 0 quietly as it does for every other writer (`usertrack segments | head`).
        self.quiet = True
        raise BrokenPipeError


def stdout_console(**options: Any) -> Console:
    """The console for a command's answer. Highlighting is off: rich would otherwise colour
    parts of the data it guesses are numbers or dates ("2026-11-13" bolded piecemeal)."""
    return _AnswerConsole(highlight=False, **options)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


@contextlib.contextmanager
def progress_status(console: Console, first: str) -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal; nothing at all when stderr is piped (so logs stay clean)."""
    if not console.is_terminal:
        yield lambda _msg: None
        return
    with console.status(Text(first)) as status:
        yield lambda msg: status.update(Text(msg))


# --------------------------------------------------------------------------------------------
# Tables that fit the console


@dataclass
class Col:
    """A column: `drop` 0 is always shown; otherwise the lowest `drop` goes first when narrow."""

    header: str
    right: bool = False
    wrap: bool = False  # free text: may take several lines (words longer than a line fold)
    drop: int = 0
    style: str | None = None


Cell = str | Text | None


def plain(text: Any, *, style_: str = "", one_line: bool = True) -> Text:
    """Data as a Text: never markup, control characters visible, people as pseudonyms with
    --anonymize (here, before a column's width is chosen or a long word folded)."""
    shown = pseudonyms.anonymize_text("" if text is None else str(text))
    return Text(style.terminal_text(shown, one_line=one_line), style_)


def _cell_text(value: Cell, col: Col) -> Text:
    if isinstance(value, Text):
        shown = pseudonyms.anonymize_text(value.plain)
        text = value.copy() if shown == value.plain else Text(shown, style=value.style)
    else:
        text = plain(value, one_line=not col.wrap)
    text.no_wrap = not col.wrap
    text.overflow = "fold"
    if col.right:
        text.justify = "right"
    return text


def _widths(text: Text) -> tuple[int, int]:
    """(widest line, widest word) of a text, in terminal cells."""
    lines = text.plain.split("\n") or [""]
    words = text.plain.split() or [""]
    return max(cell_len(x) for x in lines), max(cell_len(w) for w in words)


def _overhead(n: int) -> int:
    # A box with edges: a border before each column and after the last, one space of padding
    # on each side of every cell.
    return 3 * n + 1


def fitted_table(
    width: int,
    columns: Sequence[Col],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str | Text | None = None,
    caption: str | Text | None = None,
    row_styles: Sequence[str | None] | None = None,
    show_header: bool = True,
) -> Table:
    """A table whose columns fit `width`: key columns whole, free text wrapped, the least
    important columns left out (and named in the caption) when there is no room for them."""
    cells = [[_cell_text(row[i], col) for row in rows] for i, col in enumerate(columns)]
    heads = [Text(style.terminal_text(c.header), overflow="fold") for c in columns]
    least, most = [], []
    for col, head, column_cells in zip(columns, heads, cells, strict=True):
        head_line, head_word = _widths(head) if show_header else (0, 0)
        line = word = 0
        for text in column_cells:
            text_line, text_word = _widths(text)
            line, word = max(line, text_line), max(word, text_word)
        need = min(line, max(WRAP_MIN, min(word, WORD_MAX))) if col.wrap else line
        least.append(max(need, head_word, 1))
        most.append(max(line, head_line, 1))

    keep = list(range(len(columns)))

    def total() -> int:
        return _overhead(len(keep)) + sum(least[i] for i in keep)

    hidden: list[int] = []
    while total() > width:
        droppable = [i for i in keep if columns[i].drop]
        if not droppable:
            break
        gone = min(droppable, key=lambda i: (columns[i].drop, -i))
        keep.remove(gone)
        hidden.append(gone)
    if total() > width:
        return _stacked(width, columns, cells, title=title, caption=caption)

    widths = {i: least[i] for i in keep}
    spare = width - total()
    # Free text first (fewer wrapped lines), the widest want first so they even out...
    while spare > 0:
        wants = [i for i in keep if columns[i].wrap and widths[i] < most[i]]
        if not wants:
            break
        grow = max(wants, key=lambda i: (most[i] - widths[i], -i))
        widths[grow] += 1
        spare -= 1
    # ...then whole headers on one line, the cheapest first (half a header gains nothing).
    for i in sorted(keep, key=lambda i: (most[i] - widths[i], i)):
        want = most[i] - widths[i]
        if 0 < want <= spare:
            widths[i] += want
            spare -= want

    note = ""
    if hidden:
        names = ", ".join(heads[i].plain for i in sorted(hidden))  # as shown: one line, safe
        count = len(hidden)
        note = f"narrow terminal: {count} column{'s' * (count != 1)} hidden: {names}"
    caption = _join(caption, note)
    table = Table(
        title=_annotation(title),
        caption=_annotation(caption),
        title_justify="left",
        caption_justify="left",
        show_header=show_header,
        highlight=False,
        # A table narrower than its title would fold the title (and its caption) letter by
        # letter: as wide as the title and a short caption (a long one wraps at its words).
        min_width=min(width, max(_plain_len(title), _caption_len(caption))),
    )
    for i in keep:
        col = columns[i]
        table.add_column(
            heads[i], justify="right" if col.right else "left", width=widths[i], style=col.style
        )
    for r in range(len(rows)):
        row_style = row_styles[r] if row_styles else None
        table.add_row(*(cells[i][r] for i in keep), style=row_style)
    return table


def _stacked(
    width: int,
    columns: Sequence[Col],
    cells: list[list[Text]],
    *,
    title: str | Text | None,
    caption: str | Text | None,
) -> Table:
    """Too narrow even for the key columns: one field per line, rows apart, nothing cut."""
    labels = [Text(style.terminal_text(c.header), overflow="fold") for c in columns]
    label = max((cell_len(t.plain) for t in labels), default=1)
    table = Table(
        title=_annotation(title),
        caption=_annotation(_join(caption, "narrow terminal: one field per line")),
        title_justify="left",
        caption_justify="left",
        show_header=False,
        highlight=False,
    )
    table.add_column(style="dim", width=min(label, max(1, width // 3)))
    table.add_column(width=max(1, width - _overhead(2) - min(label, max(1, width // 3))))
    rows = len(cells[0]) if cells else 0
    for r in range(rows):
        for i in range(len(columns)):
            value = cells[i][r].copy()
            value.no_wrap, value.overflow, value.justify = False, "fold", "left"
            last = i == len(columns) - 1
            table.add_row(labels[i].copy(), value, end_section=last)
    return table


def _plain_len(text: str | Text | None) -> int:
    if text is None:
        return 0
    plain = text.plain if isinstance(text, Text) else text
    return max((cell_len(line) for line in plain.splitlines()), default=0)


def _caption_len(text: str | Text | None) -> int:
    if text is None:
        return 0
    plain = text.plain if isinstance(text, Text) else text
    whole = _plain_len(plain)
    return whole if whole <= 40 else max((cell_len(word) for word in plain.split()), default=0)


def _join(caption: str | Text | None, note: str) -> str | Text | None:
    if not note:
        return caption
    if caption is None:
        return note
    return Text.assemble(_annotation(caption) or "", " · ", plain(note))


def _annotation(value: str | Text | None) -> Text | None:
    """A title or caption: one line of plain text (a line break in a saved insight's name or a
    breakdown value shown as in a cell), never markup, control characters visible."""
    if value is None or isinstance(value, Text):
        return value
    return plain(value)


def _human(value: Any, column: str | None = None) -> str:
    return style.human(value, column)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(_is_number(v) for v in present)


def _free_text(values: Sequence[Any]) -> bool:
    """Text with spaces (a message, a description) may wrap; a token (email, id, date) may not."""
    return any(isinstance(v, str) and any(ch.isspace() for ch in v.strip()) for v in values)


def _data_col(name: str, values: Sequence[Any], drop: int) -> Col:
    """The column of a data column `name` holding `values`: numbers right, free text wrapped."""
    return Col(style.human_header(name), right=_numeric(values), wrap=_free_text(values), drop=drop)


def _action(action: str) -> Text:
    return plain(action, style_=ACTION_STYLE.get(action, ""))


# --------------------------------------------------------------------------------------------
# usertrack segments / query / insight


def render_segments(
    console: Console, result: Classification, segment: str | None = None, limit: int | None = 5
) -> None:
    width = console.width
    segments = [s for s in result.segments if segment is None or s.id == segment]
    names = {s.id: s.name for s in result.segments}
    total = result.user_count
    figures = {seg.id: result.figures.get(seg.id, {}) for seg in segments}
    summary = fitted_table(
        width,
        [Col("Segment"), Col("Type", drop=3), Col("Users", right=True),
         Col("Share", right=True), Col("Avg engagement", right=True, drop=2),
         Col("Avg revenue", right=True, drop=1), Col("Action")],
        [
            [seg.name, seg.type or "", style.count(result.counts[seg.id]),
             style.share(result.counts[seg.id], total),
             _human(figures[seg.id].get("avg_engagement"), "avg_engagement"),
             _human(figures[seg.id].get("avg_revenue"), "avg_revenue"), _action(seg.action)]
            for seg in segments
        ],
        title=f"Segments as of {style.moment(result.as_of)}",
        caption=f"{style.count(total)} users · {style.count(result.segmented_count)} in at least"
        " one segment",
    )  # fmt: skip
    console.print(summary)

    members = result.members_of([s.id for s in segments], limit)  # limit None: all of them
    for seg in segments:
        shown = members[seg.id]
        if not shown:
            continue
        cols = rule_columns(seg, result.columns)
        columns = [Col("Email")] + [
            _data_col(col, [u[col] for u in shown], len(cols) - i + 1) for i, col in enumerate(cols)
        ]
        rows: list[list[Cell]] = [[u["email"], *(_human(u[c], c) for c in cols)] for u in shown]
        if not segment:
            columns.append(Col("Also in", wrap=True, drop=1))
            for row, user in zip(rows, shown, strict=True):
                others = [names.get(s, s) for s in user["segments"] if s != seg.id]
                row.append(style.LIST_SEP.join(others))
        table = fitted_table(
            width,
            columns,
            rows,
            title=f"{seg.name} — {seg.action}",
            caption=f"{style.count(len(shown))} of {style.count(result.counts[seg.id])}"
            f" · rule: {seg.rule}",
        )
        console.print()
        console.print(table)


def render_result_table(console: Console, result: Result, title: str | None = None) -> None:
    """Any query's answer as a rich table; the first column is kept, the rightmost go first."""
    n = len(result.columns)
    columns = [
        _data_col(name, [r[i] for r in result.rows], 0 if i == 0 else n - i)
        for i, name in enumerate(result.columns)
    ]
    rows = [[_human(v, c) for v, c in zip(row, result.columns, strict=True)] for row in result.rows]
    console.print(
        fitted_table(
            console.width,
            columns,
            rows,
            title=title,
            caption=style.counted(len(result.rows), "row"),
        )
    )


def render_changes(
    console: Console, changes: Any, segment: str | None = None, limit: int = 5
) -> None:
    """`segments --changes`: a summary of movement per segment, then who entered and left."""
    from usertrack.segments.history import Changes

    assert isinstance(changes, Changes)
    width = console.width
    since, as_of = style.moment(changes.baseline.as_of), style.moment(changes.current.as_of)
    how = "saved snapshot" if changes.baseline.source == "snapshot" else "computed"
    moves = [m for m in changes.segments if segment is None or m.segment == segment]
    columns = [Col("Segment")] + [
        Col(name, right=True) for name in ("Before", "After", "Change", "Entered", "Left")
    ]
    rows: list[list[Cell]] = [
        [m.name or m.segment, style.count(m.before), style.count(m.after), style.signed(m.change),
         plain(style.count(len(m.entered)), style_="green"),
         plain(style.count(len(m.left)), style_="red")]
        for m in moves
    ]  # fmt: skip
    console.print(
        fitted_table(
            width,
            columns,
            rows,
            title=f"Segment changes from {since} to {as_of}",
            caption=f"baseline: {how} as of {since}",
        )
    )
    for m in moves:
        if not m.entered and not m.left:
            continue
        entered = list(m.entered) if segment else list(m.entered)[:limit]
        left = list(m.left) if segment else list(m.left)[:limit]
        pairs = [
            [entered[i] if i < len(entered) else "", left[i] if i < len(left) else ""]
            for i in range(max(len(entered), len(left)))
        ]
        hidden = len(m.entered) - len(entered) + len(m.left) - len(left)
        caption = (
            f"… and {style.count(hidden)} more (--segment {m.segment} lists them all)"
            if hidden
            else None
        )
        table = fitted_table(
            width,
            [Col("Entered", style="green"), Col("Left", style="red")],
            pairs,
            title=m.name or m.segment,
            caption=caption,
        )
        console.print()
        console.print(table)


# --------------------------------------------------------------------------------------------
# usertrack failures / usertrack user


def _cause_table(width: int, title: str, groups: list[Any], *, tools: bool) -> Table:
    """Failures of one level by cause; `groups` are dicts or FailureGroup objects."""
    columns = [
        Col("Cause", wrap=True),
        Col("Owner", drop=2),
        Col("Failures", right=True),
        Col("Users", right=True),
    ]
    if tools:
        columns.append(Col("Tools", wrap=True, drop=1))
    columns += [Col("First seen", drop=3), Col("Last seen", drop=4)]
    rows = []
    for g in groups:
        row = g if isinstance(g, dict) else g.__dict__
        cells: list[Cell] = [
            row["cause"],
            row["owner"],
            style.count(row["failures"]),
            style.count(row["users"]),
        ]
        if tools:
            names = [t for t in row["tools"] or [] if t]
            cells.append(style.LIST_SEP.join(names) if len(names) <= 2 else f"{len(names)} tools")
        cells += [_human(row["first_seen"], "first_seen"), _human(row["last_seen"], "last_seen")]
        rows.append(cells)
    return fitted_table(
        width, columns, rows, title=title, caption=None if groups else "no failures"
    )


def render_failures(console: Console, report: Any, limit: int = 15) -> None:
    """`usertrack failures` (a usertrack.reports.failures.FailureReport) as rich tables."""
    width = console.width
    t = report.totals
    head = fitted_table(
        width,
        [Col("Level", wrap=True), Col("Total", right=True), Col("Failed", right=True),
         Col("Failure rate", right=True)],
        [
            ["workflow runs (fastapi_run)", style.count(t["runs"]), style.count(t["runs_failed"]),
             style.share(t["runs_failed"], t["runs"])],
            ["tool calls (fastapi_tool_executions)", style.count(t["tool_calls"]),
             style.count(t["tool_failures"]), style.share(t["tool_failures"], t["tool_calls"])],
            ["users who hit a failure", "", style.count(t["users_with_failures"]), ""],
        ],
        title=f"Failures as of {style.moment(report.as_of)}, last {report.days} days",
        caption=f"categorized with {report.rules_path}",
    )  # fmt: skip
    console.print(head)

    cats = fitted_table(
        width,
        [Col("Category"), Col("Owner", drop=1), Col("Workflow", right=True),
         Col("Tool", right=True), Col("Users", right=True), Col("First", drop=2),
         Col("Last", drop=3)],
        [
            [c["category"], c["owner"], style.count(c["workflow_failures"]),
             style.count(c["tool_failures"]), style.count(c["users"]),
             _human(c["first_seen"], "first_seen"), _human(c["last_seen"], "last_seen")]
            for c in report.categories
        ],
        title="Failures by category: workflow and tool level (not added up)",
    )  # fmt: skip
    console.print()
    console.print(cats)
    console.print()
    title = "Workflow level: failed runs (fastapi_run.run_error_log)"
    console.print(_cause_table(width, title, report.workflow_causes, tools=False))
    console.print()
    title = "Tool level: failed tool calls (fastapi_tool_executions)"
    console.print(_cause_table(width, title, report.tool_causes, tools=True))

    tools = fitted_table(
        width,
        [Col("Tool"), Col("Provider", drop=1), Col("Failures", right=True),
         Col("Users", right=True), Col("Avg ms of failed calls", right=True, drop=2),
         Col("First", drop=3),
         Col("Last", drop=5), Col("Commonest cause", wrap=True, drop=4)],
        [
            [r["tool_name"], _human(r["tool_provider"]), style.count(r["failures"]),
             style.count(r["affected_users"]), _human(r["avg_ms"]),
             _human(r["first_failure"], "first_failure"),
             _human(r["last_failure"], "last_failure"), r["top_cause"]]
            for r in report.failing_tools[:limit]
        ],
        title="Most failing tools",
    )  # fmt: skip
    console.print()
    console.print(tools)

    trend = fitted_table(
        width,
        [Col("Day"), Col("Runs", right=True, drop=2), Col("Failed", right=True),
         Col("Rate", right=True), Col("Tool calls", right=True, drop=1),
         Col("Failed ", right=True), Col("Rate ", right=True), Col("Users hit", right=True)],
        [
            [_human(d["day"]) + (" ◀" if d["stands_out"] else ""), style.count(d["runs"]),
             style.count(d["runs_failed"]), style.share(d["runs_failed"], d["runs"]),
             style.count(d["tool_calls"]), style.count(d["tool_failures"]),
             style.share(d["tool_failures"], d["tool_calls"]),
             style.count(d["users_with_failures"])]
            for d in report.trend
        ],
        title="Day by day",
        caption="◀ stands out: see below",
        row_styles=["bold red" if d["stands_out"] else None for d in report.trend],
    )  # fmt: skip
    console.print()
    console.print(trend)
    console.print()
    if report.standout_days:
        for d in report.standout_days:
            console.print(
                Text.assemble(plain(f"{_human(d['day'])} stands out:", style_="bold red"), " ",
                              plain(d["why"]))
            )  # fmt: skip
    else:
        console.print(Text("No day stands out."))


def render_deep_dive(console: Console, dd: Any, limit: int = 40) -> None:
    """`usertrack user EMAIL` (a usertrack.reports.deepdive.DeepDive) as rich tables."""
    width = console.width
    console.print(
        Text.assemble(
            plain(dd.email, style_="bold"),
            f" as of {style.moment(dd.as_of)}; timeline and failures over the last {dd.days}"
            " days, the profile as each row says",
        )
    )
    profile = fitted_table(
        width,
        [Col("Column", style="dim"), Col("Value", wrap=True)],
        [
            [profile_label(key), _human(value, key) if value is not None else "-"]
            for key, value in dd.profile.items()
        ],
        title="Profile (each row's source and window)",
        show_header=False,
    )
    console.print(profile)

    console.print()
    if dd.segments:
        segs = fitted_table(
            width,
            [Col("Segment"), Col("Action"), Col("Rule", wrap=True, drop=1),
             Col("Why", wrap=True)],
            [
                [s.name, _action(s.action), s.rule,
                 style.LIST_SEP.join(f"{style.human_header(k)} = {_human(v, k) or '-'}"
                                     for k, v in s.why.items())]
                for s in dd.segments
            ],
            title="Segments and why",
        )  # fmt: skip
        console.print(segs)
    else:
        console.print(Text("In no segment."))

    console.print()
    check = dd.timeline_check
    color = "yellow" if check.platform_likely else ""
    console.print(Text.assemble(("Timeline check: ", "bold"), plain(check.verdict, style_=color)))
    console.print()
    console.print(
        _cause_table(width, "Workflow level: failed runs", dd.workflow_failures, tools=False)
    )
    console.print()
    console.print(
        _cause_table(width, "Tool level: failed tool calls", dd.tool_failures, tools=True)
    )

    tools = fitted_table(
        width,
        [Col("Tool"), Col("Provider", drop=3), Col("Type", drop=1), Col("Uses", right=True),
         Col("Failures", right=True), Col("Success rate", right=True),
         Col("Avg ms of all calls", right=True, drop=2), Col("Last use", drop=4)],
        [
            [t["tool_name"], _human(t["tool_provider"]), _human(t["tool_type"]),
             style.count(t["uses"]), style.count(t["failures"]),
             style.pct(t["success_rate"]), _human(t["avg_ms"]), _human(t["last_use"])]
            for t in dd.tools
        ],
        title="Tools used",
        caption=None if dd.tools else "no tool calls",
    )  # fmt: skip
    console.print()
    console.print(tools)

    mcp = fitted_table(
        width,
        [Col("Server"), Col("Template ID", drop=1), Col("Clicks", right=True),
         Col("First click", drop=2), Col("Last click")],
        [
            [_human(m["mcp_server"]), _human(m["template_id"], "template_id"),
             style.count(m["clicks"]), _human(m["first_click"]), _human(m["last_click"])]
            for m in dd.mcp_servers
        ],
        title="MCP servers clicked (up to as_of)",
        caption=None if dd.mcp_servers else "none",
    )  # fmt: skip
    console.print()
    console.print(mcp)

    shown = dd.timeline[-limit:]
    more = " (--format json has them all)" if len(shown) < len(dd.timeline) else ""
    timeline = fitted_table(
        width,
        # At 80 columns a long event name leaves no room for all four key columns: the detail
        # goes last (the failure tables above carry the messages), never the whole table
        # stacked one field per line.
        [Col("At"), Col("Source", drop=2), Col("What"), Col("Name", wrap=True, drop=1),
         Col("Status"), Col("Detail", wrap=True, drop=3)],
        [
            [style.moment(item.at), item.source, item.kind, _human(item.name),
             plain(item.status, style_="red") if item.status == "failed" else _human(item.status),
             _human(item.detail)]
            for item in shown
        ],
        title="Timeline (PostHog events and Neon rows, in time order)",
        caption=f"the latest {style.count(len(shown))} of {style.count(len(dd.timeline))}{more}",
    )  # fmt: skip
    console.print()
    console.print(timeline)
