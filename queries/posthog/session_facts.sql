-- name: session_facts
-- description: One row per session in a date range: its span, pageviews, autocaptures, entry/exit page, device (sessions' facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
--
-- A session is all events of one $session_id (PostHog's sessions table,
-- posthog/hogql/database/schema/sessions_v2.py): the first part, one row per session. Events
-- without one come back per person (the second part; session_id '', each event's uuid as its
-- key), which usertrack groups by a 30-minute gap (docs/metrics.md, "Sessions"): the grouping
-- needs the order of a person's events, which a GROUP BY cannot give. Every column but
-- session_id and person_id is an array, of one element in the first part and of the person's
-- lone events in the second, which usertrack unnests into a row per session or event
-- (usertrack/analytics/common.py `unnested`): PostHog sends a row per session or person, never
-- one per event. A session's person is its first event's (what the sessions per user and the
-- users of a page or country count). The entry
-- and exit pages are the $pathname of the first and last event that has a $current_url; the
-- device, browser and country are the session's first event's. First and last are by time,
-- ties by uuid (`tuple(timestamp, toString(uuid))`), whatever order ClickHouse reads rows in. A missing text is '' (usertrack reads '' as none; a
-- groupArray would drop a NULL and shift the arrays). Only events inside the range (both ends
-- inclusive) and never after as_of. No LIMIT: usertrack pages every result past PostHog's row
-- caps. No ORDER BY: usertrack orders the facts itself.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    [properties.$session_id] AS session_key,
    properties.$session_id AS session_id,
    toString(argMin(person_id, tuple(timestamp, toString(uuid)))) AS person_id,
    [min(timestamp)] AS first_at,
    [max(timestamp)] AS last_at,
    [countIf(event = '$pageview')] AS pageviews,
    [countIf(event = '$autocapture')] AS autocaptures,
    [coalesce(argMinIf(properties.$pathname, tuple(timestamp, toString(uuid)), coalesce(properties.$current_url, '') != ''), '')] AS entry_page,
    [coalesce(argMaxIf(properties.$pathname, tuple(timestamp, toString(uuid)), coalesce(properties.$current_url, '') != ''), '')] AS exit_page,
    [coalesce(argMin(properties.$device_type, tuple(timestamp, toString(uuid))), '')] AS device_type,
    [coalesce(argMin(properties.$browser, tuple(timestamp, toString(uuid))), '')] AS browser,
    [coalesce(argMin(properties.$geoip_country_code, tuple(timestamp, toString(uuid))), '')] AS country
FROM events
WHERE coalesce(properties.$session_id, '') != ''
  AND timestamp >= toDateTime({since}, 'UTC')
  AND timestamp < toDateTime({until}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY properties.$session_id
UNION ALL
SELECT
    groupArray(toString(uuid)) AS session_key,
    '' AS session_id,
    toString(person_id) AS person_id,
    groupArray(timestamp) AS first_at,
    groupArray(timestamp) AS last_at,
    groupArray(CASE WHEN event = '$pageview' THEN 1 ELSE 0 END) AS pageviews,
    groupArray(CASE WHEN event = '$autocapture' THEN 1 ELSE 0 END) AS autocaptures,
    groupArray(CASE WHEN coalesce(properties.$current_url, '') != '' THEN coalesce(properties.$pathname, '') ELSE '' END) AS entry_page,
    groupArray(CASE WHEN coalesce(properties.$current_url, '') != '' THEN coalesce(properties.$pathname, '') ELSE '' END) AS exit_page,
    groupArray(coalesce(properties.$device_type, '')) AS device_type,
    groupArray(coalesce(properties.$browser, '')) AS browser,
    groupArray(coalesce(properties.$geoip_country_code, '')) AS country
FROM events
WHERE coalesce(properties.$session_id, '') = ''
  AND timestamp >= toDateTime({since}, 'UTC')
  AND timestamp < toDateTime({until}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY person_id
