-- name: person_distinct_ids
-- description: The PostHog persons that carry each email and their distinct_ids, one row per email (person_ids and distinct_ids: two arrays of the same order, one pair per distinct_id), so that person properties are written back to a person usertrack can tie to the user, never creating one.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- `usertrack sync posthog` decides in Python (usertrack/act/sync.py `pick_target`): one person
-- with the email is the user's; several are ambiguous (anyone with the project's public token can
-- give a person any email) unless exactly one of them has the distinct_id the app identifies the
-- user with (its user id, or the email itself for people without an account). Never by recency.
-- Only the distinct_ids of events that carry the email are listed: anonymous ones from before
-- the person was identified are not needed to reach it. The email is normalized as everywhere in
-- usertrack (usertrack/core/emails.py). One row per email keeps PostHog's pages (50,000 rows at most)
-- to one row per user. The two arrays are built over the same rows, so they pair up; neither
-- value may be NULL (groupArray drops NULLs, which would shift one array against the other): an
-- event without a person_id gives '', which usertrack takes as a person of that distinct_id alone.
SELECT
    e.email AS email,
    groupArray(e.pid) AS person_ids,
    groupArray(e.did) AS distinct_ids
FROM (
    SELECT
        lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
        coalesce(toString(person_id), '') AS pid,
        coalesce(distinct_id, '') AS did
    FROM events
    WHERE timestamp <= toDateTime({as_of}, 'UTC')
      AND notEmpty(JSONExtractString(person.properties, 'email'))
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
    GROUP BY email, pid, did
) AS e
GROUP BY e.email
ORDER BY email
