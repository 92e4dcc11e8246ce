-- name: funnel_events
-- description: Each person's funnel-step events in a date range (the funnel's facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param steps: <list>
-- param by:
-- param by_of: event
-- param by2:
-- param by2_of: event
-- param by3:
-- param by3_of: event
-- param by_sep: |
-- param every: 0
-- param emails: 1
--
-- The funnel itself (attempts, window, furthest step) is worked out by usertrack from these
-- rows (docs/metrics.md), so it runs the same on the demo, an events export and live PostHog,
-- whose windowFunnel the local engine does not have. One row per person: their step events
-- (only the funnel's event names, {steps}, bound as a list), inside the range, both ends
-- inclusive, and never after as_of, as arrays of the same order that usertrack unnests into a
-- row per event (usertrack/analytics/common.py `unnested`): PostHog sends a row per person, not
-- one per event. person_id is the actor (a person can have many distinct_ids). `breakdown` is
-- the event's breakdown value as text: its {by} property ('' when absent or when {by} is ''),
-- or with {by_of} = 'person' the person's property of that name, or with {by_of} = 'metadata'
-- the event's distinct_id (PostHog's breakdown types event, person and event_metadata); with
-- {by2} (and {by3}) the values of up to three breakdowns (PostHog's `breakdowns`, at most 3),
-- joined by {by_sep}, that usertrack splits again; `email` is the
-- person's email on that event, or '' with {emails} = 0 (a funnel that reads no email: an
-- email an event is most of the answer's bytes). Without {by}, no event's properties are
-- parsed. {steps} also holds the exclusion steps' events (--exclude); {every} = 1 (a strict
-- funnel, --order strict, where any other event between two steps breaks it) sends every event
-- of the range. No LIMIT: usertrack pages every result (PostHog returns 100 rows without a
-- LIMIT and caps any LIMIT at 50,000), so no person is lost. No ORDER BY: usertrack orders the
-- facts itself.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    e.person_id AS person_id,
    groupArray(e.at) AS timestamp,
    groupArray(e.step) AS event,
    groupArray(e.value) AS breakdown,
    groupArray(e.person_email) AS email
FROM (
    SELECT
        person_id,
        timestamp AS at,
        event AS step,
        concat(
            CASE WHEN {by} = '' THEN ''
                WHEN {by_of} = 'person' THEN coalesce(JSONExtractString(person.properties, {by}), '')
                WHEN {by_of} = 'metadata' THEN toString(distinct_id)
                ELSE coalesce(JSONExtractString(properties, {by}), '') END,
            CASE WHEN {by2} = '' THEN '' ELSE concat({by_sep}, CASE WHEN {by2_of} = 'person' THEN coalesce(JSONExtractString(person.properties, {by2}), '')
                WHEN {by2_of} = 'metadata' THEN toString(distinct_id)
                ELSE coalesce(JSONExtractString(properties, {by2}), '') END) END,
            CASE WHEN {by3} = '' THEN '' ELSE concat({by_sep}, CASE WHEN {by3_of} = 'person' THEN coalesce(JSONExtractString(person.properties, {by3}), '')
                WHEN {by3_of} = 'metadata' THEN toString(distinct_id)
                ELSE coalesce(JSONExtractString(properties, {by3}), '') END) END
        ) AS value,
        CASE WHEN {emails} = 1 THEN JSONExtractString(person.properties, 'email') ELSE '' END AS person_email
    FROM events
    WHERE (has({steps}, event) OR {every} = 1)
      AND timestamp >= toDateTime({since}, 'UTC')
      AND timestamp < toDateTime({until}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
) AS e
GROUP BY e.person_id
