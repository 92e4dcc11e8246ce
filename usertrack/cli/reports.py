"""`usertrack report weekly`, `failures`, `tools` and `user`: the reports a person reads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from usertrack.cli.context import check_as_of, command_workspace
from usertrack.cli.options import (
    FORMAT,
    MAX_DAYS,
    MOMENT,
    AccountSegmentOpt,
    AsOfOpt,
    ChartFormatOpt,
    OneSegmentOpt,
    OutOpt,
    QueriesOpt,
    RefreshOpt,
    SaveSegmentsOpt,
    SegmentsOpt,
    UserFormatOpt,
    WhoOpt,
)
from usertrack.cli.output import (
    CHARTS,
    answer_console,
    chart_format,
    choose_format,
    emit,
    info,
    probe_out,
    said,
    spinner,
    warn,
    write_chart,
)
from usertrack.cli.program import app, handle_errors
from usertrack.core.errors import UsageError
from usertrack.reports import user_lists

TemplateOpt = Annotated[
    Path | None,
    typer.Option(
        "--template",
        help="A jinja2 template instead of the shipped weekly.md.j2 (it gets every panel's"
        " data as `panels`, and their sections and charts as `panel_sections`).",
    ),
]


@app.command("report")
def report(
    dashboard: Annotated[
        str | None,
        typer.Argument(
            help="A dashboard: a .yaml file, or a name of `report --list` (weekly: the shipped"
            " weekly report).",
            show_default=False,
        ),
    ] = None,
    list_dashboards: Annotated[
        bool, typer.Option("--list", help="List the dashboards by name, and exit.")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="md (charts as SVG files beside it), html or json. Default: md.",
            metavar=FORMAT,
        ),
    ] = None,
    charts: Annotated[
        str,
        typer.Option(
            "--charts",
            help="With md: svg (each chart an SVG file beside it, as GitHub shows them) or"
            " mermaid (mermaid blocks in the one file).",
            metavar=FORMAT,
        ),
    ] = "svg",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Report the ISO week (Monday to Monday, UTC) containing this moment, or the"
            " dashboard's days up to it: DATE or DATETIME (UTC). Default: the last complete week"
            " (on the demo: of its data).",
            metavar=MOMENT,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write into (created if missing; the file is named by the dashboard"
            " and its period, usertrack-YYYY-Www.md for weekly), or a file named .md, .html or"
            " .json; - is stdout. Default: here.",
        ),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option("--compare", help="Panels that can also give the previous period and change."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing report of that period that differs."),
    ] = False,
    open_it: Annotated[
        bool,
        typer.Option("--open", help="Open the HTML file written in the default browser."),
    ] = False,
    template: TemplateOpt = None,
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
    """Write a dashboard (the weekly report by default: key metrics, activation funnel,
    retention, lifecycle, features, paths, segments, failures, alerts) as md, html or json."""
    with handle_errors():
        from usertrack.cli.dashboard_run import run_report
        from usertrack.reports.weekly import WEEKLY_TEMPLATE

        if print_template:
            from usertrack.rendering.output import is_stdout

            if out is not None and not is_stdout(out):
                raise UsageError(
                    "--print-template prints to stdout, not into --out"
                    " (redirect it: usertrack report weekly --print-template > mine.md.j2)"
                )
            sys.stdout.write(WEEKLY_TEMPLATE.read_text(encoding="utf-8"))
            sys.stdout.flush()
            return
        if list_dashboards:
            from usertrack.core.config import load_settings
            from usertrack.dashboards.spec import listed

            for name, where, path in listed(load_settings().home):
                typer.echo(f"{name}\t{where}\t{path}")
            return
        if dashboard is None:
            raise UsageError("name a dashboard (usertrack report weekly), or --list")
        if open_it and (fmt or "").lower() != "html" and (out is None or out.suffix != ".html"):
            raise UsageError("--open opens the HTML page: add -f html (or --out NAME.html)")
        if open_it and out is not None and str(out) == "-":
            raise UsageError("--open needs a file: --out - writes to stdout")
        if charts not in ("svg", "mermaid"):
            raise UsageError(f"--charts {charts!r} is not one of svg, mermaid")
        written = run_report(
            dashboard,
            fmt=fmt,
            charts=charts,
            as_of=as_of,
            out=out,
            compare=compare,
            force=force,
            template=template,
            segments_file=segments_file,
            queries_dir=queries_dir,
            save=save,
        )
        if written is not None:
            info(f"usertrack: {written[0]} {written[1]}")
            typer.echo(str(written[1]))
            if open_it:
                import webbrowser

                webbrowser.open(written[1].resolve().as_uri())


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
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    failures_file: FailuresOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            max=100_000,
            help="Failing tools shown in the table and md; with --runs, the runs listed.",
        ),
    ] = 15,
    runs: Annotated[
        bool,
        typer.Option(
            "--runs",
            help="List the failed workflow runs one by one instead, newest first: when, who, the"
            " run, its error cut to 200 characters.",
        ),
    ] = False,
    js_errors: Annotated[
        bool,
        typer.Option(
            "--js-errors",
            help="List the JavaScript errors instead (PostHog's $exception events), most first:"
            " occurrences, persons affected, pages, first and last seen.",
        ),
    ] = False,
    refresh: RefreshOpt = False,
) -> None:
    """Why runs and tool calls fail across all users: causes, owners, tools, standout days."""
    with handle_errors():
        from usertrack.core.clock import parse_as_of
        from usertrack.core.config import resolve_failures_file
        from usertrack.reports.failures import failure_report, load_failure_rules
        from usertrack.reports.failures_output import report_csv, report_json, report_markdown

        chosen = chart_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        asked = user_lists.asked("failures", {"runs": runs, "js_errors": js_errors})
        if asked is not None and chosen in CHARTS:
            raise UsageError(
                f"--runs and --js-errors list rows: -f table, json, csv or md, not {chosen}"
            )
        if asked is not None:
            probe_out(out)
            with command_workspace(
                moment, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
            ) as (ws, when, _):
                found = user_lists.user_list(ws, asked, when, days=days, limit=limit)
            emit_list(found, chosen, out)
            return
        rules = load_failure_rules(resolve_failures_file(failures_file))
        probe_out(out)
        with command_workspace(moment, queries_dir=queries_dir, segments_file=segments_file,
                               refresh=refresh, status="loading rules and queries") as (
            ws, when, progress
        ):  # fmt: skip
            report = failure_report(ws, rules, when, days, progress=progress)
        if chosen == "table":
            from usertrack.rendering.terminal import render_failures  # rich: only for the table

            render_failures(answer_console(), report, limit)
        elif chosen in CHARTS:
            write_chart("failures", json.loads(report_json(report)), chosen, out)
        elif chosen == "json":
            emit(report_json(report), out)
        elif chosen == "csv":
            emit(report_csv(report), out)
        else:
            emit(report_markdown(report, limit), out)


@app.command()
def accounts(
    days: DaysOpt = 30,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", "-n", min=1, max=100_000, help="Accounts shown in the table and md."
        ),
    ] = 25,
    segment: AccountSegmentOpt = None,
    save: SaveSegmentsOpt = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Accounts (teams of users): members active, plan, runs and failures, credits, health."""
    with handle_errors():
        from usertrack.core.clock import parse_as_of
        from usertrack.reports import accounts as account_report
        from usertrack.segments.account_key import AccountKey

        chosen = chart_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        key = AccountKey.configured()
        probe_out(out)
        with command_workspace(moment, queries_dir=queries_dir, segments_file=segments_file,
                               refresh=refresh) as (ws, when, progress):  # fmt: skip
            if segment is not None:
                from usertrack.analytics.by_segment import check_segment

                segment = check_segment(ws, segment)
            report = account_report.account_report(
                ws, when, days=days, key=key, progress=progress, segment=segment, save=save
            )
        said(report.said)
        if chosen == "table":
            account_report.render(answer_console(), report, limit)
        elif chosen in CHARTS:
            write_chart("accounts", json.loads(account_report.to_json(report)), chosen, out)
        elif chosen == "json":
            emit(account_report.to_json(report), out)
        elif chosen == "csv":
            emit(account_report.to_csv(report), out)
        else:
            emit(account_report.to_markdown(report, limit), out)


