-- name: paths_summary
-- description: The paths of a date range worked out in the query: sequences, the top paths, entry and exit nodes, PostHog's positional edges and the edges summed over steps (paths, live).
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
-- param top: 20
-- param edge_limit: 50
--
-- The paths of path_events.sql (docs/metrics.md, "Paths"), aggregated where the events are, as
-- PostHog's paths runner does (posthog/hogql_queries/insights/paths/paths_query_runner.py), so
-- that PostHog answers the figures rather than every event (usertrack/analytics/paths/run.py reads
-- them; locally the same figures come from the events in numpy). Kept events as path_events.sql
-- keeps them; per person in time order (ties by node), a sequence starts at the first event and
-- after a gap of 30 minutes or more, and a node equal to the one before it in its sequence
-- collapses into it. An event's node is worked out once, in the events' SELECT, and the empty
-- ones left out a level above it (`e.node`): tested in the events' own WHERE, ClickHouse worked
-- the pathname out twice, its JSON and regular expressions (a fifth of the query's time at
-- 10.7 M events, docs/performance.md). Worked out as PostHog's runner does: each person's events
-- gathered into one array sorted by time and node (`g`), each marked against the one before it
-- (`m`: the array shifted by one, zipped to it), the collapsed ones filtered out and the rest
-- cut by arraySplit at each start, one row a sequence (`r`): no window over the events, no
-- grouping by sequence.
-- Each call nests at most four deep: PostHog's parser takes time that grows about five-fold
-- with each level of nested calls (a level of subquery costs next to nothing). Each sequence is
-- cut from its first {path_from} node ('' for none: its first node) and, with a {path_to}, up to
-- the first such node after that (sequences without them are left out), to its first (or, with
-- an end, last) {path_steps} nodes (`path`); the cut sequences alike (`p`: the same path and exit)
-- are counted once, with how many they are (`alike`). Each sequence then counts once per kind
-- of row (`kind`): 0 all sequences (`sequences` those kept, `from_found`/`to_found` the
-- sequences holding the --from/--to node at all, for the note on a node no event has), 1 its
-- path (`path`), 2 its entry node, 3 its exit node (the last of the whole cut sequence), 4 each
-- positional edge (`step` of the source from 1, source `a`, target `b`), 5 each edge again with
-- the steps summed (step 0). Per kind the first {top} rows by sequences ({edge_limit} for kind 4),
-- ties as usertrack's and PostHog's order them: paths by their nodes, nodes by name, positional
-- edges by the texts `step_source` and `step+1_target` (PostHog's ORDER BY), summed edges by
-- source, then target. And 6, each prefix of a top path (its first k nodes, k from 1: `path`)
-- with the cut sequences whose first k nodes are that prefix (`sequences`), as path_prefixes.sql
-- counts them (kind 0), so that usertrack needs no second query for them: counted from the
-- paths' own rows (kind 1, every path before the {top} are taken: `begun`), a prefix kept when
-- one of the top paths begins with it (`begins_top`), in order of its nodes. And 7, with a
-- {path_to}, each top path's steps before the goal (its approach: the path without its last
-- node, `path`) with the sequences that follow it (`sequences`), as path_prefixes.sql counts
-- them (kind 1): every sequence holding the {path_from} node (those that never reach {path_to}
-- too) has its own approach, its nodes from its first {path_from} node (or its start) up to its
-- first {path_to} node after it, or to its end (`approach`, `reach` nodes long); it follows
-- each of its starts shorter than {path_steps} - 1 nodes (`starts`: such a path begins where
-- its sequence does) and each of its windows of {path_steps} - 1 nodes (`windows`), each once.
-- Those are counted beside the cut sequences (`approaching` 1, a row of kind 7 alone; `l`,
-- grouped alike in `p`), and an approach is kept when it is a top path's (`goal`, from the
-- kind-1 rows as kind 6's are: `begins_top`), the most followed first, ties by their nodes.
-- A missing text is ''.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT kind, step, a, b, path, sequences, from_found, to_found
FROM (
    SELECT
        tupleElement(u.r, 1) AS kind,
        u.step AS step,
        u.a AS a,
        u.b AS b,
        tupleElement(u.r, 2) AS path,
        sum(tupleElement(u.r, 3)) AS sequences,
        sum(tupleElement(u.r, 4)) AS from_found,
        sum(tupleElement(u.r, 5)) AS to_found,
        max(tupleElement(u.r, 6)) AS place,
        max(tupleElement(u.r, 7)) AS begins_top
    FROM (
        SELECT
            arrayJoin(arrayConcat(w.own, w.begun, w.goal)) AS r,
            w.step AS step,
            w.a AS a,
            w.b AS b
        FROM (
            SELECT
                t.step AS step,
                t.a AS a,
                t.b AS b,
                arraySlice([tuple(t.kind, t.path, t.sequences, t.from_found, t.to_found, t.place, 0)], 1,
                           CASE WHEN t.kind = 0 OR t.kind = 7 OR t.place <= CASE WHEN t.kind = 4 THEN {edge_limit} ELSE {top} END THEN 1 ELSE 0 END) AS own,
                arrayMap(j -> tuple(6, arraySlice(t.path, 1, j), t.sequences, 0, 0, 0, CASE WHEN t.place <= {top} THEN 1 ELSE 0 END),
                         range(1, CASE WHEN t.kind = 1 THEN length(t.path) ELSE 0 END + 1)) AS begun,
                arrayMap(j -> tuple(7, t.approach, 0, 0, 0, 0, CASE WHEN t.place <= {top} THEN 1 ELSE 0 END), range(0, t.goals)) AS goal
            FROM (
    SELECT
        kind, step, a, b, path,
        arraySlice(path, 1, length(path) - 1) AS approach,
        CASE WHEN kind = 1 AND {path_to} != '' THEN 1 ELSE 0 END AS goals,
        sum(held) AS sequences,
        sum(has_from) AS from_found,
        sum(has_to) AS to_found,
        row_number() OVER (
            PARTITION BY kind
            ORDER BY sum(held) DESC,
                     CASE WHEN kind = 4 THEN concat(toString(step), '_', a) ELSE a END,
                     CASE WHEN kind = 4 THEN concat(toString(step + 1), '_', b) ELSE b END,
                     path
        ) AS place
    FROM (
        SELECT
            tupleElement(x.r, 1) AS kind,
            tupleElement(x.r, 2) AS step,
            tupleElement(x.r, 3) AS a,
            tupleElement(x.r, 4) AS b,
            tupleElement(x.r, 5) AS path,
            x.held * x.alike AS held,
            CASE WHEN tupleElement(x.r, 1) = 0 THEN x.has_from ELSE 0 END AS has_from,
            CASE WHEN tupleElement(x.r, 1) = 0 THEN x.has_to ELSE 0 END AS has_to
        FROM (
            SELECT
                arrayJoin(arrayConcat(y.own, y.positional, y.summed)) AS r,
                y.held AS held,
                y.alike AS alike,
                y.has_from AS has_from,
                y.has_to AS has_to
            FROM (
            SELECT
                arraySlice([tuple(0, 0, '', '', ['']), tuple(1, 0, '', '', d.path),
                            tuple(2, 0, d.entry, '', ['']), tuple(3, 0, d.exit, '', ['']),
                            tuple(7, 0, '', '', d.path)], d.lead, d.kinds) AS own,
                d.positional AS positional,
                d.summed AS summed,
                d.held AS held,
                d.sequences AS alike,
                d.has_from AS has_from,
                d.has_to AS has_to
            FROM (
                SELECT
                    p.held AS held,
                    p.sequences AS sequences,
                    p.has_from AS has_from,
                    p.has_to AS has_to,
                    CASE WHEN p.held = 1 THEN arrayElement(p.path, 1) ELSE '' END AS entry,
                    p.exit AS exit,
                    p.path AS path,
                    1 + 4 * p.approaching AS lead,
                    4 - 3 * p.approaching AS kinds,
                    arrayMap(j -> tuple(4, j, arrayElement(p.path, j), arrayElement(p.path, j + 1), ['']), range(1, (1 - p.approaching) * length(p.path))) AS positional,
                    arrayMap(j -> tuple(5, 0, arrayElement(p.path, j), arrayElement(p.path, j + 1), ['']), range(1, (1 - p.approaching) * length(p.path))) AS summed
                FROM (
                    SELECT
                        tupleElement(l.r, 1) AS approaching,
                        tupleElement(l.r, 2) AS held,
                        tupleElement(l.r, 3) AS path,
                        tupleElement(l.r, 4) AS exit,
                        count() AS sequences,
                        sum(l.has_from) AS has_from,
                        sum(l.has_to) AS has_to
                    FROM (
                    SELECT
                        arrayJoin(arrayConcat(i.own, i.approaches)) AS r,
                        i.has_from AS has_from,
                        i.has_to AS has_to
                    FROM (
                    SELECT
                        h.has_from AS has_from,
                        h.has_to AS has_to,
                        [tuple(0, h.held, h.path, h.exit)] AS own,
                        arrayMap(x -> tuple(1, 1, x, ''), arrayConcat(h.starts, h.windows)) AS approaches
                    FROM (
                    SELECT
                        c.held AS held,
                        c.has_from AS has_from,
                        c.has_to AS has_to,
                        arraySlice(c.nodes, CASE WHEN c.held = 1 THEN c.first ELSE 1 END, c.held * c.size) AS path,
                        CASE WHEN c.held = 1 THEN arrayElement(c.nodes, c.last) ELSE '' END AS exit,
                        arrayMap(j -> arraySlice(c.approach, 1, j), range(0, c.begins)) AS starts,
                        arrayDistinct(arrayMap(j -> arraySlice(c.approach, j, {path_steps} - 1), range(1, c.windows + 1))) AS windows
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
                            CASE WHEN {path_to} = '' THEN least({path_steps}, k.stop - k.first + 1) ELSE k.last - k.first + 1 END AS size,
                            arraySlice(k.nodes, greatest(k.lo, 1), k.reach) AS approach,
                            CASE WHEN {path_to} = '' OR k.lo = 0 THEN 0 ELSE least(k.reach + 1, {path_steps} - 1) END AS begins,
                            greatest(0, k.reach - {path_steps} + 2) AS windows
                        FROM (
                            SELECT
                                s.actor AS actor,
                                s.has_from AS has_from,
                                s.has_to AS has_to,
                                s.nodes AS nodes,
                                s.stop AS stop,
                                s.lo AS lo,
                                CASE WHEN s.lo > 0 AND ({path_to} = '' OR s.found > 0) THEN 1 ELSE 0 END AS held,
                                s.lo + CASE WHEN {path_to} = '' THEN 0 ELSE greatest(0, s.found - {path_steps}) END AS first,
                                CASE WHEN {path_to} = '' THEN s.stop ELSE s.lo + s.found - 1 END AS last,
                                CASE WHEN {path_to} = '' AND s.stop >= s.lo + {path_steps} THEN 1 ELSE 0 END AS tail,
                                CASE WHEN {path_to} = '' OR s.lo = 0 THEN 0 WHEN s.found > 0 THEN s.found - 1 ELSE s.stop - s.lo + 1 END AS reach
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
                    ) AS h
                    ) AS i
                    ) AS l
                    GROUP BY approaching, held, path, exit
                ) AS p
            ) AS d
            ) AS y
        ) AS x
    ) AS v
    WHERE v.kind = 0 OR v.held > 0
    GROUP BY kind, step, a, b, path
            ) AS t
            WHERE t.kind <= 1 OR t.kind = 7 OR t.place <= CASE WHEN t.kind = 4 THEN {edge_limit} ELSE {top} END
        ) AS w
    ) AS u
    GROUP BY kind, step, a, b, path
) AS z
WHERE kind < 6 OR begins_top = 1
ORDER BY kind, place, path
