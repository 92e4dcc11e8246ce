-- name: code_executions
-- description: Code executions (fastapi_code_execution) of the window across users, by script: runs, users, successes, failures, success rate, average, median and 90th-percentile duration.
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- param limit: 15
-- setting max_parallel_workers_per_gather: 0
--
-- A run succeeded when its status is 'success'; every other status (error, timeout, ...) is a
-- failure. fastapi_code_execution.user_id is fastapi_user.id. Durations: execution_time_ms;
-- median_ms is percentile_cont(0.5), rounded as p90_ms in tool_usage.sql (a few runs stopped at
-- a long timeout pull the average above the typical run: the median is not moved). Window,
-- users and segment_only as in tool_overview.sql.
WITH users AS MATERIALIZED (
    SELECT f.id AS fid, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    coalesce(c.script_name, '') AS script_name,
    count(*) AS runs,
    count(DISTINCT u.email) AS users,
    count(*) FILTER (WHERE c.status = 'success') AS successes,
    count(*) FILTER (WHERE c.status <> 'success') AS failures,
    round(100.0 * count(*) FILTER (WHERE c.status = 'success') / count(*), 1) AS success_rate,
    round(avg(c.execution_time_ms))::bigint AS avg_ms,
    round((percentile_cont(0.5) WITHIN GROUP (ORDER BY c.execution_time_ms))::numeric)::bigint AS median_ms,
    round((percentile_cont(0.9) WITHIN GROUP (ORDER BY c.execution_time_ms))::numeric)::bigint AS p90_ms
FROM fastapi_code_execution AS c
JOIN users AS u ON u.fid = c.user_id
WHERE c.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND c.created_at <= %(as_of)s
GROUP BY 1
ORDER BY runs DESC, coalesce(c.script_name, '') COLLATE "C"
LIMIT %(limit)s
