-- name: activity_volume
-- description: Per UTC day from since to as_of: the events and the sessions (distinct $session_ids) that day (activity's daily series beside DAU).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
--
-- A row per UTC day with at least one event (about 30 rows). Sessions follow PostHog's trends
-- math `unique_session` (posthog/hogql_queries/insights/trends/aggregation_operations.py:
-- count(DISTINCT $session_id) per interval): a session with events on two days counts on both;
-- events without a $session_id are in no session (nullIf: PostHog's '' would count as one).
-- `$session_id` is the events table's own column, as PostHog's runner reads it: no event's
-- properties JSON is parsed for it.
-- No LIMIT: usertrack pages every result. No ORDER BY: usertrack places each day itself. The
-- shape, a GROUP BY over one subquery of events with {filters} last, lets the local engine
-- count every --by-segment group in one run (usertrack/engines/local/grouped.py).
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    day,
    count() AS events,
    uniqExact(session) AS sessions
FROM (
    SELECT
        toDate(timestamp) AS day,
        nullIf($session_id, '') AS session
    FROM events
    WHERE timestamp >= toDateTime({since}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
)
GROUP BY day
