-- name: active_hours
-- description: Per person, UTC day and hour from since to as_of: how many events (the facts of active users, stickiness, lifecycle and the heatmap).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since:
--
-- One row per person, UTC day and hour with at least one event, from {since} (00:00 UTC of the
-- earliest day any window needs) to as_of. DAU, WAU, MAU, stickiness and the lifecycle (from
-- the days) and the weekday x hour heatmap (events and distinct persons) are all worked out by
-- usertrack from these rows (docs/metrics.md, "Active users"): one pass over the events for all
-- of them. person_id is the actor (a person's several distinct_ids are one person).
-- No LIMIT: usertrack pages every result. No ORDER BY: usertrack only aggregates these rows
-- (and pages PostHog's answer in an order of its own), so a sort here would be wasted.
SELECT
    person_id,
    toDate(timestamp) AS day,
    toHour(timestamp) AS hour,
    count() AS events
FROM events
WHERE timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(coalesce(person.properties.email, ''), ' \t\r\n')), {exclude_pattern})
GROUP BY person_id, day, hour
