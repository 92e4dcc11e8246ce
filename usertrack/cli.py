"""The `usertrack` command: parses options, calls the library, renders. Nothing else lives here.

Errors from the library are `UsertrackError`s: shown as one line on stderr with a distinct exit
code (README: "Exit codes"). USERTRACK_DEBUG=1 shows the traceback instead (secrets redacted,
locals never shown).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from usertrack.errors import EXIT_INTERNAL, UsageError, UsertrackError, redact

if TYPE_CHECKING:
    from usertrack.config import Settings
    from usertrack.workspace import Workspace

app = typer.Typer(
    name="usertrack",
    help="Join PostHog behaviour with your app's Postgres per user, segment users, act on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table (terminal), json, csv or md. Default: table, or the --out file's extension.",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write to this file (atomically) instead of stdout."),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Look from this moment: DATE (00:00 UTC) or DATETIME (UTC)."
        " Default: now (on the demo: the end of its data).",
    ),
]
SegmentsOpt = Annotated[
    Path | None,
    typer.Option(
        "--segments", help="Segment rules file. Default: ./segments.yaml, else the shipped one."
    ),
]
RefreshOpt = Annotated[
    bool,
    typer.Option("--refresh", help="Ask the live sources again instead of using cached results."),
]
QueriesOpt = Annotated[
    Path | None,
    typer.Option(
        "--queries", help="Query library folder. Default: ./queries, else the shipped one."
    ),
]


def _debug() -> bool:
    return os.environ.get("USERTRACK_DEBUG", "").strip().lower() in ("1", "true", "yes")


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn library errors into one line on stderr and the error's exit code."""
    try:
        yield
    except UsertrackError as e:
        if _debug():
            raise
        typer.echo(f"usertrack: error: {e}", err=True)
        if e.hint:
            typer.echo(f"usertrack: hint: {e.hint}", err=True)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("usertrack: interrupted", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as e:
        if _debug():
            raise
        message = redact(f"{type(e).__name__}: {e}".splitlines()[0])
        typer.echo(f"usertrack: internal error: {message}", err=True)
        typer.echo("usertrack: hint: run again with USERTRACK_DEBUG=1 for the traceback", err=True)
        raise typer.Exit(EXIT_INTERNAL) from None


def _choose_format(fmt: str | None, out: Path | None) -> str:
    from usertrack.export import FORMATS, format_for_path

    if fmt is None:
        if out is not None:
            inferred = format_for_path(out)
            if inferred is None:
                raise UsageError(f"--out {out}: cannot tell the format from the name; add --format")
            return inferred
        return "table"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "table" and out is not None:
        raise UsageError("--format table is for the terminal; use json, csv or md with --out")
    return fmt


def _emit(text: str, out: Path | None) -> None:
    from usertrack.export import write_atomic

    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(out, text)
        typer.echo(f"usertrack: wrote {out}", err=True)


def _open_workspace(
    progress: Callable[[str], None],
    *,
    queries_dir: Path | None,
    segments_file: Path | None,
    refresh: bool = False,
    settings: Settings | None = None,
) -> Workspace:
    """The workspace a command's flags name: settings, query library, rules, sources."""
    from usertrack.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    return open_workspace(
        settings or load_settings(),
        queries_dir=resolve_queries_dir(queries_dir),
        segments_path=resolve_segments_file(segments_file),
        progress=progress,
        notice=lambda msg: typer.echo(msg, err=True),
        refresh=refresh,
    )


@app.command()
def segments(
    segment: Annotated[
        str | None, typer.Option("--segment", "-s", help="List the users of one segment (by id).")
    ] = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=1, help="Users shown per segment in the table and md."),
    ] = 5,
    refresh: RefreshOpt = False,
    save: Annotated[
        bool,
        typer.Option(
            "--save/--no-save",
            help="Save this run's segments to the history under USERTRACK_HOME (for --changes).",
        ),
    ] = True,
    changes: Annotated[
        bool,
        typer.Option(
            "--changes", help="Show who entered and left each segment since --since instead."
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="With --changes: compare with this moment (DATE or DATETIME, UTC)."
            " Default: 7 days before --as-of.",
        ),
    ] = None,
) -> None:
    """Classify every user into the segments of segments.yaml and show who to act on."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.config import load_settings
        from usertrack.export import render
        from usertrack.terminal import progress_status, render_segments, stderr_console

        chosen = _choose_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        if since is not None and not changes:
            raise UsageError("--since goes with --changes")
        settings = load_settings()
        err = stderr_console()
        with progress_status(err, "loading rules and queries") as progress:
            ws = _open_workspace(
                progress,
                queries_dir=queries_dir,
                segments_file=segments_file,
                refresh=refresh,
                settings=settings,
            )
            with ws:
                if segment is not None:
                    ws.rules.get(segment)
                result = ws.classify(moment or ws.default_as_of(), progress)
                moves = _segments_history(ws, result, save, changes, since, progress)
        if moves is not None:
            _show_changes(moves, chosen, out, segment, limit)
            return
        if chosen == "table":
            from rich.console import Console

            render_segments(Console(), result, segment, limit)
        else:
            _emit(render(result, chosen, segment, limit), out)


@app.command()
def demo(
    users: Annotated[
        int, typer.Option("--users", min=10, help="How many users to generate.")
    ] = 2000,
    reset: Annotated[
        bool, typer.Option("--reset", help="Regenerate even if the demo exists.")
    ] = False,
) -> None:
    """Generate the built-in demo workspace (PostgreSQL + PostHog events) under USERTRACK_HOME."""
    with handle_errors():
        from usertrack.config import load_settings
        from usertrack.demo import ensure_demo, read_manifest
        from usertrack.terminal import progress_status, stderr_console

        settings = load_settings()
        existed = read_manifest(settings.home) is not None
        with progress_status(stderr_console(), "preparing the demo workspace") as progress:
            ws = ensure_demo(settings.home, users=users, reset=reset, progress=progress)
            fresh = reset or not existed
            if ws.users != users:  # an existing demo of another size: regenerate at this one
                ws = ensure_demo(settings.home, users=users, reset=True, progress=progress)
                fresh = True
        verb = "generated" if fresh else "already there:"
        typer.echo(
            f"usertrack: demo {verb} {ws.users} users, data up to {ws.anchor.isoformat()},"
            f" in {ws.root}",
            err=True,
        )


@app.command()
def doctor(
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
) -> None:
    """Check the configuration and reach every source; print the fix for anything wrong."""
    with handle_errors():
        from usertrack.config import load_settings, resolve_queries_dir, resolve_segments_file
        from usertrack.doctor import exit_code, run_checks
        from usertrack.terminal import progress_status, stderr_console

        settings = load_settings()
        with progress_status(stderr_console(), "checking") as progress:
            checks = run_checks(
                settings,
                queries_dir=resolve_queries_dir(queries_dir),
                segments_path=resolve_segments_file(segments_file),
                progress=progress,
            )
        for check in checks:
            mark = "✓" if check.ok else "✗"
            typer.echo(f"{mark} {check.name}: {check.detail}")
            if not check.ok and check.fix:
                typer.echo(f"  fix: {check.fix}")
        code = exit_code(checks)
        if code:
            raise typer.Exit(code)


@app.command()
def query(
    query_id: Annotated[str, typer.Argument(help="A query of the library, e.g. neon/runs.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="NAME=VALUE for a parameter of the query (repeatable)."),
    ] = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    queries_dir: QueriesOpt = None,
    segments_file: SegmentsOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Run one query file of the library on its source and print its rows."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.export import render_result
        from usertrack.terminal import progress_status, render_result_table, stderr_console

        chosen = _choose_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        values: dict[str, str] = {}
        for item in param or []:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise UsageError(f"--param {item!r} is not NAME=VALUE")
            if name.strip() in ("as_of", "exclude_pattern"):
                raise UsageError(
                    f"--param {name.strip()} is set by usertrack: use --as-of, or exclude:"
                    " in segments.yaml"
                )
            values[name.strip()] = value
        with progress_status(stderr_console(), f"running {query_id}") as progress:
            ws = _open_workspace(
                progress, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
            )
            with ws:
                target = ws.library.get(query_id)
                unknown = sorted(set(values) - target.param_names)
                if unknown:
                    raise UsageError(
                        f"query {query_id} has no parameter {unknown[0]!r}"
                        f" (it takes: {', '.join(sorted(target.param_names)) or 'none'})"
                    )
                when = moment or ws.default_as_of()
                result = ws.run_query(query_id, when, **values)
        if chosen == "table":
            from rich.console import Console

            render_result_table(Console(), result, title=f"{query_id} — {target.description}")
        else:
            _emit(render_result(result, chosen, query=query_id, title=query_id), out)


@app.command()
def insight(
    insight_id: Annotated[str, typer.Argument(help="A saved insight's numeric id or short_id.")],
    fmt: FormatOpt = None,
    out: OutOpt = None,
) -> None:
    """Fetch a saved PostHog insight (refreshed) and print its result."""
    with handle_errors():
        from usertrack.config import load_settings
        from usertrack.errors import ConfigError
        from usertrack.export import render_result
        from usertrack.sources.posthog_http import PostHogHTTPSource
        from usertrack.terminal import progress_status, render_result_table, stderr_console

        chosen = _choose_format(fmt, out)
        settings = load_settings()
        if not (settings.posthog_project_id and settings.posthog_api_key):
            raise ConfigError(
                "saved insights live in PostHog: set POSTHOG_PROJECT_ID and"
                " POSTHOG_PERSONAL_API_KEY (and POSTHOG_HOST for EU or self-hosted)"
            )
        with progress_status(stderr_console(), f"fetching insight {insight_id}") as progress:
            source = PostHogHTTPSource(
                settings.posthog_api_key,
                settings.posthog_project_id,
                settings.posthog_host,
                progress=progress,
            )
            with source:
                result = source.fetch_insight(insight_id)
        name = str(result.meta.get("name") or f"insight {insight_id}")
        if chosen == "table":
            from rich.console import Console

            render_result_table(Console(), result, title=name)
        else:
            _emit(render_result(result, chosen, insight=insight_id, title=name), out)


cache_app = typer.Typer(help="The on-disk cache of live query results.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cached query result."""
    with handle_errors():
        from usertrack.cache import clear
        from usertrack.config import load_settings

        removed = clear(load_settings().home)
        typer.echo(f"usertrack: removed {removed} cached result(s)", err=True)


