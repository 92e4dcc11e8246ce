-- name: user_failures
-- description: One user's failures in the window, one row each, at both levels (failed workflow runs and failed tool calls), for failures.yaml to categorize.
-- returns: table
-- param as_of: now
-- param days: 30
-- param email:
-- param exclude_pattern: @datagen\.dev$
--
-- Seed 000's "Failure Investigation" queries 1 (tool level) and 2 (workflow level) for one user,
-- row by row, with the columns of neon/failures.sql. The email is a bound value, compared trimmed
-- and lower-cased. Window: (as_of - days, as_of].
WITH u AS (
    SELECT w.id, lower(trim(w.email)) AS email, w.credits, f.id AS fastapi_id
    FROM wasp_user AS w
    JOIN fastapi_user AS f ON f.wasp_user_id = w.id
    WHERE lower(trim(w.email)) = lower(trim(%(email)s))
      AND lower(trim(w.email)) !~ %(exclude_pattern)s
)
SELECT
    'workflow' AS level,
    r.created_at AS occurred_at,
    u.email,
    NULL::text AS tool_name,
    NULL::text AS tool_provider,
    NULL::text AS tool_type,
    NULL::text AS error_type,
    left(split_part(r.run_error_log, chr(10), 1), 500) AS error_message,
    left(r.run_error_log, 2000) AS run_error_log,
    NULL::integer AS duration_ms,
    u.credits
FROM u
JOIN fastapi_run AS r ON r.user_id = u.fastapi_id
WHERE r.run_state = 'failed'
  AND r.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND r.created_at <= %(as_of)s
UNION ALL
SELECT
    'tool' AS level,
    t.created_at AS occurred_at,
    u.email,
    t.tool_name,
    t.tool_provider,
    t.tool_type,
    t.error_type,
    left(t.error_message, 500) AS error_message,
    NULL::text AS run_error_log,
    t.execution_duration_ms AS duration_ms,
    u.credits
FROM u
JOIN fastapi_tool_executions AS t ON t.user_id = u.fastapi_id::text
WHERE t.status = 'failed'
  AND t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND t.created_at <= %(as_of)s
ORDER BY occurred_at
