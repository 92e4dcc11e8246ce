"""A workspace: the configured sources, the query library and the segment rules, ready to run.

With no source configured at all, the workspace is the built-in demo (an embedded PostgreSQL and a
local PostHog-compatible event store, generated on first use under USERTRACK_HOME).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.core.config import Settings
from usertrack.core.errors import ConfigError, NotFoundError
from usertrack.core.files import private_dir, secure_home
from usertrack.engines.base import Result, RowStream, Source
from usertrack.queries.library import Query, QueryLibrary, load_queries, resolve_params
from usertrack.scope import NO_SCOPE, Scope
from usertrack.segments.rules import Classification, SegmentsFile, classify, load_segments

if TYPE_CHECKING:
    from usertrack.demo.layout import DemoWorkspace
    from usertrack.engines.local.eventstore import ImportStats
    from usertrack.segments.profiles import ProfileRun

Progress = Callable[[str], None]

# A run this much before "now" (on the demo: the end of its data) is "in the past": its
# current-only columns (today's values) are not the values of its moment.
PAST_TOLERANCE = timedelta(days=1)
_CURRENT_ONLY = re.compile(r"^--\s*current-only\s*:(.*)$")

DEMO_NOTICE = (
    "usertrack: no data source configured, using the built-in demo workspace"
    " (set DATABASE_URL and POSTHOG_PROJECT_ID + POSTHOG_PERSONAL_API_KEY, or USERTRACK_EVENTS,"
    " to use your own data)"
)


@dataclass
class _Life:
    """What a workspace keeps of its sources for its life, shared by its scoped views."""

    kept: bool = False  # sources of keep_open's: close leaves them
    late: list[Source] = field(default_factory=list)  # add_database's: closed with it


@dataclass
class _Said:
    """Whether the past as_of's warning was said (warn_if_past): once per command."""

    warned: bool = False


