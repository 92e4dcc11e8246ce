-- name: daily_active
-- description: Daily active people (identified and anonymous, by $pageview) for each of the last N days before as_of.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 35
--
-- PostHog's DAU insight counts people with a $pageview per day; here a "day" is a 24-hour period
-- counted back from as_of: days_ago 0 is (as_of - 1 day, as_of], days_ago 1 the one before, and so
-- on, so the weekly report's week is days_ago 0-6. person_id counts people, not devices; anonymous
-- visitors count too. Days without any visit have no row (the report fills them with 0).
-- The age is counted in microseconds: toUnixTimestamp drops the fraction of a second on ClickHouse
-- and rounds it on DuckDB, which put an event just after a day's edge on either side of it.
SELECT
    intDiv(dateDiff('microsecond', timestamp, toDateTime({as_of}, 'UTC')), 86400000000) AS days_ago,
    uniqExact(person_id) AS active_users
FROM events
WHERE event = '$pageview'
  AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY days_ago
ORDER BY days_ago
LIMIT 1000
