-- name: failures
-- description: Every failure in the window, one row each, at both levels: failed workflow runs (fastapi_run, run_error_log) and failed tool calls (fastapi_tool_executions), for failures.yaml to categorize.
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- setting max_parallel_workers_per_gather: 0
--
-- The analyst workflow's failure investigation: tool level and workflow level tell different stories (a run
-- can fail from infrastructure while every tool call in it succeeded), so each row says its
-- `level` and the two are never added up. Window: (as_of - days, as_of]. `credits` is the
-- account's balance (a credits error while credits are left is a platform bug, not the user's).
-- A workflow row's error_message is the first line of its run_error_log. `run_id` is the run a
-- row belongs to: the run itself, or the run a tool call was made in where the table has a
-- run_id column (read through to_jsonb, so a table without one gives NULL instead of an error).
-- Without parallel workers: at 100,000 users they added a fifth to the server's CPU for the same
-- rows, beside the other queries of a report.
-- The accounts kept (the exclusion pattern, a regular expression, tried on every email) are
-- worked out once for both levels, not once for each.
WITH people AS MATERIALIZED (
    SELECT f.id, f.id::text AS id_text, lower(btrim(w.email, E' \t\r\n')) AS email, w.credits
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
)
SELECT
    'workflow' AS level,
    r.created_at AS occurred_at,
    p.email,
    NULL::text AS tool_name,
    NULL::text AS tool_provider,
    NULL::text AS tool_type,
    NULL::text AS error_type,
    left(split_part(r.run_error_log, chr(10), 1), 500) AS error_message,
    left(r.run_error_log, 2000) AS run_error_log,
    NULL::integer AS duration_ms,
    p.credits,
    r.id::text AS run_id
FROM fastapi_run AS r
JOIN people AS p ON p.id = r.user_id
WHERE r.run_state = 'failed'
  AND r.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND r.created_at <= %(as_of)s
UNION ALL
SELECT
    'tool' AS level,
    t.created_at AS occurred_at,
    p.email,
    t.tool_name,
    t.tool_provider,
    t.tool_type,
    t.error_type,
    left(t.error_message, 500) AS error_message,
    NULL::text AS run_error_log,
    t.execution_duration_ms AS duration_ms,
    p.credits,
    to_jsonb(t) ->> 'run_id' AS run_id
FROM fastapi_tool_executions AS t
JOIN people AS p ON p.id_text = t.user_id
WHERE t.status = 'failed'
  AND t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND t.created_at <= %(as_of)s
ORDER BY occurred_at
