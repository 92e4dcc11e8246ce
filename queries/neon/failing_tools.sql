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
-- The window's calls are read twice, each read joined to its users by a hash of the people
-- computed once: every call per tool, the failed ones per tool and email (the affected users
-- are counted over those alone). One read kept for both (a CTE of every call with its email)
-- was written to disk and sorted by user at 100,000 users: a fifth more of the server's CPU.
WITH people AS MATERIALIZED (
    SELECT f.id::text AS user_id, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
),
tools AS (
    SELECT t.tool_name, coalesce(t.tool_provider, '') AS tool_provider, count(*) AS calls,
           count(*) FILTER (WHERE t.status = 'failed') AS failures
    FROM fastapi_tool_executions AS t
    JOIN people AS p ON p.user_id = t.user_id
    WHERE t.created_at > %(as_of)s - make_interval(days => %(days)s)
      AND t.created_at <= %(as_of)s
    GROUP BY 1, 2
),
affected AS (
    SELECT t.tool_name, coalesce(t.tool_provider, '') AS tool_provider,
           count(DISTINCT p.email) AS affected_users
    FROM fastapi_tool_executions AS t
    JOIN people AS p ON p.user_id = t.user_id
    WHERE t.status = 'failed'
      AND t.created_at > %(as_of)s - make_interval(days => %(days)s)
      AND t.created_at <= %(as_of)s
    GROUP BY 1, 2
)
SELECT
    t.tool_name,
    t.tool_provider,
    t.calls,
    t.failures,
    round(100.0 * t.failures / t.calls, 1) AS failure_rate,
    a.affected_users
FROM tools AS t
JOIN affected AS a USING (tool_name, tool_provider)
ORDER BY t.failures DESC, a.affected_users DESC, t.tool_name COLLATE "C", t.tool_provider COLLATE "C"
LIMIT %(limit)s
