-- name: plan_values
-- description: For the given event properties over the last N days: each distinct value sent and how often (the tracking-plan audit's allowed-values check).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
-- param events:
-- param event_keys:
--
-- The events and, for each (same position), the list of its properties whose plan lists allowed
-- values are bound as array values. A value is its raw JSON text ('"github"', '3', 'true'), so
-- a number sent as a string stays distinguishable. One row per event x key x value.
SELECT event, key, value, count() AS events
FROM (
    SELECT event, key, toString(JSONExtractRaw(properties, key)) AS value
    FROM (
        SELECT event, properties, arrayJoin(arrayElement({event_keys}, indexOf({events}, event))) AS key
        FROM events
        WHERE has({events}, event)
          AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
          AND timestamp <= toDateTime({as_of}, 'UTC')
          AND NOT match(lower(trim(coalesce(person.properties.email, ''))), {exclude_pattern})
    )
    WHERE JSONHas(properties, key)
)
GROUP BY event, key, value
ORDER BY event, key, events DESC, value
