-- name: activity_created
-- description: The persons created from since on, and when (lifecycle's "new").
-- returns: table
-- param as_of: now
-- param since: <moment>
--
-- PostHog's lifecycle calls a person "new" in the period of their `created_at` (the persons
-- table; on an events export, the person's first event). {since} is the first lifecycle
-- period's start: a person created before it is "new" in none of the periods, so only the
-- persons created since are asked for, from the persons table alone: no scan of the events.
-- Internal accounts need no filter here: usertrack joins these rows to the active persons of
-- activity_days.sql, which leaves them out. No LIMIT: usertrack pages every result. Grouped by
-- the person (the persons table has a row each already): a result of one row per person is
-- fetched in one request past PostHog's row cap, not probed first (usertrack/engines/
-- posthog/paging.py).
SELECT
    id AS person_id,
    created_at
FROM persons
WHERE created_at >= toDateTime({since}, 'UTC')
  AND created_at <= toDateTime({as_of}, 'UTC')
GROUP BY person_id, created_at
