-- name: activity_summary
-- description: Active users per day (DAU, WAU, MAU), the weekly lifecycle, the persons per number of active days, the hour-of-week heatmap and each day's sessions and events, counted in the query (activity, live).
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
-- The same figures usertrack works out from activity_days.sql, activity_created.sql,
-- activity_hours.sql and activity_volume.sql (docs/metrics.md, "Active users", "Stickiness",
-- "Lifecycle"), counted where the events are, as PostHog's own trends and lifecycle runners
-- do, so that PostHog answers a row per day, week and weekday-hour rather than one per person
-- (usertrack/analytics/activity/run.py reads them), and reads the events once for all of them
-- (each read pays the test-account exclusion, a JSON parse per event). The events from
-- {since} (00:00 UTC of the earliest day any window needs) up to as_of are grouped by person
-- and UTC day (`e`), the days counted from {first_day} (-1 is the day before), and from
-- {first_day} on by hour of the week (`cell`: (weekday - 1) * 24 + hour, weekday 1 = Monday,
-- UTC) and `$session_id` too (`sid`: the events table's own column, as PostHog's runner reads
-- it, no properties JSON parsed for it). Each group's week is worked out from its day's
-- midnight (`h`: the week of any moment of a day is its midnight's), counted from
-- {first_week} (-1 is the week before). A week starts on Monday (ISO), or on Sunday when
-- {week_start} is sunday: then each moment is counted a day later from a day after
-- {first_week}, so that a Monday week's number is the Sunday week's. Per person (`g`), the
-- days and weeks they were active and, from {first_day}, their groups' cells, events and
-- sessions; then each person's rows, built as arrays of tuples (`x`: only a tuple is copied
-- as they fan out, not the person's arrays; each call nests at most four deep, as PostHog's
-- parser takes about five times longer per level of nested calls; rows of nothing but zeros
-- are left out), of five kinds (`kind`):
-- 0, for each of the {days} days from {first_day} (`i` = 0 ... days - 1): in `a` the persons
--    active that day (DAU), in `b` on one of it and the 6 days before (WAU), in `c` on one of
--    it and the 29 before (MAU);
-- 1, for each of the {periods} weeks from {first_week} (a Monday, or a Sunday; `i` = 0 ...
--    periods - 1),
--    PostHog's lifecycle of the persons active in it: `a` new (created that week: the persons
--    table's created_at, up to as_of), `b` returning (active the week before), `c`
--    resurrecting (neither), and in `d` the dormant (active the week before, not this week);
-- 2, for each number n >= 1 of the {days} days a person was active on (`i` = n): in `a` the
--    persons active on exactly n of them (stickiness; no row for a number nobody has);
-- 3, for each hour of the week with events from {first_day} (`i` = its cell), the heatmap: in
--    `a` its events, in `b` the persons with any (each person once: their groups' cells are
--    sorted, `hours`, and a person counts in the first of each run of a cell, so with no
--    search of the array per group; events without a person in none, as uniqExact skips a
--    NULL);
-- 4, for each of the {days} days with events (`i` as in kind 0): in `a` its events, in `b`
--    its sessions as PostHog's trends math `unique_session` counts them
--    (posthog/hogql_queries/insights/trends/aggregation_operations.py: count(DISTINCT
--    $session_id) per interval), distinct over every person's rows (`tag`), so a session
--    with events of two persons counts once and one with events on two days on both; events
--    without a $session_id are in no session (nullIf: PostHog's '' would count as one).
-- Events without a person are one "person" that is never returning and is dormant after every
-- week it was active (a person is known by their person_id). person_id is the actor (a
-- person's several distinct_ids are one person). No LIMIT: at most days x 3 + periods + 168
-- rows, paged by usertrack past PostHog's 100-row default.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    y.kind AS kind,
    y.i AS i,
    sum(y.a) AS a,
    CASE WHEN y.kind = 4 THEN uniqExact(y.tag) ELSE sum(y.b) END AS b,
    sum(y.c) AS c,
    sum(y.d) AS d
FROM (
    SELECT
        tupleElement(s.r, 1) AS kind,
        tupleElement(s.r, 2) AS i,
        tupleElement(s.r, 3) AS a,
        CASE WHEN tupleElement(s.r, 4) > 0 THEN 1 ELSE 0 END AS b,
        CASE WHEN tupleElement(s.r, 5) > 0 THEN 1 ELSE 0 END AS c,
        tupleElement(s.r, 6) AS d,
        tupleElement(s.r, 7) AS tag
    FROM (
        SELECT arrayJoin(arrayConcat(arrayFilter(t -> tupleElement(t, 5) > 0, x.day_rows), x.week_rows, [tuple(2, x.active, 1, 0, 0, 0, NULL)], x.hour_rows, x.volume_rows)) AS r
        FROM (
            SELECT
                arrayMap(j -> tuple(0, j, CASE WHEN has(p.days, j) THEN 1 ELSE 0 END,
                                    length(arrayFilter(t -> t >= j - 6 AND t <= j, p.days)),
                                    length(arrayFilter(t -> t >= j - 29 AND t <= j, p.days)), 0, NULL),
                         range(0, {days})) AS day_rows,
                arrayMap(w -> tuple(1, w,
                                    CASE WHEN has(p.weeks, w) AND p.created_week = w THEN 1 ELSE 0 END,
                                    CASE WHEN has(p.weeks, w) AND NOT p.created_week = w AND p.known AND has(p.weeks, w - 1) THEN 1 ELSE 0 END,
                                    CASE WHEN has(p.weeks, w) AND NOT p.created_week = w AND NOT (p.known AND has(p.weeks, w - 1)) THEN 1 ELSE 0 END,
                                    CASE WHEN has(p.weeks, w - 1) AND NOT (p.known AND has(p.weeks, w)) THEN 1 ELSE 0 END, NULL),
                         arrayFilter(w -> has(p.weeks, w) OR has(p.weeks, w - 1), range(0, {periods}))) AS week_rows,
                length(arrayFilter(t -> t >= 0 AND t < {days}, p.days)) - 0 AS active,
                arrayMap(k -> tuple(3, arrayElement(p.cells, k), arrayElement(p.counts, k),
                                    CASE WHEN p.known AND (k = 1 OR arrayElement(p.cells, k - 1) != arrayElement(p.cells, k)) THEN 1 ELSE 0 END, 0, 0, NULL),
                         range(1, length(p.cells) + 1)) AS hour_rows,
                arrayMap(t -> tuple(4, tupleElement(t, 1), tupleElement(t, 3), 0, 0, 0, tupleElement(t, 2)), p.visits) AS volume_rows
            FROM (
                SELECT
                    g.days AS days,
                    g.weeks AS weeks,
                    arrayMap(t -> tupleElement(t, 1), g.hours) AS cells,
                    arrayMap(t -> tupleElement(t, 2), g.hours) AS counts,
                    g.visits AS visits,
                    isNotNull(g.person_id) AS known,
                    CASE WHEN {week_start} = 'sunday'
                       THEN dateDiff('week', toDateTime({first_week}, 'UTC') + INTERVAL 1 DAY, c.created_at + INTERVAL 1 DAY)
                       ELSE dateDiff('week', toDateTime({first_week}, 'UTC'), c.created_at) END AS created_week
                FROM (
                    SELECT
                        h.person_id AS person_id,
                        groupUniqArray(h.day) AS days,
                        groupUniqArray(CASE WHEN {week_start} = 'sunday'
                            THEN dateDiff('week', toDateTime({first_week}, 'UTC') + INTERVAL 1 DAY, h.midnight + INTERVAL 1 DAY)
                            ELSE dateDiff('week', toDateTime({first_week}, 'UTC'), h.midnight) END) AS weeks,
                        arraySort(groupArrayIf(tuple(h.cell, h.events), h.day >= 0)) AS hours,
                        groupArrayIf(tuple(h.day, h.sid, h.events), h.day >= 0) AS visits
                    FROM (
                        SELECT
                            e.person_id AS person_id,
                            e.day AS day,
                            e.cell AS cell,
                            e.sid AS sid,
                            e.events AS events,
                            toDateTime({first_day}, 'UTC') + toIntervalDay(e.day) AS midnight
                        FROM (
                            SELECT
                                person_id,
                                dateDiff('day', toDateTime({first_day}, 'UTC'), timestamp) AS day,
                                CASE WHEN timestamp >= toDateTime({first_day}, 'UTC') THEN (toDayOfWeek(timestamp) - 1) * 24 + toHour(timestamp) ELSE -1 END AS cell,
                                CASE WHEN timestamp >= toDateTime({first_day}, 'UTC') THEN nullIf($session_id, '') ELSE NULL END AS sid,
                                count() AS events
                            FROM events
                            WHERE timestamp >= toDateTime({since}, 'UTC')
                              AND timestamp <= toDateTime({as_of}, 'UTC')
                              AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
                              AND {filters}
                            GROUP BY person_id, day, cell, sid
                        ) AS e
                    ) AS h
                    GROUP BY h.person_id
                ) AS g
                LEFT JOIN (
                    SELECT id AS person_id, created_at
                    FROM persons
                    WHERE created_at >= toDateTime({first_week}, 'UTC')
                      AND created_at <= toDateTime({as_of}, 'UTC')
                ) AS c ON c.person_id = g.person_id
            ) AS p
        ) AS x
    ) AS s
) AS y
WHERE y.kind != 2 OR y.i > 0
GROUP BY y.kind, y.i
ORDER BY kind, i
