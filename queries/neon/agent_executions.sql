-- name: agent_executions
-- description: Agent runs (wasp_agentexecution) started in the window by status: runs, users, agents, average and 90th-percentile duration, first start and last completion (the analyst workflow's agent execution overview).
-- returns: table
-- param as_of: now
-- param days: 30
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- setting max_parallel_workers_per_gather: 0
--
-- Window: (as_of - days, as_of] on started_at; a completion after as_of is not yet known (NULL).
-- wasp_agentexecution.user_id is wasp_user.id. Durations are duration_ms over the runs that
-- have one (a running agent has none); p90_ms as in tool_usage.sql. share: percentage of the
-- window's runs. Users and segment_only as in tool_overview.sql.
WITH users AS MATERIALIZED (
    SELECT w.id AS uid, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM wasp_user AS w
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \t\r\n')) = ANY(%(segment_emails)s::text[]))
)
SELECT
    a.status,
    count(*) AS runs,
    round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS share,
    count(DISTINCT u.email COLLATE "C") AS users,
    count(DISTINCT a.agent_id) AS agents,
    round(avg(a.duration_ms))::bigint AS avg_ms,
    round((percentile_cont(0.9) WITHIN GROUP (ORDER BY a.duration_ms))::numeric)::bigint AS p90_ms,
    min(a.started_at) AS first_started,
    max(a.completed_at) FILTER (WHERE a.completed_at <= %(as_of)s) AS last_completed
FROM wasp_agentexecution AS a
JOIN users AS u ON u.uid = a.user_id
WHERE a.started_at > %(as_of)s - %(days)s * INTERVAL '1 day'
  AND a.started_at <= %(as_of)s
GROUP BY a.status
ORDER BY runs DESC, a.status COLLATE "C"
