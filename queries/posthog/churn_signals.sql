-- name: churn_signals
-- description: Per person, how many churn signal events (cancellation_started, account_deleted) they did in the engagement window as of as_of and as of the backtest's moment.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param signals: <list>
-- param since: <moment>
-- param then: <moment>
-- param then_since: <moment>
--
-- One row per person who did one of {signals} (the events that say a user is leaving) up to
-- as_of, with how many they did from {since} (the engagement window's start) to as_of, and how
-- many from {then_since} to {then} (the backtest's moment and its window). Churn takes points off
-- the score of a person with one in the window, as of either moment alike (docs/metrics.md,
-- "Churn and engagement"). person_id is the actor. No LIMIT: usertrack pages every result. No
-- ORDER BY: usertrack orders the facts itself. {filters} is PostHog's filter slot: TRUE, or the
-- --where expressions, ANDed (usertrack/analytics/where.py).
SELECT
    toString(person_id) AS person_id,
    countIf(timestamp >= toDateTime({since}, 'UTC')) AS signals,
    countIf(timestamp >= toDateTime({then_since}, 'UTC')
            AND timestamp <= toDateTime({then}, 'UTC')) AS signals_then
FROM events
WHERE has({signals}, event)
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND timestamp >= least(toDateTime({since}, 'UTC'), toDateTime({then_since}, 'UTC'))
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY person_id
