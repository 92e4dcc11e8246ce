-- name: weekly_metrics
-- description: The analyst workflow's Neon key metrics over the last N days: runs and completions, first runs and the median days from signup to first run, accounts using credits.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 7
--
-- One row. Window: (as_of - N days, as_of]; nothing after as_of counts.
-- - runs, runs_completed: workflow runs created in the window (fastapi_run), all states.
-- - first_runs, median_days_to_first_run: accounts whose first run ever falls in the window, and
--   the median of (first run - wasp_user.created_at) in days over them.
-- - accounts, accounts_using_credits: accounts that exist at as_of, and those with credits < 100.
--   Postgres keeps only the current balance, so an earlier as_of still sees today's credits.
-- Only the window's runs are read whole, and counted per account before they meet the accounts:
-- an account's first run falls in the window when it has a run there and none at or before the
-- window's start (looked up by fastapi_run's user index). The runs, read whole, and the
-- accounts are compared with as_of as a UTC timestamp worked out once (AT TIME ZONE is
-- immutable; the bound timestamptz would cast every row's created_at: a quarter of the query's
-- time), the session's zone being UTC.
WITH accounts AS (
    SELECT w.id, w.created_at, w.credits
    FROM wasp_user AS w
    WHERE w.created_at <= (%(as_of)s AT TIME ZONE 'UTC')
      AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
),
per_account AS (
    SELECT a.id AS account_id, a.created_at, r.runs, r.runs_completed, r.first_run_at
    FROM (
        SELECT f.wasp_user_id AS account_id, count(*) AS runs,
               count(*) FILTER (WHERE r.run_state = 'completed') AS runs_completed,
               min(r.created_at) AS first_run_at
        FROM fastapi_run AS r
        JOIN fastapi_user AS f ON f.id = r.user_id
        WHERE r.created_at > (%(as_of)s AT TIME ZONE 'UTC') - make_interval(days => %(days)s)
          AND r.created_at <= (%(as_of)s AT TIME ZONE 'UTC')
        GROUP BY f.wasp_user_id
    ) AS r
    JOIN accounts AS a ON a.id = r.account_id
),
first_runs AS (
    SELECT w.account_id, w.created_at, w.first_run_at
    FROM per_account AS w
    -- a scalar subquery, run for each account (an index lookup that stops at the first run):
    -- as NOT EXISTS the planner would read every earlier run
    WHERE (
        SELECT 1
        FROM fastapi_user AS f
        JOIN fastapi_run AS before ON before.user_id = f.id
        WHERE f.wasp_user_id = w.account_id
          AND before.created_at <= %(as_of)s - make_interval(days => %(days)s)
        LIMIT 1
    ) IS NULL
)
SELECT
    (SELECT coalesce(sum(runs), 0) FROM per_account)::bigint AS runs,
    (SELECT coalesce(sum(runs_completed), 0) FROM per_account)::bigint AS runs_completed,
    (SELECT count(*) FROM first_runs) AS first_runs,
    (SELECT percentile_cont(0.5) WITHIN GROUP (
                ORDER BY extract(epoch FROM first_run_at - created_at) / 86400.0)
       FROM first_runs) AS median_days_to_first_run,
    (SELECT count(*) FROM accounts) AS accounts,
    (SELECT count(*) FROM accounts WHERE credits < 100) AS accounts_using_credits
