-- name: page_views
-- description: Pageviews over the last N days by page: views and unique visitors, most viewed first.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
--
-- The analyst workflow's "Page Breakdown", as of a moment. A page is $pathname ('(unknown)'
-- without one); visitors are distinct persons, anonymous ones included; internal accounts do not
-- count. Window: (as_of - N days, as_of]. Ties are broken by page, so the order is stable.
SELECT
    coalesce(properties.$pathname, '(unknown)') AS page,
    count() AS views,
    uniqExact(person_id) AS visitors
FROM events
WHERE event = '$pageview'
  AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY page
ORDER BY views DESC, page
LIMIT 10000
