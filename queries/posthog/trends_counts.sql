-- name: trends_counts
-- description: One event's count, sessions and numeric-property aggregates per interval (and breakdown value) in a date range (trends' total, unique_session, sum, avg, min, max, median and p90).
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
-- param property:
-- param sessions: 0
--
-- PostHog's trends insight (posthog/hogql_queries/insights/trends/aggregation_operations.py,
-- `select_aggregation`): per interval start (`point`: toStartOfHour, toStartOfDay, the ISO
-- week's Monday or the month's first day, UTC) the events (count()) and the numeric {property}'s
-- sum, avg, min, max, quantile(0.5) and quantile(0.9) over toFloat of the value (a value that is
-- not a JSON number is skipped; 0 when none is a number, PostHog's ifNull(..., 0)). With {by},
-- one row per point and breakdown value: a value in {values} (the top values, a list) as it is,
-- any other '$$_posthog_breakdown_other_$$'. Without {by} the breakdown is ''. Only events inside
-- the range (both ends inclusive), never after as_of. A row per point and value, never per
-- event. Without a {property} ('': total, for usertrack's count) no JSON is read for it: the
-- property aggregates are then 0 (reading every event's properties was nine tenths of the
-- scan). With {sessions} = 1, `unique_session` counts the distinct `$session_id`s (PostHog's
-- math of that name is count(DISTINCT e."$session_id"); the events table's column is '' for an
-- event without one, so those events count as one session of their interval, as in PostHog);
-- else 0.
-- No LIMIT: usertrack pages every result.
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
    point,
    breakdown,
    count() AS total,
    count(DISTINCT session) AS unique_session,
    ifNull(sum(number), 0) AS sum,
    ifNull(avg(number), 0) AS avg,
    ifNull(min(number), 0) AS min,
    ifNull(max(number), 0) AS max,
    ifNull(quantile(0.5)(number), 0) AS median,
    ifNull(quantile(0.9)(number), 0) AS p90
FROM (
    SELECT
        CASE WHEN {interval} = 'hour' THEN toStartOfHour(timestamp)
            ELSE CASE WHEN {interval} = 'day' THEN toStartOfDay(timestamp)
                ELSE CASE WHEN {interval} = 'week' THEN toStartOfDay(CASE WHEN {week_start} = 'sunday' THEN toStartOfWeek(timestamp, 0) ELSE toMonday(timestamp) END)
                    ELSE toStartOfDay(toStartOfMonth(timestamp)) END END END AS point,
        CASE WHEN {by} = '' THEN ''
            ELSE CASE WHEN length({buckets}) > 0
                THEN arrayElement(arrayConcat({buckets}, ['']), length(arrayFilter(edge -> edge <= CASE WHEN {by_of} = 'person'
                        THEN CASE WHEN JSONType(person.properties, {by}) IN ('Int64', 'UInt64', 'Double') THEN toFloat(JSONExtractRaw(person.properties, {by})) ELSE NULL END
                        ELSE CASE WHEN JSONType(properties, {by}) IN ('Int64', 'UInt64', 'Double') THEN toFloat(JSONExtractRaw(properties, {by})) ELSE NULL END END, {edges})) + 1)
                ELSE CASE WHEN has({values}, coalesce(CASE WHEN {by_of} = 'person' THEN JSONExtractString(person.properties, {by}) ELSE JSONExtractString(properties, {by}) END, ''))
                    THEN coalesce(CASE WHEN {by_of} = 'person' THEN JSONExtractString(person.properties, {by}) ELSE JSONExtractString(properties, {by}) END, '')
                    ELSE '$$_posthog_breakdown_other_$$' END END END AS breakdown,
        CASE WHEN {sessions} = 1 THEN ifNull($session_id, '') ELSE NULL END AS session,
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
GROUP BY point, breakdown
