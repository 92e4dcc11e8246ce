"""Paths as PostHog's paths insight builds them (docs/metrics.md, "Paths").

The facts query (queries/posthog/path_events.sql) returns every kept event of the range (a
pageview as its pathname, a custom event as its name). DuckDB numbers the nodes and persons
and hands each event over as three integers (on the local engine reading the store directly:
the events are never written into a table of their own); numpy orders them per person in
time order, splits each person's events into sequences at gaps of 30 minutes or more,
collapses consecutive duplicates, trims the sequences to --from/--to and the first --steps
nodes and counts paths, entry/exit nodes and edges, all over arrays of codes (no list per
sequence: neither DuckDB's lists nor pyarrow's); only the top rows get their names back.

Live, PostHog works the same figures out itself (queries/posthog/paths_summary.sql, as its own
paths runner does) and answers them, a few dozen rows, rather than every event (`from_summary`).
The local engine counts them from the sequences as a shortcut of that file as shipped, the top
paths' prefixes and approaches included, and runs an edited copy as written (`_summarized`, on
either engine): queries/posthog/path_prefixes.sql is read only after a copy that answers no
prefixes or, with --to, no approaches, so an edited path_prefixes.sql beside the shipped
summary changes the answer on neither engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from usertrack.analytics.common import DateRange, FactsQuery, open_facts_query
from usertrack.analytics.paths import completion, conversion
from usertrack.analytics.paths.codes import (
    counted,
    cut_paths,
    grouped,
    in_time_order,
    rolled_sequences,
)
from usertrack.analytics.paths.cut_sequences import CutSequences
from usertrack.analytics.paths.options import DEFAULT_KINDS, check_options, kind_params
from usertrack.engines.local.summaries import counts_asked

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

QUERY = "posthog/path_events"
SUMMARY_QUERY = "posthog/paths_summary"
SEQUENCES_QUERY = "posthog/path_sequences"
GAP_SECONDS = 30 * 60  # a gap this long or longer between kept events ends a sequence
DEFAULT_STEPS = 5  # PostHog's default
DEFAULT_TOP = 20
EDGE_LIMIT = 50  # PostHog's EDGE_LIMIT_DEFAULT: the positional edges the document keeps


@dataclass
class Paths:
    as_of: datetime
    range: DateRange
    steps: int
    start: str | None
    end: str | None
    total_sequences: int
    paths: list[tuple[list[str], int]]
    entry_nodes: list[tuple[str, int]]
    exit_nodes: list[tuple[str, int]]
    # PostHog's positional edges: (step, source, target, count), the source at `step` (from 1)
    # and the target at step + 1; count = the sequences with that source and target there.
    edges: list[tuple[int, str, str, int]]
    # The same edges summed over the steps (a sequence taking one twice counts 2): the flat
    # list the table, Markdown and flowchart show, the first --top by count.
    edge_totals: list[tuple[str, str, int]]
    # Said on stderr, not part of the document: a --from/--to node no kept event has.
    notes: tuple[str, ...] = ()
    # With `whose` (--persons), from the events store's path table: the kept codes, sequence
    # starts and nodes (rolled_sequences), each row's person (an index) and the persons' ids.
    whose: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)
    kinds: tuple[str, ...] = DEFAULT_KINDS  # --type: the kinds of event that are nodes
    # Per path of `paths`, the sequences whose cut path begins with its first k nodes, k from 1
    # (usertrack.analytics.paths.completion): its completion and drop-off per step.
    prefixes: list[list[int]] = field(default_factory=list)
    # With --to, per path of `paths`, the sequences that followed its steps before the goal
    # (usertrack.analytics.paths.conversion): its conversion rate's denominator.
    followed: list[int] = field(default_factory=list)

    def completions(self) -> list[tuple[float | None, list[dict[str, Any]]]]:
        """Per path of `paths`, its completion and its drop-off per step (completion.py)."""
        return [
            (completion.completion(prefix), completion.dropoff(nodes, prefix))
            for (nodes, _), prefix in zip(self.paths, self.prefixes, strict=True)
        ]

    def document(self) -> dict[str, Any]:
        kinds = {} if self.kinds == DEFAULT_KINDS else {"event_types": list(self.kinds)}
        goal = (
            {"conversions": conversion.conversions(self.end, self.paths, self.followed)}
            if self.end is not None
            else {}
        )
        return {
            "as_of": self.as_of,
            "from": self.range.start,
            "to": self.range.end,
            **kinds,
            "steps": self.steps,
            "start_point": self.start,
            "end_point": self.end,
            "total_sequences": self.total_sequences,
            "paths": [
                {"nodes": list(nodes), "count": n, "completion": done, "dropoff": lost}
                for (nodes, n), (done, lost) in zip(self.paths, self.completions(), strict=True)
            ],
            "entry_nodes": [{"node": v, "sequences": n} for v, n in self.entry_nodes],
            "exit_nodes": [{"node": v, "sequences": n} for v, n in self.exit_nodes],
            "edges": [
                {"source": s, "target": t, "step": k, "count": n} for k, s, t, n in self.edges
            ],
            **goal,
        }


# Nodes and persons as small integers: sorting and grouping integers costs a fraction of doing
# so on their texts (millions of rows at 100,000 users). A node's code is its place in the
# order ORDER BY node gives (NULL last), so ordering by codes orders by texts.
NODES_SQL = """
CREATE TEMP TABLE path_nodes AS
    SELECT node, (row_number() OVER (ORDER BY node) - 1)::INTEGER AS code
    FROM (SELECT DISTINCT node FROM {facts})
