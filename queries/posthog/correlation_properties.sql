-- name: correlation_properties
-- description: For funnel correlation: the given person properties of each person who did step 1 in a range (funnel --correlation-properties' facts).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param event:
-- param keys: <list>
--
-- PostHog's property correlation (posthog/hogql_queries/insights/funnels/
-- funnel_correlation_query_runner.py, `get_properties_query`) reads each funnel person's current
-- properties from the persons table, one (property, value) per person and property, a missing
-- one as ''. One row per person who did step 1 ({event}) in the range and property ({keys},
-- bound as a list); `present` says whether the person has the key at all. A string is its text;
-- another JSON value (a number, a boolean) its JSON text, where PostHog's JSONExtractString
-- would give '' ('3', 'true'); null is ''. {filters} (TRUE, or the --where expressions, ANDed)
-- applies to the step-1 events, as in the funnel. Internal accounts are left out. No LIMIT:
-- usertrack pages every result.
SELECT
    id AS person_id,
    key,
    CASE WHEN JSONHas(properties, key) AND JSONType(properties, key) = 'String'
       THEN JSONExtractString(properties, key)
       ELSE CASE WHEN JSONHas(properties, key) AND JSONType(properties, key) != 'Null'
          THEN coalesce(toString(JSONExtractRaw(properties, key)), '') ELSE '' END END AS value,
    CASE WHEN JSONHas(properties, key) THEN 1 ELSE 0 END AS present
FROM (
    SELECT id, properties, arrayJoin({keys}) AS key
    FROM persons
    WHERE id IN (
        SELECT person_id FROM events
        WHERE event = {event}
          AND timestamp >= toDateTime({since}, 'UTC')
          AND timestamp < toDateTime({until}, 'UTC')
          AND timestamp <= toDateTime({as_of}, 'UTC')
          AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
          AND {filters}
    )
)
