-- name: paths_summary
-- description: The paths of a date range worked out in the query: sequences, the top paths, entry and exit nodes, PostHog's positional edges and the edges summed over steps (paths, live).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param path_steps: 5
-- param path_from:
-- param path_to:
-- param top: 20
-- param edge_limit: 50
--
-- The paths of path_events.sql (docs/metrics.md, "Paths"), aggregated where the events are, as
-- PostHog's paths runner does (posthog/hogql_queries/insights/paths/paths_query_runner.py), so
-- that PostHog answers the figures rather than every event (usertrack/analytics/paths.py reads
-- them; locally the same figures come from the events in numpy). Kept events as path_events.sql
-- keeps them; per person in time order (ties by node), a sequence starts at the first event and
-- after a gap of 30 minutes or more, and a node equal to the one before it in its sequence
-- collapses into it (`w`, `o`: lagInFrame and a running sum). Each sequence is then one row
-- (`g`: its nodes and their places, gathered once, rather than windows per event) and is cut from its
-- first {path_from} node ('' for none: its first node) and, with a {path_to}, up to the first
-- such node after that (sequences without them are left out), to its first (or, with an end,
-- last) {path_steps} nodes: n1..n20 ('' past the end). Each sequence then counts once per kind
-- of row (`kind`): 0 all sequences (`sequences` those kept, `from_found`/`to_found` the
-- sequences holding the --from/--to node at all, for the note on a node no event has), 1 its
-- path (`path`), 2 its entry node, 3 its exit node (the last of the whole cut sequence), 4 each
-- positional edge (`step` of the source from 1, source `a`, target `b`), 5 each edge again with
-- the steps summed (step 0). Per kind the first {top} rows by sequences ({edge_limit} for kind 4),
-- ties as usertrack's and PostHog's order them: paths by their nodes, nodes by name, positional
-- edges by the texts `step_source` and `step+1_target` (PostHog's ORDER BY), summed edges by
-- source, then target. A missing text is ''.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT kind, step, a, b, path, sequences, from_found, to_found
FROM (
    SELECT
        kind, step, a, b, path,
        sum(held) AS sequences,
        sum(has_from) AS from_found,
        sum(has_to) AS to_found,
        row_number() OVER (
            PARTITION BY kind
            ORDER BY sum(held) DESC,
                     if(kind = 4, concat(toString(step), '_', a), a),
                     if(kind = 4, concat(toString(step + 1), '_', b), b),
                     path
        ) AS place
    FROM (
        SELECT
            tupleElement(x.r, 1) AS kind,
            tupleElement(x.r, 2) AS step,
            tupleElement(x.r, 3) AS a,
            tupleElement(x.r, 4) AS b,
            tupleElement(x.r, 5) AS path,
            x.held AS held,
            if(tupleElement(x.r, 1) = 0, x.has_from, 0) AS has_from,
            if(tupleElement(x.r, 1) = 0, x.has_to, 0) AS has_to
        FROM (
            SELECT
                arrayJoin(arrayConcat(
                    [tuple(0, 0, '', '', ['']), tuple(1, 0, '', '', p.path),
                     tuple(2, 0, p.entry, '', ['']), tuple(3, 0, p.exit, '', [''])],
                    arrayMap(j -> tuple(4, j, arrayElement(p.path, j), arrayElement(p.path, j + 1), ['']),
                             arrayFilter(j -> arrayElement(p.path, j + 1) != '', range(1, {path_steps}))),
                    arrayMap(j -> tuple(5, 0, arrayElement(p.path, j), arrayElement(p.path, j + 1), ['']),
                             arrayFilter(j -> arrayElement(p.path, j + 1) != '', range(1, {path_steps})))
                )) AS r,
                p.held AS held,
                p.has_from AS has_from,
                p.has_to AS has_to
            FROM (
                SELECT
                    c.held AS held,
                    c.has_from AS has_from,
                    c.has_to AS has_to,
                    c.entry AS entry,
                    c.exit AS exit,
                    [c.n1, c.n2, c.n3, c.n4, c.n5, c.n6, c.n7, c.n8, c.n9, c.n10, c.n11, c.n12, c.n13, c.n14, c.n15, c.n16, c.n17, c.n18, c.n19, c.n20] AS path
                FROM (
                    SELECT
                        k.held AS held,
                        k.has_from AS has_from,
                        k.has_to AS has_to,
                        if(k.held = 1, arrayElement(k.nodes, indexOf(k.places, k.first)), '') AS entry,
                        if(k.held = 1, arrayElement(k.nodes, indexOf(k.places, k.exit_pos)), '') AS exit,
                        if(k.held = 1 AND k.first + 0 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 0)), '') AS n1,
                        if(k.held = 1 AND k.first + 1 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 1)), '') AS n2,
                        if(k.held = 1 AND k.first + 2 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 2)), '') AS n3,
                        if(k.held = 1 AND k.first + 3 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 3)), '') AS n4,
                        if(k.held = 1 AND k.first + 4 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 4)), '') AS n5,
                        if(k.held = 1 AND k.first + 5 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 5)), '') AS n6,
                        if(k.held = 1 AND k.first + 6 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 6)), '') AS n7,
                        if(k.held = 1 AND k.first + 7 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 7)), '') AS n8,
                        if(k.held = 1 AND k.first + 8 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 8)), '') AS n9,
                        if(k.held = 1 AND k.first + 9 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 9)), '') AS n10,
                        if(k.held = 1 AND k.first + 10 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 10)), '') AS n11,
                        if(k.held = 1 AND k.first + 11 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 11)), '') AS n12,
                        if(k.held = 1 AND k.first + 12 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 12)), '') AS n13,
                        if(k.held = 1 AND k.first + 13 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 13)), '') AS n14,
                        if(k.held = 1 AND k.first + 14 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 14)), '') AS n15,
                        if(k.held = 1 AND k.first + 15 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 15)), '') AS n16,
                        if(k.held = 1 AND k.first + 16 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 16)), '') AS n17,
                        if(k.held = 1 AND k.first + 17 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 17)), '') AS n18,
                        if(k.held = 1 AND k.first + 18 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 18)), '') AS n19,
                        if(k.held = 1 AND k.first + 19 <= k.last_in, arrayElement(k.nodes, indexOf(k.places, k.first + 19)), '') AS n20
                    FROM (
                        SELECT
                            s.nodes AS nodes,
                            s.places AS places,
                            s.has_from AS has_from,
                            s.has_to AS has_to,
                            if(s.lo > 0 AND ({path_to} = '' OR s.hit > 0), 1, 0) AS held,
                            if({path_to} = '', s.lo, greatest(s.lo, s.hit + 1 - {path_steps})) AS first,
                            if({path_to} = '', least(s.lo + {path_steps} - 1, s.stop), s.hit) AS last_in,
                            if({path_to} = '', s.stop, s.hit) AS exit_pos
                        FROM (
                            SELECT
                                g.nodes AS nodes,
                                g.places AS places,
                                g.has_from AS has_from,
                                g.has_to AS has_to,
                                g.lo AS lo,
                                g.stop AS stop,
                                coalesce(arrayElement(arraySort(arrayFilter(t -> t >= g.lo, g.to_places)), 1), 0) AS hit
                            FROM (
                                SELECT
                                    groupArray(o.node) AS nodes,
                                    groupArray(o.pos) AS places,
                                    if(countIf(o.node = {path_from}) > 0, 1, 0) AS has_from,
                                    if(countIf(o.node = {path_to}) > 0, 1, 0) AS has_to,
                                    if({path_from} = '', min(o.pos),
                                       if(countIf(o.node = {path_from}) > 0, minIf(o.pos, o.node = {path_from}), 0)) AS lo,
                                    max(o.pos) AS stop,
                                    groupArrayIf(o.pos, o.node = {path_to}) AS to_places
                FROM (
                        SELECT
                            w.actor AS actor,
                            w.at AS at,
                            w.node AS node,
                            sum(if(w.place = 1 OR w.at >= w.previous_at + toIntervalMinute(30), 1, 0))
                                OVER (PARTITION BY w.actor ORDER BY w.at, w.node
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seq,
                            toInt64(row_number() OVER (PARTITION BY w.actor ORDER BY w.at, w.node
                                                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS pos
                        FROM (
                            SELECT
                                e.actor AS actor,
                                e.at AS at,
                                e.node AS node,
                                row_number() OVER (PARTITION BY e.actor ORDER BY e.at, e.node
                                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS place,
                                lagInFrame(e.at) OVER (PARTITION BY e.actor ORDER BY e.at, e.node
                                                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS previous_at,
                                lagInFrame(e.node) OVER (PARTITION BY e.actor ORDER BY e.at, e.node
                                                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS previous_node
                            FROM (
                                SELECT
                                    person_id AS actor,
                                    timestamp AS at,
                                    if(event = '$pageview', coalesce(properties.$pathname, ''), event) AS node
                                FROM events
                                WHERE (event = '$pageview' OR NOT startsWith(event, '$'))
                                  AND if(event = '$pageview', coalesce(properties.$pathname, ''), event) != ''
                                  AND timestamp >= toDateTime({since}, 'UTC')
                                  AND timestamp < toDateTime({until}, 'UTC')
                                  AND timestamp <= toDateTime({as_of}, 'UTC')
                                  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
                                  AND {filters}
                            ) AS e
                        ) AS w
                        WHERE w.place = 1 OR w.at >= w.previous_at + toIntervalMinute(30)
                           OR w.node != w.previous_node
                ) AS o
                                GROUP BY o.actor, o.seq
                            ) AS g
                        ) AS s
                    ) AS k
                ) AS c
            ) AS p
        ) AS x
    ) AS v
    WHERE v.kind = 0 OR v.held = 1
    GROUP BY kind, step, a, b, path
) AS t
WHERE kind = 0 OR place <= if(kind = 4, {edge_limit}, {top})
ORDER BY kind, place
