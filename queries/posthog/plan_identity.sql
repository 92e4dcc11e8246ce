-- name: plan_identity
-- description: Identification over the last N days: events and persons, how many are identified (the person has an email), persons with several distinct_ids, events from internal accounts (the tracking-plan audit).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param days: 30
--
-- Identified means the event's person has an email (person.properties.email): the definition
-- usertrack joins on, and what PostHog's identify() sets in most apps. Internal events are those
-- whose person email matches exclude_pattern (segments.yaml `exclude:`); they are counted here,
-- not left out. One row.
SELECT
    count() AS persons,
    countIf(identified_events > 0) AS identified_persons,
    countIf(distinct_ids > 1) AS multi_id_persons,
    max(distinct_ids) AS most_distinct_ids,
    sum(events) AS events,
    sum(identified_events) AS identified_events,
    sum(internal_events) AS internal_events
FROM (
    SELECT
        person_id,
        count() AS events,
        countIf(notEmpty(person.properties.email)) AS identified_events,
        countIf(match(lowerUTF8(trim(coalesce(person.properties.email, ''), ' \t\r\n')), {exclude_pattern})) AS internal_events,
        uniqExact(distinct_id) AS distinct_ids
    FROM events
    WHERE timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
      AND timestamp <= toDateTime({as_of}, 'UTC')
    GROUP BY person_id
)
