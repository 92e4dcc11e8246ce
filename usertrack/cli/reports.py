"""`usertrack report weekly`, `failures` and `user`: the reports a person reads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from usertrack.cli.context import check_as_of, open_command_workspace
from usertrack.cli.options import (
    MAX_DAYS,
    AsOfOpt,
    FormatOpt,
    OutOpt,
    QueriesOpt,
    RefreshOpt,
    SegmentsOpt,
    UserFormatOpt,
)
from usertrack.cli.output import answer_console, choose_format, emit, info, probe_out, spinner, warn
from usertrack.cli.program import app, handle_errors
from usertrack.errors import UsageError

report_app = typer.Typer(help="Reports written as Markdown files.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("weekly")
def report_weekly(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Report the ISO week (Monday to Monday, UTC) containing this moment: DATE or"
            " DATETIME (UTC). Default: the last complete week (on the demo: of its data).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write usertrack-YYYY-Www.md into (created if missing); - is stdout."
            " Default: here.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing report of that week that differs."),
    ] = False,
    template: Annotated[
        Path | None,
        typer.Option("--template", help="A jinja2 template instead of the shipped weekly.md.j2."),
    ] = None,
    print_template: Annotated[
        bool,
        typer.Option(
            "--print-template", help="Print the shipped template, to start your own, and exit."
        ),
    ] = False,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    save: Annotated[
        bool | None,
        typer.Option(
            "--save/--no-save",
            help="Save this week's segments to the history under USERTRACK_HOME."
            " Default: save, unless --segments names another file than the default rules.",
        ),
    ] = None,
) -> None:
    """Write the weekly Markdown report: key metrics, segment movement, failures, UX, traffic."""
    with handle_errors():
        from usertrack.clock import now_utc, parse_as_of
        from usertrack.config import load_settings
        from usertrack.rendering.output import is_stdout
        from usertrack.rendering.style import moment as moment_text
        from usertrack.reports.weekly import (
            WEEKLY_TEMPLATE,
            check_out_dir,
            check_template,
            render_report,
            report_week,
            write_report,
        )
        from usertrack.segments.history import open_history, saves_by_default

        if print_template:
            if out is not None and not is_stdout(out):
                raise UsageError(
                    "--print-template prints to stdout, not into --out"
                    " (redirect it: usertrack report weekly --print-template > mine.md.j2)"
                )
            sys.stdout.write(WEEKLY_TEMPLATE.read_text(encoding="utf-8"))
            sys.stdout.flush()
            return
        moment = parse_as_of(as_of) if as_of else None
        check_template(template)  # a template that does not parse fails before any work
        to_stdout = is_stdout(out)
        folder = None if to_stdout else check_out_dir(out)  # and so does an unwritable --out
        settings = load_settings()
        with spinner("loading rules and queries") as progress:
            ws = open_command_workspace(
                progress, queries_dir=queries_dir, segments_file=segments_file, settings=settings
            )
            with ws, open_history(ws) as history:
                check_as_of(ws, moment)
                week = report_week(ws, moment)
                data_end = ws.default_as_of() if ws.demo is not None else now_utc()
                if week.end > data_end:
                    warn(
                        f"week {week.label} is not over (data up to {moment_text(data_end)}):"
                        " the report covers it so far"
                    )
                data, text = render_report(
                    ws, week, template=template, history=history, progress=progress
                )
                if to_stdout:
                    sys.stdout.write(text)
                    sys.stdout.flush()
                else:
                    assert folder is not None
                    path = folder / week.file_name
                    status = write_report(path, text, force=force)
                if save is None:
                    save = saves_by_default(ws)
                if save:
                    history.save(data.current)
        if to_stdout:
            return
        info(f"usertrack: {status} {path}")
        typer.echo(str(path))


FailuresOpt = Annotated[
    Path | None,
    typer.Option(
        "--failures",
        help="Failure categories file. Default: ./failures.yaml, else the shipped one.",
    ),
]
DaysOpt = Annotated[
    int,
    typer.Option(
        "--days", "-d", min=1, max=MAX_DAYS, help="How many days back from --as-of to look."
    ),
]


@app.command()
def failures(
    days: DaysOpt = 30,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    failures_file: FailuresOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Failing tools shown in the table and md.")
    ] = 15,
    refresh: RefreshOpt = False,
) -> None:
    """Why runs and tool calls fail across all users: causes, owners, tools, standout days."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.config import resolve_failures_file
        from usertrack.reports.failures import failure_report, load_failure_rules
        from usertrack.reports.failures_output import report_csv, report_json, report_markdown

        chosen = choose_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        rules = load_failure_rules(resolve_failures_file(failures_file))
        probe_out(out)
        with spinner("loading rules and queries") as progress:
            ws = open_command_workspace(
                progress, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
            )
            with ws:
                check_as_of(ws, moment)
                report = failure_report(
                    ws, rules, moment or ws.default_as_of(), days, progress=progress
                )
        if chosen == "table":
            from usertrack.rendering.terminal import render_failures  # rich: only for the table

            render_failures(answer_console(), report, limit)
        elif chosen == "json":
            emit(report_json(report), out)
        elif chosen == "csv":
            emit(report_csv(report), out)
        else:
            emit(report_markdown(report, limit), out)


@app.command()
def user(
    email: Annotated[
        str, typer.Argument(help="The user's email (matched trimmed and case-insensitively).")
    ],
    days: DaysOpt = 30,
    fmt: UserFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    failures_file: FailuresOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Timeline rows shown in the table and md.")
    ] = 40,
    refresh: RefreshOpt = False,
) -> None:
    """Deep dive into one user: profile, segments and why, timeline, tools, failures by cause."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.config import (
            load_settings,
            resolve_failures_file,
            resolve_queries_dir,
            resolve_segments_file,
        )
        from usertrack.reports.deepdive import deep_dive, open_with_rules, to_json, to_markdown

        chosen = choose_format(fmt, out, ("table", "json", "md"))
        if not email.strip():
            raise UsageError("EMAIL is empty")
        moment = parse_as_of(as_of) if as_of else None
        probe_out(out)
        with spinner("loading rules and queries") as progress:
            ws, rules = open_with_rules(
                load_settings(),
                failures_path=resolve_failures_file(failures_file),
                queries_dir=resolve_queries_dir(queries_dir),
                segments_path=resolve_segments_file(segments_file),
                progress=progress,
                notice=info,
                warn=warn,
                refresh=refresh,
            )
            with ws:
                check_as_of(ws, moment)
                dd = deep_dive(
                    ws, email, moment or ws.default_as_of(), rules, days=days, progress=progress
                )
        if chosen == "table":
            from usertrack.rendering.terminal import render_deep_dive  # rich: only for the table

            render_deep_dive(answer_console(), dd, limit)
        elif chosen == "json":
            emit(to_json(dd), out)
        else:
            emit(to_markdown(dd, limit), out)
