-- name: tool_usage
-- description: The most used tools of the window (or one tool): calls, users, successes, failures, success rate, average and 90th-percentile duration, providers, users affected and first and last failure.
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- param tool: *
-- param limit: 25
-- setting max_parallel_workers_per_gather: 0
--
-- The analyst workflow's "Top Tools by Usage", by tool name (a name served by several providers
-- is one row, its providers listed in byte order). The tool parameter: * for every tool, else only that one
-- (`usertrack tools --tool NAME`). p90_ms is PostgreSQL's percentile_cont(0.9): interpolated
-- between the two nearest durations, over the calls with a duration. affected_users: users with
-- at least one failed call. Ties are broken by name in byte order (COLLATE "C"). Names, emails
-- and account ids are compared byte-wise too (COLLATE "C": equal under any deterministic
-- collation, and sorted without the locale's slower comparisons), which keeps the join to the
-- users a hash rather than a walk of the (user_id, created_at) index.
WITH users AS (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    t.tool_name COLLATE "C" AS tool_name,
    min(t.tool_type) AS tool_type,
    string_agg(DISTINCT coalesce(t.tool_provider, '') COLLATE "C", ', '
               ORDER BY coalesce(t.tool_provider, '') COLLATE "C") AS providers,
    count(*) AS calls,
    count(DISTINCT u.email COLLATE "C") AS users,
    count(*) FILTER (WHERE t.status = 'success') AS successes,
    count(*) FILTER (WHERE t.status = 'failed') AS failures,
    round(100.0 * count(*) FILTER (WHERE t.status = 'success') / count(*), 1) AS success_rate,
    round(avg(t.execution_duration_ms))::bigint AS avg_ms,
    round((percentile_cont(0.9) WITHIN GROUP (ORDER BY t.execution_duration_ms))::numeric)::bigint
        AS p90_ms,
    count(DISTINCT u.email COLLATE "C") FILTER (WHERE t.status = 'failed') AS affected_users,
    min(t.created_at) FILTER (WHERE t.status = 'failed') AS first_failure,
    max(t.created_at) FILTER (WHERE t.status = 'failed') AS last_failure
FROM fastapi_tool_executions AS t
JOIN users AS u ON u.fid_text = t.user_id COLLATE "C"
WHERE t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND t.created_at <= %(as_of)s
  AND (%(tool)s = '*' OR t.tool_name = %(tool)s)
GROUP BY t.tool_name COLLATE "C"
ORDER BY calls DESC, t.tool_name COLLATE "C"
LIMIT %(limit)s
