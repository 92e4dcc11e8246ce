-- name: activity
-- description: Behaviour per identified person: events, pageviews, first and last seen.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- person.properties.email identifies a person across all their distinct_ids. Anonymous traffic
-- (no email) is left out here; it still counts in the aggregate metrics of other queries.
-- The email is normalized as everywhere in usertrack (usertrack/emails.py):
-- lowerUTF8(trim(email, ' \t\r\n')). ClickHouse's lower() is ASCII-only; lowerUTF8 is Unicode.
-- Every segments run runs every per-user query over all events: keep them to the columns
-- join/profile.sql uses (a uniq() of sessions here cost half of this query at 5 M events).
SELECT
    lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
    count() AS events,
    countIf(event = '$pageview') AS pageviews,
    min(timestamp) AS first_seen_at,
    max(timestamp) AS last_seen_at
FROM events
WHERE timestamp <= toDateTime({as_of}, 'UTC')
  AND notEmpty(JSONExtractString(person.properties, 'email'))
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY email
