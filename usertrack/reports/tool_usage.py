"""`usertrack tools`: tool calls, agent runs, code executions and custom tools across users.

The analyst workflow's tool execution analytics over the app's database, every figure a query
file of queries/neon/ (definitions: docs/metrics.md, "Tools and agents"):
- the overview (tool_overview), tool types and the MCP-versus-built-in ratio (tool_types), the
  most used tools (tool_usage), MCP providers (tool_providers), the daily trend (tool_trend),
  agent runs by status (agent_executions), code executions (code_executions) and custom tools
  created (custom_tools);
- `--tool NAME`: that tool's figures (tool_usage for one name), its errors by type and message
  (tool_errors) and its daily trend.

Every query runs over the same window (as_of - days, as_of], side by side on connections of
their own. `--segment` keeps the users whose email is in one segment (primary, as everywhere),
and `--who EXPR` those for whom a profile expression holds: a list bound as a value of each
query (`segment_only`, `segment_emails`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from usertrack.engines.base import Result
    from usertrack.workspace import Progress, Workspace

# (key in the answer, query, title): the overview's sections, in the order they are shown.
OVERVIEW = (
    ("overview", "neon/tool_overview", "Tool calls"),
    ("tool_types", "neon/tool_types", "Tool calls by type (mcp, default: built in, custom)"),
    ("top_tools", "neon/tool_usage", "Top tools by usage"),
    ("providers", "neon/tool_providers", "MCP tool calls by provider"),
    ("agents", "neon/agent_executions", "Agent runs by status (wasp_agentexecution)"),
    ("code_executions", "neon/code_executions", "Code executions by script"),
    ("custom_tools", "neon/custom_tools", "Custom tools created (fastapi_deployment)"),
    ("trend", "neon/tool_trend", "Tool calls day by day"),
)
ONE_TOOL = (
    ("summary", "neon/tool_usage", "Tool"),
    ("errors", "neon/tool_errors", "Errors by type"),
    ("trend", "neon/tool_trend", "Day by day"),
)
# Sections of one row, shown as an object in JSON.
_SINGLE = frozenset({"overview", "summary"})
BUILTIN = "default"  # fastapi_tool_executions.tool_type of the built-in tools


@dataclass
class ToolReport:
    """What `usertrack tools` answers: each section's rows, in OVERVIEW's or ONE_TOOL's order."""

    as_of: datetime
    days: int
    segment: str | None
    tool: str | None
    who: str | None = None
    sections: dict[str, Result] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)

    @property
    def since(self) -> datetime:
        return self.as_of - timedelta(days=self.days)

    def rows(self, key: str) -> list[dict[str, Any]]:
        return self.sections[key].as_dicts()

    def mcp_vs_builtin(self) -> dict[str, Any]:
        """MCP calls against built-in calls (tool_type 'mcp' against 'default'): both counts
        and MCP calls per built-in call (two decimals; null without a built-in call)."""
        calls = {r["tool_type"]: int(r["calls"]) for r in self.rows("tool_types")}
        mcp, builtin = calls.get("mcp", 0), calls.get(BUILTIN, 0)
        return {
            "mcp_calls": mcp,
            "builtin_calls": builtin,
            "mcp_per_builtin": round(mcp / builtin, 2) if builtin else None,
        }


def prepare(o: Mapping[str, Any]) -> Callable[[Workspace, datetime, Progress | None], ToolReport]:
    """`usertrack tools` from its options by parameter name (as a dashboard's panel has them),
    checked before any source is opened (exit 2); the report to run on an open workspace, whose
    --who or --segment is classified as of the report's moment."""
    segment, who = o["segment"], o["who"]
    if who is not None:
        from usertrack.analytics.by_segment import check_who

        if segment is not None:
            raise UsageError("--who and --segment do not go together")
        who = check_who(who)

    def run(ws: Workspace, when: datetime, progress: Progress | None) -> ToolReport:
        emails, chosen = None, segment
        if who is not None:
            emails = who_emails(ws, when, who, progress)
        if chosen is not None:
            from usertrack.analytics.by_segment import check_segment

            chosen = check_segment(ws, chosen)
            emails = segment_emails(ws, when, chosen, progress, o.get("save"))
        return tool_report(
            ws, when, days=o["days"], tool=o["tool"], limit=o["limit"], segment=chosen, who=who,
            segment_emails=emails, progress=progress,
        )  # fmt: skip

    return run