@dataclass
class Workspace:
    """The sources, library and rules of a command, for its whole life. A run kept to a scope
    (usertrack.scope: --where, a group's persons, a dashboard's shared answers) runs on
    `scoped(scope)`, a view of the same sources; the workspace itself has the empty scope."""

    settings: Settings
    library: QueryLibrary
    rules: SegmentsFile
    sources: dict[str, Source] = field(default_factory=dict)
    demo: DemoWorkspace | None = None
    notice: Callable[[str], None] | None = None  # one-line messages for stderr
    # A warning about the answer itself (e.g. current-only columns in the past), without the
    # "usertrack: warning: " prefix: shown even when progress notices are not (--quiet).
    warn: Callable[[str], None] | None = None
    _life: _Life = field(default_factory=_Life, repr=False)
    _said: _Said = field(default_factory=_Said, repr=False)

    @property
    def scope(self) -> Scope:
        """What this run is kept to: nothing, on the workspace itself (ScopedView's own)."""
        return NO_SCOPE

    def scoped(
        self, scope: Scope, *, rules: SegmentsFile | None = None, quiet: bool = False
    ) -> Workspace:
        """A view of this workspace's sources, library and rules (`rules`: others, --who's)
        whose runs are kept to `scope`. `quiet`: its notices and warnings go nowhere and are
        not counted as said (a dashboard's rehearsal)."""
        return ScopedView(self, scope, rules=rules, quiet=quiet)

    def default_as_of(self) -> datetime:
        """Now; on the demo, the end of its data (so its stories read the same on any day).

        With cached live sources, now floored to a multiple of the cache TTL: the queries run
        with that moment, so runs within one TTL share cache entries and each cached answer is
        the answer for the moment it is keyed by."""
        from usertrack.core.clock import now_utc

        if self.demo is not None:
            return datetime.combine(self.demo.anchor, datetime.min.time(), tzinfo=UTC)
        ttls = [s.ttl_seconds for s in self.sources.values()]
        ttl = max(ttls, default=0)
        if ttl > 0:
            from usertrack.engines.cache import floor_to_ttl

            return floor_to_ttl(now_utc(), ttl)
        return now_utc()

    def run_query(
        self, query_id: str, as_of: datetime, *, arrow_over: int | None = None, **params: Any
    ) -> Result:
        """Run one query of the library on its source, with as_of, exclude_pattern and `params`.

        Values are bound by the source, never pasted into the query text. `arrow_over`: an
        answer of more rows than that may come as an Arrow table (Result.arrow) from a source
        that gives one (`Source.arrow_results`), else as rows.
        """
        grouped_run = self.scope.grouped_run
        if grouped_run is not None:
            found = grouped_run(query_id, as_of, params)
            if found is not None:
                return found
        query, values = self.bind(query_id, as_of, **params)
        shared = self.scope.shared
        key = self._shared_key(query, values)
        if key is not None and arrow_over is not None:
            key = (*key, arrow_over)
        if shared is not None and key is not None and key in shared:
            return shared[key]  # type: ignore[no-any-return]
        source = self.sources[query.folder]
        if arrow_over is not None and source.arrow_results:
            result = source.run(query, values, arrow_over=arrow_over)
        else:
            result = source.run(query, values)
        if shared is not None and key is not None:
            shared[key] = result
        return result

    def run_queries(
        self, wanted: Mapping[str, tuple[str, datetime, Mapping[str, Any]]], progress: Any = None
    ) -> dict[str, Result]:
        """Several queries of the library by key: {key: (query_id, as_of, params)}, the sources
        at once and each on its lanes (profiles.run_by_source). While a dashboard's panels share
        (`shared`), a query already run with the same text and values is not run again."""
        from usertrack.segments.profiles import Job, run_by_source

        found: dict[str, Result] = {}
        jobs: dict[str, list[Job]] = {}
        keys: dict[str, Any] = {}
        shared = self.scope.shared
        for name, (query_id, as_of, params) in wanted.items():
            query, values = self.bind(query_id, as_of, **params)
            key = self._shared_key(query, values)
            if shared is not None and key is not None and key in shared:
                found[name] = shared[key]
                continue
            keys[name] = key
            jobs.setdefault(query.folder, []).append((name, query, values))
        for name, result in run_by_source(self.sources, jobs, progress).items():
            found[name] = result
            if shared is not None and keys[name] is not None:
                shared[keys[name]] = result
        return {name: found[name] for name in wanted}

    def _shared_key(self, query: Query, values: Mapping[str, Any]) -> Any:
        """The key a query's result is shared under between a dashboard's panels, or None when
        nothing is shared (outside a dashboard, or a --by-segment group's filtered run)."""
        scope = self.scope
        if scope.shared is None or scope.persons is not None or scope.facts is not None:
            return None
        return (
            "result",
            query.folder,
            query.sql,
            tuple(sorted((k, repr(v)) for k, v in values.items())),
        )

    @contextmanager
    def stream_query(self, query_id: str, as_of: datetime, **params: Any) -> Iterator[RowStream]:
        """run_query's rows as they arrive (usertrack.engines.base.stream_rows), for writing a
        result of any size with memory for one batch."""
        from usertrack.engines.base import stream_rows

        query, values = self.bind(query_id, as_of, **params)
        with stream_rows(self.sources[query.folder], query, values) as rows:
            yield rows

    def bind(self, query_id: str, as_of: datetime, **params: Any) -> tuple[Query, dict[str, Any]]:
        """The query and the values it takes: as_of, exclude_pattern, then `params`."""
        from usertrack.segments.profiles import exclude_pattern

        query = self.library.get(query_id)
        if query.folder not in self.sources:
            raise NotFoundError(
                f"query {query_id} needs a {query.folder} source, which is not open"
            )
        given = {"as_of": as_of, "exclude_pattern": exclude_pattern(self.rules.exclude), **params}
        extra: dict[str, Any] = {}
        if "{filters}" in query.sql:  # filled here, with true or the --where expressions
            where = self.scope.where
            persons = self.scope.persons
            if persons is not None:
                where = (*where, persons.expression)
                extra = dict(persons.values)
            query = query.filled(where)
        return query, {**resolve_params(query, given, now_value=as_of), **extra}

    def profiles(
        self, as_of: datetime, progress: Progress | None = None, *, bundle: Collection[str] = ()
    ) -> ProfileRun:
        """Every user's profile at `as_of`. `bundle`: the sources whose per-user queries go as
        one bundle where they can (usertrack.segments.profiles.run_by_source)."""
        from usertrack.segments.profiles import build_profiles

        narrow_to = self.scope.narrow_to
        if narrow_to is not None:
            from usertrack.segments.narrow import build_narrowed

            wanted, expression = narrow_to.columns, narrow_to.expression
            run = build_narrowed(
                self.library,
                self.sources,
                as_of=as_of,
                exclude_domains=self.rules.exclude,
                wanted=wanted,
                expression=expression,
                progress=progress,
                bundle=bundle,
            )
            if run is not None:
                return run  # type: ignore[no-any-return]

        from usertrack.segments.profile_copy import copy_answers

        # In a dashboard, the app's runs and tool calls per user from the copy of its tables.
        with copy_answers(self, self.sources) as sources:
            return build_profiles(
                self.library,
                sources,
                as_of=as_of,
                exclude_domains=self.rules.exclude,
                progress=progress,
                meanwhile=self.scope.meanwhile,
                bundle=bundle,
            )

    def classify(
        self,
        as_of: datetime,
        progress: Progress | None = None,
        *,
        say: bool = True,
        bundle: Collection[str] = (),
    ) -> Classification:
        """Every user's segments at `as_of`. `say`: a past as_of's warning said now (else only
        in the result's `warnings`, for a caller that classifies on a thread to say in order).
        `bundle`: as `profiles` takes it."""
        shared, narrowed = self.scope.shared, self.scope.narrow_to is not None
        if not narrowed and shared is not None and ("classify", as_of) in shared:
            return shared[("classify", as_of)]  # type: ignore[no-any-return]
        run = self.profiles(as_of, progress, bundle=bundle)
        try:
            # The classification keeps the connection: its rows are fetched when asked for.
            result = classify(self.rules, run.con, as_of)
        except BaseException:
            run.close()
            raise
        self.mark_current_only(as_of, result, say=say)
        from usertrack.segments.kept import keep

        if narrowed:  # a profile of some columns: for this run alone
            return result
        keep(self, as_of, result)  # for `user` in a process that keeps them (the MCP server)
        if shared is not None:
            shared[("classify", as_of)] = result
        return result

    def mark_current_only(self, as_of: datetime, result: Classification, *, say: bool) -> None:
        """Note on `result` (classified at `as_of`) the current-only columns its profile holds,
        and a past as_of's warning about them in its `warnings`; `say`: the warning said now
        too (`warn_if_past`)."""
        result.current_only = tuple(c for c in self.current_only() if c in result.columns)
        if say:
            warning = self.warn_if_past(as_of, result.current_only)
        else:
            warning = self.past_warning(as_of, result.current_only)
        if warning:
            result.warnings = (*result.warnings, warning)

    def warn_if_past(self, as_of: datetime, current_only: tuple[str, ...]) -> str | None:
        """`past_warning`, said on stderr once per command however many as_of; returned."""
        warning = self.past_warning(as_of, current_only)
        if warning and not self._said.warned:
            if self.warn:
                self.warn(warning)
            elif self.notice:
                self.notice(f"usertrack: warning: {warning}")
            self._said.warned = True
        return warning

    def current_only(self) -> tuple[str, ...]:
        """Columns the per-user query files declare `-- current-only: a, b` in their header:
        the app's database keeps only today's value of them, whatever the as_of."""
        found: list[str] = []
        for folder in ("neon", "posthog", "join"):
            for query in self.library.in_folder(folder, per_user=True):
                for name in current_only_header(query.path):
                    if name not in found:
                        found.append(name)
        return tuple(found)

    def reference_now(self) -> datetime:
        """Now; on the demo, the end of its data."""
        from usertrack.core.clock import now_utc

        if self.demo is not None:
            return datetime.combine(self.demo.anchor, datetime.min.time(), tzinfo=UTC)
        return now_utc()

    def past_warning(self, as_of: datetime, current_only: tuple[str, ...]) -> str | None:
        """A one-line warning when `as_of` is in the past and a segment rule reads a
        current-only column (its value is today's, not as_of's); else None."""
        if not current_only or as_of >= self.reference_now() - PAST_TOLERANCE:
            return None
        from usertrack.segments.rules import why_columns

        used: dict[str, list[str]] = {}
        for seg in self.rules.segments:
            words = why_columns(seg, list(current_only))
            for col in current_only:
                if col in words:
                    used.setdefault(col, []).append(seg.name)
        if not used:
            return None
        from usertrack.core.style import moment

        stamp = moment(as_of)
        cols = ", ".join(f"{c} (in {', '.join(ids)})" for c, ids in used.items())
        return (
            f"as of {stamp}, in the past, the rules read current-only columns: {cols};"
            " the app's database keeps only today's values of them, so these segments mix"
            " today's values into the past"
        )

    def close(self) -> None:
        for late in self._life.late:  # opened for this command alone, kept or not
            for kind in [k for k, v in self.sources.items() if v is late]:
                del self.sources[kind]
            with suppress(Exception):
                late.close()
        self._life.late.clear()
        if self._life.kept:  # keep_open's: the next workspace of the process uses them again
            self.sources.clear()
            return
        for source in self.sources.values():
            # A source that a failed command cancelled may still be winding down a query and
            # refuse to close (DuckDB: "connection is busy"); that must not hide the real error.
            with suppress(Exception):
                source.close()
        self.sources.clear()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ScopedView(Workspace):
    """A workspace's sources, library and rules, with one run's scope (Workspace.scoped): a
    light object, made per run and dropped after; it opens and closes nothing of its own (a
    database it adds is the workspace's, closed with it)."""

    def __init__(
        self,
        of: Workspace,
        scope: Scope,
        *,
        rules: SegmentsFile | None = None,
        quiet: bool = False,
    ) -> None:
        super().__init__(
            settings=of.settings,
            library=of.library,
            rules=of.rules if rules is None else rules,
            sources=of.sources,  # the same dict: a source added on a view is the workspace's
            demo=of.demo,
            notice=None if quiet else of.notice,
            warn=(lambda _t: None) if quiet else of.warn,
            _life=of._life,
            _said=_Said() if quiet else of._said,
        )
        self._scope = scope

    @property
    def scope(self) -> Scope:
        return self._scope

    def close(self) -> None:
        """Nothing: the workspace it views closes the sources."""


