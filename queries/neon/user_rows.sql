-- name: user_rows
-- description: Every row of the app's tables that belongs to one user, whole, as JSON: their account, runs, tool calls, code executions, deployments and agent runs (a person's data export).
-- returns: table
-- param email:
-- param as_of: now
--
-- The tables are those the other query files read for a user. The email is a bound value,
-- compared normalized (usertrack/core/emails.py); a user is their wasp_user row and the
-- fastapi_user rows that point at it. `row` is the whole row as JSON (to_jsonb): every column,
-- including those no other query reads. A user created after as_of does not exist yet; their
-- rows are the database's rows of today. Read-only, like every query file.
WITH w AS (
    SELECT * FROM wasp_user AS w
    WHERE lower(btrim(w.email, E' \t\r\n')) = lower(btrim(%(email)s, E' \t\r\n'))
      AND w.created_at <= %(as_of)s
), f AS (
    SELECT fu.* FROM fastapi_user AS fu WHERE fu.wasp_user_id IN (SELECT id FROM w)
)
SELECT table_name, id, row
FROM (
    SELECT 'wasp_user' AS table_name, w.id::text AS id, to_jsonb(w) AS row, 1 AS k FROM w
    UNION ALL
    SELECT 'fastapi_user', f.id::text, to_jsonb(f), 2 FROM f
    UNION ALL
    SELECT 'fastapi_run', r.id::text, to_jsonb(r), 3
    FROM fastapi_run AS r WHERE r.user_id IN (SELECT id FROM f)
    UNION ALL
    SELECT 'fastapi_tool_executions', t.id::text, to_jsonb(t), 4
    FROM fastapi_tool_executions AS t WHERE t.user_id IN (SELECT id::text FROM f)
    UNION ALL
    SELECT 'fastapi_code_execution', c.id::text, to_jsonb(c), 5
    FROM fastapi_code_execution AS c WHERE c.user_id IN (SELECT id FROM f)
    UNION ALL
    SELECT 'fastapi_deployment', d.id::text, to_jsonb(d), 6
    FROM fastapi_deployment AS d WHERE d.user_id IN (SELECT id FROM f)
    UNION ALL
    SELECT 'wasp_agentexecution', a.id::text, to_jsonb(a), 7
    FROM wasp_agentexecution AS a WHERE a.user_id IN (SELECT id FROM w)
) AS rows
ORDER BY k, length(id), id
