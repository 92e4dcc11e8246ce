-- name: plan_events
-- description: Every event name seen in the last N days or the N days before: volume, people, first and last seen in each period (the tracking-plan audit).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
--
-- One row per event name, so the result stays small however many events there are; the
-- comparison with the tracking plan is done afterwards, on these rows. Periods: current is
-- (as_of - N days, as_of], previous is (as_of - 2N days, as_of - N days]. person_id counts people
-- (a person can have many distinct_ids). Internal accounts are left out, as everywhere.
-- No LIMIT here or in the other plan_* queries: usertrack pages every result (PostHog returns
-- 100 rows without a LIMIT and caps any LIMIT at 50,000), so no event name is ever cut off.
SELECT
    event,
    countIf(timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})) AS events,
    uniqExactIf(person_id, timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})) AS persons,
    minIf(timestamp, timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})) AS first_seen,
    maxIf(timestamp, timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})) AS last_seen,
    countIf(timestamp <= toDateTime({as_of}, 'UTC') - toIntervalDay({days})) AS previous_events,
    uniqExactIf(person_id, timestamp <= toDateTime({as_of}, 'UTC') - toIntervalDay({days})) AS previous_persons,
    maxIf(timestamp, timestamp <= toDateTime({as_of}, 'UTC') - toIntervalDay({days})) AS previous_last_seen
FROM events
WHERE timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay(2 * {days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lower(trim(coalesce(person.properties.email, ''))), {exclude_pattern})
GROUP BY event
ORDER BY events DESC, previous_events DESC, event
