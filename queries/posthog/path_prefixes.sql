-- name: path_prefixes
-- description: How many of a date range's cut sequences begin with each of the given prefixes of paths: the completion and drop-off of paths' top paths (paths, live).
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
--
-- paths_summary.sql's sequences, cut as it cuts them (docs/metrics.md, "Paths"): kept events
-- as path_events.sql keeps them; per person in time order (ties by node), a sequence starts at
-- the first event and after a gap of 30 minutes or more, and a node equal to the one before it
-- collapses into it; each sequence from its first {path_from} node ('' for none) and, with a
-- {path_to}, up to the first such node after that (sequences without them are left out), to
-- its first (or, with an end, last) {path_steps} nodes (`path`). The cut sequences alike are
-- counted once, with how many they are (`c`), as paths_summary.sql counts them. Then each cut
-- path gives each of its prefixes (its first k nodes, k from 1: `prefix`), and the prefixes
-- that are in {prefixes} (an array of arrays of nodes: usertrack sends every prefix of the top
-- paths paths_summary.sql answered) are counted: `sequences`, the cut sequences whose first k
-- nodes are that prefix. A prefix no sequence begins with has no row. usertrack works each top
-- path's completion and drop-off per step out of them (usertrack/analytics/paths/run.py).
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT prefix, sequences
FROM (
    SELECT
        u.prefix AS prefix,
        sum(u.alike) AS sequences
    FROM (
        SELECT
            arraySlice(c.path, 1, c.j) AS prefix,
            c.alike AS alike
        FROM (
            SELECT
                p.path AS path,
                arrayJoin(range(1, length(p.path) + 1)) AS j,
                p.alike AS alike
            FROM (
                SELECT
                    arraySlice(w.nodes, w.first, w.size) AS path,
                    count() AS alike
                FROM (
                    SELECT
                        k.actor AS actor,
                        k.has_from AS has_from,
                        k.has_to AS has_to,
                        k.nodes AS nodes,
                        k.held AS held,
                        k.first AS first,
                        k.last AS last,
                        k.tail AS tail,
                        if({path_to} = '', least({path_steps}, k.stop - k.first + 1), k.last - k.first + 1) AS size
                    FROM (
                        SELECT
                            s.actor AS actor,
                            s.has_from AS has_from,
                            s.has_to AS has_to,
                            s.nodes AS nodes,
                            s.stop AS stop,
                            if(s.lo > 0 AND ({path_to} = '' OR s.found > 0), 1, 0) AS held,
                            s.lo + if({path_to} = '', 0, greatest(0, s.found - {path_steps})) AS first,
                            if({path_to} = '', s.stop, s.lo + s.found - 1) AS last,
                            if({path_to} = '' AND s.stop >= s.lo + {path_steps}, 1, 0) AS tail
                        FROM (
                            SELECT
                                q.actor AS actor,
                                q.has_from AS has_from,
                                q.has_to AS has_to,
                                q.nodes AS nodes,
                                q.stop AS stop,
                                q.lo AS lo,
                                if({path_to} = '' OR q.lo = 0, 0, indexOf(arraySlice(q.nodes, q.lo), {path_to})) - 0 AS found
                            FROM (
                                SELECT
                                    n.actor AS actor,
                                    has(n.nodes, {path_from}) AS has_from,
                                    has(n.nodes, {path_to}) AS has_to,
                                    n.nodes AS nodes,
                                    length(n.nodes) - 0 AS stop,
                                    if({path_from} = '', 1, indexOf(n.nodes, {path_from})) - 0 AS lo
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
                                                                multiIf(event = '$pageview', replaceRegexpAll(coalesce(properties.$pathname, ''), '(.)/$', '\\1'), event = '$screen', coalesce(properties.$screen_name, ''), event) AS node
                                                            FROM events
                                                            WHERE ((event = '$pageview' AND {pageviews} = 1) OR (event = '$screen' AND {screens} = 1) OR (NOT startsWith(event, '$') AND {custom_events} = 1))
                                                              AND multiIf(event = '$pageview', coalesce(properties.$pathname, ''), event = '$screen', coalesce(properties.$screen_name, ''), event) != ''
                                                              AND timestamp >= toDateTime({since}, 'UTC')
                                                              AND timestamp < toDateTime({until}, 'UTC')
                                                              AND timestamp <= toDateTime({as_of}, 'UTC')
                                                              AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
                                                              AND {filters}
                                                        ) AS e
                                                        GROUP BY e.actor
                                                    ) AS g
                                                ) AS a
                                            ) AS b
                                        ) AS m
                                    ) AS r
                                ) AS n
                            ) AS q
                        ) AS s
                    ) AS k
                ) AS w
                WHERE w.held = 1
                GROUP BY path
            ) AS p
        ) AS c
    ) AS u
    WHERE has({prefixes}, u.prefix)
    GROUP BY u.prefix
) AS t
ORDER BY prefix
