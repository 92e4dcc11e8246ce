-- name: user_event_page
-- description: One page of a person's events, every property, oldest first (a person's data export, paged).
-- returns: table
-- param as_of: now
-- param email:
-- param offset: 0
--
-- Every event up to as_of whose person has the given email (a bound value, compared
-- normalized), in a total order (timestamp, then uuid), 10,000 a page: PostHog caps any LIMIT at
-- 50,000 rows and a query without LIMIT at 100, so the caller asks page after page, `offset`
-- moving by 10,000, until a page is short. Events after as_of never enter, so a page cannot
-- shift under the next one. `properties` is the event's properties' JSON text.
SELECT
    toString(uuid) AS uuid,
    timestamp,
    event,
    distinct_id,
    toString(person_id) AS person_id,
    properties
FROM events
WHERE lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) = {email}
  AND timestamp <= toDateTime({as_of}, 'UTC')
ORDER BY timestamp, uuid
LIMIT 10000 OFFSET {offset}
