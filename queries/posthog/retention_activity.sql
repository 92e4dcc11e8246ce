-- name: retention_activity
-- description: Per person and period: did they do the start event, the return event (retention's facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since:
-- param period:
-- param start_event:
-- param return_event:
--
-- One row per person and period (a UTC day, an ISO week from its Monday, or a calendar month;
-- {period} is day, week or month) from {since} (the first cohort period's start) to as_of, for
-- the people who did the start event in that span; cohorts and retained counts are worked out
-- by usertrack from these rows (docs/metrics.md). {return_event} '' means any event.
-- person_id is the actor (a person can have many distinct_ids). No LIMIT: usertrack pages every
-- result past PostHog's row caps.
-- No ORDER BY: usertrack orders the facts itself where it needs an order (and pages PostHog's
-- answer in an order of its own), so a sort here would only be done twice.
SELECT
    person_id,
    multiIf({period} = 'day', toDate(timestamp),
            {period} = 'week', toMonday(timestamp),
            toStartOfMonth(timestamp)) AS period_start,
    countIf(event = {start_event}) > 0 AS did_start,
    countIf({return_event} = '' OR event = {return_event}) > 0 AS did_return
FROM events
WHERE timestamp >= toDateTime({since}, 'UTC')
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND person_id IN (
      SELECT person_id FROM events
      WHERE event = {start_event}
        AND timestamp >= toDateTime({since}, 'UTC')
        AND timestamp <= toDateTime({as_of}, 'UTC'))
GROUP BY person_id, period_start
