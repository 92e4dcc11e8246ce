-- name: path_sequences
-- description: Each person's sequences of a date range, cut as paths counts them: a row per person, for paths of groups PostHog cannot filter (paths --by-segment, live).
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
--
-- paths_summary.sql's sequences before they are counted (docs/metrics.md, "Paths"): kept events
-- as path_events.sql keeps them (each one's node worked out once, as paths_summary.sql does);
-- per person in time order (ties by node), a sequence starts at
-- the first event and after a gap of 30 minutes or more, and a node equal to the one before it
-- collapses into it. As PostHog's paths runner works them out
-- (posthog/hogql_queries/insights/paths_query_runner.py): each person's events gathered into one
-- array sorted by time and node (`g`), each marked against the one before it (`m`: the array
-- shifted by one, zipped to it), the collapsed ones filtered out and the rest cut by arraySplit
-- at each start, one row a sequence (`r`): no window over the events, no grouping by sequence.
-- Each call nests at most four deep: PostHog's parser takes time that grows about five-fold
-- with each level of nested calls (a level of subquery costs next to nothing). Each sequence
-- holding the {path_from} node ('' for none) and, with a {path_to}, such a node after it, is cut as paths_summary.sql cuts it: its first (or, with an
-- end, last) {path_steps} nodes, then its exit node when that is past them (the last of the
-- whole cut sequence). One row per person (a top-level GROUP BY of person_id: PostHog sends
-- it packed in one request, docs/connecting.md): their cut sequences (`paths`, sorted: sequences
-- have no order) as one string: each sequence `>` then its nodes separated by `|`, the
-- sequences separated by `|` too, with `%`, `|` and `>` in a node written %25, %7C and %3E (a
-- node may hold any character), so that usertrack splits every person's string at once (pyarrow) and decodes
-- only the distinct nodes. And whether any of their sequences holds the --from/--to node at all
-- (`has_from`, `has_to`, for the note on a node no event has). usertrack counts a group's
-- paths, entry and exit nodes and edges from its persons' rows (usertrack/analytics/paths/run.py
-- `CutSequences`): a few nodes per sequence travel instead of every event.
-- No LIMIT: usertrack pages every result past PostHog's row caps.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    t.person_id AS person_id,
    arrayStringConcat(arraySort(groupArrayIf(t.text, t.held = 1)), '|') AS paths,
    arrayStringConcat(arraySort(groupArrayIf(t.before, {path_to} != '' AND t.lo > 0)), '|') AS approaches,
    max(t.has_from) AS has_from,
    max(t.has_to) AS has_to
FROM (
    SELECT
        d.actor AS person_id,
        d.has_from AS has_from,
        d.has_to AS has_to,
        d.held AS held,
        d.lo AS lo,
        concat('>', arrayStringConcat(d.escaped, '|')) AS text,
        concat('>', arrayStringConcat(d.approach, '|')) AS before
    FROM (
        SELECT
            p.actor AS actor,
            p.has_from AS has_from,
            p.has_to AS has_to,
            p.held AS held,
            p.lo AS lo,
            arrayMap(x -> replaceAll(replaceAll(replaceAll(x, '%', '%25'), '|', '%7C'), '>', '%3E'), p.path) AS escaped,
            arrayMap(x -> replaceAll(replaceAll(replaceAll(x, '%', '%25'), '|', '%7C'), '>', '%3E'), p.approach) AS approach
        FROM (
            SELECT
                c.actor AS actor,
                c.has_from AS has_from,
                c.has_to AS has_to,
                c.held AS held,
                c.lo AS lo,
                c.approach AS approach,
                arrayConcat(arraySlice(c.nodes, c.first, c.size), arraySlice(c.nodes, c.last, c.tail)) AS path
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
                    k.lo AS lo,
                    k.approach AS approach,
                    CASE WHEN {path_to} = '' THEN least({path_steps}, k.stop - k.first + 1) ELSE k.last - k.first + 1 END AS size
                FROM (
                    SELECT
                        s.actor AS actor,
                        s.has_from AS has_from,
                        s.has_to AS has_to,
                        s.nodes AS nodes,
                        s.stop AS stop,
                        CASE WHEN s.lo > 0 AND ({path_to} = '' OR s.found > 0) THEN 1 ELSE 0 END AS held,
                        s.lo + CASE WHEN {path_to} = '' THEN 0 ELSE greatest(0, s.found - {path_steps}) END AS first,
                        CASE WHEN {path_to} = '' THEN s.stop ELSE s.lo + s.found - 1 END AS last,
                        CASE WHEN {path_to} = '' AND s.stop >= s.lo + {path_steps} THEN 1 ELSE 0 END AS tail,
                        s.lo AS lo,
                        arraySlice(s.nodes, greatest(s.lo, 1), CASE WHEN {path_to} = '' OR s.lo = 0 THEN 0 ELSE CASE WHEN s.found > 0 THEN s.found - 1 ELSE s.stop - s.lo + 1 END END) AS approach
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
                    ) AS s
                ) AS k
            ) AS c
        ) AS p
    ) AS d
) AS t
GROUP BY t.person_id
