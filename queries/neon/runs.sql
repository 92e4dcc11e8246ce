-- name: runs
-- description: Workflow runs per user (fastapi_run): how many, how many completed and failed, the last one.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- Workflow level, as seed 000 insists: a run can fail from infrastructure even when every tool
-- call in it succeeded. Users with no runs are absent here and count as 0 in the profile.
SELECT
    lower(trim(w.email)) AS email,
    count(r.id) AS run_count,
    count(r.id) FILTER (WHERE r.run_state = 'completed') AS runs_completed,
    count(r.id) FILTER (WHERE r.run_state = 'failed') AS runs_failed,
    min(r.created_at) AS first_run_at,
    max(r.created_at) AS last_run_at
FROM wasp_user AS w
JOIN fastapi_user AS f ON f.wasp_user_id = w.id
JOIN fastapi_run AS r ON r.user_id = f.id
WHERE r.created_at <= %(as_of)s
  AND w.email IS NOT NULL
  AND lower(trim(w.email)) !~ %(exclude_pattern)s
GROUP BY lower(trim(w.email))
