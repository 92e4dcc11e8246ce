-- name: tool_providers
-- description: MCP tool calls of the window by provider: calls, tools, users, successes, failures, success rate and average duration (the analyst workflow's MCP provider usage summary).
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- setting max_parallel_workers_per_gather: 0
--
-- Only calls of tool_type 'mcp'; a call without a provider is under ''. Window, users and
-- segment_only as in tool_overview.sql. Counted per provider, account and tool first, then kept
-- or left out by its account: the join and the distinct counts see one row per account and
-- tool, not one per call. Account ids, names and emails are compared byte-wise (COLLATE "C":
-- the same equality, without the locale's slower comparisons).
WITH users AS (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
),
per_user AS (
    SELECT coalesce(t.tool_provider, '') AS tool_provider, t.user_id, t.tool_name,
           count(*) AS calls,
           count(*) FILTER (WHERE t.status = 'success') AS successes,
           count(*) FILTER (WHERE t.status = 'failed') AS failures,
           sum(t.execution_duration_ms) AS ms,
           count(t.execution_duration_ms) AS timed
    FROM fastapi_tool_executions AS t
    WHERE t.tool_type = 'mcp'
      AND t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
      AND t.created_at <= %(as_of)s
    GROUP BY 1, 2, 3
),
kept AS (
    SELECT p.*, u.email FROM per_user AS p JOIN users AS u ON u.fid_text = p.user_id COLLATE "C"
)
SELECT
    k.tool_provider,
    sum(k.calls)::bigint AS calls,
    count(DISTINCT k.tool_name COLLATE "C") AS tools,
    count(DISTINCT k.email COLLATE "C") AS users,
    sum(k.successes)::bigint AS successes,
    sum(k.failures)::bigint AS failures,
    round(100.0 * sum(k.successes) / sum(k.calls), 1) AS success_rate,
    round(sum(k.ms) / nullif(sum(k.timed), 0))::bigint AS avg_ms
FROM kept AS k
GROUP BY k.tool_provider
ORDER BY calls DESC, k.tool_provider COLLATE "C"
