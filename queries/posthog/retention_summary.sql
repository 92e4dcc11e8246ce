-- name: retention_summary
-- description: Retention's cohorts and retained persons, counted in the query: per cohort period and later period, the persons (retention, live).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param period:
-- param mode:
-- param start_event:
-- param return_event:
-- param start_property:
-- param start_value:
-- param return_property:
-- param return_value:
-- param min_occurrences: 1
-- param week_start: monday
-- param cumulative: 0
--
-- The same cohorts as retention_activity.sql and retention_first_starts.sql (docs/metrics.md,
-- "Retention"), counted where the events are, as PostHog's own retention runner does, so that
-- PostHog answers a row per cohort and period rather than one per person
-- (usertrack/analytics/retention/run.py reads them). Periods are a UTC day, an ISO week from its
-- Monday (from its Sunday when {week_start} is sunday), a calendar month or a UTC hour
-- (PostHog's toStartOfHour) ({period}: day, week, month or hour), each named by its first
-- instant, a DateTime. Each event's period, and whether it is a start and a return event, are
-- worked out once, in the innermost level (PostHog's parser costs far more for each call a
-- token sits in than for an operator: the text says each once, with few calls around it). Per
-- person, one pass over their events from {since} (the first cohort period's start) to as_of,
-- and in first-time mode their start events before it too: the first start event ever, and
-- the periods from {since} in which they did the start event and the return event
-- ({start_event} or {return_event} '' means any event, PostHog's All events). With {min_occurrences} above 1 (PostHog's
-- minimumOccurrences), a return period is one with that many return events: a period found
-- that many times in each_return (a period per return event). A person's cohorts
-- ({mode}): first-time, the period of their first start event ever when it is from {since} on;
-- recurring, every period from {since} with a start event. Each (cohort, period) row counts the
-- persons of the cohort: `period` = `cohort` is the cohort's size, a later period the persons
-- of the cohort who did the return event in it. With {cumulative} 1 (PostHog's cumulative,
-- "rolling" retention), a later period counts instead the persons whose last return after the
-- cohort is in it (the greatest of the cohort and its returns), and usertrack counts each of
-- them in every period up to that one. A person counts once per row (their periods are
-- distinct); in recurring mode a person is in each of their cohorts. Periods past as_of's last
-- begun one are left to usertrack, which keeps the cohorts it shows. person_id is the actor (a
-- person can have many distinct_ids). No LIMIT: at most (periods x periods + periods) / 2 rows,
-- paged by usertrack past PostHog's 100-row default. {filters} is PostHog's filter slot: TRUE,
-- or the --where expressions, ANDed (usertrack/analytics/where.py).
-- A start event counts only when {start_property} is '' or its event property of that name is
-- {start_value} (as text, as a funnel step EVENT:PROPERTY=VALUE matches; PostHog's targetEntity
-- with properties); a return event likewise with {return_property} and {return_value}
-- (returningEntity).
SELECT
    r.cohort AS cohort,
    r.later AS period,
    count() AS persons
FROM (
    SELECT
        c.cohort AS cohort,
        arrayJoin(arrayConcat([c.cohort], arrayFilter(
            x -> x > c.cohort AND ({cumulative} = 0 OR x >= arraySort(c.returns)[-1]), c.returns))) AS later
    FROM (
        SELECT
            arrayJoin(CASE WHEN {mode} = 'first-time'
                         THEN arrayFilter(x -> x >= toDateTime({since}, 'UTC'), [p.first_start])
                         ELSE p.starts END) AS cohort,
            CASE WHEN {min_occurrences} > 1
               THEN arrayFilter(x -> length(arrayFilter(y -> y = x, p.each_return)) >= {min_occurrences}, p.returns)
               ELSE p.returns END AS returns
        FROM (
            SELECT
                e.person_id AS person_id,
                minIf(e.period_start, e.is_start) AS first_start,
                arrayDistinct(groupArrayIf(e.period_start, e.is_start AND e.in_range)) AS starts,
                arrayDistinct(groupArrayIf(e.period_start, e.is_return AND e.in_range)) AS returns,
                groupArrayIf(e.period_start, {min_occurrences} > 1 AND e.is_return AND e.in_range) AS each_return
            FROM (
                SELECT
                    person_id,
                    CASE WHEN {period} = 'day' THEN toDate(timestamp)
                         WHEN {period} = 'week' AND {week_start} = 'sunday' THEN toStartOfWeek(timestamp, 0)
                         WHEN {period} = 'week' THEN toMonday(timestamp)
                         WHEN {period} = 'hour' THEN toStartOfHour(timestamp)
                         ELSE toStartOfMonth(timestamp) END AS period_start,
                    ({start_event} = '' OR event = {start_event})
                        AND ({start_property} = '' OR JSONExtractString(properties, {start_property}) = {start_value}) AS is_start,
                    ({return_event} = '' OR event = {return_event})
                        AND ({return_property} = '' OR JSONExtractString(properties, {return_property}) = {return_value}) AS is_return,
                    timestamp >= toDateTime({since}, 'UTC') AS in_range
                FROM events
                WHERE timestamp <= toDateTime({as_of}, 'UTC')
                  AND (timestamp >= toDateTime({since}, 'UTC')
                       OR ({mode} = 'first-time' AND ({start_event} = '' OR event = {start_event})))
                  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
                  AND {filters}
            ) AS e
            GROUP BY e.person_id
        ) AS p
    ) AS c
) AS r
GROUP BY r.cohort, r.later
ORDER BY cohort, period
