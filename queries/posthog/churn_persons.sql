-- name: churn_persons
-- description: Per person, first and last event, and in the engagement window the active days and distinct product events: as of as_of and as of the backtest's moment (churn's engagement facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param then: <moment>
-- param then_since: <moment>
--
-- One row per person with an event up to as_of: their first and last event ever, and from
-- {since} (the engagement window's start) to as_of the UTC days they were active on and how many
-- distinct event names they did that are not PostHog's own ($pageview, $autocapture, ...: names
-- that start with $), the score's frequency and breadth (docs/metrics.md, "Churn and
-- engagement"). The _then columns are the same as of {then} (the backtest's moment), over its
-- window from {then_since}: one pass over the events for both. last_seen_then is the latest event
-- up to {then}, NULL with none (maxIf is read only where it found one: ClickHouse's gives its
-- type's default, not NULL). email is the greatest normalized email on their events, '' for
-- anonymous persons (the app's runs and accounts join on it). person_id is the actor (a person
-- can have many distinct_ids). No LIMIT: usertrack pages every result. No ORDER BY: usertrack
-- orders the facts itself. {filters} is PostHog's filter slot: TRUE, or the --where
-- expressions, ANDed (usertrack/analytics/where.py).
SELECT
    toString(person_id) AS person_id,
    max(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n'))) AS email,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen,
    uniqExactIf(toDate(timestamp), timestamp >= toDateTime({since}, 'UTC')) AS active_days,
    uniqExactIf(event, timestamp >= toDateTime({since}, 'UTC') AND NOT startsWith(event, '$')) AS breadth,
    if(countIf(timestamp <= toDateTime({then}, 'UTC')) > 0,
       maxIf(timestamp, timestamp <= toDateTime({then}, 'UTC')), NULL) AS last_seen_then,
    uniqExactIf(toDate(timestamp), timestamp >= toDateTime({then_since}, 'UTC')
                                   AND timestamp <= toDateTime({then}, 'UTC')) AS active_days_then,
    uniqExactIf(event, timestamp >= toDateTime({then_since}, 'UTC')
                       AND timestamp <= toDateTime({then}, 'UTC')
                       AND NOT startsWith(event, '$')) AS breadth_then
FROM events
WHERE timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY person_id
