-- name: event_names
-- description: The event names seen from since to as_of, and how many times each (to check a name typed on the command line).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
--
-- Run only when an analysis finds no one for a name the user typed (a funnel step, a retention
-- --start or --return): a typo would otherwise read as "no one did it". One row per name, so the
-- answer stays small however many events there are. No LIMIT: usertrack pages every result.
SELECT
    event,
    count() AS events
FROM events
WHERE timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY event
ORDER BY events DESC, event
