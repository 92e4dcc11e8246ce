-- name: trends_person_points
-- description: Per person, one event's count and numeric-property aggregates per breakdown value and interval in a date range (trends of a --by-segment group, live).
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
-- param property:
-- param quantiles: 0
--
-- trends_counts.sql and trends_breakdown.sql as a person's own rows: one row per person, with
-- arrays of the same order (usertrack unnests them into a row per person, value and point).
-- `value` is the {by} property's text ('' when the event has none; '' for all without {by}),
-- never bucketed: usertrack ranks the values and puts the rest in "other" itself. `point` is
-- the interval start (as trends_counts). `events` counts the events; `sum`, `min` and `max`
-- are over the numeric {property}'s values (toFloat of a JSON number; 0 when none is one) and
-- `numbers` counts them. With {quantiles} = 1 (median, p90) the rows are also split by the
-- value itself: each holds one `number` (`numbers` times), from which usertrack interpolates
-- the quantiles as ClickHouse's quantile does; else `number` is 0, a row per value and point.
-- Live, a --by-segment or --segment group too large to send as a list fetches it once over
-- everyone, and each group aggregates its persons' rows (usertrack/analytics/trends/run.py), so no
-- list of a group's persons is sent to PostHog. A row per person, never per event. No LIMIT:
-- usertrack pages every result. No ORDER BY: usertrack only aggregates these rows.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
-- A week starts on Monday (the ISO week), or on Sunday when {week_start} is sunday
-- (PostHog's toStartOfWeek(timestamp, 0), a project's week_start_day unset or Sunday).
-- With {by_of} = 'person', {by} names a person property, read as the event carries it
-- (HogQL person.properties, PostHog's breakdown_type person); else an event property.
SELECT
    t.person_id AS person_id,
    groupArray(t.value) AS value,
    groupArray(t.point) AS point,
    groupArray(t.events) AS events,
    groupArray(t.sum) AS sum,
    groupArray(t.min) AS min,
    groupArray(t.max) AS max,
    groupArray(t.numbers) AS numbers,
    groupArray(t.number) AS number
FROM (
    SELECT
        e.person_id AS person_id,
        e.value AS value,
        e.point AS point,
        e.number AS number,
        count() AS events,
        ifNull(sum(e.n), 0) AS sum,
        ifNull(min(e.n), 0) AS min,
        ifNull(max(e.n), 0) AS max,
        count(e.n) AS numbers
    FROM (
        SELECT
            toString(person_id) AS person_id,
            CASE WHEN {by} = '' THEN '' ELSE coalesce(CASE WHEN {by_of} = 'person' THEN JSONExtractString(person.properties, {by}) ELSE JSONExtractString(properties, {by}) END, '') END AS value,
            CASE WHEN {interval} = 'hour' THEN toStartOfHour(timestamp)
                ELSE CASE WHEN {interval} = 'day' THEN toStartOfDay(timestamp)
                    ELSE CASE WHEN {interval} = 'week' THEN toStartOfDay(CASE WHEN {week_start} = 'sunday' THEN toStartOfWeek(timestamp, 0) ELSE toMonday(timestamp) END)
                        ELSE toStartOfDay(toStartOfMonth(timestamp)) END END END AS point,
            CASE WHEN {property} = '' THEN NULL
                ELSE CASE WHEN JSONType(properties, {property}) IN ('Int64', 'UInt64', 'Double') THEN toFloat(JSONExtractRaw(properties, {property})) ELSE NULL END END AS n,
            CASE WHEN {quantiles} = 1 THEN ifNull(n, 0) ELSE 0 END AS number
        FROM events
        WHERE event = {event}
          AND timestamp >= toDateTime({since}, 'UTC')
          AND timestamp < toDateTime({until}, 'UTC')
          AND timestamp <= toDateTime({as_of}, 'UTC')
          AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
          AND {filters}
    ) AS e
    GROUP BY e.person_id, e.value, e.point, e.number
) AS t
GROUP BY t.person_id
