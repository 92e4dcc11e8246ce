-- name: plan_groups
-- description: For the given group property keys of one group type: how many groups of that type, created by the moment, have each one filled (the tracking-plan audit).
-- returns: table
-- param as_of: now
-- param group_type_index: 0
-- param keys: <list>
--
-- PostHog's group analytics: HogQL's `groups` table (posthog/hogql/database/schema/groups.py)
-- holds each group's latest properties. Every group of the type counts, active or not: a group's
-- properties describe the account, whether or not its members sent events in the window. Filled:
-- present, not null and not an empty string. `keys` is a list bound as one array value; one row
-- per key.
SELECT
    property,
    count() AS groups,
    countIf(JSONHas(properties, property)
            AND JSONType(properties, property) != 'Null'
            AND NOT (JSONType(properties, property) = 'String' AND JSONExtractString(properties, property) = '')) AS filled
FROM (
    SELECT properties, arrayJoin({keys}) AS property
    FROM groups
    WHERE index = {group_type_index}
      AND created_at <= toDateTime({as_of}, 'UTC')
)
GROUP BY property
ORDER BY property
