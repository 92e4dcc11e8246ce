-- name: tool_types
-- description: Tool calls of the window by tool type (mcp, default: built in, custom): calls, share of all calls, users, successes, failures and success rate.
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- setting max_parallel_workers_per_gather: 0
--
-- The analyst workflow's "MCP vs default tool ratio": `usertrack tools` divides the mcp row's
-- calls by the default row's. Window, users and segment_only as in tool_overview.sql. share is
-- the percentage of all the window's calls, one decimal.
WITH per_user AS (
    -- Counted per account and type first, then kept or left out by its account.
    SELECT t.user_id, t.tool_type,
           count(*) AS calls,
           count(*) FILTER (WHERE t.status = 'success') AS successes,
           count(*) FILTER (WHERE t.status = 'failed') AS failures
    FROM fastapi_tool_executions AS t
    WHERE t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
      AND t.created_at <= %(as_of)s
    GROUP BY t.user_id, t.tool_type
),
users AS (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    p.tool_type,
    sum(p.calls)::bigint AS calls,
    round(100.0 * sum(p.calls) / sum(sum(p.calls)) OVER (), 1) AS share,
    count(DISTINCT u.email) AS users,
    sum(p.successes)::bigint AS successes,
    sum(p.failures)::bigint AS failures,
    round(100.0 * sum(p.successes) / sum(p.calls), 1) AS success_rate
FROM per_user AS p
JOIN users AS u ON u.fid_text = p.user_id
GROUP BY p.tool_type
ORDER BY calls DESC, p.tool_type COLLATE "C"
