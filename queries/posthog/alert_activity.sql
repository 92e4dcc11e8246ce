-- name: alert_activity
-- description: Who needs help now: each identified person active in the last lookback_minutes, with their current page, session figures and the support triggers of alerts.yaml as flags.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param lookback_minutes: 60
-- param session_minutes: 30
-- param stuck_minutes: 5
-- param low_activity_minutes: 10
-- param low_activity_events: 3
-- param error_minutes: 5
-- param error_count: 3
-- param inactive_minutes: 15
--
-- One query computes every PostHog-side trigger at once, so `usertrack alerts --watch` asks
-- PostHog once per pass (its query API allows 120 queries an hour). The thresholds are bound
-- values from alerts.yaml, never spliced. The window is (as_of - lookback_minutes, as_of]: a
-- person is looked at when they did something in it (long inactivity needs the whole hour).
-- - in session: an event in the last session_minutes and the latest event is not a $pageleave;
-- - stuck: in session, the latest $pageview more than stuck_minutes old, and no event since on
--   another page;
-- - low activity: in session with fewer than low_activity_events events in the last
--   low_activity_minutes;
-- - multiple errors: more than error_count $exception events in the last error_minutes;
-- - long inactivity: active in the window, nothing in the last inactive_minutes.
-- The email is normalized as everywhere in usertrack (usertrack/emails.py).
WITH recent AS (
    SELECT
        lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
        event,
        timestamp,
        distinct_id,
        toString(properties.$pathname) AS page,
        nullIf(JSONExtractString(person.properties, 'name'), '') AS person_name
    FROM events
    WHERE timestamp <= toDateTime({as_of}, 'UTC')
      AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({lookback_minutes})
      AND notEmpty(JSONExtractString(person.properties, 'email'))
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
),
people AS (
    SELECT
        email,
        argMax(distinct_id, timestamp) AS distinct_id,
        argMax(person_name, timestamp) AS name,
        max(timestamp) AS last_event_at,
        argMax(event, timestamp) AS last_event,
        -- no pageview: NULL (ClickHouse's maxIf over no rows is 1970-01-01, DuckDB's NULL)
        if(countIf(event = '$pageview') > 0, maxIf(timestamp, event = '$pageview'), NULL) AS page_since,
        argMaxIf(page, timestamp, event = '$pageview') AS current_page,
        countIf(timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})) AS session_events,
        countIf(event = '$exception'
            AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})) AS session_errors,
        countIf(timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({low_activity_minutes})) AS recent_events,
        countIf(event = '$exception'
            AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({error_minutes})) AS recent_errors
    FROM recent
    GROUP BY email
),
moved AS (
    SELECT
        p.email AS email,
        -- an event without a page ($pathname) is not another page
        countIf(r.timestamp > p.page_since AND isNotNull(r.page) AND r.page != p.current_page) AS other_page_events
    FROM people AS p
    INNER JOIN recent AS r ON r.email = p.email
    GROUP BY p.email
)
SELECT
    p.email AS email,
    p.distinct_id AS distinct_id,
    p.name AS name,
    p.current_page AS current_page,
    p.page_since AS page_since,
    p.last_event_at AS last_event_at,
    p.session_events AS session_events,
    p.session_errors AS session_errors,
    p.recent_events AS recent_events,
    p.recent_errors AS recent_errors,
    p.last_event_at > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})
        AND p.last_event != '$pageleave' AS in_session,
    p.last_event_at > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})
        AND p.last_event != '$pageleave'
        AND p.page_since > toDateTime('2000-01-01 00:00:00', 'UTC')
        AND p.page_since < toDateTime({as_of}, 'UTC') - toIntervalMinute({stuck_minutes})
        AND m.other_page_events = 0 AS stuck_on_page,
    p.last_event_at > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})
        AND p.last_event != '$pageleave'
        AND p.recent_events < {low_activity_events} AS low_activity,
    p.recent_errors > {error_count} AS multiple_errors,
    p.last_event_at <= toDateTime({as_of}, 'UTC') - toIntervalMinute({inactive_minutes}) AS long_inactivity
FROM people AS p
INNER JOIN moved AS m ON m.email = p.email
ORDER BY email
