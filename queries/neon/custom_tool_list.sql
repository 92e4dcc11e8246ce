-- name: custom_tool_list
-- description: The custom tools created in the window one by one, newest first, across users: the creator's email, the tool's name and description, its code length.
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- param limit: 25
-- setting max_parallel_workers_per_gather: 0
--
-- The analyst workflow's "Custom Tools Created", over (as_of - days, as_of]. code_chars is
-- length(final_code) in characters. fastapi_deployment.user_id is fastapi_user.id. Newest first,
-- ties by the deployment's id (newest id first). Users and segment_only as in tool_overview.sql.
WITH users AS MATERIALIZED (
    SELECT f.id AS fid, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    d.created_at,
    u.email,
    d.name,
    d.description,
    length(d.final_code) AS code_chars
FROM fastapi_deployment AS d
JOIN users AS u ON u.fid = d.user_id
WHERE d.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND d.created_at <= %(as_of)s
ORDER BY d.created_at DESC, d.id DESC
LIMIT %(limit)s
