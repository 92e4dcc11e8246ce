"""`usertrack tracking-plan` and `tracking-plan init`: the audit of the events sent
against the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from usertrack.cli.context import events_workspace
from usertrack.cli.options import (
    MAX_DAYS,
    AsOfOpt,
    FormatOpt,
    OutOpt,
    QueriesOpt,
    RefreshOpt,
    SegmentsOpt,
)
from usertrack.cli.output import answer_console, choose_format, emit, info, probe_out
from usertrack.cli.program import app, handle_errors

PlanOpt = Annotated[
    Path | None,
    typer.Option(
        "--plan",
        help="Tracking plan file. Default: USERTRACK_TRACKING_PLAN, ./tracking-plan.yaml,"
        " else the shipped one (the demo's taxonomy).",
    ),
]
plan_app = typer.Typer(
    help="Audit the tracking plan against the events sent (coverage, properties, typos).",
    invoke_without_command=True,
)
app.add_typer(plan_app, name="tracking-plan")


@plan_app.callback()
def tracking_plan(
    ctx: typer.Context,
    days: Annotated[
        int,
        typer.Option(
            "--days", "-d", min=1, max=MAX_DAYS, help="Audit this many days back from --as-of."
        ),
    ] = 30,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    plan_file: PlanOpt = None,
    fail_under: Annotated[
        float | None,
        typer.Option(
            "--fail-under",
            min=0,
            max=100,
            help="Exit 9 when coverage (percent of planned events seen) is below this.",
        ),
    ] = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Rows of each list shown in the table.")
    ] = 15,
    refresh: RefreshOpt = False,
) -> None:
    """Measure the tracking plan against the last --days of events: coverage first."""
    if ctx.invoked_subcommand is not None:
        return
    with handle_errors():
        from usertrack.audit.tracking_plan import (
            audit_csv,
            audit_json,
            audit_markdown,
            fmt_pct,
            load_tracking_plan,
            run_audit,
        )
        from usertrack.core.clock import parse_as_of
        from usertrack.core.config import resolve_tracking_plan_file
        from usertrack.core.errors import CoverageError

        chosen = choose_format(fmt, out)
        if as_of:
            parse_as_of(as_of)  # a bad --as-of is said before a bad plan, as it always was
        plan = load_tracking_plan(resolve_tracking_plan_file(plan_file))
        probe_out(out)
        with events_workspace(
            as_of,
            queries_dir=queries_dir,
            segments_file=segments_file,
            refresh=refresh,
            status="loading the plan and queries",
        ) as (ws, moment, progress):
            audit = run_audit(ws, plan, moment, days, progress)
        if chosen == "table":
            from usertrack.audit.tracking_plan_view import render_audit

            render_audit(answer_console(), audit, limit)
        else:
            render = {"json": audit_json, "csv": audit_csv, "md": audit_markdown}[chosen]
            emit(render(audit), out)
        percent = audit.coverage["percent"]
        if fail_under is not None and (percent is None or percent < fail_under):
            raise CoverageError(
                f"tracking-plan coverage {fmt_pct(percent)} is below --fail-under"
                f" {fmt_pct(fail_under)} ({audit.coverage['seen']} of"
                f" {audit.coverage['planned']} planned events seen)"
            )


@plan_app.command("init")
def tracking_plan_init(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="The plan file to write (never overwritten); - is stdout"),
    ] = Path("tracking-plan.yaml"),
    days: Annotated[
        int,
        typer.Option("--days", "-d", min=1, max=MAX_DAYS, help="Events seen this many days back."),
    ] = 30,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Write a first tracking plan from the events seen (one tier, top properties, types)."""
    with handle_errors():
        from usertrack.audit.tracking_plan import draft_plan, write_new
        from usertrack.rendering.output import is_stdout

        if not is_stdout(out):
            if out.exists():
                write_new(out, "")  # the same "already exists" error, before any work
            probe_out(out)  # folders created, a path that cannot be written fails now
        with events_workspace(
            as_of, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
        ) as (ws, moment, progress):
            text = draft_plan(ws, moment, days, progress)
        if is_stdout(out):
            emit(text, out)
        else:
            write_new(out, text)
            info(f"usertrack: wrote {out}")
