-- name: retention_activity
-- description: Per person and period: did they do the start event, the return event (retention's facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param period:
-- param start_event:
-- param return_event:
-- param start_property:
-- param start_value:
-- param return_property:
-- param return_value:
-- param min_occurrences: 1
-- param week_start: monday
--
-- One row per person who did the start event in the span from {since} (the first cohort
-- period's start) to as_of: the periods (a UTC day, an ISO week from its Monday, or from its
-- Sunday when {week_start} is sunday, a calendar month, or a UTC hour, PostHog's toStartOfHour;
-- {period} is day, week, month or hour; a period is named by its first instant, a DateTime)
-- they were active in, and in each whether they did the start event ({start_event} '' means
-- any event, PostHog's All events), and the return event ({return_event} '' means any event)
-- at least {min_occurrences} times (PostHog's minimumOccurrences; 1, the default, is once), as arrays of
-- the same order that usertrack unnests into a row per person and period
-- (usertrack/analytics/common.py `unnested`); cohorts and retained counts are worked out by
-- usertrack (docs/metrics.md).
-- A row per person is what PostHog sends, not one per person and period. did_start and
-- did_return are 0/1 (a comparison is ClickHouse's UInt8). person_id is the actor (a person can
-- have many distinct_ids). No LIMIT: usertrack pages every result past PostHog's row caps. No
-- ORDER BY: usertrack orders the facts itself where it needs an order.
-- A start event counts only when {start_property} is '' or its event property of that name is
-- {start_value} (as text, as a funnel step EVENT:PROPERTY=VALUE matches; PostHog's targetEntity
-- with properties); a return event likewise with {return_property} and {return_value}
-- (returningEntity).
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    a.person_id AS person_id,
    groupArray(a.period_start) AS period_start,
    groupArray(a.started) AS did_start,
    groupArray(a.returned) AS did_return
FROM (
    SELECT
        person_id,
        CASE WHEN {period} = 'day' THEN toDate(timestamp)
                WHEN {period} = 'week' AND {week_start} = 'sunday' THEN toStartOfWeek(timestamp, 0)
                WHEN {period} = 'week' THEN toMonday(timestamp)
                WHEN {period} = 'hour' THEN toStartOfHour(timestamp)
                ELSE toStartOfMonth(timestamp) END AS period_start,
        countIf(({start_event} = '' OR event = {start_event})
            AND ({start_property} = '' OR JSONExtractString(properties, {start_property}) = {start_value})) > 0 AS started,
        countIf(({return_event} = '' OR event = {return_event})
            AND ({return_property} = '' OR JSONExtractString(properties, {return_property}) = {return_value})) >= {min_occurrences} AS returned
    FROM events
    WHERE timestamp >= toDateTime({since}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
      AND person_id IN (
          SELECT person_id FROM events
          WHERE (({start_event} = '' OR event = {start_event})
              AND ({start_property} = '' OR JSONExtractString(properties, {start_property}) = {start_value}))
            AND timestamp >= toDateTime({since}, 'UTC')
            AND timestamp <= toDateTime({as_of}, 'UTC'))
    GROUP BY person_id, period_start
) AS a
GROUP BY a.person_id
