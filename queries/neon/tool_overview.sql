-- name: tool_overview
-- description: Every tool call of the window across users: calls, users, tools, average duration, successes and failures (the analyst workflow's tool execution overview).
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
--
-- Window: (as_of - days, as_of] on created_at. fastapi_tool_executions.user_id is text holding
-- fastapi_user.id. A user is a normalized email (usertrack/emails.py): two accounts of one email
-- are one user. With segment_only, only the users whose email is in segment_emails (a list the
-- command binds: the members of one segment). avg_ms is over the calls with a duration.
WITH users AS MATERIALIZED (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    count(*) AS calls,
    count(DISTINCT u.email) AS users,
    count(DISTINCT t.tool_name) AS tools,
    round(avg(t.execution_duration_ms))::bigint AS avg_ms,
    count(*) FILTER (WHERE t.status = 'success') AS successes,
    count(*) FILTER (WHERE t.status = 'failed') AS failures,
    round(100.0 * count(*) FILTER (WHERE t.status = 'success') / nullif(count(*), 0), 1)
        AS success_rate
FROM fastapi_tool_executions AS t
JOIN users AS u ON u.fid_text = t.user_id
WHERE t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND t.created_at <= %(as_of)s
