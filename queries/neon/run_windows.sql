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
WITH runs AS (
    -- k: the window of the run, 0 the latest: (as_of - (k + 1) * days, as_of - k * days]
    SELECT w.created_at AS account_created_at, r.run_state,
           greatest(
               ceil(date_part('epoch', %(as_of)s - r.created_at) / (%(days)s * 86400)) - 1, 0
           )::int AS k
    FROM wasp_user AS w
    JOIN fastapi_user AS f ON f.wasp_user_id = w.id
    JOIN fastapi_run AS r ON r.user_id = f.id
    WHERE r.created_at > %(as_of)s - make_interval(days => %(days)s * %(windows)s)
      AND r.created_at <= %(as_of)s
      AND w.created_at <= %(as_of)s
      AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
),
counted AS (
    SELECT k,
           count(*) AS runs,
           count(*) FILTER (WHERE run_state = 'completed') AS runs_completed
    FROM runs
    WHERE account_created_at <= %(as_of)s - make_interval(days => %(days)s * k)
    GROUP BY k
)
SELECT
    %(as_of)s - make_interval(days => %(days)s * n.k) AS window_end,
    coalesce(c.runs, 0) AS runs,
    coalesce(c.runs_completed, 0) AS runs_completed
FROM generate_series(0, %(windows)s - 1) AS n (k)
LEFT JOIN counted AS c ON c.k = n.k
ORDER BY window_end
