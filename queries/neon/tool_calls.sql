-- name: tool_calls
-- description: Tool executions per user (fastapi_tool_executions): calls, failures, calls to MCP tools.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
--
-- Tool level: individual calls (user code, tool bugs, third parties). fastapi_tool_executions.user_id
-- is text holding fastapi_user.id; comparing as text avoids failing on a non-numeric value.
-- The big table is aggregated per user_id first (MATERIALIZED keeps the planner from turning it
-- into one index probe per user, which is ~7x slower on millions of rows), then joined to accounts.
-- With segment_only, only the users whose email is in segment_emails (a list the command binds:
-- the people behind one number, `--persons`), kept before anything is counted. Up to 40,000
-- emails their calls are read through the index on user_id as a bitmap: the index gives the
-- pages holding their calls, each page then read once, in the table's order. The planner
-- cannot count the cell's ids before it runs, so alone it reads the calls one index entry at
-- a time, a page per call (twice the CPU for 2,600 heavy users' 200,000 calls, more than a
-- pass over the whole table for 11,000 users); a condition of two lists (the second always
-- empty) is one only a bitmap can answer. At 100,000 users it takes 0.2 s of the server's CPU
-- for 2,600 users and 0.55 s for 11,000 (a pass over every call: 0.7 s). Past 40,000 emails
-- the table is read once, each call kept by its user. Without segment_only (the default)
-- every user, and `cell` is never read.
-- The cell keeps each of its accounts' normalized email, and its app users' counts are summed
-- by that email, so no account is read or normalized a second time (with segment_only off,
-- `users` reads every account with an email instead): 0.015 s less of the server's CPU for
-- 6,700 people of 100,000 accounts.
-- The cell's accounts are found first (OFFSET 0 keeps them apart), then their app users: the
-- planner, which cannot count the list, otherwise joins every account to its app user and
-- hashes all of them before it keeps the cell's (a fifth more of the server's CPU).
WITH cell AS MATERIALIZED (
    SELECT f.id::text AS id, w.email
    FROM (
        SELECT a.id, lower(btrim(a.email, E' \t\r\n')) AS email FROM wasp_user AS a
        WHERE %(segment_only)s
          AND lower(btrim(a.email, E' \t\r\n')) IN (SELECT unnest(%(segment_emails)s::text[]))
        OFFSET 0
    ) AS w
    JOIN fastapi_user AS f ON f.wasp_user_id = w.id
),
per_user AS MATERIALIZED (
    SELECT
        t.user_id,
        count(*) AS calls,
        count(*) FILTER (WHERE t.status = 'failed') AS failures,
        count(*) FILTER (WHERE t.tool_type = 'mcp') AS mcp_calls
    FROM fastapi_tool_executions AS t
    WHERE t.created_at <= %(as_of)s
      AND (NOT %(segment_only)s
           OR (cardinality(%(segment_emails)s::text[]) <= 40000
               AND (t.user_id = ANY(ARRAY(SELECT c.id FROM cell AS c))
                    OR t.user_id = ANY(ARRAY(SELECT c.id FROM cell AS c WHERE false))))
           OR (cardinality(%(segment_emails)s::text[]) > 40000
               AND t.user_id IN (SELECT c.id FROM cell AS c)))
    GROUP BY t.user_id
),
users AS (
    SELECT f.id::text AS id, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM wasp_user AS w
    JOIN fastapi_user AS f ON f.wasp_user_id = w.id
    WHERE NOT %(segment_only)s AND w.email IS NOT NULL
    UNION ALL
    SELECT c.id, c.email FROM cell AS c WHERE %(segment_only)s
)
SELECT
    u.email,
    sum(p.calls)::bigint AS tool_calls,
    sum(p.failures)::bigint AS tool_failures,
    sum(p.mcp_calls)::bigint AS mcp_tool_calls
FROM users AS u
JOIN per_user AS p ON p.user_id = u.id
WHERE u.email !~ %(exclude_pattern)s
GROUP BY u.email
