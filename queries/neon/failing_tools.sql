-- name: failing_tools
-- description: Tool calls that failed over the last N days, by tool and provider: calls, failures and affected users.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 7
-- param limit: 10
--
-- The analyst workflow's "Tool Failure Analysis" at tool level (fastapi_tool_executions): user code, tool bugs
-- and third parties. fastapi_tool_executions.user_id is text holding fastapi_user.id.
-- Window: (as_of - N days, as_of]. Ties are broken by tool and provider in byte order (COLLATE "C",
-- whatever the database's locale), so the order is stable.
SELECT
    t.tool_name,
    coalesce(t.tool_provider, '') AS tool_provider,
    count(*) AS calls,
    count(*) FILTER (WHERE t.status = 'failed') AS failures,
    round(100.0 * count(*) FILTER (WHERE t.status = 'failed') / count(*), 1) AS failure_rate,
    count(DISTINCT lower(btrim(w.email, E' \t\r\n'))) FILTER (WHERE t.status = 'failed') AS affected_users
FROM fastapi_tool_executions AS t
JOIN fastapi_user AS f ON t.user_id = f.id::text
JOIN wasp_user AS w ON w.id = f.wasp_user_id
WHERE t.created_at > %(as_of)s - make_interval(days => %(days)s)
  AND t.created_at <= %(as_of)s
  AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
GROUP BY t.tool_name, coalesce(t.tool_provider, '')
HAVING count(*) FILTER (WHERE t.status = 'failed') > 0
ORDER BY failures DESC, affected_users DESC, t.tool_name COLLATE "C", coalesce(t.tool_provider, '') COLLATE "C"
LIMIT %(limit)s
