-- name: session_facts
-- description: One row per session in a date range: its span, pageviews, autocaptures, entry/exit page, device (sessions' facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since:
-- param until:
--
-- A session is all events of one $session_id (PostHog's sessions table,
-- posthog/hogql/database/schema/sessions_v2.py). An event without one comes back as a row of
-- its own (session_id ''), which usertrack groups per person by a 30-minute gap
-- (docs/metrics.md, "Sessions"): the grouping needs the order of a person's events, which a
-- GROUP BY cannot give. Entry/exit page: the $pathname of the first/last event that has a
-- $current_url. Device, browser and country: the session's first event's. Only events inside
-- the range (both ends inclusive) and never after as_of. No LIMIT: usertrack pages every
-- result past PostHog's row caps, so no session is lost.
-- No ORDER BY: usertrack orders the facts itself where it needs an order (and pages PostHog's
-- answer in an order of its own), so a sort here would only be done twice.
SELECT
    if(coalesce(properties.$session_id, '') = '', toString(uuid), properties.$session_id) AS session_key,
    any(coalesce(properties.$session_id, '')) AS session_id,
    argMin(person_id, timestamp) AS person_id,
    min(timestamp) AS first_at,
    max(timestamp) AS last_at,
    countIf(event = '$pageview') AS pageviews,
    countIf(event = '$autocapture') AS autocaptures,
    argMinIf(properties.$pathname, timestamp, coalesce(properties.$current_url, '') != '') AS entry_page,
    argMaxIf(properties.$pathname, timestamp, coalesce(properties.$current_url, '') != '') AS exit_page,
    argMin(properties.$device_type, timestamp) AS device_type,
    argMin(properties.$browser, timestamp) AS browser,
    argMin(properties.$geoip_country_code, timestamp) AS country
FROM events
WHERE timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({until}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(coalesce(person.properties.email, ''), ' \t\r\n')), {exclude_pattern})
GROUP BY session_key
