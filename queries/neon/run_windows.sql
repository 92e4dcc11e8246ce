-- name: run_windows
-- description: Workflow runs and completed runs in each of the last N windows of D days: the runs and run success rate of weekly_metrics, every window in one query.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 7
-- param windows: 8
--
-- One row per window, oldest first: window_end = as_of - k * days for k = windows - 1 ... 0,
-- window (window_end - days, window_end]. runs and runs_completed count what
-- weekly_metrics.sql counts with as_of = window_end: runs created in the window (fastapi_run,
-- all states) of the accounts that exist at window_end.
WITH windows AS (
    SELECT %(as_of)s - make_interval(days => %(days)s * k) AS window_end
    FROM generate_series(0, %(windows)s - 1) AS k
),
runs AS (
    SELECT w.created_at AS account_created_at, r.run_state, r.created_at
    FROM wasp_user AS w
    JOIN fastapi_user AS f ON f.wasp_user_id = w.id
    JOIN fastapi_run AS r ON r.user_id = f.id
    WHERE r.created_at > %(as_of)s - make_interval(days => %(days)s * %(windows)s)
      AND r.created_at <= %(as_of)s
      AND w.created_at <= %(as_of)s
      AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
)
SELECT
    n.window_end,
    count(r.created_at) AS runs,
    count(r.created_at) FILTER (WHERE r.run_state = 'completed') AS runs_completed
FROM windows AS n
LEFT JOIN runs AS r
  ON r.created_at > n.window_end - make_interval(days => %(days)s)
 AND r.created_at <= n.window_end
 AND r.account_created_at <= n.window_end
GROUP BY n.window_end
ORDER BY n.window_end
