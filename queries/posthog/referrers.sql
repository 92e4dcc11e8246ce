-- name: referrers
-- description: Traffic sources over the last N days: pageviews and unique visitors by referring domain.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 7
--
-- The analyst workflow's "Traffic Sources" query, as of a moment. No referring domain is PostHog's "$direct".
-- Window: (as_of - N days, as_of]. Ties are broken by the domain, so the order is stable.
SELECT
    coalesce(nullif(properties.$referring_domain, ''), '$direct') AS referring_domain,
    count() AS pageviews,
    uniqExact(person_id) AS visitors
FROM events
WHERE event = '$pageview'
  AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY referring_domain
ORDER BY pageviews DESC, referring_domain
LIMIT 100
