-- name: mcp_clicks
-- description: MCP connect clicks per person over the last 30 days, and which MCP servers they clicked.
-- returns: per-user
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- The analyst workflow's "MCP Connect Clicks" query, as of a moment instead of now(). Window: (as_of - 30 days, as_of].
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
GROUP BY email
