-- name: activity_summary
-- description: Active users per day (DAU, WAU, MAU), the weekly lifecycle and the persons per number of active days, counted in the query (activity, live).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param first_day:
-- param days: 30
-- param first_week:
-- param periods: 8
-- param week_start: monday
--
-- The same figures usertrack works out from activity_days.sql and activity_created.sql
-- (docs/metrics.md, "Active users", "Stickiness", "Lifecycle"), counted where the events are,
-- as PostHog's own trends and lifecycle runners do, so that PostHog answers a row per day and
-- week rather than one per person (usertrack/analytics/activity/run.py reads them). Per person,
-- one pass over their events from {since} (00:00 UTC of the earliest day any window needs) up
-- to as_of, for the UTC days and weeks they were active, as numbers counted from {first_day}
-- and {first_week} (-1 is the day or week before). A week starts on Monday (ISO), or on Sunday
-- when {week_start} is sunday: then each moment is counted a day later from a day after
-- {first_week}, so that a Monday week's number is the Sunday week's. The events are grouped by
-- person and day first (`e`), and each active day's week worked out from its midnight (`h`: the
-- week of any moment of a day is its midnight's), not each event's: a plain grouping of every
-- event and a week per day, where a distinct array of days and one of weeks kept per person for
-- every event took a sixth more of ClickHouse's time. Then, in rows of three kinds
-- (`kind`):
-- 0, for each of the {days} days from {first_day} (`i` = 0 ... days - 1): in `a` the persons
--    active that day (DAU), in `b` on one of it and the 6 days before (WAU), in `c` on one of
--    it and the 29 before (MAU);
-- 1, for each of the {periods} weeks from {first_week} (a Monday, or a Sunday; `i` = 0 ...
--    periods - 1),
--    PostHog's lifecycle of the persons active in it: `a` new (created that week: the persons
--    table's created_at, up to as_of), `b` returning (active the week before), `c`
--    resurrecting (neither), and in `d` the dormant (active the week before, not this week);
-- 2, for each number n >= 1 of the {days} days a person was active on (`i` = n): in `a` the
--    persons active on exactly n of them (stickiness; no row for a number nobody has).
-- Events without a person are one "person" that is never returning and is dormant after every
-- week it was active (a person is known by their person_id). person_id is the actor (a
-- person's several distinct_ids are one person). No LIMIT: at most days x 2 + periods rows,
-- paged by usertrack past PostHog's 100-row default.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    y.kind AS kind,
    y.i AS i,
    sum(y.a) AS a,
    sum(y.b) AS b,
    sum(y.c) AS c,
    sum(y.d) AS d
FROM (
    SELECT
        x.kind AS kind,
        if(x.kind = 2, toInt64(length(arrayFilter(t -> t >= 0 AND t < {days}, x.days))), x.i) AS i,
        multiIf(
            x.kind = 0, if(has(x.days, x.i), 1, 0),
            x.kind = 1, if(has(x.weeks, x.i) AND x.created_week = x.i, 1, 0),
            1) AS a,
        multiIf(
            x.kind = 0, if(length(arrayFilter(t -> t >= x.i - 6 AND t <= x.i, x.days)) > 0, 1, 0),
            x.kind = 1, if(has(x.weeks, x.i) AND NOT x.created_week = x.i
                           AND x.known AND has(x.weeks, x.i - 1), 1, 0),
            0) AS b,
        multiIf(
            x.kind = 0, if(length(arrayFilter(t -> t >= x.i - 29 AND t <= x.i, x.days)) > 0, 1, 0),
            x.kind = 1, if(has(x.weeks, x.i) AND NOT x.created_week = x.i
                           AND NOT (x.known AND has(x.weeks, x.i - 1)), 1, 0),
            0) AS c,
        if(x.kind = 1 AND has(x.weeks, x.i - 1) AND NOT (x.known AND has(x.weeks, x.i)), 1, 0) AS d
    FROM (
        SELECT
            multiIf(s.slot < {days}, 0, s.slot < {days} + {periods}, 1, 2) AS kind,
            toInt64(multiIf(s.slot < {days}, s.slot, s.slot < {days} + {periods}, s.slot - {days}, 0)) AS i,
            s.days AS days,
            s.weeks AS weeks,
            s.known AS known,
            s.created_week AS created_week
        FROM (
            SELECT
                p.days AS days,
                p.weeks AS weeks,
                isNotNull(p.person_id) AS known,
                if({week_start} = 'sunday',
                   dateDiff('week', toDateTime({first_week}, 'UTC') + INTERVAL 1 DAY, c.created_at + INTERVAL 1 DAY),
                   dateDiff('week', toDateTime({first_week}, 'UTC'), c.created_at)) AS created_week,
                toInt64(arrayJoin(range({days} + {periods} + 1))) AS slot
            FROM (
                SELECT
                    h.person_id AS person_id,
                    groupArray(h.day) AS days,
                    groupUniqArray(if({week_start} = 'sunday',
                        dateDiff('week', toDateTime({first_week}, 'UTC') + INTERVAL 1 DAY, h.midnight + INTERVAL 1 DAY),
                        dateDiff('week', toDateTime({first_week}, 'UTC'), h.midnight))) AS weeks
                FROM (
                    SELECT
                        e.person_id AS person_id,
                        e.day AS day,
                        toDateTime({first_day}, 'UTC') + toIntervalDay(e.day) AS midnight
                    FROM (
                        SELECT
                            person_id,
                            dateDiff('day', toDateTime({first_day}, 'UTC'), timestamp) AS day
                        FROM events
                        WHERE timestamp >= toDateTime({since}, 'UTC')
                          AND timestamp <= toDateTime({as_of}, 'UTC')
                          AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
                          AND {filters}
                        GROUP BY person_id, day
                    ) AS e
                ) AS h
                GROUP BY h.person_id
            ) AS p
            LEFT JOIN (
                SELECT id AS person_id, created_at
                FROM persons
                WHERE created_at >= toDateTime({first_week}, 'UTC')
                  AND created_at <= toDateTime({as_of}, 'UTC')
            ) AS c ON c.person_id = p.person_id
        ) AS s
    ) AS x
) AS y
WHERE y.kind != 2 OR y.i > 0
GROUP BY y.kind, y.i
ORDER BY kind, i
