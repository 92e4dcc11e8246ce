-- name: session_summary
-- description: The figures of the sessions in a date range, worked out in the query: counts, duration total and median, bounces, length buckets and the top entry/exit pages, devices, browsers and countries (sessions, live).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param top: 10
--
-- The same sessions as session_facts.sql (docs/metrics.md, "Sessions"), aggregated where the
-- events are, as PostHog's own web analytics runners do, so that PostHog answers a few dozen
-- rows rather than one per session (usertrack/analytics/sessions/run.py reads them). A session is
-- all events of one $session_id (the first part of `s`); events without one are grouped per
-- person into sessions by a gap of 30 minutes or more since the previous such event (the
-- second part: lagInFrame and a running sum over the person's events in time order, ties by
-- uuid). A session's first and last event are those of the earliest and latest time, ties by
-- uuid (the least first, the greatest last), so the answer never depends on the order
-- ClickHouse reads the rows in. They are picked by one text `key`: the event's microseconds
-- since {since} plus 10^15 (16 digits for any range under 285 years), then its uuid's 32 hex
-- digits (its dashes, at the same places in every uuid, left out), which orders as the pair
-- (time, uuid) does; ClickHouse compares a text key several times faster than a tuple (an
-- argMin over a tuple was two thirds of the query's time at 10.7 M events), and keeps a key of
-- up to 48 bytes inside each argMin's state, a longer one apart from it (with the uuid's 36
-- characters, 52 bytes: the grouping by session took 0.6 s more CPU, docs/performance.md).
-- `$session_id` is the events table's own column, as PostHog's sessions runners read it (no
-- JSON to parse for the split). The five properties an event gives are read in one
-- parse of its JSON, `JSONExtract(properties, 'Tuple(...)')`, rather than five
-- `properties.X` (each its own parse and quote-stripping regex: most of the query's time at
-- 10.7 M events, docs/performance.md). They read as JSONExtractString does: a string decoded
-- (`a\"b` is `a"b`, as the local engine and the store's session table have it), another value
-- its JSON text, a missing key or null NULL. Durations are whole microseconds; a bounce
-- (PostHog's `$is_bounce`, posthog/hogql/database/schema/sessions_v2.py) is exactly one
-- $pageview, no $autocapture and under 10 whole seconds as dateDiff('second') counts them
-- (the second boundaries crossed), as its `$session_duration` does. Each session
-- then counts once for each of seven kinds (`k`), with its person (its first event's, as its
-- rank among the range's persons, `dense_rank`: `users` counts distinct ones, and a number
-- is cheaper to copy seven times and count than the person's text): 0 all sessions (with the
-- duration total, the exact median: the mean of the lower and upper middle durations,
-- medianExactLow and medianExactHigh, as ClickHouse's quantileExactInclusive(0.5) gives it,
-- which HogQL lacks, NULL for the other kinds; the bounces and the sessions with a pageview), 1 its length bucket (0-30s, 30s-2m, 2m-5m, 5m-15m, 15m-30m, 30m+ as 0..5), 2 its
-- entry page, 3 its exit page (no row for none), 4 its device type, 5 browser, 6 country (''
-- for none). The seven are fanned out as (k, value) pairs, one arrayJoin of tuples, so that a
-- session's row is copied with its value only, not with all six texts it holds (0.3 to 0.8 s of
-- ClickHouse's CPU at 10.7 M events, docs/performance.md). Per kind, the first
-- {top} values by sessions, ties by value with '' last. A missing text is '' throughout.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT k, value, sessions, users, total_us, median_us, bounces, with_pageview
FROM (
    SELECT
        k,
        value,
        count() AS sessions,
        uniqExact(person) AS users,
        sum(us) AS total_us,
        (medianExactLow(CASE WHEN k = 0 THEN us ELSE NULL END) + medianExactHigh(CASE WHEN k = 0 THEN us ELSE NULL END)) / 2 AS median_us,
        sum(bounce) AS bounces,
        sum(viewed) AS with_pageview,
        row_number() OVER (PARTITION BY k ORDER BY count() DESC, value = '', value) AS place
    FROM (
        SELECT
            tupleElement(j.kv, 1) AS k,
            tupleElement(j.kv, 2) AS value,
            j.person AS person,
            j.us AS us,
            j.bounce AS bounce,
            j.viewed AS viewed
        FROM (
            SELECT
                arrayJoin([
                    tuple(0, ''),
                    tuple(1, toString(n.bucket)),
                    tuple(2, n.entry_page),
                    tuple(3, n.exit_page),
                    tuple(4, n.device_type),
                    tuple(5, n.browser),
                    tuple(6, n.country)
                ]) AS kv,
                n.person AS person,
                n.us AS us,
                n.bounce AS bounce,
                n.viewed AS viewed
            FROM (
                SELECT
                    dense_rank() OVER (ORDER BY s.person) AS person,
                    dateDiff('microsecond', s.first_at, s.last_at) AS us,
                    CASE WHEN us < 30000000 THEN 0
                        WHEN us < 120000000 THEN 1
                        WHEN us < 300000000 THEN 2
                        WHEN us < 900000000 THEN 3
                        WHEN us < 1800000000 THEN 4
                        ELSE 5
                    END AS bucket,
                    CASE WHEN s.pageviews = 1 AND s.autocaptures = 0
                       AND dateDiff('second', s.first_at, s.last_at) < 10 THEN 1 ELSE 0 END AS bounce,
                    CASE WHEN s.pageviews > 0 THEN 1 ELSE 0 END AS viewed,
                    s.entry_page AS entry_page,
                    s.exit_page AS exit_page,
                    s.device_type AS device_type,
                    s.browser AS browser,
                    s.country AS country
                FROM (
                    SELECT
                        argMin(e.actor, e.key) AS person,
                        min(e.at) AS first_at,
                        max(e.at) AS last_at,
                        countIf(e.event = '$pageview') AS pageviews,
                        countIf(e.event = '$autocapture') AS autocaptures,
                        coalesce(argMinIf(e.pathname, e.key, coalesce(e.current_url, '') != ''), '') AS entry_page,
                        coalesce(argMaxIf(e.pathname, e.key, coalesce(e.current_url, '') != ''), '') AS exit_page,
                        coalesce(argMin(e.device_type, e.key), '') AS device_type,
                        coalesce(argMin(e.browser, e.key), '') AS browser,
                        coalesce(argMin(e.country, e.key), '') AS country
                    FROM (
                        SELECT
                            $session_id AS sid,
                            toString(person_id) AS actor,
                            timestamp AS at,
                            concat(toString(dateDiff('microsecond', toDateTime({since}, 'UTC'), timestamp) + 1000000000000000), replaceAll(toString(uuid), '-', '')) AS key,
                            event AS event,
                            JSONExtract(properties, 'Tuple(`$pathname` Nullable(String), `$current_url` Nullable(String), `$device_type` Nullable(String), `$browser` Nullable(String), `$geoip_country_code` Nullable(String))') AS p,
                            tupleElement(p, '$pathname') AS pathname,
                            tupleElement(p, '$current_url') AS current_url,
                            tupleElement(p, '$device_type') AS device_type,
                            tupleElement(p, '$browser') AS browser,
                            tupleElement(p, '$geoip_country_code') AS country
                        FROM events
                        WHERE coalesce($session_id, '') != ''
                          AND timestamp >= toDateTime({since}, 'UTC')
                          AND timestamp < toDateTime({until}, 'UTC')
                          AND timestamp <= toDateTime({as_of}, 'UTC')
                          AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
                          AND {filters}
                    ) AS e
                    GROUP BY e.sid
                    UNION ALL
                    SELECT
                        g.actor AS person,
                        min(g.at) AS first_at,
                        max(g.at) AS last_at,
                        sum(g.pageview) AS pageviews,
                        sum(g.autocapture) AS autocaptures,
                        coalesce(argMinIf(g.page, g.key, g.page != ''), '') AS entry_page,
                        coalesce(argMaxIf(g.page, g.key, g.page != ''), '') AS exit_page,
                        coalesce(argMinIf(g.device_type, g.key, g.device_type != ''), '') AS device_type,
                        coalesce(argMinIf(g.browser, g.key, g.browser != ''), '') AS browser,
                        coalesce(argMinIf(g.country, g.key, g.country != ''), '') AS country
                    FROM (
                        SELECT
                            l.actor AS actor,
                            l.at AS at,
                            l.key AS key,
                            l.pageview AS pageview,
                            l.autocapture AS autocapture,
                            l.page AS page,
                            l.device_type AS device_type,
                            l.browser AS browser,
                            l.country AS country,
                            sum(CASE WHEN l.place = 1 OR l.at >= l.previous + toIntervalMinute(30) THEN 1 ELSE 0 END)
                                OVER (PARTITION BY l.actor ORDER BY l.at, l.key
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n
                        FROM (
                            SELECT
                                toString(person_id) AS actor,
                                timestamp AS at,
                                concat(toString(dateDiff('microsecond', toDateTime({since}, 'UTC'), timestamp) + 1000000000000000), replaceAll(toString(uuid), '-', '')) AS key,
                                CASE WHEN event = '$pageview' THEN 1 ELSE 0 END AS pageview,
                                CASE WHEN event = '$autocapture' THEN 1 ELSE 0 END AS autocapture,
                                JSONExtract(properties, 'Tuple(`$pathname` Nullable(String), `$current_url` Nullable(String), `$device_type` Nullable(String), `$browser` Nullable(String), `$geoip_country_code` Nullable(String))') AS p,
                                CASE WHEN coalesce(tupleElement(p, '$current_url'), '') != '' THEN coalesce(tupleElement(p, '$pathname'), '') ELSE '' END AS page,
                                coalesce(tupleElement(p, '$device_type'), '') AS device_type,
                                coalesce(tupleElement(p, '$browser'), '') AS browser,
                                coalesce(tupleElement(p, '$geoip_country_code'), '') AS country,
                                lagInFrame(timestamp) OVER (PARTITION BY toString(person_id) ORDER BY timestamp, toString(uuid)
                                                              ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS previous,
                                row_number() OVER (PARTITION BY toString(person_id) ORDER BY timestamp, toString(uuid)) AS place
                            FROM events
                            WHERE coalesce($session_id, '') = ''
                              AND timestamp >= toDateTime({since}, 'UTC')
                              AND timestamp < toDateTime({until}, 'UTC')
                              AND timestamp <= toDateTime({as_of}, 'UTC')
                              AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
                              AND {filters}
                        ) AS l
                    ) AS g
                    GROUP BY g.actor, g.n
                ) AS s
            ) AS n
        ) AS j
    ) AS v
    WHERE NOT ((v.k = 2 OR v.k = 3) AND v.value = '')
    GROUP BY k, value
) AS t
WHERE k <= 1 OR place <= {top}
ORDER BY k, place
