"""`usertrack query`, `insight` and `cache`: the query library run as it is, PostHog's saved
insights, the cache of live results."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from usertrack.cli.context import check_as_of, open_command_workspace
from usertrack.cli.options import AsOfOpt, FormatOpt, OutOpt, QueriesOpt, RefreshOpt, SegmentsOpt
from usertrack.cli.output import (
    answer_console,
    choose_format,
    emit,
    emit_rows,
    info,
    probe_out,
    spinner,
)
from usertrack.cli.program import app, handle_errors
from usertrack.errors import UsageError
from usertrack.rendering.style import counted


@app.command()
def query(
    query_id: Annotated[
        str | None, typer.Argument(help="A query of the library, e.g. neon/runs.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="NAME=VALUE for a parameter of the query (repeatable).",
            metavar="NAME=VALUE",
        ),
    ] = None,
    list_queries: Annotated[
        bool,
        typer.Option("--list", help="List the runnable queries: id, description, parameters."),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Have PostHog validate the HogQL file QUERY_ID (or every one) without running"
            " it; name each it refuses, with PostHog's message.",
        ),
    ] = False,
    hogql: Annotated[
        str | None,
        typer.Option(
            "--hogql",
            help="Run this one HogQL SELECT on PostHog (or the demo's events) instead of a file:"
            " {name} placeholders take -p values.",
            metavar="SELECT",
        ),
    ] = None,
    sql: Annotated[
        str | None,
        typer.Option(
            "--sql",
            help="Run this one SQL SELECT on the app's database, read-only, instead of a file:"
            " %(name)s placeholders take -p values.",
            metavar="SELECT",
        ),
    ] = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    queries_dir: QueriesOpt = None,
    segments_file: SegmentsOpt = None,
    refresh: RefreshOpt = False,
) -> None:
    """Run one query file of the library, or one inline SELECT, and print its rows (--list:
    which files)."""
    with handle_errors():
        from usertrack.clock import parse_as_of
        from usertrack.rendering.terminal import render_result_table

        inline = [
            (lang, text) for lang, text in (("hogql", hogql), ("sql", sql)) if text is not None
        ]
        if inline and (query_id is not None or list_queries or check or len(inline) > 1):
            raise UsageError(
                "--hogql and --sql each replace QUERY_ID, --list and --check: give one"
            )
        if list_queries:
            if query_id is not None:
                raise UsageError("--list takes no QUERY_ID")
            _list_queries(queries_dir)
            return
        if check:
            if param or fmt or out or as_of or refresh:
                raise UsageError("--check takes only QUERY_ID and --queries")
            _check_queries(query_id, queries_dir)
            return
        if query_id is None and not inline:
            raise UsageError(
                "missing QUERY_ID (see `usertrack query --list`), or --hogql / --sql SELECT"
            )
        chosen = choose_format(fmt, out)
        moment = parse_as_of(as_of) if as_of else None
        adhoc = None
        if inline:
            from usertrack.sources.inline import inline_query

            adhoc = inline_query(inline[0][1], inline[0][0])
        given: dict[str, str] = {}
        for item in param or []:
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise UsageError(f"--param {item!r} is not NAME=VALUE")
            if name in ("as_of", "exclude_pattern"):
                raise UsageError(
                    f"--param {name} is set by usertrack: use --as-of, or exclude: in segments.yaml"
                )
            if name == "email":  # the one normalisation, as `usertrack user` matches it
                from usertrack.emails import normalize_email

                value = normalize_email(value) or ""
            given[name] = value
        if adhoc is not None:
            _run_inline(adhoc, given, chosen, out, moment, queries_dir, segments_file, refresh)
            return
        assert query_id is not None
        probe_out(out)
        with contextlib.ExitStack() as open_until_written:
            with spinner(f"running {query_id}") as progress:
                ws = open_until_written.enter_context(
                    open_command_workspace(
                        progress,
                        queries_dir=queries_dir,
                        segments_file=segments_file,
                        refresh=refresh,
                    )
                )
                target = _runnable_query(ws.library, query_id)
                values = _typed_params(target, given)
                check_as_of(ws, moment)
                when = moment or ws.default_as_of()
                if chosen == "table":  # fitted to the terminal: every row first
                    result = ws.run_query(query_id, when, **values)
                else:  # json, csv, md: written as the rows arrive, whatever their number
                    rows = open_until_written.enter_context(
                        ws.stream_query(query_id, when, **values)
                    )
            if chosen == "table":
                render_result_table(
                    answer_console(), result, title=f"{query_id} — {target.description}"
                )
            else:
                emit_rows(rows, chosen, out, query=query_id, title=query_id)


def _run_inline(
    adhoc: Any,
    given: dict[str, str],
    chosen: str,
    out: Path | None,
    moment: Any,
    queries_dir: Path | None,
    segments_file: Path | None,
    refresh: bool,
) -> None:
    """`query --hogql/--sql`: the checked inline query (usertrack.sources.inline) run on the
    source of its folder, as a query file of that folder would be."""
    from usertrack.rendering.terminal import render_result_table
    from usertrack.segments.profiles import exclude_pattern
    from usertrack.sources.inline import SET_BY_USERTRACK, typed_values
    from usertrack.sources.queries import resolve_params

    values = typed_values(adhoc, given)
    title = adhoc.description
    probe_out(out)
    with contextlib.ExitStack() as open_until_written:
        with spinner(f"running the {title}") as progress:
            ws = open_until_written.enter_context(
                open_command_workspace(
                    progress,
                    queries_dir=queries_dir,
                    segments_file=segments_file,
                    refresh=refresh,
                    database=adhoc.folder == "neon",
                )
            )
            check_as_of(ws, moment)
            when = moment or ws.default_as_of()
            set_here = {"as_of": when, "exclude_pattern": exclude_pattern(ws.rules.exclude)}
            used = {p.name for p in adhoc.params}
            bound = resolve_params(
                adhoc,
                {**{k: v for k, v in set_here.items() if k in used}, **values},
                now_value=when,
            )
            assert set(SET_BY_USERTRACK) >= set(bound) - set(values)
            source = ws.sources[adhoc.folder]
            if chosen == "table":
                result = _inline_refusal(lambda: source.run(adhoc, bound))
            else:
                from usertrack.sources.base import stream_rows

                rows = _inline_refusal(
                    lambda: open_until_written.enter_context(stream_rows(source, adhoc, bound))
                )
        if chosen == "table":
            render_result_table(answer_console(), result, title=title)
        else:
            emit_rows(rows, chosen, out, query=adhoc.path.name, title=title)


def _inline_refusal(run: Any) -> Any:
    """An inline query that PostgreSQL refused to run because it writes: a usage error (exit
    2), as the checks before it would have said."""
    from usertrack.errors import QueryError

    try:
        return run()
    except QueryError as e:
        if "tried to write" in str(e):
            raise UsageError(
                "--sql writes: usertrack opens every transaction read-only and never changes"
                " your database"
            ) from None
        raise


# join/ queries run over the per-user tables the other sources build (inside `segments`); on
# their own they have nothing to read, so `query` neither lists nor runs them.
def _runnable_query(library: Any, query_id: str) -> Any:
    from usertrack.sources.queries import STANDALONE_FOLDERS

    if query_id not in library.queries:  # suggest and name only what `query` can run
        from usertrack.errors import NotFoundError
        from usertrack.rulefiles import did_you_mean

        runnable = [q for q, v in library.queries.items() if v.folder in STANDALONE_FOLDERS]
        raise NotFoundError(
            f"no query named {query_id!r} in {library.root}{did_you_mean(query_id, runnable)}",
            hint="`usertrack query --list` shows each query with its description and parameters",
        )
    target = library.get(query_id)
    if target.folder not in STANDALONE_FOLDERS:
        raise UsageError(
            f"query {query_id} runs over the joined per-user tables inside `usertrack segments`;"
            " it cannot run alone (see `usertrack query --list`)"
        )
    return target


def _typed_params(target: Any, given: dict[str, str]) -> dict[str, Any]:
    from usertrack.sources.queries import convert_param

    unknown = sorted(set(given) - target.param_names)
    if unknown:
        raise UsageError(
            f"query {target.id} has no parameter {unknown[0]!r}"
            f" (it takes: {', '.join(sorted(target.param_names)) or 'none'})"
        )
    missing = [p.name for p in target.params if p.default is None and p.name not in given]
    if missing:  # the user's to give, not a fault of the query file
        raise UsageError(
            f"query {target.id} needs {' '.join(f'-p {m}=VALUE' for m in missing)}"
            " (it has no default; see `usertrack query --list`)"
        )
    return {name: convert_param(target, name, value) for name, value in given.items()}


def _check_queries(query_id: str | None, queries_dir: Path | None) -> None:
    """`query --check`: PostHog's verdict on each HogQL file (usertrack.querycheck)."""
    from usertrack.config import load_settings, resolve_queries_dir
    from usertrack.doctor import NEEDS_LIVE_POSTHOG
    from usertrack.errors import EXIT_QUERY, ConfigError
    from usertrack.querycheck import check_query_files, checked_files
    from usertrack.sources.posthog_http import PostHogHTTPSource
    from usertrack.sources.queries import load_queries

    library = load_queries(resolve_queries_dir(queries_dir))
    files = checked_files(library, query_id)
    settings = load_settings()
    if not (settings.posthog_project_id and settings.posthog_api_key):
        raise ConfigError(NEEDS_LIVE_POSTHOG.removeprefix("not checked: "))
    with spinner("checking the HogQL files with PostHog") as progress:
        source = PostHogHTTPSource(
            settings.posthog_api_key,
            settings.posthog_project_id,
            settings.posthog_host,
            progress=progress,
        )
        with source:
            refusals = check_query_files(source, files, progress=progress)
    for refusal in refusals:
        sys.stdout.write(f"✗ {refusal.line()}\n")
    accepted = len(files) - len(refusals)
    sys.stdout.write(f"PostHog accepts {accepted} of {len(files)} HogQL query files\n")
    sys.stdout.flush()
    if refusals:
        raise typer.Exit(EXIT_QUERY)


