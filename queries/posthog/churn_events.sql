-- name: churn_events
-- description: Per person and event name, their events in the window from since to as_of (what at-risk users do less or more than the others).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
--
-- One row per person and event name they did from {since} (the engagement window's start) to
-- as_of, with how many times. usertrack sets the share of at-risk persons who did each against
-- the share of the others (docs/metrics.md, "Churn and engagement"). person_id is the actor.
-- No LIMIT: usertrack pages every result. No ORDER BY: usertrack orders the facts itself.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    toString(person_id) AS person_id,
    event,
    count() AS events
FROM events
WHERE timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY person_id, event
