-- name: funnel_events
-- description: Each person's funnel-step events in a date range (the funnel's facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since:
-- param until:
-- param steps:
-- param by:
--
-- The funnel itself (attempts, window, furthest step) is worked out by usertrack from these
-- rows (docs/metrics.md), so it runs the same on the demo, an events export and live PostHog,
-- whose windowFunnel the local engine does not have. One row per step event: only the
-- funnel's event names ({steps}, bound as a list), inside the range, both ends inclusive, and
-- never after as_of. person_id is the actor (a person can have many distinct_ids). `breakdown`
-- is the event's {by} property as text ('' when absent or when {by} is ''); `email` is the
-- person's email on that event. Without {by}, no event's properties are parsed (parsing the
-- JSON of every event was most of this query's time). No LIMIT: usertrack pages every result
-- (PostHog returns 100 rows without a LIMIT and caps any LIMIT at 50,000), so no event is lost.
-- No ORDER BY: usertrack orders the facts itself where it needs an order (and pages PostHog's
-- answer in an order of its own), so a sort here would only be done twice.
SELECT
    person_id,
    timestamp,
    event,
    if({by} = '', '', coalesce(JSONExtractString(properties, {by}), '')) AS breakdown,
    JSONExtractString(person.properties, 'email') AS email
FROM events
WHERE has({steps}, event)
  AND timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({until}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