def _segments_history(
    ws: Any, result: Any, save: bool, changes: bool, since: str | None, progress: Any
) -> Any:
    """`segments --save` and `--changes`: save the snapshot, compare with the baseline."""
    from datetime import timedelta

    from usertrack.clock import parse_as_of
    from usertrack.errors import DataError
    from usertrack.history import Snapshot, baseline_for, check_since, compare, open_history

    moment = parse_as_of(since) if since else result.as_of - timedelta(days=7)
    if changes:
        check_since(moment, result.as_of)
    with open_history(ws) as history:
        if save:
            try:
                history.save(result)
            except DataError as e:
                typer.echo(f"usertrack: warning: snapshot not saved: {e}", err=True)
        if not changes:
            return None
        baseline = baseline_for(ws, history, moment, progress)
    return compare(baseline, Snapshot.of(result), result.segments)


def _show_changes(moves: Any, fmt: str, out: Path | None, segment: str | None, limit: int) -> None:
    if fmt == "table":
        from rich.console import Console

        from usertrack.terminal import render_changes

        render_changes(Console(), moves, segment, limit)
    else:
        from usertrack.history import render_changes as render_changes_text

        _emit(render_changes_text(moves, fmt, segment, limit), out)


report_app = typer.Typer(help="Reports written as Markdown files.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("weekly")
def report_weekly(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The report covers the 7 days ending here: DATE (00:00 UTC) or DATETIME (UTC)."
            " Default: today 00:00 UTC (on the demo: the end of its data).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Folder to write usertrack-YYYY-Www.md into. Default: here."
        ),
    ] = None,
    template: Annotated[
        Path | None,
        typer.Option("--template", help="A jinja2 template instead of the shipped weekly.md.j2."),
    ] = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    save: Annotated[
        bool,
        typer.Option(
            "--save/--no-save",
            help="Save this week's segments to the history under USERTRACK_HOME.",
        ),
    ] = True,
) -> None:
    """Write the weekly Markdown report: key metrics, segment movement, failures, UX, traffic."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.config import load_settings
        from usertrack.history import open_history
        from usertrack.report import check_out_dir, weekly_report
        from usertrack.terminal import progress_status, stderr_console

        moment = parse_as_of(as_of) if as_of else None
        check_out_dir(out)  # a bad --out or --template fails before any work
        if template is not None and not template.expanduser().is_file():
            raise UsageError(f"--template {template}: no such template file")
        settings = load_settings()
        with progress_status(stderr_console(), "loading rules and queries") as progress:
            ws = _open_workspace(
                progress, queries_dir=queries_dir, segments_file=segments_file, settings=settings
            )
            with ws, open_history(ws) as history:
                path = weekly_report(
                    ws,
                    moment,
                    out_dir=out,
                    template=template,
                    history=history,
                    save=save,
                    progress=progress,
                )
        typer.echo(f"usertrack: wrote {path}", err=True)
        typer.echo(str(path))


FailuresOpt = Annotated[
    Path | None,
    typer.Option(
        "--failures",
        help="Failure categories file. Default: ./failures.yaml, else the shipped one.",
    ),
]
DaysOpt = Annotated[
    int, typer.Option("--days", "-d", min=1, help="How many days back from --as-of to look.")
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
        from usertrack.config import (
            resolve_failures_file,
        )
        from usertrack.failures import (
            failure_report,
            load_failure_rules,
            report_csv,
            report_json,
            report_markdown,
        )
        from usertrack.terminal import progress_status, render_failures, stderr_console

        chosen = _choose_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        rules = load_failure_rules(resolve_failures_file(failures_file))
        with progress_status(stderr_console(), "loading rules and queries") as progress:
            ws = _open_workspace(
                progress, queries_dir=queries_dir, segments_file=segments_file, refresh=refresh
            )
            with ws:
                report = failure_report(
                    ws, rules, moment or ws.default_as_of(), days, progress=progress
                )
        if chosen == "table":
            from rich.console import Console

            render_failures(Console(), report, limit)
        elif chosen == "json":
            _emit(report_json(report), out)
        elif chosen == "csv":
            _emit(report_csv(report), out)
        else:
            _emit(report_markdown(report, limit), out)


@app.command()
def user(
    email: Annotated[
        str, typer.Argument(help="The user's email (matched trimmed and case-insensitively).")
    ],
    days: DaysOpt = 30,
    fmt: FormatOpt = None,
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
        from usertrack.deepdive import deep_dive, open_with_rules, to_json, to_markdown
        from usertrack.terminal import progress_status, render_deep_dive, stderr_console

        chosen = _choose_format(fmt, out)
        if chosen == "csv":
            raise UsageError("--format csv does not fit a deep dive; use table, json or md")
        if not email.strip():
            raise UsageError("EMAIL is empty")
        moment = parse_as_of(as_of) if as_of else None
        with progress_status(stderr_console(), "loading rules and queries") as progress:
            ws, rules = open_with_rules(
                load_settings(),
                failures_path=resolve_failures_file(failures_file),
                queries_dir=resolve_queries_dir(queries_dir),
                segments_path=resolve_segments_file(segments_file),
                progress=progress,
                notice=lambda msg: typer.echo(msg, err=True),
                refresh=refresh,
            )
            with ws:
                dd = deep_dive(
                    ws, email, moment or ws.default_as_of(), rules, days=days, progress=progress
                )
        if chosen == "table":
            from rich.console import Console

            render_deep_dive(Console(), dd, limit)
        elif chosen == "json":
            _emit(to_json(dd), out)
        else:
            _emit(to_markdown(dd, limit), out)


# ---------------------------------------------------------------------------------- tracking plan

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
        int, typer.Option("--days", "-d", min=1, help="Audit this many days back from --as-of.")
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
        from usertrack.clock import parse_as_of
        from usertrack.config import (
            load_settings,
            resolve_queries_dir,
            resolve_segments_file,
            resolve_tracking_plan_file,
        )
        from usertrack.errors import CoverageError
        from usertrack.terminal import progress_status, stderr_console
        from usertrack.tracking_plan import (
            audit_csv,
            audit_json,
            audit_markdown,
            fmt_pct,
            load_tracking_plan,
            open_events_workspace,
            run_audit,
        )

        chosen = _choose_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        plan = load_tracking_plan(resolve_tracking_plan_file(plan_file))
        with progress_status(stderr_console(), "loading the plan and queries") as progress:
            ws = open_events_workspace(
                load_settings(),
                queries_dir=resolve_queries_dir(queries_dir),
                segments_path=resolve_segments_file(segments_file),
                progress=progress,
                notice=lambda msg: typer.echo(msg, err=True),
                refresh=refresh,
            )
            with ws:
                audit = run_audit(ws, plan, moment or ws.default_as_of(), days, progress)
        if chosen == "table":
            from rich.console import Console

            from usertrack.tracking_plan_view import render_audit

            render_audit(Console(highlight=False), audit, limit)
        else:
            render = {"json": audit_json, "csv": audit_csv, "md": audit_markdown}[chosen]
            _emit(render(audit), out)
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
        Path, typer.Option("--out", "-o", help="The plan file to write (never overwritten).")
    ] = Path("tracking-plan.yaml"),
    days: Annotated[
        int, typer.Option("--days", "-d", min=1, help="Events seen this many days back.")
    ] = 30,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Write a first tracking plan from the events seen (one tier, top properties, types)."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.config import load_settings, resolve_queries_dir, resolve_segments_file
        from usertrack.terminal import progress_status, stderr_console
        from usertrack.tracking_plan import draft_plan, open_events_workspace, write_new

        if out.exists():
            write_new(out, "")  # the same "already exists" error, before any work
        moment = parse_as_of(as_of) if as_of else None
        with progress_status(stderr_console(), "loading queries") as progress:
            ws = open_events_workspace(
                load_settings(),
                queries_dir=resolve_queries_dir(queries_dir),
                segments_path=resolve_segments_file(segments_file),
                progress=progress,
                notice=lambda msg: typer.echo(msg, err=True),
                refresh=refresh,
            )
            with ws:
                text = draft_plan(ws, moment or ws.default_as_of(), days, progress)
        write_new(out, text)
        typer.echo(f"usertrack: wrote {out}", err=True)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return app(args=argv, prog_name="usertrack")


if __name__ == "__main__":  # pragma: no cover
    main()