"""
PERSONS_SQL = """
CREATE TEMP TABLE path_persons AS
    SELECT person_id, (row_number() OVER () - 1)::INTEGER AS person
    FROM (SELECT DISTINCT person_id FROM {facts} WHERE person_id IS NOT NULL)
"""
# Each kept event as integers: its person (-1 for a NULL person: each of its events is a
# sequence of its own, nothing says two of them are one person's), its time and its node.
# In no order: numpy sorts them (in_time_order) in about half the time of DuckDB's ORDER BY.
EVENTS_SQL = """
SELECT coalesce(p.person, -1) AS person, epoch_us(f.timestamp) AS t, n.code
FROM {facts} f
JOIN path_nodes n ON f.node IS NOT DISTINCT FROM n.node
LEFT JOIN path_persons p ON f.person_id = p.person_id
"""


def _sequences(facts: FactsQuery) -> tuple[Any, Any]:
    """Every sequence's nodes as codes of `path_nodes`: the kept codes in sequence order and
    the offset where each sequence starts in them.

    Per person in time order (ties by node, so the order is stable on every source), a new
    sequence starts at the first event and at every gap >= 30 min; a node equal to the one
    before it in its sequence collapses into it. The gap is measured between kept events,
    duplicates included. Worked out in one vectorised pass over the sorted rows (window
    functions cost several times more: lag, a running sum and list() over the 2.9 M rows of
    100,000 users took 2.4 s, this 1.2 s).
    """
    import numpy as np

    facts.execute(NODES_SQL)
    facts.execute(PERSONS_SQL)
    null_node = facts.execute("SELECT code FROM path_nodes WHERE node IS NULL").fetchone()
    rows = facts.execute(EVENTS_SQL).fetchnumpy()
    person, t, code = in_time_order(*(np.asarray(rows.pop(c)) for c in ("person", "t", "code")))
    n = len(t)
    same_person = np.zeros(n, dtype=bool)
    same_person[1:] = (person[1:] == person[:-1]) & (person[1:] >= 0)
    close = np.zeros(n, dtype=bool)
    close[1:] = (t[1:] - t[:-1]) < GAP_SECONDS * 1_000_000
    starts = ~(same_person & close)
    # NULL equals nothing, not even NULL (as the comparison of texts in SQL).
    same_node = np.zeros(n, dtype=bool)
    same_node[1:] = code[1:] == code[:-1]
    if null_node is not None:
        same_node &= code != null_node[0]
    keep = starts | ~same_node
    # The rows are in sequence order, so each sequence's nodes are one slice of the kept nodes.
    return code[keep].astype(np.int32), np.flatnonzero(starts[keep])


def _top(counts: Any, limit: int) -> Any:
    """The first `limit` groups by count, most first (ties in the groups' own order)."""
    import numpy as np

    return np.argsort(-counts, kind="stable")[:limit]


def _edge_key(step: int, node: str | None) -> str:
    """A node's key at a step as PostHog writes it: `{step}_{node}` (an empty node for none)."""
    return f"{step}_{'' if node is None else node}"


def positional_top(
    step: Any, source: Any, target: Any, counts: Any, name: Mapping[int, Any], limit: int
) -> list[tuple[int, Any, Any, int]]:
    """The first `limit` positional edges (step of the source from 1, source and target codes,
    count) as (step, source, target, count) with their nodes' names, in PostHog's order:
    count, most first, then the source key, then the target key, as texts (`_edge_key`)."""
    import numpy as np

    if limit <= 0 or not len(counts):
        return []
    held = np.arange(len(counts))
    if len(counts) > limit:  # only the edges as heavy as the limit-th can be in the answer
        floor = -np.partition(-counts, limit - 1)[limit - 1]
        held = np.flatnonzero(counts >= floor)
    rows = [
        (int(step[i]), name[int(source[i])], name[int(target[i])], int(counts[i])) for i in held
    ]
    rows.sort(key=lambda r: (-r[3], _edge_key(r[0], r[1]), _edge_key(r[0] + 1, r[2])))
    return rows[:limit]


def reachable(edges: list[tuple[int, Any, Any, int]]) -> list[tuple[int, Any, Any, int]]:
    """PostHog's validate_results: the edges (step, source, target, count) whose source is a
    step-1 node or the target of a kept edge that is reached so, in their order. (Every edge
    goes one step on, so one pass in order of steps finds them all.)"""
    reached = {(1, source) for step, source, _, _ in edges if step == 1}
    for at in sorted({step for step, _, _, _ in edges}):
        for step, source, target, _ in edges:
            if step == at and (step, source) in reached:
                reached.add((step + 1, target))
    return [e for e in edges if (e[0], e[1]) in reached]


def summarize_sequences(
    kept: Any,
    first: Any,
    codes: list[tuple[int, Any]],
    steps: int = DEFAULT_STEPS,
    start: str | None = None,
    end: str | None = None,
    top: int = DEFAULT_TOP,
    edge_limit: int = EDGE_LIMIT,
) -> dict[str, Any]:
    """Paths, entry/exit nodes and edges as Paths' fields (lists of the `top` first, but the
    positional edges PostHog's `edge_limit` first, before its pruning), from the sequences
    (`_sequences`' kept codes and starts) and the range's nodes (code, name; codes 0 .. n - 1
    in the order of the names)."""
    import numpy as np

    name = dict(codes)
    code = {node: c for c, node in codes}
    lo, last, columns = cut_paths(kept, first, code, steps, start, end)
    limit = int(top)
    # Rows ordered as lists of codes are (a path before its own continuations).
    distinct, counts = grouped(columns)
    chosen = _top(counts, limit)
    common = [
        ([name[int(column[i])] for column in distinct if column[i] >= 0], int(counts[i]))
        for i in chosen
    ]
    prefixes = completion.prefix_counts(distinct, counts, chosen)
    follow: list[int] = []
    if end is not None:  # the conversion rate's denominators: every sequence's approach
        lo_all, upto = conversion.approach_bounds(
            kept, first, None if start is None else code.get(start, -1), code.get(end, -1)
        )
        follow = conversion.followed_counts(kept, lo_all, upto, common, code, steps)

    width = len(name)  # codes are 0 .. width - 1

    def ends(nodes: Any) -> list[tuple[str, int]]:
        distinct, counts = counted(nodes, width)
        return [(name[int(distinct[i])], int(counts[i])) for i in _top(counts, limit)]

    # Edges as PostHog's paths insight gives them (read in PostHog/posthog at 13c249c:
    # posthog/hogql_queries/insights/paths/paths_query_runner.py, PathsQueryRunner.to_query and
    # validate_results): each node of a (cut) sequence is keyed by its place in it,
    # `{step}_{node}`; an edge joins the key of the node before to a node's key and counts rows
    # (COUNT(*)), one per sequence and place, so a sequence adds one to an edge at each place it
    # takes it (A -> B at steps 1 and 3 is two edges, each counted once). ORDER BY count DESC,
    # source key, target key (texts: "10_x" < "2_x"), LIMIT edgeLimit (default
    # EDGE_LIMIT_DEFAULT = 50); then validate_results drops an edge whose source no kept edge
    # leads to from a step-1 node. An edge's key here: its step (from 0), source and target codes
    # as the digits of one integer.
    pair = width * width
    placed: list[Any] = []
    for j in range(steps - 1):
        held = columns[j + 1] >= 0  # (the source is there wherever the target is)
        placed.append(j * pair + columns[j][held].astype(np.int64) * width + columns[j + 1][held])
    keys = np.concatenate(placed)
    edge_keys, counts = counted(keys, (steps - 1) * pair)
    step, rest = np.divmod(edge_keys, pair)
    source, target = np.divmod(rest, width)
    edges = reachable(positional_top(step + 1, source, target, counts, name, int(edge_limit)))
    # The flat list: each pair of nodes with its positional counts summed over the steps (every
    # time a sequence takes it), the first --top by count, ties by source, then target.
    flat_keys, totals = counted(keys % pair if len(keys) else keys, pair)
    flat_source, flat_target = np.divmod(flat_keys, width)
    edge_totals = [
        (name[int(flat_source[i])], name[int(flat_target[i])], int(totals[i]))
        for i in _top(totals, limit)
    ]
    return {
        "notes": unknown_nodes(start, end, code),
        "total_sequences": len(lo),
        "paths": common,
        "prefixes": prefixes,
        "followed": follow,
        "entry_nodes": ends(kept[lo]),
        "exit_nodes": ends(kept[last]),
        "edges": edges,
        "edge_totals": edge_totals,
    }


def unknown_nodes(start: str | None, end: str | None, known: Mapping[str, int]) -> tuple[str, ...]:
    """A note for a --from/--to that no kept event in the range has (a typo gives an empty
    answer otherwise), with the closest node there is."""
    from usertrack.core.rulefiles import did_you_mean

    nodes = [n for n in known if n is not None]

    def hint(value: str) -> str:
        if value == "$pageview":  # a pageview is a node by its page, not by its event's name
            pages = ", ".join(sorted(n for n in nodes if n.startswith("/"))[:3]) or "/pricing"
            return f": a pageview is its page here ({pages}, ...)"
        return did_you_mean(value, nodes)

    return tuple(
        f"{option} {value!r} is no page or event in the range{hint(value)}"
        for option, value in (("--from", start), ("--to", end))
        if value is not None and value not in known
    )


# paths_summary.sql's kinds of rows (its column kind).
_ALL, _PATH, _ENTRY, _EXIT, _EDGE, _EDGE_TOTAL, _PREFIX, _APPROACH = 0, 1, 2, 3, 4, 5, 6, 7
Counts = dict[tuple[str, ...], int]


def from_summary(
    columns: list[str], rows: list[tuple[Any, ...]], start: str | None, end: str | None
) -> tuple[dict[str, Any], bool, Counts, Counts]:
    """`summarize`'s fields from the rows of paths_summary.sql (nodes as texts, '' for none),
    whether a --from/--to node is in no sequence (then `notes` still needs the nodes there are),
    the cut sequences beginning each prefix of the top paths (kind 6, as path_prefixes.sql's
    kind 0 counts them) and, with --to, the sequences following each top path's steps before
    the goal (kind 7, as its kind 1 counts them); each empty from a file that answers no such
    rows."""
    at = {c: i for i, c in enumerate(columns)}
    found: dict[str, Any] = {
        "notes": (),
        "total_sequences": 0,
        "paths": [],
        "prefixes": [],
        "followed": [],
        "entry_nodes": [],
        "exit_nodes": [],
        "edges": [],
        "edge_totals": [],
    }
    missing = start is not None or end is not None
    begun: Counts = {}
    follow: Counts = {}
    for row in rows:
        kind, n = int(row[at["kind"]]), int(row[at["sequences"]])
        a, b = row[at["a"]], row[at["b"]]
        if kind == _ALL:
            found["total_sequences"] = n
            missing = (start is not None and not int(row[at["from_found"]])) or (
                end is not None and not int(row[at["to_found"]])
            )
        elif kind == _PATH:
            found["paths"].append(([node for node in row[at["path"]] if node != ""], n))
        elif kind == _ENTRY:
            found["entry_nodes"].append((a, n))
        elif kind == _EXIT:
            found["exit_nodes"].append((a, n))
        elif kind == _EDGE:
            found["edges"].append((int(row[at["step"]]), a, b, n))
        elif kind == _EDGE_TOTAL:
            found["edge_totals"].append((a, b, n))
        elif kind == _PREFIX:
            begun[tuple(row[at["path"]])] = n
        elif kind == _APPROACH:
            follow[tuple(row[at["path"]])] = n
    found["edges"] = reachable(found["edges"])
    return found, missing, begun, follow


def _event_params(span: DateRange, kinds: tuple[str, ...]) -> dict[str, Any]:
    """The range and the kinds of event that every paths query file takes."""
    return {"since": span.start, "until": span.end, **kind_params(kinds)}


@dataclass(frozen=True)
class _Asked:
    """What `paths` was asked: the range, the cut and the lists' lengths."""

    span: DateRange
    steps: int
    start: str | None
    end: str | None
    top: int
    edge_limit: int
    kinds: tuple[str, ...]

    def cut_params(self) -> dict[str, Any]:
        """`_event_params` and the cut that paths_summary.sql and path_sequences.sql take."""
        return {**_event_params(self.span, self.kinds), "path_steps": int(self.steps),
                "path_from": self.start or "", "path_to": self.end or ""}  # fmt: skip

    def summarized(self, kept: Any, first: Any, codes: list[tuple[int, Any]]) -> dict[str, Any]:
        """summarize_sequences of these sequences, cut as asked."""
        return summarize_sequences(kept, first, codes, self.steps, self.start, self.end,
                                   self.top, self.edge_limit)  # fmt: skip


def _summarized(ws: Workspace, as_of: datetime, asked: _Asked) -> dict[str, Any]:
    """The paths as PostHog works them out (paths_summary.sql); the nodes of the range are asked
    for (path_events.sql's, one row per person) only for the note on a --from/--to no event has."""
    params = asked.cut_params()
    start, end, span, kinds = asked.start, asked.end, asked.span, asked.kinds
    result = ws.run_query(
        SUMMARY_QUERY, as_of, **params, top=int(asked.top), edge_limit=int(asked.edge_limit)
    )
    rows = [tuple(r) for r in result.rows]
    found, missing, begun, follow = from_summary(list(result.columns), rows, start, end)
    if found["paths"] and (not begun or (end is not None and not follow)):
        # one more query where the file counted no prefixes or, with --to, no steps before the
        # goal (an edited copy of an older paths_summary.sql): the prefixes and, with --to, how
        # many sequences follow each top path's steps before the goal
        wanted = completion.prefixes_of(found["paths"])
        approaches = [] if end is None else conversion.approaches_of(found["paths"])
        got = ws.run_query(
            completion.PREFIXES_QUERY, as_of, **params, prefixes=wanted, approaches=approaches
        )
        begun, follow = completion.prefix_rows(list(got.columns), [tuple(r) for r in got.rows])
    if found["paths"]:
        found["prefixes"] = completion.from_prefix_rows(found["paths"], begun)
        if end is not None:
            found["followed"] = conversion.from_approach_rows(found["paths"], follow)
    if missing:
        schema = {"person_id": "VARCHAR", "timestamp": "TIMESTAMP", "node": "VARCHAR"}
        params = _event_params(span, kinds)
        with open_facts_query(ws, QUERY, as_of, schema, **params) as facts:
            nodes = facts.execute("SELECT DISTINCT node FROM {facts}").fetchall()
        found["notes"] = unknown_nodes(start, end, {node: 0 for (node,) in nodes})
    return found


def _rolled(
    ws: Workspace,
    source: Any,
    as_of: datetime,
    span: DateRange,
    whose: bool = False,
    kinds: tuple[str, ...] = DEFAULT_KINDS,
) -> tuple[Any, ...] | None:
    """The sequences and nodes from the events store's path table, when it answers the facts
    (the local engine, path_events.sql as shipped, no --where, not --segment's run), else None.

    In a --by-segment run (`scope.person_rows`), the table's rows of everyone are read once, with
    whose they are (`scope.facts_cache`), and each group keeps its persons' rows: a person's
    rows are whole sequences of their own, so the group's sequences are the ones its facts
    would give, as the whole answer's are everyone's. With `whose` (not in a group's run),
    also each row's person and the persons' ids (Paths.whose)."""
    keep = ws.scope.person_rows
    if not source.has_facts:
        return None
    params = _event_params(span, kinds)  # the path table answers page and custom only
    if keep is None:
        query, values = ws.bind(QUERY, as_of, **params)
        found = source.path_codes(source.facts_query(query), values, persons=whose)
        if found is None:
            return None
        if not whose:
            return rolled_sequences(*found)
        import numpy as np

        rows, names = found
        people = rows["person_id"]["person_id"].to_pylist()
        row_person = np.repeat(np.arange(len(people)), rows["person_rows"])
        return (*rolled_sequences(rows, names), row_person, people)
    everyone = ws.scoped(ws.scope.but(persons=None))  # the group's rows are kept below
    query, values = everyone.bind(QUERY, as_of, **params)
    query = source.facts_query(query)
    cache = ws.scope.facts_cache if ws.scope.facts_cache is not None else {}
    key = ("path_codes", query.sql, repr(sorted(values.items())))
    few = _few_persons(keep) if key not in cache else None
    if few is not None:
        # a few persons listed (a funnel's droppers): their rows alone, not everyone's
        found = source.path_codes(query, values, among=few)
        return None if found is None else rolled_sequences(*found)
    if key not in cache:
        cache[key] = source.path_codes(query, values, persons=True)
    found = cache[key]
    if found is None:
        return None
    rows, names = found
    if not keep.everyone:
        import numpy as np

        mask = np.repeat(np.asarray(keep.mask(rows["person_id"]), dtype=bool), rows["person_rows"])
        rows = {"code": rows["code"][mask], "starts": rows["starts"][mask]}
    return rolled_sequences(rows, names)


# The most persons whose path rows are read by looking each row's person up in their list
# (LocalPostHogSource.path_codes' `among`); past it, everyone's rows are read and theirs kept
# (1,800 droppers at 100,000 users: a fifth of the CPU of everyone's; 20,000: no less).
FEW_PERSONS = 5_000


def _few_persons(keep: Any) -> list[str] | None:
    """The ids of the persons `keep` (a PersonRows) keeps when it lists them, at most
    FEW_PERSONS (run_persons: the people behind another answer), else None (a --by-segment
    run's groups are numbered: they share everyone's rows)."""
    if keep.everyone or keep.negate or keep.numbers is not None:
        return None
    return sorted(keep.ids) if 0 < len(keep.ids) <= FEW_PERSONS else None


def _from_sequences(ws: Workspace, as_of: datetime, asked: _Asked) -> dict[str, Any] | None:
    """Live, a --by-segment run's answer (or a group's past a list's length): its persons' cut
    sequences of path_sequences.sql, run once over everyone (`scope.facts_cache`), counted here.
    None when a --from/--to node is in none of them (the note on it names the closest node
    there is: the events are read then)."""
    keep = ws.scope.person_rows
    everyone = ws.scoped(ws.scope.but(persons=None))  # the group's rows are kept below
    query, values = everyone.bind(SEQUENCES_QUERY, as_of, **asked.cut_params())
    cache = ws.scope.facts_cache if ws.scope.facts_cache is not None else {}
    key = ("path_sequences", query.sql, repr(sorted(values.items())))
    if key not in cache:
        result = ws.sources[query.folder].run(query, values)
        cache[key] = CutSequences.of(result.rows, list(result.columns))
        del result
    kept, first, codes, has_from, has_to = cache[key].group(keep)
    if (asked.start is not None and not has_from) or (asked.end is not None and not has_to):
        return None
    found = summarize_sequences(kept, first, codes, asked.steps, None, None, asked.top,
                                asked.edge_limit)  # fmt: skip
    if asked.end is not None:
        found["followed"] = cache[key].followed(keep, found["paths"], asked.steps)
    return found


def paths(
    ws: Workspace,
    as_of: datetime,
    span: DateRange,
    *,
    steps: int = DEFAULT_STEPS,
    start: str | None = None,
    end: str | None = None,
    top: int = DEFAULT_TOP,
    edge_limit: int = EDGE_LIMIT,
    progress: Any = None,
    whose: bool = False,
    kinds: tuple[str, ...] = DEFAULT_KINDS,
) -> Paths:
    """The paths of the events in `span` (nothing after `as_of`); lists keep the `top` first,
    the positional edges the `edge_limit` first (PostHog's edgeLimit). `whose`: keep each
    sequence's persons where the events store's path table answers (Paths.whose)."""
    start, end = check_options(steps, start, end)
    made = partial(Paths, as_of=as_of, range=span, steps=steps, start=start, end=end, kinds=kinds)
    asked = _Asked(span, steps, start, end, top, edge_limit, kinds)
    if progress:
        progress("fetching path events")
    source = ws.sources[ws.library.get(QUERY).folder]
    # PostHog answers the figures, a group's with its persons' list while that is short; past it
    # every person's cut sequences come instead (by_segment.summary_fits; at 200,000 users,
    # 10.7 M events: 113 MB answered, a peak of 0.8 GB with the classification's); the local
    # engine splits its path table by person instead, unless path_sequences.sql is edited
    from usertrack.analytics.by_segment import summary_fits

    if (
        ws.scope.person_rows is not None
        and counts_asked(source, ws.library.get(SEQUENCES_QUERY))
        and (ws.scope.person_parts or not summary_fits(ws, short_list=True))
    ):
        found = _from_sequences(ws, as_of, asked)
        if found is not None:
            return made(**found)
    elif counts_asked(source, ws.library.get(SUMMARY_QUERY)) and summary_fits(ws, short_list=True):
        found = _summarized(ws, as_of, asked)
        return made(**found)
    rolled = _rolled(ws, source, as_of, span, whose, kinds)
    if rolled is not None:  # the events store's path table (usertrack.engines.local.rollups)
        if progress:
            progress("working out paths")
        found = asked.summarized(rolled[0], rolled[1], rolled[2])
        kept = rolled if len(rolled) > 3 else None
        return made(whose=kept, **found)
    schema = {"person_id": "VARCHAR", "timestamp": "TIMESTAMP", "node": "VARCHAR"}
    params = _event_params(span, kinds)
    with open_facts_query(ws, QUERY, as_of, schema, **params) as facts:
        if progress:
            progress("working out paths")
        kept, first = _sequences(facts)
        codes = facts.execute("SELECT code, node FROM path_nodes").fetchall()
        found = asked.summarized(kept, first, codes)
    return made(**found)
