-- name: user_overview
-- description: The users at a glance: how many, how many signed up in the last N days, how many have used credits, the average credits left and spent.
-- returns: table
-- param as_of: now
-- param days: 7
-- param exclude_pattern: @datagen\.dev$
--
-- The analyst workflow's "User Overview Stats", as of a moment: one row over the accounts
-- (wasp_user) that exist at as_of, internal ones left out. new_users: created in
-- (as_of - days, as_of]. users_using_credits: credits < 100 (the free credits every account
-- starts with). avg_credits: the average balance, one decimal. avg_revenue: the average credits
-- spent of those 100 (the revenue the app's database records: docs/metrics.md, "Segments"), one
-- decimal. PostgreSQL keeps only the current balance, so an earlier as_of still sees today's
-- credits (as weekly_metrics.sql does).
SELECT
    count(*) AS users,
    count(*) FILTER (WHERE w.created_at > %(as_of)s - %(days)s * INTERVAL '1 day') AS new_users,
    count(*) FILTER (WHERE w.credits < 100) AS users_using_credits,
    round(avg(w.credits)::numeric, 1) AS avg_credits,
    round(avg(greatest(0, 100 - w.credits))::numeric, 1) AS avg_revenue
FROM wasp_user AS w
WHERE w.created_at <= %(as_of)s
  AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
