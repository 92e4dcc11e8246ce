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
-- The inner columns are named apart from the outer aliases: ClickHouse sees an alias in the whole
-- SELECT, so an outer `sum(identified_events) AS identified_events` would capture the inner
-- column inside countIf (ILLEGAL_AGGREGATION on PostHog).
SELECT
    count() AS persons,
    countIf(person_identified_events > 0) AS identified_persons,
    countIf(person_distinct_ids > 1) AS multi_id_persons,
    max(person_distinct_ids) AS most_distinct_ids,
    sum(person_events) AS events,
    sum(person_identified_events) AS identified_events,
    sum(person_internal_events) AS internal_events
FROM (
    SELECT
        person_id,
        count() AS person_events,
        countIf(notEmpty(JSONExtractString(person.properties, 'email'))) AS person_identified_events,
        countIf(match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})) AS person_internal_events,
        uniqExact(distinct_id) AS person_distinct_ids
    FROM events
    WHERE timestamp > toDateTime({as_of}, 'UTC') - toIntervalDay({days})
      AND timestamp <= toDateTime({as_of}, 'UTC')
    GROUP BY person_id
)
