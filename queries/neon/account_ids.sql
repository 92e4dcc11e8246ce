-- name: account_ids
-- description: The app's user id of every account (wasp_user.id, as text) under its normalized email: the distinct_id the app identifies the user with in PostHog (`sync posthog` writes only to a person it can tie to the user).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- An email with several accounts (they normalize to one email, see accounts.sql) has a row per
-- account. The email is normalized as everywhere in usertrack (usertrack/core/emails.py).
SELECT
    lower(btrim(w.email, E' \t\r\n')) AS email,
    w.id::text AS user_id
FROM wasp_user AS w
WHERE w.email IS NOT NULL
  AND lower(btrim(w.email, E' \t\r\n')) <> ''
  AND w.created_at <= %(as_of)s
  AND lower(btrim(w.email, E' \t\r\n')) !~ %(exclude_pattern)s
ORDER BY email, user_id
