-- name: user_mcp_servers
-- description: The MCP servers one person clicked to connect, up to as_of: clicks, first and last click (the analyst workflow's deep-dive query).
-- returns: table
-- param as_of: now
-- param email:
-- param exclude_pattern: @datagen\.dev$
--
-- The analyst workflow's "MCP Servers User Clicked" with the email as a bound value (the caller passes it
-- normalized as in usertrack/core/emails.py), over all time up to as_of, as the workflow asks.
SELECT
    properties.template_name AS mcp_server,
    -- text: PostHog reads a property it has typed Numeric as Float64 (53.0); as text it is '53'
    toString(properties.template_id) AS template_id,
    count() AS clicks,
    min(timestamp) AS first_click,
    max(timestamp) AS last_click
FROM events
WHERE event = 'mcp_connect_clicked'
  AND lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')) = {email}
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND timestamp <= toDateTime({as_of}, 'UTC')
GROUP BY mcp_server, template_id
ORDER BY clicks DESC, mcp_server
