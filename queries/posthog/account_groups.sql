-- name: account_groups
-- description: The PostHog groups of the account key's group type: each group's key, name, plan and seats (usertrack accounts).
-- returns: table
-- param as_of: now
-- param group_type_index: 0
--
-- PostHog's group analytics: a group of type {group_type_index} (the configured group type,
-- docs/connecting.md "Accounts", looked up by name in the project's group types) is an account,
-- its key the app's account key. HogQL's `groups` table (posthog/hogql/database/schema/groups.py)
-- holds each group's latest properties; a group created after as_of is left out. seats is read as
-- a whole number on both engines. No LIMIT: usertrack pages every result. No ORDER BY: usertrack
-- joins these rows to the accounts by key.
SELECT
    key,
    properties.name AS name,
    properties.plan AS plan,
    toInt(properties.seats) AS seats
FROM groups
WHERE index = {group_type_index}
  AND created_at <= toDateTime({as_of}, 'UTC')
