-- name: failed_run_list
-- description: The workflow runs that failed in the window one by one, newest first, across users: when, who, the run, and its error cut to 200 characters.
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param limit: 25
--
-- The analyst workflow's "Recent Failed Runs", over (as_of - days, as_of]: workflow level
-- (fastapi_run), one row a failed run, where failing_runs.sql groups them by error. error is the
-- first 200 characters of run_error_log (left(), as the workflow cuts it), '' without a log.
-- Newest first, ties by the run's id (newest id first), so the order is stable.
SELECT
    r.created_at AS failed_at,
    lower(btrim(w.email, E' \t\r\n')) AS email,
    r.id AS run_id,
    left(coalesce(r.run_error_log, ''), 200) AS error
FROM fastapi_run AS r
JOIN fastapi_user AS f ON f.id = r.user_id
JOIN wasp_user AS w ON w.id = f.wasp_user_id
WHERE r.run_state = 'failed'
  AND r.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND r.created_at <= %(as_of)s
  AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s
