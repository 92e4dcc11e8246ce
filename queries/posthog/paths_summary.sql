-- name: paths_summary
-- description: The paths of a date range worked out in the query: sequences, the top paths, entry and exit nodes, PostHog's positional edges and the edges summed over steps (paths, live).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since:
-- param until:
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
-- collapses into it (`w`, `s`: lagInFrame and a running sum). Each sequence is cut from its
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
            x.kind AS kind,
            if(x.kind = 4, x.j, 0) AS step,
            multiIf(x.kind = 2, x.entry, x.kind = 3, x.exit, x.kind >= 4, arrayElement(x.path, x.j), '') AS a,
            if(x.kind >= 4, arrayElement(x.path, x.j + 1), '') AS b,
            if(x.kind = 1, x.path, ['']) AS path,
            x.held AS held,
            if(x.kind = 0, x.has_from, 0) AS has_from,
            if(x.kind = 0, x.has_to, 0) AS has_to
        FROM (
            SELECT
                multiIf(p.i < 4, p.i, p.i < {path_steps} + 3, 4, 5) AS kind,
                multiIf(p.i < 4, 0, p.i < {path_steps} + 3, p.i - 3, p.i - {path_steps} - 2) AS j,
                p.held AS held,
                p.has_from AS has_from,
                p.has_to AS has_to,
                p.entry AS entry,
                p.exit AS exit,
                p.path AS path
            FROM (
                SELECT
                    arrayJoin(range(0, 2 * {path_steps} + 2)) AS i,
                    c.held AS held,
                    c.has_from AS has_from,
                    c.has_to AS has_to,
                    c.entry AS entry,
                    c.exit AS exit,
                    [c.n1, c.n2, c.n3, c.n4, c.n5, c.n6, c.n7, c.n8, c.n9, c.n10, c.n11, c.n12, c.n13, c.n14, c.n15, c.n16, c.n17, c.n18, c.n19, c.n20] AS path
                FROM (
                    SELECT
                        if(countIf(h.rel = 0) > 0, 1, 0) AS held,
                        if(countIf(h.node = {path_from}) > 0, 1, 0) AS has_from,
                        if(countIf(h.node = {path_to}) > 0, 1, 0) AS has_to,
                        coalesce(maxIf(h.node, h.rel = 0), '') AS entry,
                        coalesce(maxIf(h.node, h.pos = h.exit_pos), '') AS exit,
                        coalesce(maxIf(h.node, h.rel = 0), '') AS n1,
                        coalesce(maxIf(h.node, h.rel = 1), '') AS n2,
                        coalesce(maxIf(h.node, h.rel = 2), '') AS n3,
                        coalesce(maxIf(h.node, h.rel = 3), '') AS n4,
                        coalesce(maxIf(h.node, h.rel = 4), '') AS n5,
                        coalesce(maxIf(h.node, h.rel = 5), '') AS n6,
                        coalesce(maxIf(h.node, h.rel = 6), '') AS n7,
                        coalesce(maxIf(h.node, h.rel = 7), '') AS n8,
                        coalesce(maxIf(h.node, h.rel = 8), '') AS n9,
                        coalesce(maxIf(h.node, h.rel = 9), '') AS n10,
                        coalesce(maxIf(h.node, h.rel = 10), '') AS n11,
                        coalesce(maxIf(h.node, h.rel = 11), '') AS n12,
                        coalesce(maxIf(h.node, h.rel = 12), '') AS n13,
                        coalesce(maxIf(h.node, h.rel = 13), '') AS n14,
                        coalesce(maxIf(h.node, h.rel = 14), '') AS n15,
                        coalesce(maxIf(h.node, h.rel = 15), '') AS n16,
                        coalesce(maxIf(h.node, h.rel = 16), '') AS n17,
                        coalesce(maxIf(h.node, h.rel = 17), '') AS n18,
                        coalesce(maxIf(h.node, h.rel = 18), '') AS n19,
                        coalesce(maxIf(h.node, h.rel = 19), '') AS n20
                    FROM (
                        SELECT
                            f.node AS node,
                            f.pos AS pos,
                            f.exit_pos AS exit_pos,
                            f.person AS person,
                            f.seq AS seq,
                            if(f.pos >= f.first AND f.pos <= f.last_in, f.pos - f.first, -1) AS rel
                        FROM (
                        SELECT
                            q.person AS person,
                            q.seq AS seq,
                            q.node AS node,
                            q.pos AS pos,
                            q.lo AS lo,
                            if({path_to} = '', q.lo, greatest(q.lo, q.hit + 1 - {path_steps})) AS first,
                            if({path_to} = '', least(q.lo + {path_steps} - 1, q.stop), q.hit) AS last_in,
                            if({path_to} = '', q.stop, q.hit) AS exit_pos
                        FROM (
                            SELECT
                                r.person AS person,
                                r.seq AS seq,
                                r.node AS node,
                                r.pos AS pos,
                                r.lo AS lo,
                                r.stop AS stop,
                                min(if(r.node = {path_to} AND r.pos >= r.lo, r.pos, NULL))
                                    OVER (PARTITION BY r.person, r.seq) AS hit
                            FROM (
                                SELECT
                                    o.person AS person,
                                    o.seq AS seq,
                                    o.node AS node,
                                    o.pos AS pos,
                                    min(if({path_from} = '' OR o.node = {path_from}, o.pos, NULL))
                                        OVER (PARTITION BY o.person, o.seq) AS lo,
                                    max(o.pos) OVER (PARTITION BY o.person, o.seq) AS stop
                                FROM (
                                        SELECT
                                            w.person AS person,
                                            w.at AS at,
                                            w.node AS node,
                                            sum(if(w.place = 1 OR w.at >= w.previous_at + toIntervalMinute(30), 1, 0))
                                                OVER (PARTITION BY w.person ORDER BY w.at, w.node
                                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS seq,
                                            toInt64(row_number() OVER (PARTITION BY w.person ORDER BY w.at, w.node
                                                                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS pos
                                        FROM (
                                            SELECT
                                                e.person AS person,
                                                e.at AS at,
                                                e.node AS node,
                                                row_number() OVER (PARTITION BY e.person ORDER BY e.at, e.node
                                                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS place,
                                                lagInFrame(e.at) OVER (PARTITION BY e.person ORDER BY e.at, e.node
                                                                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS previous_at,
                                                lagInFrame(e.node) OVER (PARTITION BY e.person ORDER BY e.at, e.node
                                                                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS previous_node
                                            FROM (
                                                SELECT
                                                    person_id AS person,
                                                    timestamp AS at,
                                                    if(event = '$pageview', properties.$pathname, event) AS node
                                                FROM events
                                                WHERE (event = '$pageview' OR NOT startsWith(event, '$'))
                                                  AND if(event = '$pageview', coalesce(properties.$pathname, ''), event) != ''
                                                  AND timestamp >= toDateTime({since}, 'UTC')
                                                  AND timestamp <= toDateTime({until}, 'UTC')
                                                  AND timestamp <= toDateTime({as_of}, 'UTC')
                                                  AND NOT match(lowerUTF8(trim(JSONExtractString(person.properties, 'email'), ' \t\r\n')), {exclude_pattern})
                                                  AND {filters}
                                            ) AS e
                                        ) AS w
                                        WHERE w.place = 1 OR w.at >= w.previous_at + toIntervalMinute(30)
                                           OR w.node != w.previous_node
                                ) AS o
                            ) AS r
                        ) AS q
                    ) AS f
                    ) AS h
                    GROUP BY h.person, h.seq
                ) AS c
            ) AS p
        ) AS x
        WHERE x.kind <= 3 OR (x.j < {path_steps} AND arrayElement(x.path, x.j + 1) != '')
    ) AS v
    WHERE v.kind = 0 OR v.held = 1
    GROUP BY kind, step, a, b, path
) AS t
WHERE kind = 0 OR place <= if(kind = 4, {edge_limit}, {top})
ORDER BY kind, place
