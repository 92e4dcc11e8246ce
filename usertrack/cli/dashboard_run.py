"""`usertrack report DASHBOARD`: read and check the dashboard, compute its panels in this process
(usertrack.dashboards.compute), write JSON, Markdown with SVG charts, or one HTML page."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.cli.context import check_as_of, open_command_workspace
from usertrack.cli.output import anonymized_streams, info, spinner, warn
from usertrack.core import pseudonyms, style
from usertrack.core.errors import UsageError
from usertrack.engines.concurrency import Background
from usertrack.scope import Scope

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

FORMATS = ("md", "html", "json")


def _format(fmt: str | None, out: Path | None) -> tuple[str, bool]:
    """(format, whether --out names a file rather than a folder)."""
    from usertrack.rendering.output import is_stdout

    named = None
    if out is not None and not is_stdout(out):
        named = {".md": "md", ".html": "html", ".htm": "html", ".json": "json"}.get(
            out.suffix.lower()
        )
    if named is not None and out is not None and out.is_dir():
        named = None  # an existing folder of that name stays a folder
    if fmt is None:
        return named or "md", named is not None
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if named is not None and named != fmt:
        raise UsageError(f"--out {out} names a {named} file, but --format is {fmt}")
    return fmt, named is not None


def _period(ws: Any, days: int | None, week: Any, moment: Any) -> tuple[Any, Any, Any]:
    """The dashboard's period (its ISO week, or `days: N` up to --as-of), its start and end."""
    from usertrack.core.clock import now_utc
    from usertrack.core.style import moment as moment_text
    from usertrack.dashboards.compute import Period

    data_end = ws.default_as_of() if ws.demo is not None else now_utc()
    if days is None:
        start, end, label = week.start, week.end, week.label
        days = 7
        if week.end > data_end:
            warn(
                f"week {week.label} is not over (data up to {moment_text(data_end)}):"
                " the report covers it so far"
            )
    else:
        end = moment or data_end
        start = end - timedelta(days=days)
        label = f"{start.date().isoformat()}..{(end - timedelta(seconds=1)).date()}"
    until = min(end, data_end)  # a week not over: so far
    period = Period(
        label, start.strftime("%Y-%m-%dT%H:%M:%SZ"), until.strftime("%Y-%m-%dT%H:%M:%SZ"), days
    )
    return period, start, end


def _ready_out(out: Path | None, to_file: bool) -> bool:
    """Whether the report goes to stdout; else its folder or file's folder, made ready."""
    from usertrack.rendering.output import is_stdout, prepare_out, prepare_out_dir

    to_stdout = is_stdout(out)
    if not to_stdout and not to_file:
        prepare_out_dir(out or Path("."))
    elif to_file:
        assert out is not None
        prepare_out(out)
    return to_stdout


def _template_checked(template: Path | None, chosen: str) -> None:
    """The weekly template parsed now, where it is rendered: a bad one fails before any work.
    Only -f md renders it: for a page the shipped one is not parsed (jinja2 not even imported,
    0.07 s before the first panel starts); a user's --template is, with every format."""
    from usertrack.reports.weekly_template import check_template

    if template is not None or chosen == "md":
        check_template(template)


@contextlib.contextmanager
def _anonymized(wanted: bool) -> Iterator[None]:
    """A dashboard of `anonymize: true`: its run as with --anonymize (usertrack.core.pseudonyms),
    when the command line has not turned it on already."""
    if not wanted or pseudonyms.active():
        yield
        return
    pseudonyms.set_active(True)
    try:
        pseudonyms.pseudonym("")  # the key, read or made before any work
        with anonymized_streams():
            yield
    finally:
        pseudonyms.set_active(False)


def run_report(given: str, **options: Any) -> tuple[str, Path] | None:
    """Compute and write; (status, path) of the file written, None when written to stdout."""
    with contextlib.ExitStack() as stack:  # what lasts until the report is written
        return _run_report(given, stack=stack, **options)


