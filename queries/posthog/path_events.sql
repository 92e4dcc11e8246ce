-- name: path_events
-- description: Each person's path events in a date range: pageviews by pathname and custom events by name (paths' facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since:
-- param until:
--
-- PostHog's paths (posthog/hogql_queries/insights/paths/paths_query_runner.py) keep $pageview
-- (the node is its $pathname) and custom events (the node is the event name); other $-events
-- are left out, as is a pageview without a pathname. Sequences, duplicates and steps are worked
-- out by usertrack from these rows (docs/metrics.md, "Paths"). person_id is the actor (a person
-- can have many distinct_ids). No LIMIT: usertrack pages every result past PostHog's row caps.
-- No ORDER BY: usertrack orders the facts itself where it needs an order (and pages PostHog's
-- answer in an order of its own), so a sort here would only be done twice.
SELECT
    person_id,
    timestamp,
    if(event = '$pageview', properties.$pathname, event) AS node
FROM events
WHERE (event = '$pageview' OR NOT startsWith(event, '$'))
  AND if(event = '$pageview', coalesce(properties.$pathname, ''), event) != ''
  AND timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({until}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