@app.command()
def tools(
    tool: Annotated[
        str | None,
        typer.Option(
            "--tool",
            help="One tool by name: its errors by type with previews, users affected, first and"
            " last failure, day by day.",
            metavar="NAME",
        ),
    ] = None,
    days: DaysOpt = 30,
    segment: OneSegmentOpt = None,
    who: WhoOpt = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            max=1000,
            help="Rows of the top tools, scripts and errors, or of a list (--by-user, ...).",
        ),
    ] = 25,
    by_user: Annotated[
        bool,
        typer.Option(
            "--by-user",
            help="List each user's tool calls instead: calls, unique tools, successes, failures,"
            " average duration, first and last use.",
        ),
    ] = False,
    executions: Annotated[
        bool,
        typer.Option(
            "--executions",
            help="List the code executions one by one instead, newest first: who, when, what.",
        ),
    ] = False,
    custom: Annotated[
        bool,
        typer.Option(
            "--custom",
            help="List the custom tools created instead, newest first: creator's email, name,"
            " description, code length.",
        ),
    ] = False,
    mcp_clicks: Annotated[
        bool,
        typer.Option(
            "--mcp-clicks",
            help="List the people who clicked to connect an MCP server instead (PostHog), most"
            " clicks first: servers, referring domains, first and last click.",
        ),
    ] = False,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    save: SaveSegmentsOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Tool calls, agent runs, code executions and custom tools across users (csv: top tools)."""
    options = dict(locals())  # every option by its parameter name, before anything else
    with handle_errors():
        from usertrack.core.clock import parse_as_of
        from usertrack.reports import tool_usage

        chosen = chart_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        asked = user_lists.asked("tools", options)
        if asked is not None and chosen in CHARTS:
            raise UsageError(f"{asked.option} lists rows: -f table, json, csv or md, not {chosen}")
        answer = tool_usage.prepare(options)  # --who and --segment checked (exit 2) here
        if who is not None:
            from usertrack.analytics.by_segment import check_who

            who = check_who(who)
        probe_out(out)
        with command_workspace(moment, queries_dir=queries_dir, segments_file=segments_file,
                               refresh=refresh, status="loading rules and queries") as (
            ws, when, progress
        ):  # fmt: skip
            if asked is not None:
                emails = None
                if who is not None:
                    emails = tool_usage.who_emails(ws, when, who, progress)
                if segment is not None:
                    from usertrack.analytics.by_segment import check_segment

                    segment = check_segment(ws, segment)
                    emails = tool_usage.segment_emails(ws, when, segment, progress, save)
                found = user_lists.user_list(
                    ws, asked, when, days=days, limit=limit, segment=segment, who=who,
                    segment_emails=emails,
                )  # fmt: skip
            else:
                report = answer(ws, when, progress)
        if asked is not None:
            emit_list(found, chosen, out)
        elif chosen == "table":
            tool_usage.render(answer_console(), report)
        elif chosen in CHARTS:
            write_chart("tools", json.loads(tool_usage.to_json(report)), chosen, out)
        elif chosen == "json":
            emit(tool_usage.to_json(report), out)
        elif chosen == "csv":
            emit(tool_usage.to_csv(report), out)
        else:
            emit(tool_usage.to_markdown(report), out)


def emit_list(found: user_lists.UserList, chosen: str, out: Path | None) -> None:
    """A list across users in the chosen format; a cut csv list says so on stderr."""
    if chosen == "table":
        user_lists.render(answer_console(), found)
    elif chosen == "json":
        emit(user_lists.to_json(found), out)
    elif chosen == "csv":
        note = user_lists.cut_note(found)
        if note:
            info(f"usertrack: {note}")
        emit(user_lists.to_csv(found), out)
    else:
        emit(user_lists.to_markdown(found), out)


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
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write everything usertrack holds about this person (PostHog persons and every"
            " event, app rows, segments, history, local state) as one JSON file, owner-only;"
            " '-' for stdout.",
        ),
    ] = None,
) -> None:
    """Deep dive into one user: profile, segments and why, timeline, tools, failures by cause."""
    with handle_errors():
        from usertrack.core.clock import parse_as_of
        from usertrack.core.config import (
            load_settings,
            resolve_failures_file,
            resolve_queries_dir,
            resolve_segments_file,
        )
        from usertrack.reports.deepdive import deep_dive, open_with_rules, to_json, to_markdown

        chosen = choose_format(fmt, out, ("table", "json", "md"))
        if not email.strip():
            raise UsageError("EMAIL is empty")
        if export is not None and (fmt is not None or out is not None):
            raise UsageError("--export writes its own JSON: leave out --format and --out")
        if export is not None:
            from usertrack.core import pseudonyms

            if pseudonyms.active():
                raise UsageError(
                    "--export is the person's own data, by name: it does not go with --anonymize"
                )
        moment = parse_as_of(as_of) if as_of else None
        probe_out(out)
        probe_out(export)
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
                if export is not None:
                    from usertrack.reports.export_user import export_user
                    from usertrack.reports.export_user import to_json as export_json

                    doc = export_user(ws, email, moment or ws.default_as_of(), rules, progress)
                    text = export_json(doc)
                else:
                    dd = deep_dive(
                        ws, email, moment or ws.default_as_of(), rules, days=days,
                        progress=progress,
                    )  # fmt: skip
        if export is not None:
            _write_export(text, export)
            return
        if chosen == "table":
            from usertrack.rendering.terminal import render_deep_dive  # rich: only for the table

            render_deep_dive(answer_console(), dd, limit)
        elif chosen == "json":
            emit(to_json(dd), out)
        else:
            emit(to_markdown(dd, limit), out)


def _write_export(text: str, export: Path) -> None:
    """The export to stdout ('-'), or into its file atomically and owner-only (0600), even when
    it replaces a file that was readable by others."""
    from usertrack.rendering.output import is_stdout, write_atomic

    if is_stdout(export):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomic(export, text, mode=0o600)
    info(f"usertrack: wrote {export}")