def keeps_answers(ws: Workspace) -> tuple[Any, list[tuple[str, str]]] | None:
    """The events source that keeps answers beside its store (usertrack.engines.local.storecache)
    and the query library's PostHog files as they read now (part of every kept answer's key), or
    None when nothing may be kept: a filter on the events or the persons (`--where`, `--who`,
    `--segment`, rows given), or a source that keeps no answers (PostHog's API)."""
    source = ws.sources.get("posthog")
    if (
        source is None
        or not source.keeps_answers
        or ws.scope.where
        or ws.scope.person_filter is not None
        or ws.scope.narrow_to is not None
        or ws.scope.person_rows is not None
    ):
        return None
    library = sorted((q.id, q.sql) for q in ws.library.queries.values() if q.folder == "posthog")
    return source, library


def current_only_header(path: Path) -> list[str]:
    """The column names of `-- current-only: a, b` lines in a query file's header."""
    names: list[str] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for raw in fh:
                line = raw.strip()
                if line and not line.startswith("--"):
                    break  # the header ends at the first line of SQL
                m = _CURRENT_ONLY.match(line)
                if m:
                    names += [n.strip() for n in m.group(1).split(",") if n.strip()]
    except OSError:
        return []
    return names


# Set by keep_open: the demo and sources each opened workspace left open, by what opened them.
_kept: dict[tuple[Any, ...], tuple[DemoWorkspace | None, dict[str, Source]]] | None = None


