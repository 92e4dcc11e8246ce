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
from usertrack.core.errors import UsageError
from usertrack.core.style import counted


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
        typer.Option(
            "--list", help="List the runnable queries: id, description, parameters, local shortcut."
        ),
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
        from usertrack.core.clock import parse_as_of
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
            if param or fmt or out or as_of or refresh:
                # The list is text for people; it would silently ignore them.
                raise UsageError("--list takes only --queries")
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
            from usertrack.engines.inline import inline_query

            adhoc = inline_query(inline[0][1], inline[0][0])
        from usertrack.queries.library import parse_params, runnable_query, typed_params

        given = parse_params(param)
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
                target = runnable_query(ws.library, query_id)
                values = typed_params(target, given)
                check_as_of(ws, moment)
                when = moment or ws.default_as_of()
                from usertrack.segments.account_key import bound_with_key

                keyed = bound_with_key(ws, query_id, when, **values)
                if keyed is not None:  # the account key's table and columns quoted in
                    from usertrack.engines.base import stream_rows

                    source = ws.sources[target.folder]
                    if chosen == "table":
                        result = source.run(*keyed)
                    else:
                        rows = open_until_written.enter_context(stream_rows(source, *keyed))
                elif chosen == "table":  # fitted to the terminal: every row first
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
    """`query --hogql/--sql`: the checked inline query (usertrack.engines.inline) run on the
    source of its folder, as a query file of that folder would be."""
    from usertrack.engines.inline import SET_BY_USERTRACK, typed_values
    from usertrack.queries.library import resolve_params
    from usertrack.rendering.terminal import render_result_table
    from usertrack.segments.profiles import exclude_pattern

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
                from usertrack.engines.base import stream_rows

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
    from usertrack.core.errors import QueryError

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
def _check_queries(query_id: str | None, queries_dir: Path | None) -> None:
    """`query --check`: PostHog's verdict on each HogQL file (usertrack.cli.querycheck)."""
    from usertrack.cli.querycheck import check_query_files, checked_files
    from usertrack.core.config import load_settings, resolve_queries_dir
    from usertrack.core.errors import EXIT_QUERY, ConfigError
    from usertrack.doctor import NEEDS_LIVE_POSTHOG
    from usertrack.engines.posthog import PostHogHTTPSource
    from usertrack.queries.library import load_queries

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


_SHORTCUT_SHOWN = {
    True: "the local engine answers this file as shipped its own faster way (the same rows)",
    False: "off, the file differs from the one shipped: it runs as written",
}
_SUMMARY_SHOWN = (
    "on the local engine the analysis counts this file's figures as shipped its own faster"
    " way (the same answer); an edited copy runs as written"
)
_GROUPS_SHOWN = (
    "on the local engine a --by-segment run counts its groups as shipped its own faster way"
    " (the same answer); an edited copy runs as written"
)


def _mirror_shown(query_id: str, taken: bool) -> str:
    """What `query --list` says of a neon file that a statement over the local copy of the
    app's tables answers (usertrack.reports.mirror_shortcuts)."""
    from usertrack.reports.mirror_shortcuts import used_by

    if not taken:
        return _SHORTCUT_SHOWN[False]
    return (
        "the local copy of the app's tables answers this file as shipped (the same rows) in "
        + ", ".join(used_by(query_id))
    )