def _list_queries(queries_dir: Path | None) -> None:
    from usertrack.config import resolve_queries_dir
    from usertrack.sources.queries import STANDALONE_FOLDERS, load_queries

    library = load_queries(resolve_queries_dir(queries_dir))
    lines = []
    for q in sorted(library.queries.values(), key=lambda q: q.id):
        if q.folder not in STANDALONE_FOLDERS:
            continue
        params = [
            f"{p.name}={_param_shown(p)}"
            for p in q.params
            if p.name not in ("as_of", "exclude_pattern")  # set by usertrack, not by -p
        ]
        lines.append(f"{q.id}  {q.description}")
        lines.append(f"  parameters (-p NAME=VALUE): {', '.join(params) or 'none'}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


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
        from usertrack.rendering.export import render_result
        from usertrack.rendering.terminal import render_result_table
        from usertrack.sources.posthog_http import PostHogHTTPSource

        chosen = choose_format(fmt, out)
        settings = load_settings()
        if not (settings.posthog_project_id and settings.posthog_api_key):
            raise ConfigError(
                "saved insights live in PostHog: set POSTHOG_PROJECT_ID and"
                " POSTHOG_PERSONAL_API_KEY (and POSTHOG_HOST for EU or self-hosted)"
            )
        probe_out(out)
        with spinner(f"fetching insight {insight_id}") as progress:
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
            render_result_table(answer_console(), result, title=name)
        else:
            emit(render_result(result, chosen, insight=insight_id, title=name), out)


cache_app = typer.Typer(help="The on-disk cache of live query results.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cached query result."""
    with handle_errors():
        from usertrack.config import load_settings
        from usertrack.sources.cache import clear

        removed = clear(load_settings().home)
        info(f"usertrack: removed {counted(removed, 'cached result')}")


def _param_shown(param: Any) -> str:
    """A parameter in `query --list`: its default, else its kind (`<moment>`), required."""
    if param.default is not None:
        return str(param.default)
    return f"<{param.kind}> (required)" if param.kind else "(required)"
