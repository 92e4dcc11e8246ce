-- name: churn_persons
-- description: Per person as of a moment: first and last event, and in the window before it the active days, events and distinct product events (churn's engagement facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param moment: <moment>
-- param since: <moment>
--
-- One row per person with an event up to {moment} (as_of, or the moment `churn --backtest`
-- scores from; never past as_of): their first and last event ever, and from {since} (the engagement window's
-- start) to {moment} the UTC days they were active on, their events, and how many distinct
-- event names they did that are not PostHog's own ($pageview, $autocapture, ...: names that
-- start with $), the breadth of the score (docs/metrics.md, "Churn and engagement"). email is
-- the greatest normalized email on their events, '' for anonymous persons (the app's runs and
-- accounts join on it). person_id is the actor (a person can have many distinct_ids). No LIMIT:
-- usertrack pages every result. No ORDER BY: usertrack orders the facts itself.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    toString(person_id) AS person_id,
    max(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n'))) AS email,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen,
    uniqExactIf(toDate(timestamp), timestamp >= toDateTime({since}, 'UTC')) AS active_days,
    countIf(timestamp >= toDateTime({since}, 'UTC')) AS events,
    uniqExactIf(event, timestamp >= toDateTime({since}, 'UTC') AND NOT startsWith(event, '$')) AS breadth
FROM events
WHERE timestamp <= toDateTime({moment}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY person_id
