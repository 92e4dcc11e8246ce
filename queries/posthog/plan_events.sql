-- name: plan_events
-- description: Every event name seen in the last N days or the N days before: volume, people, first and last seen, per period (the tracking-plan audit).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
--
-- One row per event name and period (at most two per name), so the result stays small however
-- many events there are; the comparison with the tracking plan is done afterwards, on these
-- rows. Periods: current is (as_of - N days, as_of], previous is (as_of - 2N days, as_of - N
-- days]. A row per period, not minIf/maxIf columns: a period without events has no row, where
-- ClickHouse would answer 1970-01-01 and DuckDB NULL. person_id counts people
-- (a person can have many distinct_ids). Internal accounts are left out, as everywhere.
-- No LIMIT here or in the other plan_* queries: usertrack pages every result (PostHog returns
-- 100 rows without a LIMIT and caps any LIMIT at 50,000), so no event name is ever cut off.
SELECT
    event,
    CASE WHEN timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days}) THEN 'current' ELSE 'previous' END AS period,
    count() AS events,
    uniqExact(person_id) AS persons,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen
FROM events
WHERE timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay(2 * {days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY event, period
ORDER BY event, period
