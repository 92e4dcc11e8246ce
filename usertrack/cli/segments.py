"""`usertrack segments`: every user classified, the table or an export, the history
saved, --changes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from usertrack.cli.context import check_as_of, command_workspace, open_command_workspace
from usertrack.cli.options import (
    MOMENT,
    AsOfOpt,
    ChartFormatOpt,
    OutOpt,
    QueriesOpt,
    RefreshOpt,
    SegmentsOpt,
    SegmentTypeOpt,
)
from usertrack.cli.output import (
    CHARTS,
    answer_console,
    chart_format,
    emit,
    probe_out,
    say,
    spinner,
    write_chart,
)
from usertrack.cli.program import app, handle_errors, leave_to_exit
from usertrack.core.errors import UsageError, not_with
from usertrack.scope import Scope


@app.command()
def segments(
    segment: Annotated[
        str | None,
        typer.Option(
            "--segment", "-s", help="List the users of one segment (by id).", metavar="ID"
        ),
    ] = None,
    segment_type: SegmentTypeOpt = None,
    fmt: ChartFormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            help="Users shown per segment in the table and md. Default: 5, all with --segment.",
        ),
    ] = None,
    refresh: RefreshOpt = False,
    save: Annotated[
        bool | None,
        typer.Option(
            "--save/--no-save",
            help="Save this run's segments to the history under USERTRACK_HOME (for --changes)."
            " Default: save, unless --segments names another file than the default rules.",
        ),
    ] = None,
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
            metavar=MOMENT,
        ),
    ] = None,
    overview: Annotated[
        bool,
        typer.Option(
            "--overview",
            help="Show the users at a glance instead: how many, new in the last 7 days, using"
            " credits, average credits left and spent, average engagement score. Needs the app"
            " database.",
        ),
    ] = False,
) -> None:
    """Classify every user into the segments of segments.yaml and show who to act on."""
    with handle_errors():
        from usertrack.core.clock import parse_as_of
        from usertrack.core.config import load_settings

        chosen = chart_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        if since is not None and not changes:
            raise UsageError("--since goes with --changes")
        if overview and (changes or segment is not None):
            raise UsageError(f"--overview and {'--changes' if changes else '--segment'} do not"
                             " go together")  # fmt: skip
        check_type_options(segment_type, segment=segment, changes=changes, overview=overview)
        if segment_type is not None and save:
            raise UsageError("--save does not go with --type: the history keeps every segment")
        probe_out(out)
        if overview:
            _show_overview(moment, chosen, out, queries_dir, segments_file, refresh)
            return
        if limit is None:
            limit = None if segment is not None else 5
        settings = load_settings()
        ahead: Any = None  # the engagement score's facts fetched ahead
        encoding: Any = None  # the history snapshot encoded while the figures are made
        with spinner("loading rules and queries") as progress:
            ws = open_command_workspace(
                progress,
                queries_dir=queries_dir,
                segments_file=segments_file,
                refresh=refresh,
                settings=settings,
            )
            try:
                if segment is not None:
                    ws.rules.check_segment(segment)
                rules = None if segment_type is None else ws.rules.of_type(segment_type)
                check_as_of(ws, moment)
                # the modules that write the answer, imported while the profile's queries run
                meanwhile = None if changes else Scope(meanwhile=lambda: _import_output(chosen))
                classifying = ws
                if meanwhile is not None or rules is not None:
                    classifying = ws.scoped(meanwhile or Scope(), rules=rules)
                when = moment or ws.default_as_of()
                if not changes:
                    from usertrack.analytics import segment_figures

                    # the engagement score's facts, fetched while the classification is made
                    ahead = segment_figures.facts_ahead(ws, when)
                result = classifying.classify(when, progress)
                if changes:
                    moves = _segments_history(ws, result, save, since, progress)
                else:
                    from usertrack.segments.history import encode_meanwhile

                    # a classification into some segments is no snapshot of the rules
                    history = _history_to_save(ws, save) if rules is None else None
                    encoding = encode_meanwhile(history, result)
                    segment_figures.add_figures(ws, result, progress, ahead)
                    ahead = None
            except BaseException:
                if ahead is not None:
                    segment_figures.cancel_ahead(ahead)
                if encoding is not None:
                    encoding.settle()  # it reads the classification, which closing ends
                ws.close()
                raise
        if changes:
            ws.close()
            _show_changes(moves, chosen, out, segment, limit or 5)
            return
        from concurrent.futures import ThreadPoolExecutor

        from usertrack.segments.history import save_and_close

        # The snapshot is written, and the sources closed (the events store frees its cache),
        # while the output is: SQLite and DuckDB do most of that work outside the interpreter's
        # lock, so it costs the wall time little.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="usertrack-after") as after:
            after.submit(ws.close)
            saved = (
                after.submit(save_and_close, history, result, say, encoding) if history else None
            )
            _show_segments(result, chosen, out, segment, limit)
            if saved:
                saved.result()
        leave_to_exit(result)


def _show_segments(
    result: Any, chosen: str, out: Path | None, segment: str | None, limit: int | None
) -> None:
    if chosen == "table":
        from usertrack.rendering.terminal import render_segments  # rich: imported now

        render_segments(answer_console(), result, segment, limit)
    elif chosen in CHARTS:  # persons per segment, from the JSON answer's counts
        import json

        from usertrack.rendering.export import render

        write_chart("segments", json.loads(render(result, "json", segment)), chosen, out)
    else:
        from usertrack.rendering.export import render

        emit(render(result, chosen, segment, limit), out)


def check_type_options(
    segment_type: str | None, *, segment: str | None, changes: bool, overview: bool
) -> None:
    """`--type` goes with neither --segment, --changes nor --overview."""
    if segment_type is not None:
        not_with("--type", ("--segment", segment), ("--changes", changes), ("--overview", overview))


def _show_overview(
    moment: Any, chosen: str, out: Path | None, queries_dir: Any, segments_file: Any, refresh: bool
) -> None:
    """`segments --overview`: the app's figures and the engagement score, nothing classified
    or saved."""
    from usertrack.reports import user_lists

    with command_workspace(moment, queries_dir=queries_dir, segments_file=segments_file,
                           refresh=refresh) as (ws, when, _):  # fmt: skip
        found = user_lists.overview(ws, when)
    if chosen == "table":
        user_lists.render_overview(answer_console(), found)
    elif chosen == "json":
        emit(user_lists.overview_json(found), out)
    elif chosen == "csv":
        emit(user_lists.overview_csv(found), out)
    else:
        emit(user_lists.overview_markdown(found), out)


def _import_output(chosen: str) -> None:
    """What writes the answer and saves the snapshot, imported while the queries run (rich
    alone is 0.03-0.05 s)."""
    import usertrack.segments.history

    if chosen == "table":
        import usertrack.rendering.terminal
    else:
        import usertrack.rendering.export  # noqa: F401


def _history_to_save(ws: Any, save: bool | None) -> Any:
    """The history this run's snapshot goes to, or None. `save` None (neither --save nor
    --no-save) saves only under the default rules file."""
    from usertrack.segments.history import open_history, saves_by_default

    if save is None:
        save = saves_by_default(ws)
        if not save:
            say(
                f"usertrack: not saved to the history: {ws.rules.path} is not the default"
                " rules file (add --save to save it)"
            )
    history = open_history(ws)  # checks USERTRACK_HISTORY_DAYS, saving or not
    return history if save else None


def _segments_history(
    ws: Any, result: Any, save: bool | None, since: str | None, progress: Any
) -> Any:
    """`segments --changes`: save the snapshot (see `_history_to_save`), compare with the
    baseline."""
    from datetime import timedelta

    from usertrack.core.clock import parse_as_of
    from usertrack.segments.history import (
        Snapshot,
        baseline_for,
        check_since,
        compare,
        open_history,
        save_snapshot,
    )

    moment = parse_as_of(since) if since else result.as_of - timedelta(days=7)
    check_since(moment, result.as_of)
    saving = _history_to_save(ws, save)
    with saving or open_history(ws) as history:
        if saving:
            save_snapshot(history, result, say)
        baseline = baseline_for(ws, history, moment, progress, notice=say)
    return compare(baseline, Snapshot.of(result), result.segments)


def _show_changes(moves: Any, fmt: str, out: Path | None, segment: str | None, limit: int) -> None:
    if fmt == "table":
        from usertrack.rendering.terminal import render_changes

        render_changes(answer_console(), moves, segment, limit)
    elif fmt in CHARTS:  # each segment's size before and after
        import json

        from usertrack.rendering.changes_view import render_changes as render_changes_text

        write_chart("segments", json.loads(render_changes_text(moves, "json", segment, limit)),
                    fmt, out)  # fmt: skip
    else:
        from usertrack.rendering.changes_view import render_changes as render_changes_text

        emit(render_changes_text(moves, fmt, segment, limit), out)
