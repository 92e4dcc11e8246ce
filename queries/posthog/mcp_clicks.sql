-- name: mcp_clicks
-- description: MCP connect clicks per person over the last 30 days, and which MCP servers they clicked.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param segment_only: 0
-- param segment_emails: []
--
-- The analyst workflow's "MCP Connect Clicks" query, as of a moment instead of now(). Window: (as_of - 30 days, as_of].
-- With segment_only = 1, only the persons whose email is in segment_emails (the people behind
-- one number, `--persons`), kept before anything is counted; else (the default) everyone.
-- '' leads the list: ClickHouse gives an empty list no type to compare with.
SELECT
    lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) AS email,
    count() AS mcp_connect_clicks,
    arraySort(groupUniqArray(properties.template_name)) AS mcp_servers,  -- sorted: groupUniqArray has no order
    min(timestamp) AS first_mcp_click_at,
    max(timestamp) AS last_mcp_click_at
FROM events
WHERE event = 'mcp_connect_clicked'
  AND timestamp > toDateTime({as_of}, 'UTC') - INTERVAL 30 DAY
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND notEmpty(JSONExtractString(person.properties, 'email'))
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND ({segment_only} = 0
       OR lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n'))
          IN (SELECT arrayJoin(arrayConcat([''], {segment_emails}))))
GROUP BY email
