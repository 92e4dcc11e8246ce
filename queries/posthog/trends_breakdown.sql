-- name: trends_breakdown
-- description: The breakdown values of one event in a date range, each with every trends aggregate over the whole range (to pick the top values).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param event:
-- param by:
-- param by_of: event
-- param property:
--
-- `usertrack trends EVENT --by PROPERTY` keeps the values that rank highest by the series' own
-- aggregate over the whole range (PostHog's trends breakdown: the top values, the rest as
-- "other"; docs/metrics.md, "Trends"). One row per value of {by} ('' when the event has none):
-- its events, unique persons and the numeric {property}'s sum, avg, min, max, median and p90
-- (0 when no event has a number there, as PostHog's ifNull(..., 0)). A value's text is the
-- property as text, never parsed. Without a {property} ('') no JSON is read for it: the
-- property aggregates are then 0. No LIMIT: usertrack pages every result.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
-- With {by_of} = 'person', {by} names a person property, read as the event carries it
-- (HogQL person.properties, PostHog's breakdown_type person); else an event property.
SELECT
    value,
    count() AS total,
    uniqExact(person_id) AS persons,
    ifNull(sum(number), 0) AS sum,
    ifNull(avg(number), 0) AS avg,
    ifNull(min(number), 0) AS min,
    ifNull(max(number), 0) AS max,
    ifNull(quantile(0.5)(number), 0) AS median,
    ifNull(quantile(0.9)(number), 0) AS p90
FROM (
    SELECT
        coalesce(CASE WHEN {by_of} = 'person' THEN JSONExtractString(person.properties, {by}) ELSE JSONExtractString(properties, {by}) END, '') AS value,
        person_id,
        CASE WHEN {property} = '' THEN NULL
            ELSE CASE WHEN JSONType(properties, {property}) IN ('Int64', 'UInt64', 'Double') THEN toFloat(JSONExtractRaw(properties, {property})) ELSE NULL END END AS number
    FROM events
    WHERE event = {event}
      AND timestamp >= toDateTime({since}, 'UTC')
      AND timestamp < toDateTime({until}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
)
GROUP BY value
