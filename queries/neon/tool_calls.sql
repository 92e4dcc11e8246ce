-- name: tool_calls
-- description: Tool executions per user (fastapi_tool_executions): calls, failures, distinct tools, MCP share.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- Tool level: individual calls (user code, tool bugs, third parties). fastapi_tool_executions.user_id
-- is text holding fastapi_user.id; comparing as text avoids failing on a non-numeric value.
SELECT
    lower(trim(w.email)) AS email,
    count(t.id) AS tool_calls,
    count(t.id) FILTER (WHERE t.status = 'failed') AS tool_failures,
    count(DISTINCT t.tool_name) AS tools_used,
    count(t.id) FILTER (WHERE t.tool_type = 'mcp') AS mcp_tool_calls
FROM wasp_user AS w
JOIN fastapi_user AS f ON f.wasp_user_id = w.id
JOIN fastapi_tool_executions AS t ON t.user_id = f.id::text
WHERE t.created_at <= %(as_of)s
  AND w.email IS NOT NULL
  AND lower(trim(w.email)) !~ %(exclude_pattern)s
GROUP BY lower(trim(w.email))