def tool_report(
    ws: Workspace,
    as_of: datetime,
    *,
    days: int = 30,
    tool: str | None = None,
    limit: int = 25,
    segment: str | None = None,
    who: str | None = None,
    segment_emails: list[str] | None = None,
    progress: Progress | None = None,
) -> ToolReport:
    """Run the sections' queries side by side on the app's database (see the module)."""
    from usertrack.segments.profiles import Job, run_by_source

    common: dict[str, Any] = {"days": days}
    if segment_emails is not None:
        common.update(segment_only=True, segment_emails=segment_emails)
    if tool is not None and not tool.strip():
        raise UsageError("--tool is empty: name a tool (usertrack tools lists them)")
    sections = ONE_TOOL if tool is not None else OVERVIEW
    jobs: list[Job] = []
    for key, name, _ in sections:
        params = dict(common)
        query = ws.library.get(name)
        names = query.param_names
        if "tool" in names:
            params["tool"] = tool if tool is not None else "*"
        if "limit" in names:
            params["limit"] = limit
        jobs.append((key, *ws.bind(name, as_of, **params)))
    from usertrack.reports.tool_sections import from_copy

    since = as_of - timedelta(days=days)
    results = from_copy(
        ws, jobs, since=since, as_of=as_of, tool=tool, limit=limit,
        segment_emails=segment_emails, progress=progress,
    )  # fmt: skip
    if results is None:
        if progress:
            progress(f"running {len(jobs)} queries on the app database")
        results = run_by_source({"neon": ws.sources["neon"]}, {"neon": jobs}, progress)
    report = ToolReport(as_of=as_of, days=days, segment=segment, tool=tool, who=who)
    for key, _, title in sections:
        report.sections[key] = results[key]
        report.titles[key] = title
    if tool is not None and not report.sections["summary"].rows:
        raise _unknown_tool(ws, as_of, tool, common)
    return report


def _unknown_tool(ws: Workspace, as_of: datetime, tool: str, common: dict[str, Any]) -> UsageError:
    """--tool NAME that no call of the window has: the message names the closest tools called."""
    import difflib

    called = ws.run_query("neon/tool_usage", as_of, **common, tool="*", limit=10_000)
    names = [str(r[0]) for r in called.rows]
    where = f"in the {common['days']} days to {as_of:%Y-%m-%d %H:%M} UTC"
    # The tool asked for and the names called (users' own tools among them) are data.
    if not names:
        return UsageError(f"--tool {{tool!r}}: no tool was called {where}", data={"tool": tool})
    close = difflib.get_close_matches(tool, sorted(names), n=3)
    if close:  # as did_you_mean says it
        shown = " (did you mean {close}?)"
        listed = " or ".join(repr(c) for c in close)
        data: dict[str, str | list[str]] = {"tool": tool, "close": listed}
    else:
        shown = f" (called: {{called}}{', ...' if len(names) > 8 else ''})"
        data = {"tool": tool, "called": names[:8]}
    return UsageError(f"--tool {{tool!r}}: no call of that tool {where}{shown}", data=data)


def segment_emails(
    ws: Workspace, as_of: datetime, group: str, progress: Progress | None, save: bool | None
) -> list[str]:
    """The emails of `group`'s users as of `as_of` (primary segment, as `--segment` keeps
    everywhere): the history's snapshot of that moment under the current rules, else the
    segments classified now (saved as `segments` saves them, `save` None: by default). "no
    segment": the app's accounts in no segment; "no account": nobody (every tool call, run
    and deployment belongs to an account)."""
    from usertrack.analytics.by_segment import NO_ACCOUNT, NO_SEGMENT, account_emails
    from usertrack.segments.history import (
        Snapshot,
        open_history,
        save_quietly,
        saved_baseline,
        saves_by_default,
    )

    if group == NO_ACCOUNT:
        return []
    with open_history(ws) as history:
        snapshot = saved_baseline(ws, history, as_of)
        if snapshot is None:
            if progress:
                progress("classifying your users")
            result = ws.classify(as_of, progress)
            snapshot = Snapshot.of(
                result, source="computed", fingerprint=history.fingerprint, accounts=True
            )
            if save is None:
                save = saves_by_default(ws)
            if save:
                save_quietly(ws, history, result)
    if group == NO_SEGMENT:
        accounts = snapshot.accounts
        if accounts is None:  # a snapshot saved before they were kept
            accounts = frozenset(account_emails(ws, as_of) - set(snapshot.primary))
        return sorted(accounts)
    return sorted(email for email, first in snapshot.primary.items() if first == group)


