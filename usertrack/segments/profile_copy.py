"""A dashboard's classification counts each user's workflow runs and tool calls from the local
copy of the app's tables (usertrack/engines/postgres/app_mirror.py): row for row what
queries/neon/runs.sql and tool_calls.sql give on PostgreSQL.

Both files group every run and tool call ever made up to the moment by user (a million runs and
2.8 million calls at 100,000 users: about 2 s of the database's CPU together, with its parallel
workers), then join them to the users. The copy's check reads the same rows once, with no
grouping and no join (about a quarter of that), and DuckDB groups the copy. A dashboard's other
panels (the failure report, the alerts) check windows within it: asked after it in the same
snapshot of the database, they read nothing more of it.

Used only in a dashboard (whose panels ask the copy anyway: `segments` alone keeps its queries,
and its first run does not copy every run and call of the app) and only where the files would
say the same: the rule of every command that answers from the copy (app_mirror.copy_source:
the shipped text, a PostgreSQL database, no bound on the command's connections,
USERTRACK_APP_MIRROR not 0), every
user asked (not `--persons`' few), the answer not already in the answer cache. Otherwise, or when
the copy cannot be used (held by another command, a check the database refuses), or a run or a
call is dated before `SINCE` (which the copy's window leaves out), the files run on the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from usertrack.core.clock import naive_utc
from usertrack.engines.shortcut import MirrorShortcut

if TYPE_CHECKING:
    from usertrack.engines.base import Result
    from usertrack.engines.postgres.app_mirror import AppMirror
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.queries.library import Query

FILES = ("neon/runs", "neon/tool_calls")


def every_user(values: Mapping[str, Any]) -> bool:
    """Whether the files are asked of every user: their default (the text `false`), as a
    classification binds it; `--persons`' few are left to the files."""
    return values.get("segment_only", False) in (False, "false")


# _RUNS and _TOOL_CALLS in place of the files, as shipped, asked of every user
SHORTCUTS = (
    MirrorShortcut(
        FILES[0],
        digest="0c47236558a4ad96e3811f06a1a1743023d1dbe103da069984aeea7cbbfd4ba3",
        entry="classification",
        used_by="a dashboard's classification",
        when=every_user,
    ),
    MirrorShortcut(
        FILES[1],
        digest="25970f58c6ed92d0f416f455dce14e228bb533a662aa9b3c1b4f75ef0b231007",
        entry="classification",
        used_by="a dashboard's classification",
        when=every_user,
    ),
)
_DECLARED = {cut.query_id: cut for cut in SHORTCUTS}
# The copy's window is (SINCE, as_of]: every row of the files' `created_at <= as_of` but those
# dated before it, which the check then finds (`_before`) and leaves to the files. (Python's
# dates begin in year 1, and the copy keeps days before a window: SINCE leaves room for them.)
SINCE = datetime(1, 4, 1, tzinfo=UTC)

# runs.sql over the copy: per app user first, then per normalized email of the kept accounts.
_RUNS = """
WITH per_user AS (
    SELECT user_id, count(*) AS runs,
           count(*) FILTER (WHERE run_state = 'completed') AS completed,
           count(*) FILTER (WHERE run_state = 'failed') AS failed,
           min(ts) AS first_at, max(ts) AS last_at
    FROM runs
    WHERE ts > $since AND ts <= $as_of
    GROUP BY user_id
)
SELECT w.email,
       sum(p.runs)::BIGINT AS run_count,
       sum(p.completed)::BIGINT AS runs_completed,
       sum(p.failed)::BIGINT AS runs_failed,
       min(p.first_at) AS first_run_at,
       max(p.last_at) AS last_run_at
FROM wasp_users AS w
JOIN fastapi_users AS f ON f.wasp_user_id = w.id
JOIN per_user AS p ON p.user_id = f.id
WHERE w.email IS NOT NULL AND w.kept
GROUP BY w.email
"""
# tool_calls.sql over the copy: its calls' user_id is text holding fastapi_user.id.
_TOOL_CALLS = """
WITH per_user AS (
    SELECT user_id, count(*) AS calls,
           count(*) FILTER (WHERE status = 'failed') AS failures,
           count(*) FILTER (WHERE tool_type = 'mcp') AS mcp_calls
    FROM tool_calls
    WHERE ts > $since AND ts <= $as_of
    GROUP BY user_id
)
SELECT w.email,
       sum(p.calls)::BIGINT AS tool_calls,
       sum(p.failures)::BIGINT AS tool_failures,
       sum(p.mcp_calls)::BIGINT AS mcp_tool_calls
FROM wasp_users AS w
JOIN fastapi_users AS f ON f.wasp_user_id = w.id
JOIN per_user AS p ON p.user_id = CAST(f.id AS VARCHAR)
WHERE w.email IS NOT NULL AND w.kept
GROUP BY w.email
"""
_SQL = {FILES[0]: _RUNS, FILES[1]: _TOOL_CALLS}
# The app's tables whose rows the files count, with their time column.
_TABLES = (("fastapi_run", "created_at"), ("fastapi_tool_executions", "created_at"))


