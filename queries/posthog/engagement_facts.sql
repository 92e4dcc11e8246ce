-- name: engagement_facts
-- description: Per identified person with an event in the engagement window, the engagement score's facts: their last event, and in the window the active days and distinct product events (the facts segments scores each user by).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
--
-- One row per person with an email and an event from {since} (the engagement window's start)
-- to as_of: their last event up to as_of, the UTC days they were active on from {since} and
-- how many distinct event names they did from {since} that are not PostHog's own ($pageview,
-- $autocapture, ...: names that start with $), the score's recency, frequency and breadth
-- (docs/metrics.md, "Churn and engagement"). Each column is churn_persons.sql's of the same
-- name, from the same rows, kept to the persons the score reads
-- (tests/segments/test_engagement_facts.py checks that the two agree, on both engines); without
-- the backtest's columns, which only churn reads. f holds a row per person and UTC day (kind 0) and per person and product event
-- name in the window (kind 1), each with its last event, so a day or a name counts once, where
-- its last event is in the window. email is the greatest normalized email on their events up
-- to as_of (the app's runs join on it; the kind 1 rows' '' never wins). person_id is the actor
-- (a person can have many distinct_ids). No LIMIT: usertrack pages every result. No ORDER BY:
-- usertrack orders the facts itself. {filters} is PostHog's filter slot: TRUE, or the --where
-- expressions, ANDed (usertrack/analytics/where.py).
SELECT
    toString(f.person_id) AS person_id,
    max(f.email) AS email,
    max(f.last_at) AS last_seen,
    countIf(f.kind = 0 AND f.last_at >= toDateTime({since}, 'UTC')) AS active_days,
    countIf(f.kind = 1 AND f.last_at >= toDateTime({since}, 'UTC')) AS breadth
FROM (
    SELECT
        person_id,
        0 AS kind,
        max(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n'))) AS email,
        max(timestamp) AS last_at
    FROM events
    WHERE timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
    GROUP BY person_id, toDate(timestamp)
    UNION ALL
    SELECT
        person_id,
        1 AS kind,
        '' AS email,
        max(timestamp) AS last_at
    FROM events
    WHERE timestamp <= toDateTime({as_of}, 'UTC')
      AND timestamp >= toDateTime({since}, 'UTC')
      AND NOT startsWith(event, '$')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
    GROUP BY person_id, event
) AS f
GROUP BY f.person_id
HAVING max(f.last_at) >= toDateTime({since}, 'UTC') AND max(f.email) != ''
