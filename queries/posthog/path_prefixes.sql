-- name: path_prefixes
-- description: How many of a date range's cut sequences begin with each of the given prefixes of paths, and with --to how many sequences follow each given approach before the goal: the completion, drop-off and conversion rate of paths' top paths (paths, live).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param pageviews: 1
-- param screens: 0
-- param custom_events: 1
-- param path_steps: 5
-- param path_from:
-- param path_to:
-- param prefixes: <list>
-- param approaches: []
--
-- paths_summary.sql's sequences, cut as it cuts them (docs/metrics.md, "Paths"): kept events
-- as path_events.sql keeps them (each one's node worked out once, as paths_summary.sql does);
-- per person in time order (ties by node), a sequence starts at
-- the first event and after a gap of 30 minutes or more, and a node equal to the one before it
-- collapses into it; each sequence from its first {path_from} node ('' for none) and, with a
-- {path_to}, up to the first such node after that (sequences without them are left out), to
-- its first (or, with an end, last) {path_steps} nodes (`path`). Each path gives each of its
-- prefixes (its first k nodes, k from 1), and the prefixes that are in {prefixes} (an array of
-- arrays of nodes: usertrack sends every prefix of the top paths paths_summary.sql answered)
-- are counted (kind 0): `sequences`, the cut sequences whose first k nodes are that prefix.
-- With a {path_to}, every sequence holding the {path_from} node (those that never reach
-- {path_to} too) also has an approach: its nodes from its first {path_from} node (or its start)
-- up to its first {path_to} node after it, or to its end (`approach`). The approaches in
-- {approaches} (usertrack sends each top path without its goal) are counted (kind 1):
-- `sequences`, the sequences that follow it, one shorter than {path_steps} - 1 nodes from the
-- approach's start (`starts`: such a path begins where its sequence does), one of
-- {path_steps} - 1 nodes anywhere in it (`windows`). The cut sequences alike are counted once,
-- with how many they are (`p`). A prefix or approach no sequence follows has no row.
-- usertrack sends it where paths_summary.sql answered no prefix counts or, with a --to, no
-- approach counts (an edited copy); otherwise paths_summary.sql counts both in the same query.
-- usertrack works each top path's completion, drop-off per step and conversion rate out of
-- them (usertrack/analytics/paths/completion.py, conversion.py).
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT kind, prefix, sequences
FROM (
    SELECT
        u.kind AS kind,
        u.prefix AS prefix,
        sum(u.alike) AS sequences
    FROM (
        SELECT
            tupleElement(c.r, 1) AS kind,
            tupleElement(c.r, 2) AS prefix,
            c.alike AS alike
        FROM (
            SELECT
                arrayJoin(arrayConcat(
                    arrayMap(j -> tuple(0, arraySlice(p.path, 1, j)), range(1, length(p.path) + 1)),
                    arrayMap(x -> tuple(1, x), p.followed)
                )) AS r,
                p.alike AS alike
            FROM (
                SELECT
                    w.path AS path,
                    w.followed AS followed,
                    count() AS alike
                FROM (
                    SELECT
                        v.path AS path,
                        arrayFilter(x -> has({approaches}, x), arrayConcat(v.starts, v.windows)) AS followed
                    FROM (
                        SELECT
                            k.path AS path,
                            arrayMap(j -> arraySlice(k.approach, 1, j), arraySlice(range(0, length(k.approach) + 1), 1, {path_steps} - 1)) AS starts,
                            arrayDistinct(arrayMap(j -> arraySlice(k.approach, j, {path_steps} - 1), range(1, length(k.approach) - {path_steps} + 3))) AS windows
                        FROM (
                            SELECT
                                arraySlice(s.nodes, s.first, s.held * CASE WHEN {path_to} = '' THEN least({path_steps}, s.stop - s.first + 1) ELSE s.last - s.first + 1 END) AS path,
                                s.approach AS approach
                            FROM (
                                SELECT
                                    f.nodes AS nodes,
                                    f.stop AS stop,
                                    f.lo AS lo,
                                    CASE WHEN f.lo > 0 AND ({path_to} = '' OR f.found > 0) THEN 1 ELSE 0 END AS held,
                                    f.lo + CASE WHEN {path_to} = '' THEN 0 ELSE greatest(0, f.found - {path_steps}) END AS first,
                                    CASE WHEN {path_to} = '' THEN f.stop ELSE f.lo + f.found - 1 END AS last,
                                    arraySlice(f.nodes, greatest(f.lo, 1), CASE WHEN {path_to} = '' OR f.lo = 0 THEN 0 ELSE CASE WHEN f.found > 0 THEN f.found - 1 ELSE f.stop - f.lo + 1 END END) AS approach
                                FROM (
                                    SELECT
                                        q.actor AS actor,
                                        q.has_from AS has_from,
                                        q.has_to AS has_to,
                                        q.nodes AS nodes,
                                        q.stop AS stop,
                                        q.lo AS lo,
                                        CASE WHEN {path_to} = '' OR q.lo = 0 THEN 0 ELSE indexOf(arraySlice(q.nodes, q.lo), {path_to}) END - 0 AS found
                                    FROM (
                                        SELECT
                                            n.actor AS actor,
                                            has(n.nodes, {path_from}) AS has_from,
                                            has(n.nodes, {path_to}) AS has_to,
                                            n.nodes AS nodes,
                                            length(n.nodes) - 0 AS stop,
                                            CASE WHEN {path_from} = '' THEN 1 ELSE indexOf(n.nodes, {path_from}) END - 0 AS lo
                                        FROM (
                                            SELECT
                                                r.actor AS actor,
                                                arrayMap(x -> tupleElement(x, 1), r.sequence) AS nodes
                                            FROM (
                                                SELECT
                                                    m.actor AS actor,
                                                    arrayJoin(arraySplit(x -> tupleElement(x, 2), arrayFilter(x -> tupleElement(x, 2) OR tupleElement(x, 3), m.marks))) AS sequence
                                                FROM (
                                                    SELECT
                                                        b.actor AS actor,
                                                        arrayMap(x -> tuple(tupleElement(x, 2), tupleElement(x, 1) >= tupleElement(x, 3), tupleElement(x, 2) != tupleElement(x, 4)), arrayZip(b.ats, b.nodes, b.before_ends, b.before_nodes)) AS marks
                                                    FROM (
                                                        SELECT
                                                            a.actor AS actor,
                                                            a.ats AS ats,
                                                            a.nodes AS nodes,
                                                            arrayConcat([a.first_at], arraySlice(a.ends, 1, length(a.ends) - 1)) AS before_ends,
                                                            arrayConcat([''], arraySlice(a.nodes, 1, length(a.nodes) - 1)) AS before_nodes
                                                        FROM (
                                                            SELECT
                                                                g.actor AS actor,
                                                                g.first_at AS first_at,
                                                                arrayMap(x -> tupleElement(x, 1), g.events) AS ats,
                                                                arrayMap(x -> tupleElement(x, 2), g.events) AS nodes,
                                                                arrayMap(x -> tupleElement(x, 1) + toIntervalMinute(30), g.events) AS ends
                                                            FROM (
                                                                SELECT
                                                                    e.actor AS actor,
                                                                    arraySort(groupArray(tuple(e.at, e.node))) AS events,
                                                                    min(e.at) AS first_at
                                                                FROM (
                                                                    SELECT
                                                                        person_id AS actor,
                                                                        timestamp AS at,
                                                                        CASE WHEN event = '$pageview' THEN replaceRegexpAll(coalesce(properties.$pathname, ''), '(.)/$', '\\1') WHEN event = '$screen' THEN coalesce(properties.$screen_name, '') ELSE event END AS node
                                                                    FROM events
                                                                    WHERE ((event = '$pageview' AND {pageviews} = 1) OR (event = '$screen' AND {screens} = 1) OR (NOT startsWith(event, '$') AND {custom_events} = 1))
                                                                      AND timestamp >= toDateTime({since}, 'UTC')
                                                                      AND timestamp < toDateTime({until}, 'UTC')
                                                                      AND timestamp <= toDateTime({as_of}, 'UTC')
                                                                      AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
                                                                      AND {filters}
                                                                ) AS e
                                                                WHERE e.node != ''
                                                                GROUP BY e.actor
                                                            ) AS g
                                                        ) AS a
                                                    ) AS b
                                                ) AS m
                                            ) AS r
                                        ) AS n
                                    ) AS q
                                ) AS f
                            ) AS s
                            WHERE s.lo > 0
                        ) AS k
                    ) AS v
                ) AS w
                GROUP BY path, followed
            ) AS p
        ) AS c
    ) AS u
    WHERE (u.kind = 0 AND has({prefixes}, u.prefix)) OR u.kind = 1
    GROUP BY u.kind, u.prefix
) AS t
ORDER BY kind, prefix
