-- name: person_values
-- description: Every PostHog person with the value of one person property, as their latest event up to as_of carries it (for --by person.properties.NAME on paths, sessions and features).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param property: <text>
--
-- One row per person with an event up to as_of: the person property {property} as text, as
-- their latest event carries it (HogQL person.properties: the properties the person had when
-- the event was written), '' when it has none. Each person is in exactly one group of the
-- breakdown, as usertrack keeps the values with the most persons and puts the rest in one
-- group (usertrack/analytics/by_property.py), so the groups partition the persons. person_id
-- is the actor. No LIMIT: usertrack pages every result. No ORDER BY: usertrack only maps these
-- rows.
SELECT
    toString(person_id) AS person_id,
    argMax(coalesce(JSONExtractString(person.properties, {property}), ''), timestamp) AS value
FROM events
WHERE timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY person_id