@contextmanager
def keep_open(leave: Callable[[Any], None] | None = None) -> Iterator[None]:
    """Within: `open_workspace` hands out again the sources it opened before with the same
    settings, and `Workspace.close` leaves them open (a process that answers many commands, the
    MCP server: the demo's PostgreSQL connection and event store stay warm), the in-memory
    DuckDB connections commands give back are emptied and used again (`sandbox.keep_connections`),
    and on the demo the classifications of everyone are kept for `user`
    (`usertrack.segments.kept`). All are closed on leaving; the sources also by `drop_kept`.
    `leave`: what takes a source that holds nothing but the process's memory (the events
    store's read-only connection) instead of its close (drop_kept), and the in-memory DuckDB
    connections kept."""
    from usertrack.checks.sandbox import keep_connections
    from usertrack.segments.kept import keeping

    global _kept
    _kept = {}
    try:
        with keep_connections(leave), keeping():
            yield
    finally:
        drop_kept(leave)
        _kept = None


def drop_kept(leave: Callable[[Any], None] | None = None) -> None:
    """Close the sources keep_open holds (one failed: the next command opens them afresh); with
    `leave`, hand it those that hold only memory (`memory_only`) instead: a process about to
    end frees their memory at once (usertrack.cli.program.leave_to_exit), where a close frees
    its blocks one by one (the events store's: 0.1 s at 100,000 users, the command's last)."""
    if not _kept:
        return
    for _demo, sources in _kept.values():
        for source in sources.values():
            with suppress(Exception):
                if leave is not None and source.memory_only:
                    leave(source)
                else:
                    source.close()
    _kept.clear()


