-- name: trends_actor_counts
-- description: One event's count per person per interval (and breakdown value) in a date range, aggregated over the persons (trends' avg, min, max, median, p75, p90, p95 and p99 count per actor).
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
--
-- PostHog's count-per-actor maths (posthog/hogql_queries/insights/trends/
-- aggregation_operations.py: `_actors_events_query` counts each person's events per
-- `day_start` (count() ... GROUP BY person_id, day_start), `_actors_inner_select_query` then
-- aggregates those counts per day_start with ifNull(avg|min|max(toFloat(total)), 0) or
-- ifNull(quantile(level)(toFloat(total)), 0)). Only the persons with an event in the interval
-- have a count, and a point without events is no row (usertrack shows 0, as PostHog's zero
-- fill). The
-- point and the breakdown are trends_counts.sql's. ClickHouse's quantile samples above 8192
-- values per point; usertrack's local engine interpolates exactly (DuckDB's quantile_cont), the
-- same numbers below that. A row per point and value, never per person. No LIMIT: usertrack
-- pages every result.
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
    ifNull(avg(toFloat(total)), 0) AS avg_count_per_actor,
    ifNull(min(toFloat(total)), 0) AS min_count_per_actor,
    ifNull(max(toFloat(total)), 0) AS max_count_per_actor,
    ifNull(quantile(0.5)(toFloat(total)), 0) AS median_count_per_actor,
    ifNull(quantile(0.75)(toFloat(total)), 0) AS p75_count_per_actor,
    ifNull(quantile(0.9)(toFloat(total)), 0) AS p90_count_per_actor,
    ifNull(quantile(0.95)(toFloat(total)), 0) AS p95_count_per_actor,
    ifNull(quantile(0.99)(toFloat(total)), 0) AS p99_count_per_actor
FROM (
    SELECT
        e.point AS point,
        e.breakdown AS breakdown,
        e.actor AS actor,
        count() AS total
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
            person_id AS actor
        FROM events
        WHERE event = {event}
          AND timestamp >= toDateTime({since}, 'UTC')
          AND timestamp < toDateTime({until}, 'UTC')
          AND timestamp <= toDateTime({as_of}, 'UTC')
          AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
          AND {filters}
    ) AS e
    GROUP BY e.point, e.breakdown, e.actor
)
GROUP BY point, breakdown
