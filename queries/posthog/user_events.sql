-- name: user_events
-- description: One person's PostHog events over the window (every distinct_id of the person), newest first: the PostHog half of the deep dive's timeline.
-- returns: table
-- param as_of: now
-- param days: 30
-- param email:
-- param exclude_pattern: @datagen\.dev$
--
-- The analyst workflow's "Full User Journey" as of a moment, with the email as a bound value: the caller
-- passes it normalized (usertrack/core/emails.py). Window: (as_of - days, as_of]. Capped at 1,000 events (the
-- newest); PostHog caps a query without LIMIT at 100 rows.
SELECT
    timestamp,
    event,
    properties.$pathname AS page,
    properties.template_name AS mcp_server,
    properties.$exception_message AS exception_message,
    properties.$session_id AS session_id
FROM events
WHERE lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) = {email}
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
ORDER BY timestamp DESC
LIMIT 1000
