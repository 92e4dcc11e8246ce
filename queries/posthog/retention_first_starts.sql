-- name: retention_first_starts
-- description: Each person's first start event ever, for those whose first one is from since to as_of (first-time retention).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param start_event:
-- param start_property:
-- param start_value:
--
-- PostHog's first-time retention puts a person in the cohort of their first start event ever,
-- so this looks at all history up to as_of, not only the cohorts' span, and keeps the people
-- whose first one falls in it ({start_event} '' means any event, PostHog's All events).
-- person_id is the actor. No LIMIT: usertrack pages every result.
-- No ORDER BY: usertrack orders the facts itself where it needs an order (and pages PostHog's
-- answer in an order of its own), so a sort here would only be done twice.
-- A start event counts only when {start_property} is '' or its event property of that name is
-- {start_value} (as text, as a funnel step EVENT:PROPERTY=VALUE matches; PostHog's targetEntity
-- with properties).
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    person_id,
    min(timestamp) AS first_start
FROM events
WHERE (({start_event} = '' OR event = {start_event})
    AND ({start_property} = '' OR JSONExtractString(properties, {start_property}) = {start_value}))
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY person_id
HAVING min(timestamp) >= toDateTime({since}, 'UTC')
