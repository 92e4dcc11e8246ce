-- name: tool_errors
-- description: One tool's failed calls of the window by error type and message (its first 200 characters): occurrences, users affected, first and last (the analyst workflow's tool error details).
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- param tool: <text>
-- param limit: 10
-- setting max_parallel_workers_per_gather: 0
--
-- error_preview is left(error_message, 200): messages that differ only after it are one row.
-- The tool name is a bound value. Window, users and segment_only as in tool_overview.sql.
-- Ties are broken by type and preview in byte order.
WITH users AS MATERIALIZED (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    coalesce(t.error_type, '') AS error_type,
    coalesce(left(t.error_message, 200), '') AS error_preview,
    count(*) AS occurrences,
    count(DISTINCT u.email) AS users,
    min(t.created_at) AS first_seen,
    max(t.created_at) AS last_seen
FROM fastapi_tool_executions AS t
JOIN users AS u ON u.fid_text = t.user_id
WHERE t.tool_name = %(tool)s
  AND t.status = 'failed'
  AND t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND t.created_at <= %(as_of)s
GROUP BY 1, 2
ORDER BY occurrences DESC, coalesce(t.error_type, '') COLLATE "C",
    coalesce(left(t.error_message, 200), '') COLLATE "C"
LIMIT %(limit)s
