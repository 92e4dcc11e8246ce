-- name: person_distinct_ids
-- description: One distinct_id PostHog already knows per identified person (their latest), for writing person properties back without creating persons.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- `usertrack sync posthog` sets properties on this distinct_id: PostHog resolves it to the person
-- it already belongs to. The email is normalized as everywhere in usertrack (usertrack/emails.py).
SELECT
    lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
    argMax(distinct_id, timestamp) AS distinct_id
FROM events
WHERE timestamp <= toDateTime({as_of}, 'UTC')
  AND notEmpty(JSONExtractString(person.properties, 'email'))
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
GROUP BY email
ORDER BY email
