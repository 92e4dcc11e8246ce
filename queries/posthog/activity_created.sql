-- name: activity_created
-- description: When each person active from since to as_of was created (lifecycle's "new").
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since:
--
-- PostHog's lifecycle calls a person "new" in the period of their `created_at` (the persons
-- table; on an events export, the person's first event). Only the people active in the span
-- are asked for. No LIMIT: usertrack pages every result.
SELECT
    id AS person_id,
    created_at
FROM persons
WHERE id IN (
    SELECT person_id FROM events
    WHERE timestamp >= toDateTime({since}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(coalesce(person.properties.email, ''), ' \t\r\n')), {exclude_pattern}))
ORDER BY person_id
