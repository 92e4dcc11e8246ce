-- name: feature_person_facts
-- description: Per person, their uses of each feature in two periods, time spent, last use and whether they were active in each period (features of a --by-segment or --segment group, live).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param seen_since: <moment>
-- param since: <moment>
-- param split:
-- param by: feature
-- param duration: duration
--
-- feature_usage.sql, feature_retention.sql, active_persons.sql and feature_last_used.sql as a
-- person's own rows: one row per person with arrays of the same order, one entry per feature
-- they used ('' when feature_used had no `feature` property) and one (used = 0, feature '')
-- for their other events (usertrack unnests them into a row per person and entry). Read over
-- (seen_since, as_of]: `seen_since` is `since` (the previous period's start), or the epoch
-- for features --all-users (every person seen; a feature's last use). `earlier` counts the
-- entry's events in the previous period (since, split], `later` those in the current one
-- (split, as_of]; `timed` and `seconds` the current period's uses with a {duration} (a JSON
-- number) and its sum; `last_used` the entry's latest event. A person active in a period has
-- an entry with events in it. {by} 'feature' counts feature_used events by their `feature`
-- property; 'event' counts every event by its name (every entry used).
-- Live, a --by-segment or --segment group too large to send as a list fetches it once over
-- everyone, and each group counts its persons' rows (usertrack/analytics/features/cut.py), so
-- no list of a group's persons is sent to PostHog. A row per person, never per event. No
-- LIMIT: usertrack pages every result. No ORDER BY: usertrack only aggregates these rows.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    t.person_id AS person_id,
    groupArray(t.used) AS used,
    groupArray(t.feature) AS feature,
    groupArray(t.earlier) AS earlier,
    groupArray(t.later) AS later,
    groupArray(t.timed) AS timed,
    groupArray(t.seconds) AS seconds,
    groupArray(t.last_used) AS last_used
FROM (
    SELECT
        e.person_id AS person_id,
        e.used AS used,
        e.feature AS feature,
        countIf(e.timestamp > toDateTime({since}, 'UTC')
                AND e.timestamp <= toDateTime({split}, 'UTC')) AS earlier,
        countIf(e.timestamp > toDateTime({split}, 'UTC')) AS later,
        countIf(e.current AND e.used = 1 AND e.timed = 1) AS timed,
        sum(CASE WHEN e.current AND e.used = 1 AND e.timed = 1 THEN e.value ELSE 0 END) AS seconds,
        max(e.timestamp) AS last_used
    FROM (
        SELECT
            toString(person_id) AS person_id,
            timestamp,
            timestamp > toDateTime({split}, 'UTC') AS current,
            CASE WHEN {by} = 'event' OR event = 'feature_used' THEN 1 ELSE 0 END AS used,
            CASE WHEN {by} = 'event' THEN event
               ELSE CASE WHEN event = 'feature_used' THEN coalesce(toString(properties.feature), '') ELSE '' END END AS feature,
            CASE WHEN JSONType(properties, {duration}) IN ('Int64', 'UInt64', 'Double') THEN 1 ELSE 0 END AS timed,
            CASE WHEN JSONType(properties, {duration}) IN ('Int64', 'UInt64', 'Double')
               THEN toFloat(JSONExtractRaw(properties, {duration})) ELSE 0 END AS value
        FROM events
        WHERE timestamp > toDateTime({seen_since}, 'UTC')
          AND timestamp <= toDateTime({as_of}, 'UTC')
          AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
          AND {filters}
    ) AS e
    GROUP BY e.person_id, e.used, e.feature
) AS t
GROUP BY t.person_id
