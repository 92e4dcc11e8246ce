-- name: person_property_keys
-- description: The person property keys of the persons who did an event in a range, and how many persons have each (to check a --correlation-properties typed on the command line).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param event:
--
-- Run only when a typed property is on none of the funnel's persons. No LIMIT: usertrack pages
-- every result.
SELECT
    key,
    count() AS persons
FROM (
    SELECT arrayJoin(JSONExtractKeys(properties)) AS key
    FROM persons
    WHERE id IN (
        SELECT person_id FROM events
        WHERE event = {event}
          AND timestamp >= toDateTime({since}, 'UTC')
          AND timestamp < toDateTime({until}, 'UTC')
          AND timestamp <= toDateTime({as_of}, 'UTC')
          AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
    )
)
GROUP BY key
ORDER BY persons DESC, key
