-- name: plan_keys
-- description: For the given events over the last N days: every property key sent, how many events carry it, and the JSON type of its values (`tracking-plan init`).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
-- param events: <list>
--
-- `events` is a list of event names, bound as one array value. One row per event x key: JSONType
-- counts say what was sent. Reads every key of every event: slower than plan_properties, which
-- the audit uses; this one is for writing a first plan. Internal accounts are left out.
SELECT
    event,
    key,
    count() AS filled,
    countIf(kind = 'String') AS strings,
    countIf(kind IN ('Int64', 'UInt64', 'Double')) AS numbers,
    countIf(kind = 'Bool') AS booleans,
    countIf(kind = 'Array') AS lists,
    countIf(kind = 'Object') AS objects,
    countIf(kind = 'Null') AS nulls,
    countIf(kind = 'String' AND toFloatOrNull(JSONExtractString(properties, key)) IS NOT NULL) AS numeric_strings
FROM (
    SELECT event, properties, key, JSONType(properties, key) AS kind
    FROM (
        SELECT event, properties, arrayJoin(JSONExtractKeys(properties)) AS key
        FROM events
        WHERE has({events}, event)
          AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
          AND timestamp <= toDateTime({as_of}, 'UTC')
          AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
    )
)
GROUP BY event, key
ORDER BY event, filled DESC, key
