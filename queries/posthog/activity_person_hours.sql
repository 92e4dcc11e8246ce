-- name: activity_person_hours
-- description: Per person, the weekday-hours (UTC) from since to as_of with events and how many (the activity heatmap of a --by-segment group, live).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
--
-- activity_hours.sql's heatmap as a person's own rows: one row per person, the cells of the
-- week they had events in (`cell`: (weekday - 1) * 24 + hour, weekday 1 = Monday, UTC) and the
-- events of each, as two arrays of the same order (usertrack unnests them into a row per person
-- and cell). Live, a --by-segment or --segment run fetches it once over everyone and each group
-- sums its persons' rows (events per cell, and the persons with any), so no list of a group's
-- persons is sent to PostHog (usertrack/analytics/activity/run.py). At most a row per person. No
-- LIMIT: usertrack pages every result. No ORDER BY: usertrack only aggregates these rows.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    h.person_id AS person_id,
    groupArray(h.cell) AS cell,
    groupArray(h.n) AS events
FROM (
    SELECT
        person_id,
        (toDayOfWeek(timestamp) - 1) * 24 + toHour(timestamp) AS cell,
        count() AS n
    FROM events
    WHERE timestamp >= toDateTime({since}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
    GROUP BY person_id, cell
) AS h
GROUP BY h.person_id
