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
    console: Console, result: Classification, segment: str | None = None, limit: int | None = 5
) -> None:
    as_of = cell_text(result.as_of)
    segments = [s for s in result.segments if segment is None or s.id == segment]
    total = result.user_count
    segmented = result.segmented_count
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
        shown = result.members(seg.id, limit)  # None: all of them
        if not shown:
            continue
        cols = rule_columns(seg, result.columns)
        table = Table(
            title=f"{seg.name} — {seg.action}",
            caption=f"{len(shown)} of {result.counts[seg.id]} · rule: {seg.rule}",
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


def render_changes(
    console: Console, changes: Any, segment: str | None = None, limit: int = 5
) -> None:
    """`segments --changes`: a summary of movement per segment, then who entered and left."""
    from usertrack.history import Changes

    assert isinstance(changes, Changes)
    since, as_of = cell_text(changes.baseline.as_of), cell_text(changes.current.as_of)
    how = "saved snapshot" if changes.baseline.source == "snapshot" else "computed"
    moves = [m for m in changes.segments if segment is None or m.segment == segment]
    summary = Table(
        title=f"Segment changes from {since} to {as_of}",
        caption=f"baseline: {how} as of {since}",
        title_justify="left",
    )
    summary.add_column("Segment")
    for name in ("Before", "After", "Change", "Entered", "Left"):
        summary.add_column(name, justify="right")
    for m in moves:
        change = f"+{m.change}" if m.change > 0 else str(m.change)
        summary.add_row(
            m.name or m.segment,
            str(m.before),
            str(m.after),
            change,
            f"[green]{len(m.entered)}[/]",
            f"[red]{len(m.left)}[/]",
        )
    console.print(summary)
    for m in moves:
        if not m.entered and not m.left:
            continue
        table = Table(title=f"{m.name or m.segment}", title_justify="left")
        table.add_column("entered", style="green", no_wrap=True)
        table.add_column("left", style="red", no_wrap=True)
        entered = list(m.entered) if segment else list(m.entered)[:limit]
        left = list(m.left) if segment else list(m.left)[:limit]
        for i in range(max(len(entered), len(left))):
            table.add_row(entered[i] if i < len(entered) else "", left[i] if i < len(left) else "")
        hidden = len(m.entered) - len(entered) + len(m.left) - len(left)
        if hidden:
            table.caption = f"… and {hidden} more (--segment {m.segment} lists them all)"
        console.print()
        console.print(table)


# --------------------------------------------------------------------------------------------
# usertrack failures / usertrack user


def _pct(part: int | float | None, whole: int | float | None) -> str:
    if not whole:
        return "-"
    return f"{100 * (part or 0) / whole:.1f} %"


def _day(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    return cell_text(value)


def _cause_table(title: str, groups: list[Any], *, tools: bool) -> Table:
    """Failures of one level by cause; `groups` are dicts or FailureGroup objects."""
    table = Table(title=title, title_justify="left")
    table.add_column("cause", min_width=20)
    table.add_column("owner")
    table.add_column("failures", justify="right")
    table.add_column("users", justify="right")
    if tools:
        table.add_column("tools")
    table.add_column("first seen", no_wrap=True)
    table.add_column("last seen", no_wrap=True)
    for g in groups:
        row = g if isinstance(g, dict) else g.__dict__
        cells = [row["cause"], row["owner"], str(row["failures"]), str(row["users"])]
        if tools:
            names = [t for t in row["tools"] or [] if t]
            cells.append(", ".join(names) if len(names) <= 2 else f"{len(names)} tools")
        cells += [_day(row["first_seen"]), _day(row["last_seen"])]
        table.add_row(*cells)
    if not groups:
        table.caption = "no failures"
    return table


def render_failures(console: Console, report: Any, limit: int = 15) -> None:
    """`usertrack failures` (a usertrack.failures.FailureReport) as rich tables."""
    t = report.totals
    head = Table(
        title=f"Failures as of {cell_text(report.as_of)}, last {report.days} days",
        title_justify="left",
        caption=f"categorized with {report.rules_path}",
    )
    head.add_column("level")
    head.add_column("total", justify="right")
    head.add_column("failed", justify="right")
    head.add_column("failure rate", justify="right")
    head.add_row("workflow runs (fastapi_run)", str(t["runs"]), str(t["runs_failed"]),
                 _pct(t["runs_failed"], t["runs"]))  # fmt: skip
    head.add_row("tool calls (fastapi_tool_executions)", str(t["tool_calls"]),
                 str(t["tool_failures"]), _pct(t["tool_failures"], t["tool_calls"]))  # fmt: skip
    head.add_row("users who hit a failure", "", str(t["users_with_failures"]), "")
    console.print(head)

    cats = Table(
        title="Failures by category: workflow and tool level (not added up)", title_justify="left"
    )
    cats.add_column("category", overflow="fold")
    cats.add_column("owner")
    for name in ("workflow", "tool", "users"):
        cats.add_column(name, justify="right")
    cats.add_column("first", no_wrap=True)
    cats.add_column("last", no_wrap=True)
    for c in report.categories:
        cats.add_row(c["category"], c["owner"], str(c["workflow_failures"]),
                     str(c["tool_failures"]), str(c["users"]), _day(c["first_seen"]),
                     _day(c["last_seen"]))  # fmt: skip
    console.print()
    console.print(cats)
    console.print()
    title = "Workflow level: failed runs (fastapi_run.run_error_log)"
    console.print(_cause_table(title, report.workflow_causes, tools=False))
    console.print()
    title = "Tool level: failed tool calls (fastapi_tool_executions)"
    console.print(_cause_table(title, report.tool_causes, tools=True))

    tools = Table(title="Most failing tools", title_justify="left")
    for name, right in (("tool", False), ("provider", False), ("failures", True),
                        ("users", True), ("avg ms", True), ("first", False), ("last", False),
                        ("commonest cause", False)):  # fmt: skip
        tools.add_column(name, justify="right" if right else "left")
    for r in report.failing_tools[:limit]:
        tools.add_row(r["tool_name"], cell_text(r["tool_provider"]), str(r["failures"]),
                      str(r["affected_users"]), cell_text(r["avg_ms"]), _day(r["first_failure"]),
                      _day(r["last_failure"]), r["top_cause"])  # fmt: skip
    console.print()
    console.print(tools)

    trend = Table(title="Day by day", title_justify="left")
    trend.add_column("day", no_wrap=True, min_width=12)
    for name in ("runs", "failed", "rate", "tool calls", "failed ", "rate ", "users hit"):
        trend.add_column(name, justify="right")
    for d in report.trend:
        style = "bold red" if d["stands_out"] else None
        day = cell_text(d["day"]) + (" ◀" if d["stands_out"] else "")
        trend.add_row(day, str(d["runs"]), str(d["runs_failed"]),
                      _pct(d["runs_failed"], d["runs"]), str(d["tool_calls"]),
                      str(d["tool_failures"]), _pct(d["tool_failures"], d["tool_calls"]),
                      str(d["users_with_failures"]), style=style)  # fmt: skip
    trend.caption = "◀ stands out: see below"
    console.print()
    console.print(trend)
    console.print()
    if report.standout_days:
        for d in report.standout_days:
            console.print(f"[bold red]{cell_text(d['day'])} stands out:[/] {d['why']}")
    else:
        console.print("No day stands out.")


def render_deep_dive(console: Console, dd: Any, limit: int = 40) -> None:
    """`usertrack user EMAIL` (a usertrack.deepdive.DeepDive) as rich tables."""
    console.print(
        f"[bold]{dd.email}[/] as of {cell_text(dd.as_of)}, activity over the last {dd.days} days"
    )
    profile = Table(title="Profile (both sources)", title_justify="left", show_header=False)
    profile.add_column("column", style="dim")
    profile.add_column("value")
    for key, value in dd.profile.items():
        profile.add_row(_header(key), _cell(value) if value is not None else "[dim]-[/]")
    console.print(profile)

    console.print()
    if dd.segments:
        segs = Table(title="Segments and why", title_justify="left")
        segs.add_column("segment")
        segs.add_column("action")
        segs.add_column("rule")
        segs.add_column("why")
        for s in dd.segments:
            style = ACTION_STYLE.get(s.action, "")
            segs.add_row(s.name, f"[{style}]{s.action}[/]" if style else s.action, s.rule,
                         ", ".join(f"{k} = {_cell(v)}" for k, v in s.why.items()))  # fmt: skip
        console.print(segs)
    else:
        console.print("In no segment.")

    console.print()
    check = dd.timeline_check
    color = "yellow" if check.platform_likely else "default"
    console.print(f"[bold]Timeline check:[/] [{color}]{check.verdict}[/]")
    console.print()
    console.print(_cause_table("Workflow level: failed runs", dd.workflow_failures, tools=False))
    console.print()
    console.print(_cause_table("Tool level: failed tool calls", dd.tool_failures, tools=True))

    tools = Table(title="Tools used", title_justify="left")
    for name, right in (("tool", False), ("provider", False), ("type", False), ("uses", True),
                        ("failures", True), ("success rate", True), ("avg ms", True),
                        ("last use", False)):  # fmt: skip
        tools.add_column(name, justify="right" if right else "left")
    for t in dd.tools:
        tools.add_row(t["tool_name"], cell_text(t["tool_provider"]), cell_text(t["tool_type"]),
                      str(t["uses"]), str(t["failures"]), f"{_cell(t['success_rate'])} %",
                      _cell(t["avg_ms"]), _cell(t["last_use"]))  # fmt: skip
    if not dd.tools:
        tools.caption = "no tool calls"
    console.print()
    console.print(tools)

    mcp = Table(title="MCP servers clicked (up to as_of)", title_justify="left")
    for name in ("server", "template id", "clicks", "first click", "last click"):
        mcp.add_column(name, justify="right" if name == "clicks" else "left")
    for m in dd.mcp_servers:
        mcp.add_row(cell_text(m["mcp_server"]), cell_text(m["template_id"]), str(m["clicks"]),
                    _cell(m["first_click"]), _cell(m["last_click"]))  # fmt: skip
    if not dd.mcp_servers:
        mcp.caption = "none"
    console.print()
    console.print(mcp)

    shown = dd.timeline[-limit:]
    timeline = Table(
        title="Timeline (PostHog events and Neon rows, in time order)",
        title_justify="left",
        caption=f"the latest {len(shown)} of {len(dd.timeline)}"
        + (" (--format json has them all)" if len(shown) < len(dd.timeline) else ""),
    )
    for name in ("at", "source", "what", "name", "status", "detail"):
        timeline.add_column(name, overflow="fold" if name == "detail" else "ellipsis")
    for item in shown:
        failed = item.status == "failed"
        timeline.add_row(
            item.at.strftime("%Y-%m-%d %H:%M:%S"),
            item.source,
            item.kind,
            cell_text(item.name),
            f"[red]{item.status}[/]" if failed else cell_text(item.status),
            cell_text(item.detail),
        )
    console.print()
    console.print(timeline)
