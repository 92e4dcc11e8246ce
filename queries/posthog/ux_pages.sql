-- name: ux_pages
-- description: Rage clicks and JavaScript exceptions by page over the last N days, and how many people hit them.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 7
--
-- The analyst workflow's "UX Issues" query by page instead of by event. Anonymous visitors count; internal
-- accounts do not. Window: (as_of - N days, as_of]. Ties are broken by page, so the order is stable.
SELECT
    coalesce(properties.$pathname, '(unknown)') AS page,
    countIf(event = '$rageclick') AS rage_clicks,
    countIf(event = '$exception') AS exceptions,
    uniqExact(person_id) AS people
FROM events
WHERE event IN ('$rageclick', '$exception')
  AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY page
ORDER BY rage_clicks + exceptions DESC, page
LIMIT 100