class CopyAnswers:
    """The app's database for one classification: runs.sql and tool_calls.sql asked of every
    user are answered from the checked copy (checked once, when the first of them is asked),
    everything else by the source behind. Thread-safe (the per-user queries run side by side);
    `close` lets the copy go, once the classification has its answers."""

    def __init__(self, behind: Any, postgres: PostgresSource, ws: Any) -> None:
        self._behind = behind
        self._ws = ws
        self.kind = behind.kind
        self.dialect = behind.dialect
        self.description = behind.description
        self._postgres = postgres
        self._home = ws.settings.home
        self._lock = threading.Lock()
        self._mirror: AppMirror | None = None
        self._checked: tuple[datetime, str] | None = None  # the moment and pattern checked
        self._tried = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._behind, name)

    def run(self, query: Query, params: Mapping[str, Any], **more: Any) -> Result:
        found = self._answer(query, params) if query.id in FILES else None
        if found is not None:
            return found
        return self._behind.run(query, params, **more)  # type: ignore[no-any-return]

    def _answer(self, query: Query, params: Mapping[str, Any]) -> Result | None:
        """The copy's answer to `query` (one of FILES) with `params`, or None."""
        import duckdb

        from usertrack.engines.base import Result

        if not _DECLARED[query.id].gate(query, params):
            return None
        if self._behind.peek(query, params) is not None:
            return None  # the answer cache answers at once
        at, pattern = naive_utc(params["as_of"]), str(params["exclude_pattern"])
        with self._lock:
            try:
                mirror = self._ready(at, pattern)
                if mirror is None:
                    return None
                cur = mirror.con.cursor()
            except duckdb.Error:
                return None
        try:
            table = cur.sql(_SQL[query.id], params={"since": naive_utc(SINCE), "as_of": at})
            found = table.to_arrow_table()
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None
        except duckdb.Error:
            return None
        finally:
            cur.close()
        meta = {"from": "app mirror"}
        return Result(columns=list(found.column_names), rows=[], meta=meta, arrow=found)

    def _ready(self, at: datetime, pattern: str) -> AppMirror | None:
        """The copy checked for (SINCE, at] under `pattern` (on the first call), or None when
        it cannot answer for them. Under the lock."""

        from usertrack.engines.postgres import app_mirror

        if not self._tried:
            self._tried = True
            if dated_before(self._ws, self._postgres):
                return None
            path = app_mirror.mirror_path(self._home, self._postgres.identity)
            specs = (app_mirror.TOOL_CALLS, app_mirror.RUNS)
            mirror = app_mirror.open_checked(path, self._postgres, SINCE, at, specs, pattern)
            if mirror is None:
                return None
            self._mirror, self._checked = mirror, (at, pattern)
        if self._mirror is None or self._checked != (at, pattern):
            return None
        if self._mirror.meta("exclude_pattern") != pattern:
            return None
        return self._mirror

    def close(self) -> None:
        """Let the copy go (the source behind is the workspace's: it closes it)."""
        with self._lock:
            if self._mirror is not None:
                self._mirror.close()
                self._mirror = None


_BEFORE_LOCK = threading.Lock()


def dated_before(ws: Any, postgres: PostgresSource) -> bool:
    """Whether the app has a run or a tool call dated at or before SINCE (`_before`), asked
    once in a dashboard (`scope.shared`): its classification and its key metrics read the copy."""
    shared = ws.scope.shared
    key = ("app rows before", postgres.identity)
    with _BEFORE_LOCK:  # the panels' threads ask it once between them
        if shared is not None and key in shared:
            return bool(shared[key])
        found = _before(postgres, SINCE)
        if shared is not None:
            shared[key] = found
    return found


def _before(postgres: PostgresSource, since: datetime) -> bool:
    """Whether the app has a run or a tool call dated at or before `since` (the copy's window
    leaves them out), in one statement; True when it cannot tell."""
    import psycopg

    from usertrack.engines.postgres.source import bindable

    checks = " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} WHERE {column} <= %(since)s)" for table, column in _TABLES
    )
    try:
        with postgres.session() as conn, conn.transaction(), psycopg.ClientCursor(conn) as cur:
            cur.execute(
                "SELECT set_config('statement_timeout', %s, true),"
                " set_config('TimeZone', 'UTC', true)",
                [str(postgres.statement_timeout_ms)],
            )
            cur.execute(f"SELECT {checks}", {"since": bindable(since)})
            row = cur.fetchone()
    except psycopg.Error:
        return True
    return row is None or bool(row[0])


@contextmanager
def copy_answers(ws: Any, sources: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """`sources` for a classification of the workspace `ws` (a usertrack.workspace.Workspace):
    in a dashboard, with the app's database answering runs.sql and tool_calls.sql from the
    copy where it may (see the module); else `sources` as they are."""
    from usertrack.engines.postgres.app_mirror import copy_source

    neon = sources.get("neon")
    postgres = None
    if ws.scope.shared is not None and neon is not None:
        asked = [(cut, ws.library.get(cut.query_id), None) for cut in SHORTCUTS]
        postgres = copy_source(ws, asked)
    if postgres is None:
        yield sources
        return
    answers = CopyAnswers(neon, postgres, ws)
    try:
        yield {**sources, "neon": answers}
    finally:
        answers.close()


def prepare(ws: Any, at: datetime) -> None:
    """The copy a dashboard's classification checks (every run and tool call up to `at`) made
    now, where a dashboard's would be (a new demo: its first dashboard then checks the copy as
    every later one does, rather than copying 2.8 million tool calls at 100,000 users)."""
    from usertrack.engines.postgres import app_mirror
    from usertrack.segments.profiles import exclude_pattern

    asked = [(cut, ws.library.get(cut.query_id), None) for cut in SHORTCUTS]
    postgres = app_mirror.copy_source(ws, asked)
    if postgres is None or dated_before(ws, postgres):
        return
    path = app_mirror.mirror_path(ws.settings.home, postgres.identity)
    pattern = exclude_pattern(ws.rules.exclude)
    # A table at a time: the tool calls' rows are not held beside the runs' (at 100,000 users
    # they are 310 MB as Arrow, and DuckDB's writing of them 200 MB more).
    for spec in (app_mirror.RUNS, app_mirror.TOOL_CALLS):
        mirror = app_mirror.open_checked(path, postgres, SINCE, naive_utc(at), (spec,), pattern)
        if mirror is None:
            return
        mirror.close()
