-- name: user_timeline
-- description: What one user did in the app over the window, row by row: workflow runs, tool calls, code executions and deployments, in time order.
-- returns: table
-- param as_of: now
-- param days: 30
-- param email:
-- param exclude_pattern: @datagen\.dev$
--
-- The Neon half of the deep dive's timeline (PostHog's half is posthog/user_events). `level` is
-- 'workflow' for runs and 'tool' for tool calls (the analyst workflow keeps them apart), empty otherwise.
-- `run_id` is the run a row belongs to: the run itself, or the run a tool call was made in where
-- the table has a run_id column (read through to_jsonb: a table without one gives NULL).
-- The email is a bound value, compared normalized (usertrack/core/emails.py). Window: (as_of - days, as_of].
WITH u AS (
    SELECT w.id AS wasp_id, f.id AS fastapi_id
    FROM wasp_user AS w
    JOIN fastapi_user AS f ON f.wasp_user_id = w.id
    WHERE lower(btrim(w.email, E' \t\r\n')) = lower(btrim(%(email)s, E' \t\r\n'))
      AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
)
SELECT at, kind, level, name, status, detail, run_id
FROM (
    SELECT r.created_at AS at, 'run' AS kind, 'workflow' AS level, 'run ' || r.id AS name,
           r.run_state AS status, split_part(r.run_error_log, chr(10), 1) AS detail,
           r.id::text AS run_id
    FROM u JOIN fastapi_run AS r ON r.user_id = u.fastapi_id
    WHERE r.created_at > %(as_of)s - %(days)s * INTERVAL '1 day' AND r.created_at <= %(as_of)s
    UNION ALL
    SELECT t.created_at, 'tool call', 'tool', t.tool_name, t.status,
           CASE WHEN t.status = 'failed' THEN coalesce(t.error_type || ': ', '') || t.error_message
                ELSE t.execution_duration_ms || ' ms' END,
           to_jsonb(t) ->> 'run_id'
    FROM u JOIN fastapi_tool_executions AS t ON t.user_id = u.fastapi_id::text
    WHERE t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day' AND t.created_at <= %(as_of)s
    UNION ALL
    SELECT c.created_at, 'code execution', NULL, coalesce(c.name, c.script_name), c.status,
           c.script_name || coalesce(', ' || c.execution_time_ms || ' ms', ''), NULL
    FROM u JOIN fastapi_code_execution AS c ON c.user_id = u.fastapi_id
    WHERE c.created_at > %(as_of)s - %(days)s * INTERVAL '1 day' AND c.created_at <= %(as_of)s
    UNION ALL
    SELECT d.created_at, 'deployment', NULL, d.name, 'deployed', d.description, NULL
    FROM u JOIN fastapi_deployment AS d ON d.user_id = u.fastapi_id
    WHERE d.created_at > %(as_of)s - %(days)s * INTERVAL '1 day' AND d.created_at <= %(as_of)s
) AS items
ORDER BY at, kind
