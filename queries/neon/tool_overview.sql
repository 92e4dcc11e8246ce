-- name: tool_overview
-- description: Every tool call of the window across users: calls, users, tools, average duration, successes and failures (the analyst workflow's tool execution overview).
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- setting max_parallel_workers_per_gather: 0
--
-- Window: (as_of - days, as_of] on created_at. fastapi_tool_executions.user_id is text holding
-- fastapi_user.id. A user is a normalized email (usertrack/core/emails.py): two accounts of one email
-- are one user. With segment_only, only the users whose email is in segment_emails (a list the
-- command binds: the members of one segment). avg_ms is over the calls with a duration.
WITH per_user AS (
    -- Counted per account first (a hash of tens of thousands of rows), then kept or left
    -- out by its account: never a sort or a lookup per call.
    SELECT t.user_id,
           count(*) AS calls,
           count(*) FILTER (WHERE t.status = 'success') AS successes,
           count(*) FILTER (WHERE t.status = 'failed') AS failures,
           sum(t.execution_duration_ms) AS ms,
           count(t.execution_duration_ms) AS timed
    FROM fastapi_tool_executions AS t
    WHERE t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
      AND t.created_at <= %(as_of)s
    GROUP BY t.user_id
),
users AS (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
),
kept AS (
    SELECT p.*, u.email FROM per_user AS p JOIN users AS u ON u.fid_text = p.user_id
),
tools AS (
    SELECT t.tool_name
    FROM fastapi_tool_executions AS t
    WHERE t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
      AND t.created_at <= %(as_of)s
      AND t.user_id IN (SELECT k.user_id FROM kept AS k)
    GROUP BY t.tool_name
)
SELECT
    coalesce(sum(k.calls), 0)::bigint AS calls,
    count(DISTINCT k.email) AS users,
    (SELECT count(*) FROM tools) AS tools,
    round(sum(k.ms)::numeric / nullif(sum(k.timed), 0))::bigint AS avg_ms,
    coalesce(sum(k.successes), 0)::bigint AS successes,
    coalesce(sum(k.failures), 0)::bigint AS failures,
    round(100.0 * sum(k.successes) / nullif(sum(k.calls), 0), 1) AS success_rate
FROM kept AS k
