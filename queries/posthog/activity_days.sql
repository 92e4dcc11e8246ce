-- name: activity_days
-- description: Per person and UTC day from since to as_of: how many events (active users, stickiness and lifecycle's facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since:
--
-- One row per person and UTC day with at least one event, from {since} (00:00 UTC of the
-- earliest day any window needs) to as_of; DAU, WAU, MAU, stickiness and the lifecycle are
-- worked out by usertrack from these rows (docs/metrics.md, "Active users"). person_id is the
-- actor (a person's several distinct_ids are one person). No LIMIT: usertrack pages every result.
-- No ORDER BY: usertrack only aggregates these rows (and pages PostHog's answer in an order of
-- its own), so a sort here would be wasted.
SELECT
    person_id,
    toDate(timestamp) AS day,
    count() AS events
FROM events
WHERE timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY person_id, day
