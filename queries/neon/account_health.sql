-- name: account_health
-- description: One row per account (a team, workspace or organization of several users): members, members active in the last N days, plan, runs and failed runs, credits and health.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
-- setting work_mem: 32MB
-- setting max_parallel_workers_per_gather: 0
-- current-only: plan, credits
--
-- The account key is configured once (docs/connecting.md, "Accounts"): {account_table} is the app
-- table that ties a user to an account, {account_column} its column holding the account's key and
-- {account_user_column} its column holding the user's id (wasp_user.id). usertrack checks the three
-- names against the database and quotes them before the query runs; values are bound as everywhere.
-- Definitions (docs/metrics.md, "Accounts"): window (as_of - N days, as_of]; a member is active when
-- they started a run in the window or their last activity (wasp_user.last_active_timestamp) is in
-- it; plan is the best subscription status among the members (active, past_due, trialing,
-- canceled, then any other, the first in byte order); credits the members' credits
-- summed; health: dormant when no member is active, at risk when fewer than half the members
-- are active or at least 25 % of the window's runs failed, healthy otherwise. Accounts with no member left after the exclusions
-- are not shown. Ties: most active members, then most members, then the key in byte order.
-- Account keys and user ids are compared byte-wise (COLLATE "C": the same equality, without the
-- locale's slower comparisons when the members are sorted and grouped); each email is normalized
-- once (OFFSET 0 keeps PostgreSQL from writing the expression out again in every condition), and
-- the sorts are given the memory to stay off disk at 100,000 members. The plan is found by
-- which statuses an account's members have, not by sorting each account's members. It runs
-- without parallel workers (they would cost more of the server's CPU than they save of its
-- time, and the command fetches the groups and readies the rules beside it). The runs and the users are
-- compared with as_of as a UTC timestamp worked out once (AT TIME ZONE is immutable; the bound
-- timestamptz would cast every run's created_at: a third of the query's time), the session's zone
-- being UTC.
WITH members AS (
    SELECT
        m.{account_column}::text COLLATE "C" AS account,
        w.id AS user_id,
        w.credits,
        w.subscription_status,
        w.last_active_timestamp
    FROM {account_table} AS m
    JOIN (
        SELECT w.*, lower(btrim(w.email, E' \t\r\n')) AS normalized
        FROM wasp_user AS w
        WHERE w.email IS NOT NULL AND w.created_at <= (%(as_of)s AT TIME ZONE 'UTC')
        OFFSET 0
    ) AS w ON w.id::text COLLATE "C" = m.{account_user_column}::text COLLATE "C"
    WHERE m.{account_column} IS NOT NULL
      AND w.normalized <> ''
      AND w.normalized !~ %(exclude_pattern)s
),
member_runs AS (
    -- Counted per fastapi_user first, then summed per wasp_user: the join sees one row per
    -- account with runs, not one per run.
    SELECT
        f.wasp_user_id AS user_id,
        sum(c.runs) AS runs,
        sum(c.failed_runs) AS failed_runs
    FROM (
        SELECT
            r.user_id,
            count(*) AS runs,
            count(*) FILTER (WHERE r.run_state = 'failed') AS failed_runs
        FROM fastapi_run AS r
        WHERE r.created_at > (%(as_of)s AT TIME ZONE 'UTC') - make_interval(days => %(days)s)
          AND r.created_at <= (%(as_of)s AT TIME ZONE 'UTC')
        GROUP BY r.user_id
    ) AS c
    JOIN fastapi_user AS f ON f.id = c.user_id
    GROUP BY f.wasp_user_id
),
per_account AS (
    SELECT
        mb.account,
        count(*) AS members,
        count(*) FILTER (
            WHERE coalesce(mr.runs, 0) > 0
               OR (mb.last_active_timestamp
                       > (%(as_of)s AT TIME ZONE 'UTC') - make_interval(days => %(days)s)
                   AND mb.last_active_timestamp <= (%(as_of)s AT TIME ZONE 'UTC'))
        ) AS active_members,
        CASE
            WHEN bool_or(mb.subscription_status = 'active') THEN 'active'
            WHEN bool_or(mb.subscription_status = 'past_due') THEN 'past_due'
            WHEN bool_or(mb.subscription_status = 'trialing') THEN 'trialing'
            WHEN bool_or(mb.subscription_status = 'canceled') THEN 'canceled'
            ELSE min(mb.subscription_status COLLATE "C")
        END AS plan,
        coalesce(sum(mr.runs), 0)::bigint AS runs,
        coalesce(sum(mr.failed_runs), 0)::bigint AS failed_runs,
        sum(mb.credits)::bigint AS credits
    FROM members AS mb
    LEFT JOIN member_runs AS mr ON mr.user_id = mb.user_id
    GROUP BY mb.account
)
SELECT
    account,
    members,
    active_members,
    plan,
    runs,
    failed_runs,
    round(100.0 * failed_runs / nullif(runs, 0), 1) AS failure_rate,
    credits,
    CASE
        WHEN active_members = 0 THEN 'dormant'
        WHEN 2 * active_members < members OR 4 * failed_runs >= runs AND runs > 0 THEN 'at risk'
        ELSE 'healthy'
    END AS health
FROM per_account
ORDER BY active_members DESC, members DESC, account COLLATE "C"
