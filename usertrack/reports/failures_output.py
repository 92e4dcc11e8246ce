"""`usertrack failures` as files: JSON, CSV and Markdown (the terminal tables are in
usertrack.rendering.terminal)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usertrack.reports.failures import FailureReport


def report_json(report: FailureReport) -> str:
    """The report as JSON (timestamps ISO 8601 UTC, no Decimal: see export.json_text)."""
    import dataclasses

    from usertrack.rendering.export import json_text

    # Its fields, not dataclasses.asdict: that deep-copies every row first (about 0.01 s on
    # the demo's 30 days), and json_text builds new lists and dicts anyway.
    return json_text({f.name: getattr(report, f.name) for f in dataclasses.fields(report)})


CSV_COLUMNS = ("level", "cause", "category", "owner", "failures", "users", "first_seen",
               "last_seen", "tools", "example")  # fmt: skip


def report_csv(report: FailureReport) -> str:
    """One row per (level, cause): the two levels side by side in one long table."""
    from usertrack.rendering.export import csv_text

    return csv_text(
        CSV_COLUMNS,
        (
            [level, *(row[c] for c in CSV_COLUMNS[1:])]
            for level, rows in (("workflow", report.workflow_causes), ("tool", report.tool_causes))
            for row in rows
        ),
    )


def report_markdown(report: FailureReport, limit: int = 15) -> str:
    from usertrack.core import style
    from usertrack.core.style import count, md_text
    from usertrack.rendering.export import md_table

    t = report.totals
    out = [f"# Failures as of {style.moment(report.as_of)}, last {report.days} days\n"]
    out.append(
        f"Workflow runs: {count(t['runs'])}, {count(t['runs_failed'])} failed"
        f" ({style.share(t['runs_failed'], t['runs'])})."
        f" Tool calls: {count(t['tool_calls'])}, {count(t['tool_failures'])} failed"
        f" ({style.share(t['tool_failures'], t['tool_calls'])})."
        f" {count(t['users_with_failures'])} users hit a failure."
        f" Categorized with {style.md_code(str(report.rules_path))}.\n"
    )
    out.append("## By category\n")
    out.append(
        md_table(
            ["Category", "Owner", "Workflow failures", "Tool failures", "Users", "First seen",
             "Last seen"],
            [[c["category"], c["owner"], c["workflow_failures"], c["tool_failures"], c["users"],
              _day(c["first_seen"]), _day(c["last_seen"])] for c in report.categories],
        )
    )  # fmt: skip
    for title, rows in (
        ("Workflow level: failed runs (fastapi_run)", report.workflow_causes),
        ("Tool level: failed tool calls (fastapi_tool_executions)", report.tool_causes),
    ):
        out.append(f"\n## {md_text(title)}\n")
        out.append(
            md_table(
                ["Cause", "Owner", "Failures", "Users", "Tools", "First seen", "Last seen"],
                [[r["cause"], r["owner"], r["failures"], r["users"], r["tools"],
                  _day(r["first_seen"]), _day(r["last_seen"])] for r in rows],
            )
            if rows
            else "No failures.\n"
        )  # fmt: skip
    out.append("\n## Most failing tools\n")
    out.append(
        md_table(
            ["Tool", "Provider", "Failures", "Users", "Avg ms of failed calls", "First", "Last",
             "Commonest cause"],
            [[r["tool_name"], r["tool_provider"], r["failures"], r["affected_users"], r["avg_ms"],
              _day(r["first_failure"]), _day(r["last_failure"]), r["top_cause"]]
             for r in report.failing_tools[:limit]],
        )
    )  # fmt: skip
    out.append("\n## Day by day\n")
    out.append(
        md_table(
            ["Day", "Runs", "Runs failed", "Failure rate", "Tool calls", "Tool failures",
             "Tool failure rate", "Users hit", "Stands out"],
            [[_day(d["day"]), d["runs"], d["runs_failed"], style.share(d["runs_failed"], d["runs"]),
              d["tool_calls"], d["tool_failures"],
              style.share(d["tool_failures"], d["tool_calls"]), d["users_with_failures"],
              d["why"]] for d in report.trend],
        )
    )  # fmt: skip
    if report.standout_days:
        out.append("\nDays that stand out:\n")
        for d in report.standout_days:
            out.append(f"- **{_day(d['day'])}**: {md_text(d['why'])}")
    else:
        out.append("\nNo day stands out.")
    return "\n".join(out) + "\n"


def _day(value: Any) -> str:
    """A failure table's day columns are dates: '2026-11-21' (empty when unknown)."""
    from datetime import date

    from usertrack.core.style import day

    return day(value) if isinstance(value, date) else ("" if value is None else str(value))
