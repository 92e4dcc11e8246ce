-- name: runs
-- description: Workflow runs per user (fastapi_run): how many, how many completed and failed, the last one.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
--
-- Workflow level, as the analyst workflow insists: a run can fail from infrastructure even when every tool
-- call in it succeeded. Users with no runs are absent here and count as 0 in the profile.
-- Runs are aggregated per fastapi_user first (see tool_calls.sql for why MATERIALIZED).
-- With segment_only, only the users whose email is in segment_emails (a list the command binds:
-- the people behind one number, `--persons`), their runs read as tool_calls.sql reads their
-- calls; without it (the default) every user, and `cell` is never read.
-- The cell keeps each of its accounts' normalized email, and its app users' counts are summed
-- by that email, so no account is read or normalized a second time (with segment_only off,
-- `users` reads every account with an email instead): 0.015 s less of the server's CPU for
-- 6,700 people of 100,000 accounts.
-- The cell's accounts are found first (OFFSET 0 keeps them apart), then their app users: the
-- planner, which cannot count the list, otherwise joins every account to its app user and
-- hashes all of them before it keeps the cell's (a fifth more of the server's CPU).
WITH cell AS MATERIALIZED (
    SELECT f.id, w.email
    FROM (
        SELECT a.id, lower(btrim(a.email, E' \t\r\n')) AS email FROM wasp_user AS a
        WHERE %(segment_only)s
          AND lower(btrim(a.email, E' \t\r\n')) IN (SELECT unnest(%(segment_emails)s::text[]))
        OFFSET 0
    ) AS w
    JOIN fastapi_user AS f ON f.wasp_user_id = w.id
),
per_user AS MATERIALIZED (
    SELECT
        r.user_id,
        count(*) AS runs,
        count(*) FILTER (WHERE r.run_state = 'completed') AS completed,
        count(*) FILTER (WHERE r.run_state = 'failed') AS failed,
        min(r.created_at) AS first_at,
        max(r.created_at) AS last_at
    FROM fastapi_run AS r
    WHERE r.created_at <= %(as_of)s
      AND (NOT %(segment_only)s
           OR (cardinality(%(segment_emails)s::text[]) <= 40000
               AND (r.user_id = ANY(ARRAY(SELECT c.id FROM cell AS c))
                    OR r.user_id = ANY(ARRAY(SELECT c.id FROM cell AS c WHERE false))))
           OR (cardinality(%(segment_emails)s::text[]) > 40000
               AND r.user_id IN (SELECT c.id FROM cell AS c)))
    GROUP BY r.user_id
),
users AS (
    SELECT f.id, lower(btrim(w.email, E' \t\r\n')) AS email
    FROM wasp_user AS w
    JOIN fastapi_user AS f ON f.wasp_user_id = w.id
    WHERE NOT %(segment_only)s AND w.email IS NOT NULL
    UNION ALL
    SELECT c.id, c.email FROM cell AS c WHERE %(segment_only)s
)
SELECT
    u.email,
    sum(p.runs)::bigint AS run_count,
    sum(p.completed)::bigint AS runs_completed,
    sum(p.failed)::bigint AS runs_failed,
    min(p.first_at) AS first_run_at,
    max(p.last_at) AS last_run_at
FROM users AS u
JOIN per_user AS p ON p.user_id = u.id
WHERE u.email !~ %(exclude_pattern)s
GROUP BY u.email
