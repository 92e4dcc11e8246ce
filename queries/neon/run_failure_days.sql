-- name: run_failure_days
-- description: Day by day over the window: workflow runs and how many failed (the runs half of failure_trend, for the failure-spike alert).
-- returns: table
-- param as_of: now
-- param days: 8
-- param exclude_pattern: @datagen\.dev$
-- setting max_parallel_workers_per_gather: 0
--
-- Window: (as_of - days, as_of], one row per UTC day, days without any run included (0): the
-- days, runs and runs_failed of failure_trend.sql, counted the same way, without its tool calls
-- and active users, which the failure-spike alert does not read (two thirds of its work).
-- Without parallel workers (beside the other queries of an alerts pass they only added to the
-- load), the runs compared with as_of as a UTC timestamp worked out once (AT TIME ZONE is
-- immutable; the bound timestamptz would cast every run's created_at), the session's zone
-- being UTC.
WITH days AS (
    SELECT d::date AS day
    FROM generate_series(
        date_trunc('day', %(as_of)s::timestamp - %(days)s * INTERVAL '1 day'),
        %(as_of)s::timestamp - INTERVAL '1 microsecond',
        INTERVAL '1 day'
    ) AS d
),
users AS (
    SELECT f.id AS fid
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
),
runs AS (
    SELECT r.created_at::date AS day,
           count(*) AS runs,
           count(*) FILTER (WHERE r.run_state = 'failed') AS runs_failed
    FROM fastapi_run AS r
    JOIN users AS u ON u.fid = r.user_id
    WHERE r.created_at > (%(as_of)s AT TIME ZONE 'UTC') - %(days)s * INTERVAL '1 day'
      AND r.created_at <= (%(as_of)s AT TIME ZONE 'UTC')
    GROUP BY 1
)
SELECT
    d.day,
    coalesce(r.runs, 0)::bigint AS runs,
    coalesce(r.runs_failed, 0)::bigint AS runs_failed
FROM days AS d
LEFT JOIN runs AS r ON r.day = d.day
ORDER BY d.day
