"""The failure report's failures and day-by-day trend from the local copy of the app's tables
(usertrack/engines/postgres/app_mirror.py), row for row what queries/neon/failures.sql and
failure_trend.sql give on PostgreSQL.

The files read every run and tool call of the window, join them to the users, and the trend
groups them per user and day: at 100,000 users about 1.3 s of the database's CPU for a week,
and the failures' hundred thousand rows cross into Python one value at a time. The copy's
check reads the same rows once with no grouping and no join; DuckDB counts the trend from the
copy and hands the failures over as Arrow columns (the runs' and the calls' days, states and
errors, the users kept by the exclusion pattern, as PostgreSQL computed them when they were
copied).

Used only where the copy may answer (app_mirror.copy_source: the shipped files on a PostgreSQL
database, ...) and the answers are not already in the answer cache. Otherwise, or when the copy
cannot be used (held by another command, a check the database refuses), the files run on the
database.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from usertrack.core.clock import naive_utc
from usertrack.engines.shortcut import MirrorShortcut

if TYPE_CHECKING:
    from usertrack.engines.base import Result
    from usertrack.segments.profiles import Job
    from usertrack.workspace import Workspace

FILES = ("neon/failures", "neon/failure_trend")
# _FAILURES and _TREND in place of the files, as shipped: both asked together, with the same
# values, or neither
SHORTCUTS = (
    MirrorShortcut(
        FILES[0],
        digest="08daa027b5f0c5f5629400b036f8f3fbb55a43763b63e4e18748182be3e32280",
        entry="failures",
        used_by="usertrack failures",
    ),
    MirrorShortcut(
        FILES[1],
        digest="55b98ecd6fb09d4ce7bc2c33d4e30c03cc4505002f8e28be2e5ea7b758d68787",
        entry="failures",
        used_by="usertrack failures",
    ),
)
_DECLARED = {cut.query_id: cut for cut in SHORTCUTS}
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

# failures.sql's rows over the copy: the failed runs and the failed tool calls of the users
# kept, with each user's normalized email and credits, in no particular order (the failure
# report only counts and groups them: its figures are the same in any order).
_FAILURES = """
WITH people AS (
    SELECT f.id, CAST(f.id AS VARCHAR) AS id_text, w.email, w.credits
    FROM fastapi_users AS f
    JOIN wasp_users AS w ON w.id = f.wasp_user_id
    WHERE w.kept
)
SELECT 'workflow' AS level, r.ts AS occurred_at, p.email,
       CAST(NULL AS VARCHAR) AS tool_name, CAST(NULL AS VARCHAR) AS tool_provider,
       CAST(NULL AS VARCHAR) AS tool_type, CAST(NULL AS VARCHAR) AS error_type,
       r.error_message, r.run_error_log, CAST(NULL AS BIGINT) AS duration_ms, p.credits,
       r.run_id
FROM runs AS r
JOIN people AS p ON p.id = r.user_id
WHERE r.run_state = 'failed' AND r.ts > $since AND r.ts <= $as_of
UNION ALL
SELECT 'tool', t.ts, p.email, t.tool_name, t.tool_provider, t.tool_type, t.error_type,
       t.error_message, NULL, t.ms, p.credits, t.run_id
FROM tool_calls AS t
JOIN people AS p ON p.id_text = t.user_id
WHERE t.status = 'failed' AND t.ts > $since AND t.ts <= $as_of
"""


def from_copy(ws: Workspace, jobs: list[Job]) -> dict[str, Result] | None:
    """The answers of `jobs` (neon/failures and neon/failure_trend, bound with the same as_of,
    days and exclude_pattern) from the checked copy, or None when the files answer instead
    (see the module). The failures come as Arrow columns (Result.arrow)."""
    import duckdb

    from usertrack.engines.base import Result
    from usertrack.engines.postgres import app_mirror

    if sorted(name for name, _, _ in jobs) != sorted(FILES):
        return None
    cached = app_mirror.answer_cache(ws)
    if cached is not None and any(cached.peek(q, v) is not None for _, q, v in jobs):
        return None  # the answer cache answers at once
    postgres = app_mirror.copy_source(ws, [(_DECLARED[q.id], q, v) for _, q, v in jobs])
    values = jobs[0][2]
    if postgres is None or any(v != values for _, _, v in jobs):
        return None
    at = naive_utc(values["as_of"])
    since = at - timedelta(days=int(values["days"]))
    pattern = str(values["exclude_pattern"])
    path = app_mirror.mirror_path(ws.settings.home, postgres.identity)
    window = {"since": since, "as_of": at}
    try:
        with app_mirror.AppMirror(path) as mirror:
            mirror.refresh(postgres, since, at, (app_mirror.TOOL_CALLS, app_mirror.RUNS), pattern)
            if mirror.meta("exclude_pattern") != pattern:
                return None
            found = mirror.con.execute(_TREND, window).fetchall()
            failures = mirror.con.sql(_FAILURES, params=window).to_arrow_table()
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except (app_mirror.MirrorUnavailable, duckdb.Error):
        return None
    if failures is None:
        return None
    counted = {row[0]: tuple(int(v) for v in row[1:]) for row in found}
    rows = []
    # The file's days: from the day holding the window's start to the day holding as_of
    # (its last microsecond), each once, days without activity as zeros.
    day, last = since.date(), (at - timedelta(microseconds=1)).date()
    while day <= last:
        rows.append((day, *counted.get(day, (0, 0, 0, 0, 0, 0))))
        day += timedelta(days=1)
    trend = Result(columns=list(COLUMNS), rows=rows, meta={"from": "app mirror"})
    by_name = {q.id: (q, v) for _, q, v in jobs}
    if cached is not None:
        cached.store_answer(*by_name[FILES[1]], trend)
    meta = {"from": "app mirror"}
    answer = Result(columns=list(failures.column_names), rows=[], meta=meta, arrow=failures)
    return {FILES[0]: answer, FILES[1]: trend}
