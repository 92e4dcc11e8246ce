-- name: plan_persons
-- description: For the given person property keys: how many identified persons active in the last N days have each one filled (the tracking-plan audit).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
-- param keys: <list>
--
-- Identified: the person has an email (PostHog sets it on identify in most apps; it is also the
-- join key of usertrack). Filled: present, not null and not an empty string. `keys` is a list
-- bound as one array value; one row per key.
SELECT
    key,
    count() AS persons,
    countIf(JSONHas(properties, key)
            AND JSONType(properties, key) != 'Null'
            AND NOT (JSONType(properties, key) = 'String' AND JSONExtractString(properties, key) = '')) AS filled
FROM (
    SELECT properties, arrayJoin({keys}) AS key
    FROM persons
    WHERE notEmpty(JSONExtractString(properties, 'email'))
      AND NOT match(lowerUTF8(trim(JSONExtractString(properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND id IN (
          SELECT person_id FROM events
          WHERE timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
            AND timestamp <= toDateTime({as_of}, 'UTC')
      )
)
GROUP BY key
ORDER BY key
