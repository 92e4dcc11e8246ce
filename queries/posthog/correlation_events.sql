-- name: correlation_events
-- description: For funnel correlation: per person who did step 1 in a range, each other event's first time after each of their step-1 events (funnel --correlation's facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param steps: <list>
-- param event:
-- param window_seconds: 1209600
--
-- PostHog's correlation (posthog/hogql_queries/insights/funnels/
-- funnel_correlation_query_runner.py, `_get_events_join_query`) counts an event for a person who
-- entered the funnel when it falls strictly after their step-1 time and strictly before their
-- last step's time (or the step-1 time + the window, when they dropped), inside the range, and
-- is not one of the funnel's steps ({steps}, bound as a list). Which step-1 event starts the
-- person's counted attempt is worked out by usertrack (the funnel's attempts, docs/metrics.md),
-- so this query does not send every event: for each person, event name and step-1 event
-- ({event}) it sends only the event's first time after that step-1 event, when it comes before
-- the step-1 time + the window ({window_seconds}). An attempt's bounds hold an event exactly
-- when they hold its first time after the attempt's step-1 event, so the answer is PostHog's
-- with at most one value per (person, event name, step-1 event), packed as one row per person
-- (two arrays of the same order, unnested by usertrack, common.py `unnested`). {filters}
-- (TRUE, or the --where expressions, ANDed: usertrack/analytics/where.py) applies to the
-- step-1 events as in the funnel; the events correlated are not filtered, as PostHog's are
-- not. Internal accounts are left out. No LIMIT: usertrack pages every result. No
-- ORDER BY: usertrack counts the facts itself. On the local engine, while this file is the
-- shipped one, usertrack counts the same in the store with the funnel's persons instead
-- (usertrack/analytics/funnel/correlation.py `_local_counts`); an edited file runs as written.
SELECT
    c.person_id AS person_id,
    groupArray(c.name) AS event,
    groupArray(c.at) AS timestamp
FROM (
    SELECT l.person_id AS person_id, l.name AS name, min(l.at) AS at
    FROM (
        SELECT person_id, event AS name, timestamp AS at
        FROM events
        WHERE NOT has({steps}, event)
          AND timestamp >= toDateTime({since}, 'UTC')
          AND timestamp < toDateTime({until}, 'UTC')
          AND timestamp <= toDateTime({as_of}, 'UTC')
    ) AS l
    INNER JOIN (
        SELECT person_id, timestamp AS start
        FROM events
        WHERE event = {event}
          AND timestamp >= toDateTime({since}, 'UTC')
          AND timestamp < toDateTime({until}, 'UTC')
          AND timestamp <= toDateTime({as_of}, 'UTC')
          AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
          AND {filters}
    ) AS s ON s.person_id = l.person_id
    WHERE l.at > s.start
      AND l.at < s.start + toIntervalSecond({window_seconds})
    GROUP BY l.person_id, l.name, s.start
) AS c
GROUP BY c.person_id