def _list_queries(queries_dir: Path | None) -> None:
    from usertrack.core.config import resolve_queries_dir
    from usertrack.engines.local import summaries
    from usertrack.engines.local.shortcuts import REGISTRY, has_shortcut
    from usertrack.queries.library import STANDALONE_FOLDERS, load_queries
    from usertrack.reports import mirror_shortcuts

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
        if (shortcut := has_shortcut(q)) is not None:
            shown = _SHORTCUT_SHOWN[shortcut]
            if shortcut and REGISTRY[q.id].entry == summaries.ENTRY:
                shown = _SUMMARY_SHOWN
            elif shortcut and REGISTRY[q.id].entry == summaries.GROUPS:
                shown = _GROUPS_SHOWN
            lines.append(f"  local shortcut: {shown}")
        if (mirrored := mirror_shortcuts.has_shortcut(q)) is not None:
            lines.append(f"  app mirror shortcut: {_mirror_shown(q.id, mirrored)}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


@app.command()
def insight(
    insight_id: Annotated[
        str | None,
        typer.Argument(help="A saved insight's numeric id or short_id: its result, refreshed."),
    ] = None,
    list_saved: Annotated[
        bool,
        typer.Option(
            "--list", help="List the project's saved insights, dashboards and feature flags."
        ),
    ] = False,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            help="List the saved insights and dashboards whose name, description or a tag"
            " contains this text, and the feature flags whose key or name does (any case).",
            metavar="PHRASE",
        ),
    ] = None,
    create: Annotated[
        str | None,
        typer.Option(
            "--create",
            help="Save a HogQL query as a new insight of this name (--from-query or --hogql):"
            " a dry run unless --apply.",
            metavar="NAME",
        ),
    ] = None,
    from_query: Annotated[
        str | None,
        typer.Option(
            "--from-query",
            help="With --create: a HogQL query file (a path, or a library id such as"
            " posthog/event_names); {as_of} becomes now().",
            metavar="FILE",
        ),
    ] = None,
    hogql: Annotated[
        str | None,
        typer.Option("--hogql", help="With --create: this HogQL SELECT.", metavar="SELECT"),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="With --create: create the insight (else a dry run)."),
    ] = False,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    queries_dir: QueriesOpt = None,
    segments_file: SegmentsOpt = None,
) -> None:
    """PostHog's saved insights: one refreshed (ID), listed (--list, --search), or a HogQL
    query saved as a new one (--create)."""
    with handle_errors():
        chosen = choose_format(fmt, out)
        modes = [m for m, on in (("ID", insight_id is not None), ("--list", list_saved),
                                 ("--search", search is not None), ("--create", create is not None))
                 if on]  # fmt: skip
        if len(modes) > 1 and set(modes) != {"--list", "--search"}:
            raise UsageError(f"{' and '.join(modes)} do not go together: give one")
        if create is None and (from_query is not None or hogql is not None or apply):
            raise UsageError("--from-query, --hogql and --apply go with --create NAME")
        if not modes:
            raise UsageError("name an insight ID, or --list, --search TEXT or --create NAME")
        if create is not None:
            text = _insight_query(create, from_query, hogql, queries_dir, segments_file)
            _create_insight(create, text, apply, chosen, out)
            return
        if insight_id is None:
            if search is not None and not search.strip():
                raise UsageError("--search is empty: give some text of a name")
            _list_saved(search.strip() if search else None, chosen, out, queries_dir,
                        segments_file)  # fmt: skip
            return
        _refreshed_insight(insight_id, chosen, out)


def _posthog_api(progress: Any) -> Any:
    """The live PostHog source: saved insights and dashboards live there (else exit 4)."""
    from usertrack.core.config import load_settings
    from usertrack.core.errors import ConfigError
    from usertrack.engines.posthog import PostHogHTTPSource

    settings = load_settings()
    if not (settings.posthog_project_id and settings.posthog_api_key):
        raise ConfigError(
            "saved insights live in PostHog: set POSTHOG_PROJECT_ID and"
            " POSTHOG_PERSONAL_API_KEY (and POSTHOG_HOST for EU or self-hosted)"
        )
    return PostHogHTTPSource(
        settings.posthog_api_key,
        settings.posthog_project_id,
        settings.posthog_host,
        progress=progress,
    )


def _refreshed_insight(insight_id: str, chosen: str, out: Path | None) -> None:
    from usertrack.rendering.export import render_result
    from usertrack.rendering.terminal import render_result_table

    probe_out(out)
    with spinner(f"fetching insight {insight_id}") as progress:
        source = _posthog_api(progress)
        with source:
            result = source.fetch_insight(insight_id)
    name = str(result.meta.get("name") or f"insight {insight_id}")
    if chosen == "table":
        render_result_table(answer_console(), result, title=name)
    else:
        emit(render_result(result, chosen, insight=insight_id, title=name), out)


