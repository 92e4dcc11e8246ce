-- name: retention_breakdown
-- description: Per person, the value of an event or person property on their first start event from since to as_of (retention --by).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param start_event:
-- param start_property:
-- param start_value:
-- param by:
-- param by_person: 0
--
-- One row per person who did the start event ({start_event} '' means any event) from {since}
-- (the first cohort period's start) up to as_of, with the {by} property of the first of those
-- events, as text ('' when absent): first touch, as funnel --by takes it (of two at the same
-- time, the one of the lesser uuid). With {by_person} 1, {by} is a person property, as that
-- event carries it (PostHog's breakdown_type person: person.properties.X of the event). usertrack
-- puts each cohort's people under their value
-- (docs/metrics.md, "Retention"). person_id is the actor. No LIMIT: usertrack pages every
-- result. No ORDER BY: usertrack orders the facts itself.
-- A start event counts only when {start_property} is '' or its event property of that name is
-- {start_value} (as text, as a funnel step EVENT:PROPERTY=VALUE matches; PostHog's targetEntity
-- with properties).
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    person_id,
    argMin(coalesce(CASE WHEN {by_person} = 1 THEN JSONExtractString(person.properties, {by})
                       ELSE JSONExtractString(properties, {by}) END, ''),
           tuple(timestamp, toString(uuid))) AS value
FROM events
WHERE (({start_event} = '' OR event = {start_event})
    AND ({start_property} = '' OR JSONExtractString(properties, {start_property}) = {start_value}))
  AND timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY person_id
