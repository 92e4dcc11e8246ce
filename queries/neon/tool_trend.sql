-- name: tool_trend
-- description: Tool calls day by day over the window (all tools, or one): calls, successes, failures and users (the analyst workflow's daily tool execution trend).
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- param tool: *
-- setting max_parallel_workers_per_gather: 0
--
-- One row per UTC day of (as_of - days, as_of], oldest first, days without a call included (0).
-- The tool parameter: * for every tool, else only that one. Users and segment_only as in tool_overview.sql.
-- Account ids and emails are compared byte-wise (COLLATE "C": the same equality, without the
-- locale's slower comparisons when the day's accounts are sorted and joined).
WITH users AS (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
),
days AS (
    SELECT d::date AS day
    FROM generate_series(
        date_trunc('day', %(as_of)s::timestamp - %(days)s * INTERVAL '1 day'),
        %(as_of)s::timestamp - INTERVAL '1 microsecond',
        INTERVAL '1 day'
    ) AS d
),
per_user AS (
    -- Counted per day and account first, then kept or left out by its account.
    SELECT t.created_at::date AS day, t.user_id,
           count(*) AS calls,
           count(*) FILTER (WHERE t.status = 'success') AS successes,
           count(*) FILTER (WHERE t.status = 'failed') AS failures
    FROM fastapi_tool_executions AS t
    WHERE t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
      AND t.created_at <= %(as_of)s
      AND (%(tool)s = '*' OR t.tool_name = %(tool)s)
    GROUP BY 1, 2
),
calls AS (
    SELECT p.day, sum(p.calls) AS calls, sum(p.successes) AS successes,
           sum(p.failures) AS failures, count(DISTINCT u.email COLLATE "C") AS users
    FROM per_user AS p
    JOIN users AS u ON u.fid_text = p.user_id COLLATE "C"
    GROUP BY p.day
)
SELECT
    d.day,
    coalesce(c.calls, 0)::bigint AS calls,
    coalesce(c.successes, 0)::bigint AS successes,
    coalesce(c.failures, 0)::bigint AS failures,
    coalesce(c.users, 0) AS users
FROM days AS d
LEFT JOIN calls AS c ON c.day = d.day
ORDER BY d.day
