-- name: trends_histogram
-- description: The smallest and largest number of one event's numeric property in a date range (the ends of trends' histogram breakdown, --histogram-bins).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param event:
-- param by:
-- param by_of: event
--
-- PostHog's histogram breakdown (breakdownFilter.breakdown_histogram_bin_count;
-- posthog/hogql_queries/insights/trends/trends_query_builder.py, `_inner_breakdown_subquery`:
-- its `min_max` CTE) takes the min and the max of the property over the series' events, with
-- the insight's filters, and cuts that span into equal bins. One row: `numbers`, how many of
-- the events have a number there, and its `min` and `max` (0 when none has). A value that is
-- not a JSON number (text, true, absent) is no number, as trends_counts.sql's property math
-- reads it. Only events inside the range, never after as_of.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
-- With {by_of} = 'person', {by} names a person property, read as the event carries it
-- (HogQL person.properties, PostHog's breakdown_type person); else an event property.
SELECT
    count() AS numbers,
    ifNull(min(number), 0) AS min,
    ifNull(max(number), 0) AS max
FROM (
    SELECT
        CASE WHEN {by_of} = 'person'
            THEN CASE WHEN JSONType(person.properties, {by}) IN ('Int64', 'UInt64', 'Double') THEN toFloat(JSONExtractRaw(person.properties, {by})) ELSE NULL END
            ELSE CASE WHEN JSONType(properties, {by}) IN ('Int64', 'UInt64', 'Double') THEN toFloat(JSONExtractRaw(properties, {by})) ELSE NULL END END AS number
    FROM events
    WHERE event = {event}
      AND timestamp >= toDateTime({since}, 'UTC')
      AND timestamp < toDateTime({until}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
)
WHERE number IS NOT NULL
