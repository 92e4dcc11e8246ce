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
-- window from {then_since}, from the same rows. No distinct count over every event: f holds a
-- row per person and UTC day (kind 0) and per person and product event name in either window
-- (kind 1), each with its first and last event and its last event up to {then} (last_then), so
-- a day or a name counts once, where its last event (up to {then}) is in the window. last_seen_then
-- is the latest event up to {then}, NULL with none (read only where the first event is up to
-- {then}: ClickHouse's maxIf without a match gives its type's default, 1970, never in a
-- window). email is the greatest normalized email on their events, '' for anonymous persons
-- (the app's runs and accounts join on it; the kind 1 rows' '' never wins). person_id is the
-- actor (a person can have many distinct_ids). No LIMIT: usertrack pages every result. No ORDER
-- BY: usertrack orders the facts itself. {filters} is PostHog's filter slot: TRUE, or the
-- --where expressions, ANDed (usertrack/analytics/where.py).
SELECT
    toString(f.person_id) AS person_id,
    max(f.email) AS email,
    min(f.first_at) AS first_seen,
    max(f.last_at) AS last_seen,
    countIf(f.kind = 0 AND f.last_at >= toDateTime({since}, 'UTC')) AS active_days,
    countIf(f.kind = 1 AND f.last_at >= toDateTime({since}, 'UTC')) AS breadth,
    CASE WHEN min(f.first_at) <= toDateTime({then}, 'UTC') THEN max(f.last_then) ELSE NULL END AS last_seen_then,
    countIf(f.kind = 0 AND f.last_then >= toDateTime({then_since}, 'UTC')) AS active_days_then,
    countIf(f.kind = 1 AND f.last_then >= toDateTime({then_since}, 'UTC')) AS breadth_then
FROM (
    SELECT
        person_id,
        0 AS kind,
        max(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n'))) AS email,
        min(timestamp) AS first_at,
        max(timestamp) AS last_at,
        maxIf(timestamp, timestamp <= toDateTime({then}, 'UTC')) AS last_then
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
        min(timestamp) AS first_at,
        max(timestamp) AS last_at,
        maxIf(timestamp, timestamp <= toDateTime({then}, 'UTC')) AS last_then
    FROM events
    WHERE timestamp <= toDateTime({as_of}, 'UTC')
      AND timestamp >= least(toDateTime({since}, 'UTC'), toDateTime({then_since}, 'UTC'))
      AND NOT startsWith(event, '$')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
    GROUP BY person_id, event
) AS f
GROUP BY f.person_id
