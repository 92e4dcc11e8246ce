-- name: segment_persons
-- description: Every identified PostHog person with the email usertrack knows them by, one row per person (for --by-segment and --segment).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- usertrack's segments are keyed by email, as the segments join is (join/profile.sql): a
-- person's segment is the primary segment of the user with the email on their events
-- (person.properties.email, normalized as everywhere in usertrack: usertrack/core/emails.py). One row
-- per person with an email: the analytics then keep a segment's people by their person_id,
-- bound as a list (usertrack/analytics/by_segment.py), so every event of the person counts, the
-- anonymous ones from before they were identified too. A person whose events carry several
-- emails is known by the greatest. Persons without an email have no row: they are "no
-- account". No LIMIT: usertrack pages every result. No ORDER BY: usertrack only maps these rows.
SELECT
    toString(person_id) AS person_id,
    max(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n'))) AS email
FROM events
WHERE timestamp <= toDateTime({as_of}, 'UTC')
  AND notEmpty(JSONExtractString(person.properties, 'email'))
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY person_id
