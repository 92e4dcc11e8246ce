-- name: path_sequences
-- description: Each person's sequences of a date range, cut as paths counts them: a row per person, for paths of groups PostHog cannot filter (paths --by-segment, live).
-- returns: table
-- param as_of: now
-- param exclude_pattern: @datagen\.dev$
-- param since: <moment>
-- param until: <moment>
-- param path_steps: 5
-- param path_from:
-- param path_to:
--
-- paths_summary.sql's sequences before they are counted (docs/metrics.md, "Paths"): kept events
-- as path_events.sql keeps them; per person in time order (ties by node), a sequence starts at
-- the first event and after a gap of 30 minutes or more, and a node equal to the one before it
-- collapses into it. Each sequence holding the {path_from} node ('' for none) and, with a
-- {path_to}, such a node after it, is cut as paths_summary.sql cuts it: its first (or, with an
-- end, last) {path_steps} nodes, then its exit node when that is past them (the last of the
-- whole cut sequence). One row per person (a top-level GROUP BY of person_id: PostHog sends
-- it packed in one request, docs/connecting.md): their cut sequences (`paths`, sorted: sequences
-- have no order) as one string: each sequence its number of nodes and `;`, then each node
-- its length in characters, `:` and the node (a node may hold any character, so none is a
-- separator). One string a person, not one a node: usertrack holds a node's text once however
-- many sequences hold it. And whether any of their sequences holds the --from/--to node at all
-- (`has_from`, `has_to`, for the note on a node no event has). usertrack counts a group's
-- paths, entry and exit nodes and edges from its persons' rows (usertrack/analytics/paths.py
-- `CutSequences`): a few nodes per sequence travel instead of every event.
-- No LIMIT: usertrack pages every result past PostHog's row caps.
-- {filters} is PostHog's filter slot: TRUE, or the --where expressions, ANDed
-- (usertrack/analytics/where.py).
SELECT
    c.person_id AS person_id,
    arrayStringConcat(arrayMap(q -> concat(toString(length(q)), ';',
                                           arrayStringConcat(arrayMap(n -> concat(toString(lengthUTF8(n)), ':', n), q))),
                               arraySort(groupArrayIf(c.path, c.held = 1)))) AS paths,
    max(c.has_from) AS has_from,
    max(c.has_to) AS has_to
FROM (
    SELECT
        k.actor AS person_id,
        k.held AS held,
        k.has_from AS has_from,
        k.has_to AS has_to,
        arrayMap(p -> arrayElement(k.nodes, indexOf(k.places, p)),
                 arrayFilter(p -> p <= k.last_in OR p = k.exit_pos, range(k.first, k.exit_pos + 1))) AS path
    FROM (
        SELECT
            s.actor AS actor,
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
                g.actor AS actor,
                g.nodes AS nodes,
                g.places AS places,
                g.has_from AS has_from,
                g.has_to AS has_to,
                g.lo AS lo,
                g.stop AS stop,
                coalesce(arrayElement(arraySort(arrayFilter(t -> t >= g.lo, g.to_places)), 1), 0) AS hit
            FROM (
                SELECT
                    o.actor AS actor,
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
                              AND timestamp <= toDateTime({until}, 'UTC')
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
GROUP BY c.person_id
