-- name: tool_calls
-- description: Tool executions per user (fastapi_tool_executions): calls, failures, calls to MCP tools.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- Tool level: individual calls (user code, tool bugs, third parties). fastapi_tool_executions.user_id
-- is text holding fastapi_user.id; comparing as text avoids failing on a non-numeric value.
-- The big table is aggregated per user_id first (MATERIALIZED keeps the planner from turning it
-- into one index probe per user, which is ~7x slower on millions of rows), then joined to accounts.
WITH per_user AS MATERIALIZED (
    SELECT
        t.user_id,
        count(*) AS calls,
        count(*) FILTER (WHERE t.status = 'failed') AS failures,
        count(*) FILTER (WHERE t.tool_type = 'mcp') AS mcp_calls
    FROM fastapi_tool_executions AS t
    WHERE t.created_at <= %(as_of)s
    GROUP BY t.user_id
)
SELECT
    lower(btrim(w.email, E' \t\r\n')) AS email,
    sum(p.calls)::bigint AS tool_calls,
    sum(p.failures)::bigint AS tool_failures,
    sum(p.mcp_calls)::bigint AS mcp_tool_calls
FROM wasp_user AS w
JOIN fastapi_user AS f ON f.wasp_user_id = w.id
JOIN per_user AS p ON p.user_id = f.id::text
WHERE w.email IS NOT NULL
  AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
GROUP BY lower(btrim(w.email, E' \t\r\n'))