LISTED_COLUMNS = ["type", "id", "short_id", "name", "description", "tags", "updated_at"]


def _list_saved(
    search: str | None,
    chosen: str,
    out: Path | None,
    queries_dir: Path | None,
    segments_file: Path | None,
) -> None:
    """`insight --list` / `--search TEXT`: the saved insights, the dashboards, then the feature
    flags, one table. Without PostHog's settings, on the demo: its events store's feature flags
    (it keeps no saved insight or dashboard)."""
    from usertrack.core.config import load_settings
    from usertrack.engines.base import Result
    from usertrack.rendering.export import render_result
    from usertrack.rendering.terminal import render_result_table

    probe_out(out)
    settings = load_settings()
    local = settings.demo and not (settings.posthog_project_id or settings.posthog_api_key)
    found: dict[str, tuple[list[dict[str, Any]], int]] = {}
    with spinner("listing PostHog's saved insights, dashboards and feature flags") as progress:
        if local:
            opened = open_command_workspace(
                progress, queries_dir=queries_dir, segments_file=segments_file, database=False
            )
            with opened as ws:
                for kind in SAVED_KINDS:
                    found[kind] = ws.sources["posthog"].list_saved(kind, search)
        else:
            source = _posthog_api(progress)
            with source:
                for kind in SAVED_KINDS:
                    found[kind] = source.list_saved(kind, search)
    rows: list[tuple[Any, ...]] = []
    for kind, (items, _) in found.items():
        rows.extend(_listed_row(SAVED_KINDS[kind], i) for i in items)
    result = Result(columns=LISTED_COLUMNS, rows=rows)
    counts = {kind: total for kind, (_, total) in found.items()}
    what = f" matching {search!r}" if search else ""
    title = (
        f"{counted(counts['insights'], 'saved insight')},"
        f" {counted(counts['dashboards'], 'dashboard')} and"
        f" {counted(counts['feature_flags'], 'feature flag')}{what}"
    )
    shown = [len(items) for items, _ in found.values()]
    if shown != list(counts.values()):
        title += f" (the first {shown[0]}, {shown[1]} and {shown[2]} shown)"
    if local:
        title += " in the demo's events store (saved insights and dashboards live in PostHog)"
    if chosen == "table":
        render_result_table(answer_console(), result, title=title)
    else:
        emit(render_result(result, chosen, search=search, **counts, title=title), out)


# What --list and --search list, in order: PostHog's endpoint and the type a row says.
SAVED_KINDS = {"insights": "insight", "dashboards": "dashboard", "feature_flags": "feature_flag"}


def _listed_row(kind: str, item: dict[str, Any]) -> tuple[Any, ...]:
    """One row of LISTED_COLUMNS. A feature flag has no short id; its key is its name here, and
    the text PostHog keeps in its `name` is its description (posthog/api/feature_flag.py's
    serializer: "contains the description for the flag")."""
    if kind == "feature_flag":
        name, description = item.get("key") or "", item.get("name") or ""
    else:
        name = item.get("name") or item.get("derived_name") or ""
        description = item.get("description") or ""
    return (
        kind, item.get("id"), item.get("short_id") or "", name, description,
        [str(t) for t in item.get("tags") or []],
        _moment(item.get("last_modified_at") or item.get("updated_at") or item.get("created_at")),
    )  # fmt: skip


def _moment(value: Any) -> Any:
    """A time PostHog's API gives as text ("2026-11-10T09:30:15.123456Z") as a moment, written
    in the house style of each format like every other time (md and the table
    "2026-11-10 09:30 UTC", json and csv "2026-11-10T09:30:15Z"); text that is no ISO 8601
    time stays as it is."""
    import datetime as dt

    if not isinstance(value, str):
        return value
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return value


