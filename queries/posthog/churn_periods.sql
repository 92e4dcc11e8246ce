-- name: churn_periods
-- description: Per person, the periods they were active in from since to as_of (churn's active, churned and resurrected per period).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param period:
--
-- One row per person with an event from {since} (the first period's start: the period before
-- the first one shown, which the first one's churn compares with) to as_of: the periods (a UTC
-- day, an ISO week from its Monday, or a calendar month; {period} is day, week or month) in
-- which they did any event, as an array that usertrack unnests into a row per person and period
-- (usertrack/analytics/common.py `unnested`). person_id is the actor. No LIMIT: usertrack
-- pages every result. No ORDER BY: usertrack orders the facts itself.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    toString(person_id) AS person_id,
    arrayDistinct(groupArray(
        CASE WHEN {period} = 'day' THEN toDate(timestamp)
                WHEN {period} = 'week' THEN toMonday(timestamp)
                ELSE toStartOfMonth(timestamp) END)) AS period_start
FROM events
WHERE timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY person_id
