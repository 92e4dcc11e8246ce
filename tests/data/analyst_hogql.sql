-- The HogQL queries of the analyst workflow, one per block; blocks are separated by a dashes line.
-- The deep-dive queries used a '{EMAIL}' text substitution; here they take an {email} placeholder.
-- event_overview
SELECT event, count() as count FROM events WHERE timestamp > now() - INTERVAL 7 DAY AND person.properties.email NOT LIKE '%@datagen.dev' GROUP BY event ORDER BY count DESC
-- ---
-- mcp_connect_clicks
SELECT person.properties.email as email, count() as click_count, groupArray(properties.template_name) as mcp_servers, any(properties.$referring_domain) as referrer, min(timestamp) as first_click, max(timestamp) as last_click FROM events WHERE event = 'mcp_connect_clicked' AND person.properties.email NOT LIKE '%@datagen.dev' AND timestamp > now() - INTERVAL 30 DAY GROUP BY email ORDER BY click_count DESC
-- ---
-- traffic_sources
SELECT properties.$referring_domain as referrer, count() as visits, count(DISTINCT person_id) as unique_visitors FROM events WHERE event = '$pageview' AND timestamp > now() - INTERVAL 30 DAY GROUP BY referrer ORDER BY visits DESC LIMIT 20
-- ---
-- traffic_by_country
SELECT properties.$geoip_country_code as country, count() as visits, count(DISTINCT person_id) as unique_visitors FROM events WHERE event = '$pageview' AND timestamp > now() - INTERVAL 30 DAY GROUP BY country ORDER BY visits DESC LIMIT 15
-- ---
-- ux_issues
SELECT person.properties.email as email, event, properties.$pathname as page, timestamp FROM events WHERE event IN ('$rageclick', '$exception') AND person.properties.email NOT LIKE '%@datagen.dev' AND timestamp > now() - INTERVAL 7 DAY ORDER BY timestamp DESC LIMIT 20
-- ---
-- page_breakdown
SELECT properties.$pathname as page, count() as views, count(DISTINCT person_id) as unique_visitors FROM events WHERE event = '$pageview' AND timestamp > now() - INTERVAL 30 DAY GROUP BY page ORDER BY views DESC LIMIT 20
-- ---
-- user_journey
SELECT event, properties.$pathname as page, timestamp FROM events WHERE person.properties.email = {email} AND timestamp > now() - INTERVAL 30 DAY ORDER BY timestamp DESC LIMIT 100
-- ---
-- user_mcp_servers
SELECT properties.template_name as mcp_server, properties.template_id, count() as clicks, min(timestamp) as first_click FROM events WHERE event = 'mcp_connect_clicked' AND person.properties.email = {email} GROUP BY mcp_server, properties.template_id ORDER BY clicks DESC
