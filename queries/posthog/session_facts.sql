-- name: session_facts
-- description: One row per session in a date range: its span, pageviews, autocaptures, entry/exit page, device (sessions' facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since:
-- param until:
--
-- A session is all events of one $session_id (PostHog's sessions table,
-- posthog/hogql/database/schema/sessions_v2.py): the first part, one row per session. An event
-- without one comes back as a row of its own (the second part; session_id '', its uuid as the
-- key), which usertrack groups per person by a 30-minute gap (docs/metrics.md, "Sessions"): the
-- grouping needs the order of a person's events, which a GROUP BY cannot give. Only those rows
-- need their person_id (a session's is ''; ClickHouse's person_id is a UUID, so the text of
-- it for one type in both parts): at 10 million events each text aggregate costs a
-- tenth of the query, so a session carries none it does not use. Entry/exit page: the
-- $pathname of the first/last event that has a $current_url. Device, browser and country: the
-- session's first event's. Only events inside the range (both ends inclusive) and never after
-- as_of. No LIMIT: usertrack pages every result past PostHog's row caps, so no session is lost.
-- No ORDER BY: usertrack orders the facts itself where it needs an order (and pages PostHog's
-- answer in an order of its own), so a sort here would only be done twice.
SELECT
    properties.$session_id AS session_key,
    properties.$session_id AS session_id,
    '' AS person_id,
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
WHERE coalesce(properties.$session_id, '') != ''
  AND timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({until}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY properties.$session_id
UNION ALL
SELECT
    toString(uuid) AS session_key,
    '' AS session_id,
    toString(person_id) AS person_id,
    timestamp AS first_at,
    timestamp AS last_at,
    if(event = '$pageview', 1, 0) AS pageviews,
    if(event = '$autocapture', 1, 0) AS autocaptures,
    if(coalesce(properties.$current_url, '') != '', properties.$pathname, '') AS entry_page,
    if(coalesce(properties.$current_url, '') != '', properties.$pathname, '') AS exit_page,
    properties.$device_type AS device_type,
    properties.$browser AS browser,
    properties.$geoip_country_code AS country
FROM events
WHERE coalesce(properties.$session_id, '') = ''
  AND timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({until}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
