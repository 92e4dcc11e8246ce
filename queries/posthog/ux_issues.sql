-- name: ux_issues
-- description: Rage clicks and JavaScript exceptions per person over the last 7 days.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- The analyst workflow's "UX Issues" query aggregated per person. Window: (as_of - 7 days, as_of].
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
GROUP BY email