def _run_report(
    given: str,
    *,
    stack: contextlib.ExitStack[Any],
    fmt: str | None,
    charts: str = "svg",
    as_of: str | None,
    out: Path | None,
    compare: bool,
    force: bool,
    template: Path | None,
    segments_file: Path | None,
    queries_dir: Path | None,
    save: bool | None,
) -> tuple[str, Path] | None:
    """Compute and write; (status, path) of the file written, None when written to stdout."""
    from functools import partial

    from typer.main import get_command

    from usertrack.checks.sandbox import threads_each
    from usertrack.cli.program import app_of, leave_to_exit
    from usertrack.core.clock import parse_as_of
    from usertrack.core.config import load_settings
    from usertrack.dashboards.compute import command_lines, compute
    from usertrack.dashboards.spec import load, resolve
    from usertrack.engines import query_counts
    from usertrack.engines.postgres.mirror_file import held_open
    from usertrack.reports.weekly import (
        build_context,
        collect_weekly,
        report_week,
        write_report,
    )
    from usertrack.segments.history import encode_snapshot, open_history, saves_by_default
    from usertrack.workspace import keep_open

    settings = load_settings()
    dashboard = load(resolve(given, settings.home))
    stack.enter_context(_anonymized(dashboard.anonymize))
    root = get_command(app_of({panel.analysis for panel in dashboard.panels}))
    lines = command_lines(dashboard, root)  # a bad panel: one line, before any work
    chosen, to_file = _format(fmt, out)
    if charts != "svg" and chosen != "md":
        raise UsageError(f"--charts {charts} goes with -f md")
    moment = parse_as_of(as_of) if as_of else None
    _template_checked(template, chosen)
    to_stdout = _ready_out(out, to_file)
    kept: dict[str, Any] = {}
    # The panels compute in two lanes, each with threads of its own beside it (the database's
    # queries, the failure report), which keep the cores busy: the events store and the
    # analyses' own DuckDB databases work with one thread each, not DuckDB's pool of one a core
    # each, whose threads would take the cores from the lanes'.
    with (
        threads_each(1),
        held_open(),  # the app tables' copy opened once for every panel that reads it
        query_counts.counted() as sent,
        keep_open(leave=leave_to_exit),  # the events store's memory freed by the exit
        spinner("loading rules and queries") as progress,
    ):
        ws = open_command_workspace(
            progress, queries_dir=queries_dir, segments_file=segments_file, settings=settings
        )
        with ws, open_history(ws) as history:
            check_as_of(ws, moment)
            week = report_week(ws, moment)
            period, start, end = _period(ws, dashboard.days, week, moment)
            label = period.label

            if save is None:
                save = saves_by_default(ws)
            encoding: list[tuple[Any, Background[tuple[bytes, bytes | None]]]] = []

            def metrics(view: Workspace) -> dict[str, Any]:
                # A history of its own: the panel may compute on another thread (SQLite's
                # connections stay on the thread that opened them).
                with open_history(view) as own:
                    data = collect_weekly(view, week.end, history=own, progress=progress)
                kept["data"] = data
                if save:  # the snapshot's encoding while the other panels compute, not after
                    work = partial(encode_snapshot, data.current)
                    encoding.append((data, Background(work, "usertrack-snapshot")))
                kept["context"] = build_context(data)
                return kept["context"]

            # the panels share classifications and failure reports
            shared = ws.scoped(Scope(shared={}))
            try:
                panels = compute(
                    dashboard, root, lines, period, shared, compare=compare, metrics=metrics,
                    progress=progress,
                )  # fmt: skip
            finally:
                for _data, started in encoding:  # done with the classification before it closes
                    started.settle()
            if save and "data" in kept:
                made = [b.result() for data, b in encoding if data is kept["data"]]
                history.save(kept["data"].current, encoded=made[-1] if made else None)
    meta = {
        "dashboard": dashboard.name,
        "title": dashboard.title,
        "period_label": label,
        "period_text": _period_text(label, start, end),
        "from": period.start,
        "to": period.end,
        "compare": compare,
        "queries": sent,  # what the panels sent to PostHog and the database
    }
    info(f"usertrack: the panels sent {query_counts.text(sent)}")
    stem = (
        week.file_name.removesuffix(".md")
        if dashboard.name == "weekly" and dashboard.days is None
        else f"{dashboard.name}-{label.replace('..', '-to-')}"
    )
    from usertrack.dashboards import render

    files: dict[str, str] = {}  # the charts beside a Markdown report
    if chosen == "json":
        text = render.to_json(meta, panels)
    elif chosen == "html":
        from usertrack.engines.cache import cache_dir

        text = render.to_html(meta, panels, cache_dir(settings.home))
    else:
        if to_file:
            assert out is not None
            stem = out.stem
        weekly = kept.get("context") if dashboard.panels[0].analysis == "metrics" else None
        text, files = _markdown(meta, panels, stem, weekly, template, charts)
        if to_stdout:
            files = {}  # one text on stdout: the charts need a folder
    if to_stdout:
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    path = out if to_file else (out or Path(".")) / f"{stem}.{chosen}"
    assert path is not None
    beside = {path.parent / name: svg for name, svg in files.items()}
    status = write_report(path, text, force=force, beside=beside)
    if files:
        info(f"usertrack: {len(files)} charts beside it ({stem}-NN-*.svg)")
    return status, path


def _period_text(label: str, start: datetime, end: datetime) -> str:
    """The header's period: an ISO week's name and its days ("2026-W47: 2026-11-16 to
    2026-11-22 (UTC)"), a range of days once ("2026-10-28 to 2026-11-26 (UTC)"), never its
    dates twice."""
    days = f"{start.date()} to {(end - timedelta(seconds=1)).date()} (UTC)"
    return days if ".." in label else f"{label}: {days}"


def _markdown(
    meta: dict[str, Any],
    panels: list[dict[str, Any]],
    stem: str,
    weekly: dict[str, Any] | None,
    template: Path | None,
    charts: str,
) -> tuple[str, dict[str, str]]:
    """A dashboard's Markdown and its charts. `weekly`: the weekly report's context, when its
    text heads the dashboard: the other panels' sections are then the template's
    `panel_sections`, which the shipped template ends with (and so one --print-template
    printed), and a chart is drawn beside it when the text shows it."""
    from usertrack.dashboards import render
    from usertrack.reports.weekly_template import render_weekly

    if weekly is None:
        return render.to_markdown(meta, panels, stem, None, charts_as=charts)
    sections, drawn = render.panel_sections(panels, stem, charts_as=charts)
    # usertrack's own Markdown (each panel's text escaped as it was written): not escaped again
    context = {**weekly, "panels": panels, "panel_sections": style.Markdown(sections)}
    head = render_weekly(context, template)
    metrics = [p for p in panels if p["analysis"] == "metrics"]
    text, files = render.to_markdown(meta, metrics, stem, head, charts_as=charts)
    return text, {**{name: svg for name, svg in drawn.items() if name in head}, **files}