def open_workspace(
    settings: Settings,
    *,
    queries_dir: Path,
    segments_path: Path,
    progress: Progress | None = None,
    notice: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
    refresh: bool = False,
    database: bool = True,
) -> Workspace:
    """Load the rules and queries first (cheap, and the likeliest to be wrong), then the sources.

    `database=False` opens PostHog only, for commands that read nothing else (the analytics, the
    tracking-plan audit): DATABASE_URL is then not needed and the demo PostgreSQL not started.
    """
    rules = load_segments(segments_path)
    library = load_queries(queries_dir)
    try:
        secure_home(settings.home)
    except OSError as e:
        raise ConfigError(
            f"USERTRACK_HOME {settings.home}: cannot create it or make it private: {e.strerror}",
            hint="set USERTRACK_HOME to a folder of yours",
        ) from None
    ws = Workspace(settings=settings, library=library, rules=rules, notice=notice, warn=warn)
    key = (settings, refresh, database)
    if _kept is not None and key in _kept:
        ws.demo, sources = _kept[key]
        ws.sources.update(sources)
        ws._life.kept = True
        return ws
    try:
        if settings.demo:
            if notice:
                notice(DEMO_NOTICE)
            _open_demo(ws, progress, database=database)
        else:
            _open_live(ws, progress, notice, refresh=refresh, database=database)
            _cache_live_sources(ws, refresh)
        secure_home(settings.home)  # again: a demo or events store made just now
    except BaseException:
        ws.close()
        raise
    if _kept is not None:
        _kept[key] = (ws.demo, dict(ws.sources))
        ws._life.kept = True
    return ws


def check_database(ws: Workspace, *, needed_by: str) -> None:
    """What add_database says when it cannot open the app's database (a ConfigError, exit 4:
    DATABASE_URL not set), said without opening it."""
    if "neon" not in ws.sources and ws.demo is None and not ws.settings.database_url:
        raise _no_database(needed_by)


def _no_database(needed_by: str) -> ConfigError:
    return ConfigError(
        f"{needed_by} needs your app's Postgres (Neon): DATABASE_URL is not set",
        hint="export DATABASE_URL='postgresql://role:password@host/db?sslmode=require'",
    )


def add_database(ws: Workspace, progress: Progress | None, *, needed_by: str) -> None:
    """Open the app's database on a workspace opened without it (`database=False`, as the
    analytics are), for a command that needs it only with some options (`needed_by` names them
    in the error): the demo's PostgreSQL, or DATABASE_URL's (a ConfigError, exit 4, when it is
    not set). Closed with the workspace."""
    if "neon" in ws.sources:
        return
    from usertrack.engines.postgres.source import PostgresSource

    source: Source
    if ws.demo is not None:
        from usertrack.demo.database import demo_reader_uri

        if progress:
            progress("starting the demo PostgreSQL")
        source = PostgresSource(
            demo_reader_uri(ws.demo),
            description="demo PostgreSQL",
            max_concurrent=ws.settings.db_connections,
        )
    else:
        s = ws.settings
        if not s.database_url:
            raise _no_database(needed_by)
        pg = PostgresSource(
            s.database_url,
            connect_attempts=s.connect_attempts,
            progress=progress,
            max_concurrent=s.db_connections,
        )
        from usertrack.engines.cache import CachedSource, cache_dir

        posthog = ws.sources.get("posthog")
        source = CachedSource(
            pg,
            cache_dir(s.home),
            identity=f"postgres {pg.identity}",
            ttl_seconds=s.cache_ttl,
            # --refresh: as the PostHog source of the same command was opened
            refresh=posthog is not None and posthog.refresh,
        )
    ws.sources["neon"] = source
    ws._life.late.append(source)


def _open_demo(ws: Workspace, progress: Progress | None, *, database: bool = True) -> None:
    from usertrack.demo.layout import existing_demo
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.engines.local.storecache import folder_of

    # A demo that exists needs none of the generator's modules
    demo = existing_demo(ws.settings.home)
    if demo is None:
        from usertrack.demo.generator import ensure_demo

        demo = ensure_demo(ws.settings.home, progress=progress, notice=ws.notice)
    ws.demo = demo
    ws.sources["posthog"] = LocalPostHogSource(
        demo.events_path, description="demo events", kept_in=folder_of(ws.settings.home)
    )
    if not database:
        return
    if progress:
        progress("starting the demo PostgreSQL")
    from usertrack.demo.database import demo_reader_uri
    from usertrack.engines.postgres.source import PostgresSource

    uri = demo_reader_uri(demo)  # a role that can only read, as yours should be
    ws.sources["neon"] = PostgresSource(
        uri,
        description="demo PostgreSQL",
        max_concurrent=ws.settings.db_connections,
        made_here=True,
    )


