-- name: funnel_first_times
-- description: Each person's first event ever of each event a funnel step counts the first time of (first:EVENT).
-- returns: table
-- param as_of: now
-- param until: <moment>
-- param events: <list>
-- param by:
--
-- PostHog's first-time-for-user funnel step (FunnelMathType.FIRST_TIME_FOR_USER, in
-- posthog/hogql_queries/insights/funnels/base.py, and FirstTimeForUserAggregationQuery) counts
-- a person's first event of that name ever, all history up to the range's end, not the first
-- in the range: so this reads every event of those names ({events}, a list) before {until} and
-- never after as_of, with no start. One row per person, event and value of the {by} property
-- ('' when {by} is ''), with its first time: usertrack keeps, of the funnel's facts, the
-- events at a person's first time (the first of any value, or of the step's value for
-- first-matching:EVENT:PROPERTY=VALUE, PostHog's FIRST_TIME_FOR_USER_WITH_FILTERS). No
-- {filters}: as in PostHog, the first time is the person's first ever, whatever --where
-- keeps. No LIMIT: usertrack pages every result. No ORDER BY: usertrack reads it by key.
SELECT
    person_id,
    event,
    CASE WHEN {by} = '' THEN '' ELSE coalesce(JSONExtractString(properties, {by}), '') END AS step_value,
    min(timestamp) AS first_at
FROM events
WHERE has({events}, event)
  AND timestamp < toDateTime({until}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
GROUP BY person_id, event, step_value
