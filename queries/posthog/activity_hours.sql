-- name: activity_hours
-- description: Events and persons by weekday (1 = Monday) and hour of day, UTC, from since to as_of (the activity heatmap).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
--
-- At most 168 rows (7 weekdays x 24 hours); hours without events have none. No LIMIT:
-- usertrack pages past PostHog's 100-row default.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    toDayOfWeek(timestamp) AS weekday,
    toHour(timestamp) AS hour,
    count() AS events,
    uniqExact(person_id) AS persons
FROM events
WHERE timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY weekday, hour
ORDER BY weekday, hour
