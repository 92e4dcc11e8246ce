-- name: profile
-- description: One row per user, from every per-user query joined on normalized email: the columns segments.yaml rules use.
-- returns: per-user
-- param as_of: now
--
-- Runs in DuckDB over `joined`: the full outer join of every per-user query's result on email,
-- with in_posthog / in_neon saying which source knew the person. Counts a source did not report
-- are 0 for people that source knows, and NULL for people it has never seen.
-- `email` arrives normalized by the join (usertrack/core/emails.py), in DuckDB:
-- lower(trim(email, E' \t\r\n')).
-- current-only: credits, subscription_status, last_active_at
--
-- No ORDER BY: the classification orders users by email itself, and a sort here would be a
-- second one (0.04 s at 100,000 users).
SELECT
    email,
    created_at,
    credits,
    subscription_status,
    last_active_at,
    CASE WHEN in_neon THEN coalesce(run_count, 0) END AS run_count,
    CASE WHEN in_neon THEN coalesce(runs_completed, 0) END AS runs_completed,
    CASE WHEN in_neon THEN coalesce(runs_failed, 0) END AS runs_failed,
    round(100.0 * runs_completed / nullif(run_count, 0), 1) AS run_success_rate,
    CASE WHEN in_neon THEN coalesce(tool_calls, 0) END AS tool_calls,
    CASE WHEN in_neon THEN coalesce(tool_failures, 0) END AS tool_failures,
    CASE WHEN in_posthog THEN coalesce(mcp_connect_clicks, 0) END AS mcp_connect_clicks,
    CASE WHEN in_posthog THEN list_sort(coalesce(mcp_servers, []::VARCHAR[])) END AS mcp_servers,
    CASE WHEN in_posthog THEN coalesce(rage_clicks, 0) END AS rage_clicks,
    CASE WHEN in_posthog THEN coalesce(exceptions, 0) END AS exceptions,
    CASE WHEN in_posthog THEN coalesce(pageviews, 0) END AS pageviews,
    CASE WHEN in_posthog THEN coalesce(events, 0) END AS events_total,
    -- whole days since the last event, as the product-growth guide's Math.floor(ms / 86400000)
    -- (the casts type a NULL last_seen_at when PostHog returned no one)
    CAST(floor((epoch(CAST($as_of AS TIMESTAMP)) - epoch(CAST(last_seen_at AS TIMESTAMP)))
               / 86400) AS INTEGER) AS days_since_active,
    last_seen_at,
    in_posthog,
    in_neon
FROM joined
