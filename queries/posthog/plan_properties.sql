-- name: plan_properties
-- description: For the planned event x property pairs over the last N days: how many of the event's sends carry the property filled, the JSON type of its values and, for properties with allowed values, each value sent (the tracking-plan audit).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
-- param events: <list>
-- param event_keys: <list>
-- param event_enum_keys: <list>
--
-- The plan's events and, for each (same position), the list of its planned properties and the
-- list of those with allowed values are bound as array values; each event row looks up its own
-- keys (no cross product with every key), so each event's JSON is read once per planned
-- property. One row per pair that was sent (and per value, for a property with allowed values;
-- `value` is '' for the others), where `events` counts the event's sends and `filled` those with
-- the property present, not null and not ''. The raw JSON text is read once and its first
-- character tells its JSON type (a number sent as a string starts with a quote); a value is its
-- raw JSON text ('"github"', '3'), so a number sent as a string stays distinguishable;
-- numeric_strings counts the strings that read as numbers. Internal accounts are left out.
SELECT
    event,
    key,
    value,
    count() AS events,
    countIf(raw != '' AND raw != 'null' AND raw != '""') AS filled,
    countIf(startsWith(raw, '"')) AS strings,
    countIf(match(raw, '^-?[0-9]')) AS numbers,
    countIf(raw = 'true' OR raw = 'false') AS booleans,
    countIf(startsWith(raw, '[')) AS lists,
    countIf(startsWith(raw, '{')) AS objects,
    countIf(match(raw, '^"-?[0-9]+([.][0-9]+)?"$')) AS numeric_strings
FROM (
    SELECT event, key, raw, CASE WHEN has(arrayElement({event_enum_keys}, indexOf({events}, event)), key) THEN raw ELSE '' END AS value
    FROM (
        SELECT event, key, coalesce(toString(JSONExtractRaw(properties, key)), '') AS raw
        FROM (
            SELECT event, properties, arrayJoin(arrayElement({event_keys}, indexOf({events}, event))) AS key
            FROM events
            WHERE has({events}, event)
              AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
              AND timestamp <= toDateTime({as_of}, 'UTC')
              AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
        )
    )
)
GROUP BY event, key, value
ORDER BY event, key, value
