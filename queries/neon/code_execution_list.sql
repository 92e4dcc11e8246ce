-- name: code_execution_list
-- description: The code executions of the window one by one, newest first, across users: who, when, what (name and script), status and duration.
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- param limit: 25
-- setting max_parallel_workers_per_gather: 0
--
-- The analyst workflow's "Recent Code Executions (what users are building)", over
-- (as_of - days, as_of]. fastapi_code_execution.user_id is fastapi_user.id. Newest first, ties by
-- the execution's id (newest id first), so the order is stable. Users and segment_only as in
-- tool_overview.sql.
WITH users AS MATERIALIZED (
    SELECT f.id AS fid, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    c.created_at AS executed_at,
    u.email,
    c.name,
    c.script_name,
    c.status,
    c.execution_time_ms
FROM fastapi_code_execution AS c
JOIN users AS u ON u.fid = c.user_id
WHERE c.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND c.created_at <= %(as_of)s
ORDER BY c.created_at DESC, c.id DESC
LIMIT %(limit)s
