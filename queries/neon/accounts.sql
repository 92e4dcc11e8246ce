-- name: accounts
-- description: One row per account (wasp_user): when it signed up, its credits, subscription and last activity.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- Accounts created after as_of do not exist yet. The email is normalized (trimmed, lower-cased)
-- so it joins with PostHog's; two accounts that normalize to one email are merged.
SELECT
    lower(trim(w.email)) AS email,
    min(w.created_at) AS created_at,
    min(w.credits) AS credits,
    max(w.subscription_status) AS subscription_status,
    max(w.last_active_timestamp) FILTER (WHERE w.last_active_timestamp <= %(as_of)s) AS last_active_at
FROM wasp_user AS w
WHERE w.email IS NOT NULL
  AND trim(w.email) <> ''
  AND w.created_at <= %(as_of)s
  AND lower(trim(w.email)) !~ %(exclude_pattern)s
GROUP BY lower(trim(w.email))
