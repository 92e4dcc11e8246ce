-- name: activity_days
-- description: Per person, the UTC days from since to as_of with events and how many (active users, stickiness and lifecycle's facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
--
-- One row per person: the UTC days with at least one event, from {since} (00:00 UTC of the
-- earliest day any window needs) to as_of, and the events of each, as two arrays of the same
-- order (usertrack unnests them into a row per person and day, usertrack/analytics/common.py
-- `unnested`). A row per person, not per person and day, is what PostHog sends: a few pages
-- through its row caps instead of one per 50,000 active days. DAU, WAU, MAU, stickiness and the
-- lifecycle are worked out by usertrack (docs/metrics.md, "Active users"). person_id is the
-- actor (a person's several distinct_ids are one person). No LIMIT: usertrack pages every
-- result. No ORDER BY: usertrack only aggregates these rows.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    d.person_id AS person_id,
    groupArray(d.day) AS day,
    groupArray(d.n) AS events
FROM (
    SELECT
        person_id,
        toDate(timestamp) AS day,
        count() AS n
    FROM events
    WHERE timestamp >= toDateTime({since}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
    GROUP BY person_id, day
) AS d
GROUP BY d.person_id
