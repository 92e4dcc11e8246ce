-- name: daily_active
-- description: Daily active people (identified and anonymous, any event) for each of the last N days before as_of.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 35
--
-- Active is one thing everywhere in usertrack (docs/metrics.md, "Active users"): a person with any
-- event, as `usertrack activity` and the lifecycle count it (PostHog's trends DAU over "All
-- events"). A "day" is a 24-hour period counted back from as_of: days_ago 0 is (as_of - 1 day,
-- as_of], days_ago 1 the one before, and so on; the weekly report's as_of is a Monday 00:00 UTC,
-- so these are its UTC days. person_id counts people, not devices; anonymous visitors count too.
-- Days without any event have no row (the report fills them with 0).
-- The age is counted in microseconds: toUnixTimestamp drops the fraction of a second on ClickHouse
-- and rounds it on DuckDB, which put an event just after a day's edge on either side of it.
SELECT
    intDiv(dateDiff('microsecond', timestamp, toDateTime({as_of}, 'UTC')), 86400000000) AS days_ago,
    uniqExact(person_id) AS active_users
FROM events
WHERE timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY days_ago
ORDER BY days_ago
LIMIT 1000
