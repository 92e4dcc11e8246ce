-- name: tool_providers
-- description: MCP tool calls of the window by provider: calls, tools, users, successes, failures, success rate and average duration (the analyst workflow's MCP provider usage summary).
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
--
-- Only calls of tool_type 'mcp'; a call without a provider is under ''. Window, users and
-- segment_only as in tool_overview.sql.
WITH users AS MATERIALIZED (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    coalesce(t.tool_provider, '') AS tool_provider,
    count(*) AS calls,
    count(DISTINCT t.tool_name) AS tools,
    count(DISTINCT u.email) AS users,
    count(*) FILTER (WHERE t.status = 'success') AS successes,
    count(*) FILTER (WHERE t.status = 'failed') AS failures,
    round(100.0 * count(*) FILTER (WHERE t.status = 'success') / count(*), 1) AS success_rate,
    round(avg(t.execution_duration_ms))::bigint AS avg_ms
FROM fastapi_tool_executions AS t
JOIN users AS u ON u.fid_text = t.user_id
WHERE t.tool_type = 'mcp'
  AND t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND t.created_at <= %(as_of)s
GROUP BY coalesce(t.tool_provider, '')
ORDER BY calls DESC, coalesce(t.tool_provider, '') COLLATE "C"