def _open_live(
    ws: Workspace,
    progress: Progress | None,
    notice: Callable[[str], None] | None,
    *,
    refresh: bool = False,
    database: bool = True,
) -> None:
    s = ws.settings
    partly = bool(s.posthog_project_id or s.posthog_api_key or s.posthog_host)
    if database and not s.database_url:
        # Everything missing at once: PostHog's half-set variables too, not one per try.
        also = s.missing_posthog if partly and s.events_path is None else []
        names = " and ".join(["DATABASE_URL", *also])
        raise ConfigError(
            f"{names} not set: usertrack needs your app's Postgres (Neon) besides PostHog",
            hint="export DATABASE_URL='postgresql://role:password@host/db?sslmode=require'"
            + (" and set POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY" if also else ""),
        )
    if database and s.database_url:  # (without it, refused above)
        from usertrack.engines.postgres.source import PostgresSource

        ws.sources["neon"] = PostgresSource(
            s.database_url,
            connect_attempts=s.connect_attempts,
            progress=progress,
            max_concurrent=s.db_connections,
        )
    if s.events_path is not None:
        ws.sources["posthog"] = _local_events_source(s, progress, notice, ws.warn)
        return
    if partly or not database:
        missing = s.missing_posthog
        if missing:
            what = "PostHog is partly configured" if partly else "this command reads PostHog"
            raise ConfigError(
                f"{what}: {' and '.join(missing)} not set",
                hint="set POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY (scope query:read)",
            )
        from usertrack.engines.cache import cache_dir
        from usertrack.engines.posthog import PostHogHTTPSource

        assert s.posthog_api_key is not None and s.posthog_project_id is not None
        ws.sources["posthog"] = PostHogHTTPSource(
            s.posthog_api_key,
            s.posthog_project_id,
            s.posthog_host,
            progress=progress,
            refresh=refresh,  # --refresh: PostHog recalculates instead of answering from its cache
            printed_folder=cache_dir(s.home) / "hogql",
        )
        return
    raise ConfigError(
        "no PostHog source: set POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY,"
        " or USERTRACK_EVENTS to a PostHog events export (file or folder)",
    )


def _cache_live_sources(ws: Workspace, refresh: bool) -> None:
    """Put the disk cache in front of the sources that cost a rate limit or a network trip."""
    from usertrack.engines.cache import CachedSource, cache_dir
    from usertrack.engines.local.source import LocalPostHogSource

    for kind, source in list(ws.sources.items()):
        if isinstance(source, LocalPostHogSource):
            continue  # an events export's store: nothing to cache, no client to import
        from usertrack.engines.postgres.source import PostgresSource
        from usertrack.engines.posthog import PostHogHTTPSource

        if isinstance(source, PostHogHTTPSource):
            identity = f"posthog {source.description}"
        elif isinstance(source, PostgresSource):
            identity = f"postgres {source.identity}"
        else:
            continue
        ws.sources[kind] = CachedSource(
            source,
            cache_dir(ws.settings.home),
            identity=identity,
            ttl_seconds=ws.settings.cache_ttl,
            refresh=refresh,
        )


def import_events_export(settings: Settings) -> tuple[Path, ImportStats]:
    """Import USERTRACK_EVENTS into its store under USERTRACK_HOME (a no-op when unchanged)."""
    from usertrack.engines.local.eventstore import import_events

    assert settings.events_path is not None
    source_path = settings.events_path.resolve()
    digest = hashlib.sha256(str(source_path).encode()).hexdigest()[:16]
    store = settings.home / "events" / f"{digest}.duckdb"
    private_dir(store.parent)
    return store, import_events(source_path, store)


def _local_events_source(
    settings: Settings,
    progress: Progress | None,
    notice: Callable[[str], None] | None,
    warn: Callable[[str], None] | None = None,
) -> Source:
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.engines.local.storecache import folder_of

    assert settings.events_path is not None
    source_path = settings.events_path.resolve()
    if progress:
        progress(f"importing events from {source_path}")
    store, stats = import_events_export(settings)
    if stats.skipped and warn:  # rows left out of every answer: said even with --quiet
        warn(stats.summary())
    elif notice and (not stats.unchanged or stats.skipped):
        notice(f"usertrack: {stats.summary()}")
    return LocalPostHogSource(
        store, description=f"events export {source_path.name}", kept_in=folder_of(settings.home)
    )
