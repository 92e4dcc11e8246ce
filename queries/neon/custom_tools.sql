-- name: custom_tools
-- description: Custom tools (fastapi_deployment) created in the window across users, by name: how many deployments, by how many users, the average code length and the last one created.
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- param limit: 15
-- setting max_parallel_workers_per_gather: 0
--
-- The analyst workflow's "Custom Tools Created", across users. code_chars is the average
-- length(final_code) in characters. fastapi_deployment.user_id is fastapi_user.id. Window, users
-- and segment_only as in tool_overview.sql.
WITH users AS MATERIALIZED (
    SELECT f.id AS fid, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    d.name,
    count(*) AS deployments,
    count(DISTINCT u.email) AS users,
    round(avg(length(d.final_code)))::bigint AS code_chars,
    max(d.created_at) AS last_created
FROM fastapi_deployment AS d
JOIN users AS u ON u.fid = d.user_id
WHERE d.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND d.created_at <= %(as_of)s
GROUP BY d.name
ORDER BY deployments DESC, d.name COLLATE "C"
LIMIT %(limit)s
