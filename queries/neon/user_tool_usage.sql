-- name: user_tool_usage
-- description: The tools one user called in the window, with uses, successes, failures and success rate (the analyst workflow's per-user tool breakdown).
-- returns: table
-- param as_of: now
-- param days: 30
-- param email:
-- param exclude_pattern: @datagen\.dev$
--
-- The analyst workflow's "Per-User Tool Breakdown", as of a moment and over (as_of - days, as_of]; the email
-- is a bound value, compared normalized as everywhere (usertrack/core/emails.py).
SELECT
    t.tool_name,
    t.tool_provider,
    t.tool_type,
    count(*) AS uses,
    count(*) FILTER (WHERE t.status = 'success') AS successes,
    count(*) FILTER (WHERE t.status = 'failed') AS failures,
    round(100.0 * count(*) FILTER (WHERE t.status = 'success') / count(*), 1) AS success_rate,
    round(avg(t.execution_duration_ms)) AS avg_ms,
    min(t.created_at) AS first_use,
    max(t.created_at) AS last_use
FROM wasp_user AS w
JOIN fastapi_user AS f ON f.wasp_user_id = w.id
JOIN fastapi_tool_executions AS t ON t.user_id = f.id::text
WHERE lower(btrim(w.email, E' \t\r\n')) = lower(btrim(%(email)s, E' \t\r\n'))
  AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
  AND t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND t.created_at <= %(as_of)s
GROUP BY t.tool_name, t.tool_provider, t.tool_type
ORDER BY uses DESC, t.tool_name
