-- name: path_events
-- description: Each person's path events in a date range: pageviews by pathname, screens by name and custom events by name, as chosen (paths' facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param pageviews: 1
-- param screens: 0
-- param custom_events: 1
--
-- PostHog's paths (posthog/hogql_queries/insights/paths_query_runner.py) keep the kinds of
-- event its `includeEventTypes` names (`_get_event_query`), here {pageviews}, {screens} and
-- {custom_events} (1 keeps them): $pageview (the node is its $pathname without one trailing
-- slash, `/pricing/` as `/pricing` but `/` as it is: `construct_event_hogql`'s
-- replaceRegexpAll(..., '(.)/$', '\1')), $screen (the node is its $screen_name, as
-- `construct_event_hogql` takes it) and custom events (the node is the event name, as it is);
-- other $-events are left out, as is a pageview without a pathname or a screen without a
-- name. One row per person: their kept events as
-- two arrays of the same order (time, node) that usertrack unnests into a row per event
-- (usertrack/analytics/common.py `unnested`): PostHog sends a row per person, not one per
-- event. Sequences, duplicates and steps are worked out by usertrack (docs/metrics.md,
-- "Paths"). person_id is the actor (a person can have many distinct_ids). No LIMIT: usertrack
-- pages every result past PostHog's row caps. No ORDER BY: usertrack orders the facts itself.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    e.person_id AS person_id,
    groupArray(e.at) AS timestamp,
    groupArray(e.step) AS node
FROM (
    SELECT
        person_id,
        timestamp AS at,
        CASE WHEN event = '$pageview' THEN replaceRegexpAll(properties.$pathname, '(.)/$', '\\1') WHEN event = '$screen' THEN properties.$screen_name ELSE event END AS step
    FROM events
    WHERE ((event = '$pageview' AND {pageviews} = 1) OR (event = '$screen' AND {screens} = 1) OR (NOT startsWith(event, '$') AND {custom_events} = 1))
      AND CASE WHEN event = '$pageview' THEN coalesce(properties.$pathname, '') WHEN event = '$screen' THEN coalesce(properties.$screen_name, '') ELSE event END != ''
      AND timestamp >= toDateTime({since}, 'UTC')
      AND timestamp < toDateTime({until}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
) AS e
GROUP BY e.person_id
