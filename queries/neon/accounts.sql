-- name: accounts
-- description: One row per account (wasp_user): when it signed up, its credits, subscription and last activity.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: false
-- param segment_emails: {}
-- current-only: credits, subscription_status, last_active_at
--
-- Accounts created after as_of do not exist yet. The email is normalized as everywhere in
-- usertrack (usertrack/core/emails.py): lower(btrim(email, E' \t\r\n')), trimmed of space, tab, CR and
-- LF, then lower-cased, so it joins with PostHog's lowerUTF8(trim(email, ' \t\r\n')).
-- Two accounts that normalize to one email are one person, merged here (so the run does not
-- fail on a duplicate): the earliest created_at (when the person signed up), the LOWEST credits (rules read credits
-- as usage, 100 meaning untouched: a person who spent credits on either account has used the
-- product; a sum would exceed the 100 a fresh account starts with), the greatest subscription
-- status and the latest activity.
-- Current-only columns: wasp_user keeps only today's credits, subscription_status and
-- last_active_timestamp, so a past as_of still sees today's values for them (last_active_at is
-- NULL when today's value is after as_of).
-- With segment_only, only the accounts whose email is in segment_emails, kept before they are
-- grouped (a list the command binds: the people behind one number, `--persons`), and before
-- the exclusion pattern is matched: a regular expression per account costs more than the
-- list's hash lookup (half the query's time for 6,700 people of 100,000 accounts).
-- Each email is normalized once, in the subquery (OFFSET 0 keeps PostgreSQL from writing the
-- expression out again in every condition and the grouping): a third less of the server's CPU
-- at 100,000 accounts.
SELECT
    a.email,
    min(a.created_at) AS created_at,
    min(a.credits) AS credits,
    max(a.subscription_status) AS subscription_status,
    max(a.last_active_timestamp) FILTER (WHERE a.last_active_timestamp <= %(as_of)s) AS last_active_at
FROM (
    SELECT lower(btrim(w.email, E' \t\r\n')) AS email, w.created_at, w.credits,
           w.subscription_status, w.last_active_timestamp
    FROM wasp_user AS w
    WHERE w.email IS NOT NULL
      AND w.created_at <= %(as_of)s
    OFFSET 0
) AS a
WHERE a.email <> ''
  AND (NOT %(segment_only)s OR a.email IN (SELECT unnest(%(segment_emails)s::text[])))
  AND a.email !~ %(exclude_pattern)s
GROUP BY a.email
