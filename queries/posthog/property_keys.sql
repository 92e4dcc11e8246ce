-- name: property_keys
-- description: The property keys the given events carried from since to as_of, and on how many events (to check a --by typed on the command line).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param events: <list>
--
-- `events` is a list of event names, bound as one array value. Run only when a breakdown found no
-- value at all (a typo in --by gives one empty value otherwise). No LIMIT: usertrack pages every
-- result.
SELECT
    key,
    count() AS events
FROM (
    SELECT arrayJoin(JSONExtractKeys(properties)) AS key
    FROM events
    WHERE has({events}, event)
      AND timestamp >= toDateTime({since}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
)
GROUP BY key
ORDER BY events DESC, key
