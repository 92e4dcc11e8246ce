-- name: feature_retention
-- description: Per feature (feature_used's feature property, or the event name): the persons who used it in the first period and how many of them used it again in the next (features' retention).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param split:
-- param by: feature
--
-- Two periods of equal length, as feature_usage.sql's: the first (since, split] and the next
-- (split, as_of]. A feature's retention is the share of the persons who used it in the first
-- period who used it again in the next (docs/metrics.md, "Features"): `persons` counts the
-- first, `retained` those of them with a use in the next. A person who used it only in the next
-- period counts in neither. {by} 'feature' counts feature_used events by their `feature`
-- property ('' when it has none); 'event' counts every event by its name. person_id is the
-- actor (several distinct_ids are one person). No LIMIT: usertrack pages every result.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    feature,
    count() AS persons,
    countIf(later_uses > 0) AS retained
FROM (
    SELECT
        CASE WHEN {by} = 'event' THEN event ELSE coalesce(toString(properties.feature), '') END AS feature,
        person_id,
        countIf(timestamp <= toDateTime({split}, 'UTC')) AS first_uses,
        countIf(timestamp > toDateTime({split}, 'UTC')) AS later_uses
    FROM events
    WHERE timestamp > toDateTime({since}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND person_id IS NOT NULL
      AND ({by} = 'event' OR event = 'feature_used')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
    GROUP BY feature, person_id
)
WHERE first_uses > 0
GROUP BY feature
ORDER BY feature
