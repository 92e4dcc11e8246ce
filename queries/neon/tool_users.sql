-- name: tool_users
-- description: Tool calls of the window per user, across users: calls, unique tools, successes, failures, success rate, average duration, first and last use.
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- param limit: 25
-- setting max_parallel_workers_per_gather: 0
--
-- The analyst workflow's "User-Level Tool Usage Summary", over (as_of - days, as_of]: one row a
-- user (email normalised as everywhere, usertrack/core/emails.py). fastapi_tool_executions.user_id
-- is fastapi_user.id as text. avg_ms is over the calls with a duration. Most calls first, ties by
-- email in byte order (COLLATE "C"). Users and segment_only as in tool_overview.sql.
WITH users AS MATERIALIZED (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    u.email COLLATE "C" AS email,
    count(*) AS calls,
    count(DISTINCT t.tool_name) AS tools,
    count(*) FILTER (WHERE t.status = 'success') AS successes,
    count(*) FILTER (WHERE t.status = 'failed') AS failures,
    round(100.0 * count(*) FILTER (WHERE t.status = 'success') / count(*), 1) AS success_rate,
    round(avg(t.execution_duration_ms))::bigint AS avg_ms,
    min(t.created_at) AS first_use,
    max(t.created_at) AS last_use
FROM fastapi_tool_executions AS t
JOIN users AS u ON u.fid_text = t.user_id COLLATE "C"
WHERE t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND t.created_at <= %(as_of)s
GROUP BY u.email COLLATE "C"
ORDER BY calls DESC, u.email COLLATE "C"
LIMIT %(limit)s
