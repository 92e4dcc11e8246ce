-- name: js_errors
-- description: JavaScript exceptions over the last N days by error: occurrences, persons affected, pages, first and last seen.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 7
--
-- The analyst workflow's list of JS errors: $exception events by $exception_type and
-- $exception_message ('' without one). Persons are distinct persons, anonymous ones included;
-- internal accounts do not count. Window: (as_of - N days, as_of]. Most occurrences first, ties by
-- type and message, so the order is stable.
SELECT
    coalesce(properties.$exception_type, '') AS error_type,
    coalesce(properties.$exception_message, '') AS message,
    count() AS occurrences,
    uniqExact(person_id) AS persons,
    arraySort(groupUniqArray(coalesce(properties.$pathname, '(unknown)'))) AS pages,
    min(timestamp) AS first_seen,
    max(timestamp) AS last_seen
FROM events
WHERE event = '$exception'
  AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY error_type, message
ORDER BY occurrences DESC, error_type, message
LIMIT 10000
