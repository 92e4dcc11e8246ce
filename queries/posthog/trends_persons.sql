-- name: trends_persons
-- description: Per person (and breakdown value), the interval starts and UTC days of one event in a date range (trends' dau, weekly_active and monthly_active).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param event:
-- param interval: day
-- param week_start: monday
-- param by:
-- param by_of: event
-- param values: <list>
-- param edges: []
-- param buckets: []
-- param active: 0
--
-- Unique persons per interval (PostHog's dau: count(DISTINCT person_id)) and the persons of the
-- 7 or 30 days to each point (weekly_active, monthly_active: PostHog truncates each event to its
-- day, or its hour at an hourly interval, and counts it for the points d with
-- d - 7 (30) days < that start <= d, aggregation_operations.py `_actors_events_query` and
-- `_actors_inner_select_query`) are worked out by usertrack from these rows (docs/metrics.md,
-- "Trends"). One row per person and breakdown value: `point`, the interval starts with the
-- event; with {active} = 1 instead the starts of the UTC days (hours, when {interval} is
-- 'hour') with the event. An array, which usertrack unnests:
-- PostHog sends a row per person, not per event. Breakdown as trends_counts. No LIMIT: usertrack pages every
-- result. No ORDER BY: usertrack only aggregates these rows.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
-- A week starts on Monday (the ISO week), or on Sunday when {week_start} is sunday
-- (PostHog's toStartOfWeek(timestamp, 0), a project's week_start_day unset or Sunday).
-- With {buckets} (a histogram breakdown, --histogram-bins), the breakdown is instead the
-- bucket of {by}'s number: {buckets}[k + 1], k the number of {edges} (ascending: each
-- bucket's lower end, then the last one's upper end) at or below it; {buckets} is '' then
-- each bucket's label, then '' (no number, or past the last end: PostHog's null bucket). An
-- [''] is put after {buckets}, so that ClickHouse never indexes an empty list (without a
-- histogram, the branch is not taken but still typed).
-- With {by_of} = 'person', {by} names a person property, read as the event carries it
-- (HogQL person.properties, PostHog's breakdown_type person); else an event property.
SELECT
    e.person_id AS person_id,
    e.breakdown AS breakdown,
    groupUniqArray(e.point) AS point
FROM (
    SELECT
        toString(person_id) AS person_id,
        CASE WHEN {interval} = 'hour' THEN toStartOfHour(timestamp)
            ELSE CASE WHEN {active} = 1 THEN toStartOfDay(timestamp)
                ELSE CASE WHEN {interval} = 'day' THEN toStartOfDay(timestamp)
                    ELSE CASE WHEN {interval} = 'week' THEN toStartOfDay(CASE WHEN {week_start} = 'sunday' THEN toStartOfWeek(timestamp, 0) ELSE toMonday(timestamp) END)
                        ELSE toStartOfDay(toStartOfMonth(timestamp)) END END END END AS point,
        CASE WHEN {by} = '' THEN ''
            ELSE CASE WHEN length({buckets}) > 0
                THEN arrayElement(arrayConcat({buckets}, ['']), length(arrayFilter(edge -> edge <= CASE WHEN {by_of} = 'person'
                        THEN CASE WHEN JSONType(person.properties, {by}) IN ('Int64', 'UInt64', 'Double') THEN toFloat(JSONExtractRaw(person.properties, {by})) ELSE NULL END
                        ELSE CASE WHEN JSONType(properties, {by}) IN ('Int64', 'UInt64', 'Double') THEN toFloat(JSONExtractRaw(properties, {by})) ELSE NULL END END, {edges})) + 1)
                ELSE CASE WHEN has({values}, coalesce(CASE WHEN {by_of} = 'person' THEN JSONExtractString(person.properties, {by}) ELSE JSONExtractString(properties, {by}) END, ''))
                    THEN coalesce(CASE WHEN {by_of} = 'person' THEN JSONExtractString(person.properties, {by}) ELSE JSONExtractString(properties, {by}) END, '')
                    ELSE '$$_posthog_breakdown_other_$$' END END END AS breakdown
    FROM events
    WHERE event = {event}
      AND timestamp >= toDateTime({since}, 'UTC')
      AND timestamp < toDateTime({until}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
) AS e
GROUP BY e.person_id, e.breakdown
