-- name: ux_issues
-- description: Rage clicks and JavaScript exceptions per person over the last 7 days.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: 0
-- param segment_emails: []
--
-- The analyst workflow's "UX Issues" query aggregated per person. Window: (as_of - 7 days, as_of].
-- With segment_only = 1, only the persons whose email is in segment_emails (the people behind
-- one number, `--persons`), kept before anything is counted; else (the default) everyone.
-- '' leads the list: ClickHouse gives an empty list no type to compare with.
SELECT
    lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
    countIf(event = '$rageclick') AS rage_clicks,
    countIf(event = '$exception') AS exceptions,
    max(timestamp) AS last_ux_issue_at
FROM events
WHERE event IN ('$rageclick', '$exception')
  AND timestamp > toDateTime({as_of}, 'UTC') - INTERVAL 7 DAY
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND notEmpty(JSONExtractString(person.properties, 'email'))
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND ({segment_only} = 0
       OR lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n'))
          IN (SELECT arrayJoin(arrayConcat([''], {segment_emails}))))
GROUP BY email
