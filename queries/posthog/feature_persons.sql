-- name: feature_persons
-- description: The persons who used one feature (feature_used's feature property, or an event name) in a period (features --persons FEATURE).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param split: <moment>
-- param by: feature
-- param feature:
--
-- The persons feature_usage.sql counts in its current period (split, as_of] for one feature:
-- {by} 'feature' keeps feature_used events whose `feature` property is {feature} ('' when it
-- has none); 'event' keeps the events named {feature}. One row per person (person_id, so
-- several distinct_ids are one person). No LIMIT: usertrack pages every result.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT toString(person_id) AS person_id
FROM events
WHERE timestamp > toDateTime({split}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND ({by} = 'event' OR event = 'feature_used')
  AND CASE WHEN {by} = 'event' THEN event ELSE coalesce(toString(properties.feature), '') END = {feature}
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY person_id
