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
-- values from alerts.yaml, never spliced. Every window ends at as_of, inclusive, and starts
-- after its edge: "in the last N minutes" is (as_of - N minutes, as_of]. A person is looked at
-- when they did something in (as_of - lookback_minutes, as_of]. docs/metrics.md, "Alerts",
-- says the same in words:
-- - in session: an event in the last session_minutes, and the latest event is not a $pageleave;
-- - the current session: every event of the latest event's $session_id, however long ago it
--   started (a JS SDK session lasts 24 hours at most, so 24 hours are read, and only those
--   sessions); without a $session_id, the person's events without one in the lookback;
-- - the current page: the $pathname of the session's latest $pageview; on it since the first
--   $pageview of that page after the session's last event on another page (a reload of the
--   same page does not restart it; an event without a $pathname is on no page, and does not
--   end it);
-- - stuck: in session and on the current page more than stuck_minutes;
-- - low activity: in session with fewer than low_activity_events events in the last
--   low_activity_minutes;
-- - multiple errors: more than error_count $exception events in the last error_minutes;
-- - long inactivity: active in the lookback, nothing in the last inactive_minutes.
-- - the day: the person's events and $exception events in the last 24 hours, every session
--   (the Slack summary's totals; day_events and day_errors).
-- The latest event is by time, ties by uuid (the greatest), whatever order rows are read in.
-- The email is normalized as everywhere in usertrack (usertrack/core/emails.py).
WITH recent AS (
    SELECT
        lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
        event,
        timestamp,
        toString(uuid) AS key,
        distinct_id,
        coalesce(properties.$session_id, '') AS session,
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
        argMax(distinct_id, tuple(timestamp, key)) AS distinct_id,
        argMax(person_name, tuple(timestamp, key)) AS name,
        argMax(session, tuple(timestamp, key)) AS session_id,
        max(timestamp) AS last_event_at,
        argMax(event, tuple(timestamp, key)) AS last_event,
        countIf(timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})) AS session_events,
        countIf(event = '$exception'
            AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})) AS session_errors,
        countIf(timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({low_activity_minutes})) AS recent_events,
        countIf(event = '$exception'
            AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({error_minutes})) AS recent_errors
    FROM recent
    GROUP BY email
),
visit AS (
    SELECT
        lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
        coalesce(properties.$session_id, '') AS session,
        event,
        timestamp,
        toString(uuid) AS key,
        toString(properties.$pathname) AS page
    FROM events
    WHERE timestamp <= toDateTime({as_of}, 'UTC')
      AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalHour(24)
      AND (coalesce(properties.$session_id, '') IN (SELECT session_id FROM people WHERE notEmpty(session_id))
           OR (coalesce(properties.$session_id, '') = ''
               AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalMinute({lookback_minutes})))
      AND notEmpty(JSONExtractString(person.properties, 'email'))
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
),
session_events AS (
    SELECT v.email AS email, v.event AS event, v.timestamp AS timestamp, v.key AS key, v.page AS page
    FROM visit AS v
    INNER JOIN people AS p ON p.email = v.email AND p.session_id = v.session
),
current AS (
    SELECT
        email,
        argMaxIf(page, tuple(timestamp, key), event = '$pageview' AND isNotNull(page)) AS current_page
    FROM session_events
    GROUP BY email
    HAVING countIf(event = '$pageview' AND isNotNull(page)) > 0
),
left_page AS (
    SELECT s.email AS email, max(s.timestamp) AS left_at
    FROM session_events AS s
    INNER JOIN current AS c ON c.email = s.email
    WHERE isNotNull(s.page) AND s.page != c.current_page
    GROUP BY s.email
),
on_page AS (
    SELECT c.email AS email, c.current_page AS current_page, min(s.timestamp) AS page_since
    FROM current AS c
    INNER JOIN session_events AS s ON s.email = c.email
    LEFT JOIN left_page AS l ON l.email = c.email
    WHERE s.event = '$pageview'
      AND s.page = c.current_page
      AND (isNull(l.left_at) OR l.left_at < toDateTime('2000-01-01 00:00:00', 'UTC') OR s.timestamp > l.left_at)
    GROUP BY c.email, c.current_page
),
day AS (
    SELECT
        lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
        count() AS events,
        countIf(event = '$exception') AS errors
    FROM events
    WHERE timestamp <= toDateTime({as_of}, 'UTC')
      AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalHour(24)
      AND lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) IN (SELECT email FROM people)
    GROUP BY email
)
SELECT
    p.email AS email,
    p.distinct_id AS distinct_id,
    p.name AS name,
    -- (a person without a current page: NULL; ClickHouse fills a LEFT JOIN's missing row with
    -- '' and 1970-01-01, DuckDB with NULL)
    CASE WHEN o.page_since > toDateTime('2000-01-01 00:00:00', 'UTC') THEN o.current_page ELSE NULL END AS current_page,
    CASE WHEN o.page_since > toDateTime('2000-01-01 00:00:00', 'UTC') THEN o.page_since ELSE NULL END AS page_since,
    p.last_event_at AS last_event_at,
    p.session_events AS session_events,
    p.session_errors AS session_errors,
    p.recent_events AS recent_events,
    p.recent_errors AS recent_errors,
    coalesce(d.events, 0) AS day_events,
    coalesce(d.errors, 0) AS day_errors,
    p.last_event_at > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})
        AND p.last_event != '$pageleave' AS in_session,
    p.last_event_at > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})
        AND p.last_event != '$pageleave'
        AND CASE WHEN o.page_since > toDateTime('2000-01-01 00:00:00', 'UTC')
               THEN o.page_since < toDateTime({as_of}, 'UTC') - toIntervalMinute({stuck_minutes})
               ELSE false END AS stuck_on_page,
    p.last_event_at > toDateTime({as_of}, 'UTC') - toIntervalMinute({session_minutes})
        AND p.last_event != '$pageleave'
        AND p.recent_events < {low_activity_events} AS low_activity,
    p.recent_errors > {error_count} AS multiple_errors,
    p.last_event_at <= toDateTime({as_of}, 'UTC') - toIntervalMinute({inactive_minutes}) AS long_inactivity
FROM people AS p
LEFT JOIN on_page AS o ON o.email = p.email
LEFT JOIN day AS d ON d.email = p.email
ORDER BY email
