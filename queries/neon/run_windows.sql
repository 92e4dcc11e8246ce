-- name: run_windows
-- description: Workflow runs and completed runs in each of the last N windows of D days: the runs and run success rate of weekly_metrics, every window in one query.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 7
-- param windows: 8
-- setting max_parallel_workers_per_gather: 0
--
-- One row per window, oldest first: window_end = as_of - k * days for k = windows - 1 ... 0,
-- window (window_end - days, window_end]. runs and runs_completed count what
-- weekly_metrics.sql counts with as_of = window_end: runs created in the window (fastapi_run,
-- all states) of the accounts that exist at window_end.
-- Each app user's runs are counted per window before they meet the accounts (one row per user
-- and window, not per run), and without parallel workers: beside the other queries of an
-- alerts pass they only added to the load. The runs are compared with as_of as a UTC
-- timestamp, worked out once (AT TIME ZONE is immutable; the bound timestamptz would cast
-- every run's created_at: a quarter of the query's time), the session's zone being UTC.
WITH per_user AS (
    -- k: the window of the run, 0 the latest: as_of - created_at in [k * days, (k + 1) * days)
    SELECT r.user_id,
           floor(date_part('epoch', (%(as_of)s AT TIME ZONE 'UTC') - r.created_at)
                 / (%(days)s * 86400))::int AS k,
           count(*) AS runs,
           count(*) FILTER (WHERE r.run_state = 'completed') AS runs_completed
    FROM fastapi_run AS r
    WHERE r.created_at > (%(as_of)s AT TIME ZONE 'UTC')
                         - make_interval(days => %(days)s * %(windows)s)
      AND r.created_at <= (%(as_of)s AT TIME ZONE 'UTC')
    GROUP BY 1, 2
),
counted AS (
    SELECT p.k, sum(p.runs) AS runs, sum(p.runs_completed) AS runs_completed
    FROM per_user AS p
    JOIN fastapi_user AS f ON f.id = p.user_id
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE w.created_at <= %(as_of)s - make_interval(days => %(days)s * p.k)
      AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
    GROUP BY p.k
)
SELECT
    %(as_of)s - make_interval(days => %(days)s * n.k) AS window_end,
    coalesce(c.runs, 0)::bigint AS runs,
    coalesce(c.runs_completed, 0)::bigint AS runs_completed
FROM generate_series(0, %(windows)s - 1) AS n (k)
LEFT JOIN counted AS c ON c.k = n.k
ORDER BY window_end