def _insight_query(
    name: str,
    from_query: str | None,
    hogql: str | None,
    queries_dir: Path | None,
    segments_file: Path | None,
) -> str:
    """The HogQL an insight is created from, as it is sent (printed from PostHog's own parse
    tree: usertrack.engines.hogql.printer): --hogql, or a query file's text (a path, or a
    library id), its {as_of} and {exclude_pattern} filled in (inline.insight_hogql)."""
    from usertrack.engines.hogql.printer import sent_text
    from usertrack.engines.inline import inline_query, insight_hogql

    if not name.strip():
        raise UsageError("--create needs a name for the insight")
    if (from_query is None) == (hogql is None):
        raise UsageError("--create takes one of --from-query FILE or --hogql SELECT")
    if hogql is not None:
        return sent_text(inline_query(hogql, "hogql").sql)
    assert from_query is not None
    from usertrack.core.config import resolve_queries_dir, resolve_segments_file
    from usertrack.queries.library import load_queries, parse_query
    from usertrack.segments.profiles import exclude_pattern
    from usertrack.segments.rules import load_segments

    path = Path(from_query)
    defaults: dict[str, str | None] = {}
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("-- name:"):
            query = parse_query(path, "posthog", text)
            if query.insight is not None:
                raise UsageError(f"--from-query {from_query}: it names a saved insight already")
            text, defaults = query.sql, query.defaults()
    else:
        library = load_queries(resolve_queries_dir(queries_dir))
        if from_query not in library.queries:
            from usertrack.core.errors import NotFoundError
            from usertrack.core.rulefiles import did_you_mean

            hogql_ids = [q for q, v in library.queries.items() if v.folder == "posthog"]
            raise NotFoundError(
                f"--from-query {from_query!r} is neither a file nor a query of"
                f" {library.root}{did_you_mean(from_query, hogql_ids)}"
            )
        query = library.get(from_query)
        if query.folder != "posthog":
            raise UsageError(f"--from-query {from_query}: an insight runs HogQL, a posthog/ query")
        text, defaults = query.sql, query.defaults()
    rules = load_segments(resolve_segments_file(segments_file))
    return sent_text(
        insight_hogql(
            text,
            exclude_pattern(rules.exclude),
            source=f"--from-query {from_query}",
            defaults=defaults,
        )
    )


def _create_insight(name: str, text: str, apply: bool, chosen: str, out: Path | None) -> None:
    """`insight --create NAME`: the dry run says what would be saved; --apply saves it and
    prints the new insight's id (its short_id and URL path on stderr)."""
    from usertrack.rendering.export import json_text

    if chosen == "csv":
        raise UsageError("--create answers text or json, not csv")
    probe_out(out)
    with spinner(f"creating insight {name!r}" if apply else "checking the query") as progress:
        source = _posthog_api(progress)  # a dry run checks the settings too
        created = None
        if apply:
            with source:
                created = source.create_insight(name, text)
    doc: dict[str, Any] = {"name": name, "query": text, "created": created is not None}
    if created is not None:
        doc.update(id=created.get("id"), short_id=created.get("short_id"))
    if chosen == "json":
        emit(json_text(doc), out)
        return
    if created is None:
        info(f"usertrack: dry run: would create insight {name!r}; --apply creates it")
        emit(f"{text}\n", out)
        return
    info(f"usertrack: created insight {name!r}: id {created.get('id')}, short_id"
         f" {created.get('short_id')}")  # fmt: skip
    emit(f"{created.get('id')}\n", out)


cache_app = typer.Typer(help="The on-disk cache of live query results.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cached query result."""
    with handle_errors():
        from usertrack.core.config import load_settings
        from usertrack.engines.cache import clear

        removed = clear(load_settings().home)
        info(f"usertrack: removed {counted(removed, 'cached result')}")


def _param_shown(param: Any) -> str:
    """A parameter in `query --list`: its default, else its kind (`<moment>`), required."""
    if param.default is not None:
        return str(param.default)
    return f"<{param.kind}> (required)" if param.kind else "(required)"
