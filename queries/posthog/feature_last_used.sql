-- name: feature_last_used
-- description: Per feature (feature_used's feature property), its last use up to as_of (features --all-users: when an unused feature was last used).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
--
-- One row per feature ever used up to as_of ('' when feature_used had no `feature` property),
-- with its latest event. No LIMIT: usertrack pages every result.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    coalesce(toString(properties.feature), '') AS feature,
    max(timestamp) AS last_used
FROM events
WHERE event = 'feature_used'
  AND timestamp <= toDateTime({as_of}, 'UTC')
  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
  AND {filters}
GROUP BY feature