def who_emails(ws: Workspace, as_of: datetime, who: str, progress: Progress | None) -> list[str]:
    """The emails of the users for whom the `--who` expression holds as of `as_of`: the profile
    classified under rules of that one expression (by_segment.who_rules), nothing saved. An
    unknown column is a UsageError naming the closest ones (exit 2)."""
    from usertrack.analytics.by_segment import WHO, who_rules
    from usertrack.core.errors import SegmentsFileError
    from usertrack.segments.history import Snapshot

    if progress:
        progress("finding the users --who selects")
    try:
        result = ws.scoped(ws.scope, rules=who_rules(ws, who)).classify(as_of, progress)
    except SegmentsFileError as e:
        raise UsageError(str(e).replace(" in rule", "", 1), hint=e.hint) from None
    snapshot = Snapshot.of(result)
    return sorted(email for email, first in snapshot.primary.items() if first == WHO)


# ------------------------------------------------------------------------------- the answers


def to_json(report: ToolReport) -> str:
    from usertrack.rendering.export import json_text

    doc: dict[str, Any] = {
        "as_of": report.as_of,
        "days": report.days,
        "since": report.since,
        "segment": report.segment,
    }
    if report.who is not None:
        doc["who"] = report.who
    if report.tool is not None:
        doc["tool"] = report.tool
    for key, result in report.sections.items():
        rows = result.as_dicts()
        doc[key] = (rows[0] if rows else None) if key in _SINGLE else rows
    if report.tool is None:
        doc["mcp_vs_builtin"] = report.mcp_vs_builtin()
    return json_text(doc)


def main_section(report: ToolReport) -> str:
    """The section `--format csv` writes: the top tools, or one tool's errors."""
    return "errors" if report.tool is not None else "top_tools"


def to_csv(report: ToolReport) -> str:
    from usertrack.rendering.export import csv_text

    result = report.sections[main_section(report)]
    return csv_text(result.columns, result.rows)


def heading(report: ToolReport) -> str:
    from usertrack.core import style

    what = f"Tool {report.tool}" if report.tool is not None else "Tool calls"
    kept = f", segment {report.segment}" if report.segment else ""
    if report.who is not None:
        kept = f", who {report.who}"
    return f"{what} as of {style.moment(report.as_of)}, last {report.days} days{kept}"


def ratio_line(report: ToolReport) -> str:
    ratio = report.mcp_vs_builtin()
    per = ratio["mcp_per_builtin"]
    shown = "no built-in call" if per is None else f"{per:g} MCP calls per built-in call"
    return (
        f"MCP versus built-in: {ratio['mcp_calls']:,} MCP calls, {ratio['builtin_calls']:,}"
        f" built-in calls: {shown}."
    )


def to_markdown(report: ToolReport) -> str:
    from usertrack.core import style
    from usertrack.core.style import md_text
    from usertrack.rendering.export import md_table

    out = [f"# {md_text(heading(report))}\n"]
    for key, result in report.sections.items():
        out.append(f"## {md_text(report.titles[key])}\n")
        if not result.rows:
            out.append("None in the window.\n")
        else:
            headers = [style.human_header(c) for c in result.columns]
            out.append(md_table(headers, [list(r) for r in result.rows], list(result.columns)))
        if key == "tool_types":
            out.append(md_text(ratio_line(report)) + "\n")
    return "\n".join(out)


def render(console: Console, report: ToolReport) -> None:
    """The report as rich tables, one a section (values as plain text: never markup)."""
    from usertrack.rendering.terminal import plain, render_result_table

    console.print(plain(heading(report)))
    for key, result in report.sections.items():
        console.print()
        render_result_table(console, result, title=report.titles[key])
        if key == "tool_types":
            console.print(plain(ratio_line(report)))
