-- name: failure_trend
-- description: Day by day over the window: workflow runs and tool calls, how many failed, and how many users were active and hit a failure (the analyst workflow's daily trend, both levels apart).
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
--
-- Window: (as_of - days, as_of], one row per UTC day, days without any activity included (0).
-- Counted per user and day first, then per day: distinct users are then a plain count, not a
-- sort of every run and tool call (half the time on the demo). The runs, read whole (no index
-- on their created_at), are compared with as_of as a UTC timestamp worked out once (AT TIME ZONE
-- is immutable; the bound timestamptz would cast every run's created_at), the session's zone
-- being UTC; the calls are found by their created_at index either way.
WITH days AS (
    SELECT d::date AS day
    FROM generate_series(
        date_trunc('day', %(as_of)s::timestamp - %(days)s * INTERVAL '1 day'),
        %(as_of)s::timestamp - INTERVAL '1 microsecond',
        INTERVAL '1 day'
    ) AS d
),
users AS (
    SELECT f.id AS fid, f.id::text AS fid_text, w.id AS uid
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
),
activity AS (
    -- counted per app user and day first (the join then meets one row a user and day, not
    -- one a run or call), then per account below
    SELECT r.day, u.uid, r.runs, r.runs_failed, 0 AS tool_calls, 0 AS tool_failures
    FROM (
        SELECT created_at::date AS day, user_id,
               count(*) AS runs, count(*) FILTER (WHERE run_state = 'failed') AS runs_failed
        FROM fastapi_run
        WHERE created_at > (%(as_of)s AT TIME ZONE 'UTC') - %(days)s * INTERVAL '1 day'
          AND created_at <= (%(as_of)s AT TIME ZONE 'UTC')
        GROUP BY 1, 2
    ) AS r
    JOIN users AS u ON u.fid = r.user_id
    UNION ALL
    SELECT t.day, u.uid, 0, 0, t.tool_calls, t.tool_failures
    FROM (
        SELECT created_at::date AS day, user_id,
               count(*) AS tool_calls, count(*) FILTER (WHERE status = 'failed') AS tool_failures
        FROM fastapi_tool_executions
        WHERE created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
          AND created_at <= %(as_of)s
        GROUP BY 1, 2
    ) AS t
    JOIN users AS u ON u.fid_text = t.user_id
),
per_user AS (
    SELECT day, uid, sum(runs) AS runs, sum(runs_failed) AS runs_failed,
           sum(tool_calls) AS tool_calls, sum(tool_failures) AS tool_failures
    FROM activity
    GROUP BY day, uid
)
SELECT
    d.day,
    coalesce(sum(p.runs), 0)::bigint AS runs,
    coalesce(sum(p.runs_failed), 0)::bigint AS runs_failed,
    coalesce(sum(p.tool_calls), 0)::bigint AS tool_calls,
    coalesce(sum(p.tool_failures), 0)::bigint AS tool_failures,
    count(p.uid) AS active_users,
    count(p.uid) FILTER (WHERE p.runs_failed + p.tool_failures > 0) AS users_with_failures
FROM days AS d
LEFT JOIN per_user AS p ON p.day = d.day
GROUP BY d.day
ORDER BY d.day
