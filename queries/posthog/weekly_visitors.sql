-- name: weekly_visitors
-- description: Visitors of the last N days (people with a $pageview) and how many of them clicked to connect an MCP server.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 7
--
-- The analyst workflow's "MCP connect rate": the share of the window's visitors who fired mcp_connect_clicked.
-- Anonymous visitors count (they have a person_id); internal accounts do not. Window: (as_of - N days, as_of].
SELECT
    countIf(visited) AS visitors,
    countIf(visited AND clicked) AS mcp_clickers
FROM (
    SELECT
        person_id,
        countIf(event = '$pageview') > 0 AS visited,
        countIf(event = 'mcp_connect_clicked') > 0 AS clicked
    FROM events
    WHERE event IN ('$pageview', 'mcp_connect_clicked')
      AND timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
    GROUP BY person_id
)
