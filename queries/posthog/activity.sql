-- name: activity
-- description: Behaviour per identified person: events, pageviews, first and last seen.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: 0
-- param segment_emails: []
--
-- person.properties.email identifies a person across all their distinct_ids. Anonymous traffic
-- (no email) is left out here; it still counts in the aggregate metrics of other queries.
-- The email is normalized as everywhere in usertrack (usertrack/core/emails.py):
-- lowerUTF8(trim(email, ' \t\r\n')). ClickHouse's lower() is ASCII-only; lowerUTF8 is Unicode.
-- Every segments run runs every per-user query over all events: keep them to the columns
-- join/profile.sql uses (a uniq() of sessions here cost half of this query at 5 M events).
-- With segment_only = 1, only the persons whose email is in segment_emails (the people behind
-- one number, `--persons`), kept before anything is counted; else (the default) everyone.
-- '' leads the list: ClickHouse gives an empty list no type to compare with.
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
  AND ({segment_only} = 0
       OR lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n'))
          IN (SELECT arrayJoin(arrayConcat([''], {segment_emails}))))
GROUP BY email
