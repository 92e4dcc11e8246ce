-- name: mcp_click_list
-- description: MCP connect clicks over the last N days per person, most clicks first: the servers clicked, the referring domains, first and last click.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
-- param segment_only: 0
-- param segment_emails: []
--
-- The analyst workflow's "MCP Connect Clicks (with user details)", as of a moment, for persons
-- with an email. Its `any(referrer)` is every referring domain of the clicks here, sorted
-- ('$direct' for none, as referrers.sql names it), so both engines give the same answer.
-- Window: (as_of - N days, as_of]. Ties are broken by email. segment_only as in mcp_clicks.sql.
SELECT
    lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
    count() AS clicks,
    arraySort(groupUniqArray(properties.template_name)) AS mcp_servers,
    arraySort(groupUniqArray(coalesce(nullif(properties.$referring_domain, ''), '$direct'))) AS referrers,
    min(timestamp) AS first_click,
    max(timestamp) AS last_click
FROM events
WHERE event = 'mcp_connect_clicked'
  AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND notEmpty(JSONExtractString(person.properties, 'email'))
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND ({segment_only} = 0
       OR lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n'))
          IN (SELECT arrayJoin(arrayConcat([''], {segment_emails}))))
GROUP BY email
ORDER BY clicks DESC, email
LIMIT 10000
