-- name: failure_trend
-- description: Day by day over the window: workflow runs and tool calls, how many failed, and how many users were active and hit a failure (seed 000's daily trend, both levels apart).
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
--
-- Window: (as_of - days, as_of], one row per UTC day, days without any activity included (0).
WITH days AS (
    SELECT d::date AS day
    FROM generate_series(
        date_trunc('day', %(as_of)s::timestamp - %(days)s * INTERVAL '1 day'),
        %(as_of)s::timestamp - INTERVAL '1 microsecond',
        INTERVAL '1 day'
    ) AS d
),
activity AS (
    SELECT r.created_at::date AS day, 'workflow' AS level, r.run_state = 'failed' AS failed,
           w.id AS uid
    FROM fastapi_run AS r
    JOIN fastapi_user AS f ON f.id = r.user_id
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE r.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
      AND r.created_at <= %(as_of)s
      AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
    UNION ALL
    SELECT t.created_at::date AS day, 'tool' AS level, t.status = 'failed' AS failed,
           w.id AS uid
    FROM fastapi_tool_executions AS t
    JOIN fastapi_user AS f ON t.user_id = f.id::text
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
      AND t.created_at <= %(as_of)s
      AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
)
SELECT
    d.day,
    count(a.uid) FILTER (WHERE a.level = 'workflow') AS runs,
    count(a.uid) FILTER (WHERE a.level = 'workflow' AND a.failed) AS runs_failed,
    count(a.uid) FILTER (WHERE a.level = 'tool') AS tool_calls,
    count(a.uid) FILTER (WHERE a.level = 'tool' AND a.failed) AS tool_failures,
    count(DISTINCT a.uid) AS active_users,
    count(DISTINCT a.uid) FILTER (WHERE a.failed) AS users_with_failures
FROM days AS d
LEFT JOIN activity AS a ON a.day = d.day
GROUP BY d.day
ORDER BY d.day
