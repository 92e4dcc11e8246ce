"""The failure report's day-by-day trend from the local copy of the app's tables
(usertrack/sources/app_mirror.py), row for row what queries/neon/failure_trend.sql gives on
PostgreSQL.

The file reads every run and tool call of the window, groups them per user and day and joins
them to the users: at 100,000 users about 0.6 s of the database's CPU for a week. The copy's
check reads the same rows once with no grouping and no join, and DuckDB counts the trend from
the copy (the runs' and the calls' days and states, the users kept by the exclusion pattern, as
PostgreSQL computed them when they were copied).

Used only where the file would say the same: its shipped text, a PostgreSQL database, no bound
on the command's connections (USERTRACK_DB_CONNECTIONS), USERTRACK_APP_MIRROR not 0, an answer
not already in the answer cache. Otherwise, or when the copy cannot be used (held by another
command, a check the database refuses), the file runs on the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usertrack.sources.base import Result
    from usertrack.sources.cache import CachedSource
    from usertrack.sources.postgres import PostgresSource
    from usertrack.sources.queries import Query
    from usertrack.workspace import Workspace

FILE = "neon/failure_trend"
COLUMNS = [
    "day",
    "runs",
    "runs_failed",
    "tool_calls",
    "tool_failures",
    "active_users",
    "users_with_failures",
]

# failure_trend.sql's counts over the copy: per app user and day first, then per account
# (wasp_users.id) and day, then per day.
_TREND = """
WITH users AS (
    SELECT f.id AS fid, CAST(f.id AS VARCHAR) AS fid_text, w.id AS uid
    FROM fastapi_users AS f
    JOIN wasp_users AS w ON w.id = f.wasp_user_id
    WHERE w.kept
),
activity AS (
    SELECT r.day, u.uid, r.runs, r.runs_failed, 0 AS tool_calls, 0 AS tool_failures
    FROM (
        SELECT day, user_id, count(*) AS runs,
               count(*) FILTER (WHERE run_state = 'failed') AS runs_failed
        FROM runs
        WHERE ts > $since AND ts <= $as_of
        GROUP BY ALL
    ) AS r
    JOIN users AS u ON u.fid = r.user_id
    UNION ALL
    SELECT t.day, u.uid, 0, 0, t.tool_calls, t.tool_failures
    FROM (
        SELECT day, user_id, count(*) AS tool_calls,
               count(*) FILTER (WHERE status = 'failed') AS tool_failures
        FROM tool_calls
        WHERE ts > $since AND ts <= $as_of
        GROUP BY ALL
    ) AS t
    JOIN users AS u ON u.fid_text = t.user_id
),
per_user AS (
    SELECT day, uid, sum(runs) AS runs, sum(runs_failed) AS runs_failed,
           sum(tool_calls) AS tool_calls, sum(tool_failures) AS tool_failures
    FROM activity
    GROUP BY day, uid
)
SELECT day, sum(runs)::BIGINT, sum(runs_failed)::BIGINT, sum(tool_calls)::BIGINT,
       sum(tool_failures)::BIGINT, count(*),
       count(*) FILTER (WHERE runs_failed + tool_failures > 0)
FROM per_user
GROUP BY day
"""


def _naive_utc(moment: datetime) -> datetime:
    """A moment as the copy holds them: UTC without a zone."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def trend_started(
    ws: Workspace, query: Query, values: Mapping[str, Any]
) -> Callable[[], Result | None] | None:
    """failure_trend.sql's rows for `values` (as_of, days, exclude_pattern) from the checked
    copy, worked out on a thread of its own (in a copy of this context: the command's cancel
    scope): a function that waits for them, and gives None when the file answers after all (a
    copy another command holds, a check the database refuses). None at once when the copy may
    not answer (see the module)."""
    import contextvars
    from concurrent.futures import Future

    from usertrack.sources.cache import CachedSource

    source = ws.sources.get("neon")
    cached = source if isinstance(source, CachedSource) else None
    if cached is not None and cached.peek(query, values) is not None:
        return None  # the answer cache answers at once
    postgres = _source(ws, query)
    if postgres is None:
        return None
    done: Future[Result | None] = Future()

    def work() -> None:
        try:
            done.set_result(_trend(ws, postgres, cached, query, values))
        except BaseException as e:  # raised on the caller's thread
            done.set_exception(e)

    context = contextvars.copy_context()
    threading.Thread(
        target=context.run, args=(work,), name="usertrack-trend-copy", daemon=True
    ).start()
    return done.result


def _trend(
    ws: Workspace,
    postgres: PostgresSource,
    cached: CachedSource | None,
    query: Query,
    values: Mapping[str, Any],
) -> Result | None:
    import duckdb

    from usertrack.sources import app_mirror
    from usertrack.sources.base import Result

    at = _naive_utc(values["as_of"])
    since = at - timedelta(days=int(values["days"]))
    pattern = str(values["exclude_pattern"])
    path = app_mirror.mirror_path(ws.settings.home, postgres.identity)
    try:
        with app_mirror.AppMirror(path) as mirror:
            mirror.refresh(postgres, since, at, (app_mirror.TOOL_CALLS, app_mirror.RUNS), pattern)
            if mirror.meta("exclude_pattern") != pattern:
                return None
            found = mirror.con.execute(_TREND, {"since": since, "as_of": at}).fetchall()
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except (app_mirror.MirrorUnavailable, duckdb.Error):
        return None
    counted = {row[0]: tuple(int(v) for v in row[1:]) for row in found}
    rows = []
    # The file's days: from the day holding the window's start to the day holding as_of
    # (its last microsecond), each once, days without activity as zeros.
    day, last = since.date(), (at - timedelta(microseconds=1)).date()
    while day <= last:
        rows.append((day, *counted.get(day, (0, 0, 0, 0, 0, 0))))
        day += timedelta(days=1)
    result = Result(columns=list(COLUMNS), rows=rows, meta={"from": "app mirror"})
    if cached is not None:
        cached.store_answer(query, values, result)
    return result


def _source(ws: Workspace, query: Query) -> PostgresSource | None:
    """The app's database when the copy may answer for it (see the module), else None."""
    import os

    from usertrack.sources.cache import CachedSource
    from usertrack.sources.postgres import PostgresSource
    from usertrack.sources.queries import shipped

    if os.environ.get("USERTRACK_APP_MIRROR", "1").strip() == "0":
        return None
    if ws.settings.db_connections is not None:
        return None
    source = ws.sources.get("neon")
    if isinstance(source, CachedSource):
        source = source.inner
    if not isinstance(source, PostgresSource) or not shipped(query):
        return None
    return source
