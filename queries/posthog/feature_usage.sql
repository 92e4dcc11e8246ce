-- name: feature_usage
-- description: Per feature (feature_used's feature property, or the event name) and period: uses, unique persons and the time spent (the events' duration property), this period and the one before.
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param split:
-- param by: feature
-- param duration: duration
--
-- Two periods of equal length: the previous one (since, split] and the current (split, as_of].
-- {by} 'feature' counts feature_used events by their `feature` property ('' when it has none);
-- 'event' counts every event by its name. person_id is the actor (several distinct_ids are one
-- person). No LIMIT: usertrack pages every result.
-- The inner query counts each person's uses, so the feature is read from the properties JSON once
-- per event (reading that column is most of this query's time) and the distinct persons are
-- counted over those few rows, not over every event.
-- Time spent: {duration} is the property the app sends with a use, in seconds (a JSON number;
-- any other value, or none, is left out): per feature and period the sum and the number of
-- uses that carry one (their mean is the average time spent).
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    feature,
    current,
    sum(uses) AS uses,
    uniqExact(person_id) AS persons,
    sum(timed) AS timed_uses,
    sum(seconds) AS seconds
FROM (
    SELECT
        if({by} = 'event', event, coalesce(toString(properties.feature), '')) AS feature,
        timestamp > toDateTime({split}, 'UTC') AS current,
        person_id,
        count() AS uses,
        countIf(JSONType(properties, {duration}) IN ('Int64', 'UInt64', 'Double')) AS timed,
        sum(if(JSONType(properties, {duration}) IN ('Int64', 'UInt64', 'Double'),
               toFloat(JSONExtractRaw(properties, {duration})), 0)) AS seconds
    FROM events
    WHERE timestamp > toDateTime({since}, 'UTC')
      AND timestamp <= toDateTime({as_of}, 'UTC')
      AND ({by} = 'event' OR event = 'feature_used')
      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
      AND {filters}
    GROUP BY feature, current, person_id
)
GROUP BY feature, current
ORDER BY feature, current
