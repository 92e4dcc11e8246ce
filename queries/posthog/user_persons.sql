-- name: user_persons
-- description: The PostHog persons whose email is the given one, with every property and every distinct_id seen on their events (a person's data export).
-- returns: table
-- param as_of: now
-- param email:
--
-- The email is a bound value, compared normalized (usertrack/core/emails.py). One row a
-- person; `properties` is their properties' JSON text as PostHog holds it; `distinct_ids` the
-- distinct_ids of their events up to as_of.
SELECT
    p.id AS person_id,
    p.created_at AS created_at,
    p.properties AS properties,
    arraySort(groupUniqArray(e.distinct_id)) AS distinct_ids
FROM persons AS p
LEFT JOIN events AS e ON e.person_id = p.id AND e.timestamp <= toDateTime({as_of}, 'UTC')
WHERE lowerUTF8(trim(JSONExtractString(p.properties, 'email'), ' \t\r\n')) = {email}
GROUP BY p.id, p.created_at, p.properties
ORDER BY p.created_at, p.id
