"""Paths as PostHog's paths insight builds them (docs/metrics.md, "Paths").

The facts query (queries/posthog/path_events.sql) returns every kept event of the range (a
pageview as its pathname, a custom event as its name). DuckDB sorts them per person in time
order (as integer codes), numpy splits each person's events into sequences at gaps of 30
minutes or more and collapses consecutive duplicates, and DuckDB trims them to --from/--to and
the first --steps nodes, then counts paths and edges; only the top rows get their names back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.analytics.common import DateRange, open_facts
from usertrack.errors import UsageError

if TYPE_CHECKING:
    import duckdb

    from usertrack.workspace import Workspace

QUERY = "posthog/path_events"
GAP_SECONDS = 30 * 60  # a gap this long or longer between kept events ends a sequence
DEFAULT_STEPS = 5  # PostHog's default
MAX_STEPS = 20  # PostHog's largest
DEFAULT_TOP = 20


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
    edges: list[tuple[str, str, int]]

    def document(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "from": self.range.start,
            "to": self.range.end,
            "steps": self.steps,
            "start_point": self.start,
            "end_point": self.end,
            "total_sequences": self.total_sequences,
            "paths": [{"nodes": list(nodes), "count": n} for nodes, n in self.paths],
            "entry_nodes": [{"node": v, "sequences": n} for v, n in self.entry_nodes],
            "exit_nodes": [{"node": v, "sequences": n} for v, n in self.exit_nodes],
            "edges": [{"source": s, "target": t, "count": n} for s, t, n in self.edges],
        }


def check_options(steps: int, start: str | None, end: str | None) -> tuple[str | None, str | None]:
    """--steps in 2..20; --from/--to an event name or a pathname, not empty."""
    if not 2 <= steps <= MAX_STEPS:
        raise UsageError(f"--steps {steps} must be from 2 to {MAX_STEPS}")
    for option, value in (("--from", start), ("--to", end)):
        if value is not None and not value.strip():
            raise UsageError(f"{option} is empty: give an event name or a page's pathname")
    return (start.strip() if start else None), (end.strip() if end else None)


# Nodes and persons as small integers: sorting and grouping integers costs a fraction of doing
# so on their texts (millions of rows at 100,000 users). A node's code is its place in the
# order ORDER BY node gives (NULL last), so ordering by codes orders by texts.
CODES_SQL = """
CREATE TEMP TABLE path_nodes AS
    SELECT node, (row_number() OVER (ORDER BY node) - 1)::INTEGER AS code
    FROM (SELECT DISTINCT node FROM facts);
CREATE TEMP TABLE path_persons AS
    SELECT person_id, (row_number() OVER () - 1)::INTEGER AS person
    FROM (SELECT DISTINCT person_id FROM facts WHERE person_id IS NOT NULL);
"""
# Each person's events in time order, ties by node; a NULL person is -1 (each of its events is
# a sequence of its own: nothing says two of them are one person's).
ORDERED_SQL = """
SELECT coalesce(p.person, -1) AS person, epoch_us(f.timestamp) AS t, n.code
FROM facts f
JOIN path_nodes n ON f.node IS NOT DISTINCT FROM n.node
LEFT JOIN path_persons p ON f.person_id = p.person_id
ORDER BY person, t, n.code
"""


def _sequences(con: duckdb.DuckDBPyConnection) -> None:
    """`sequences`: one row per sequence (`seq`, its `nodes` as codes of `path_nodes`).

    Per person in time order (ties by node, so the order is stable on every source), a new
    sequence starts at the first event and at every gap >= 30 min; a node equal to the one
    before it in its sequence collapses into it. The gap is measured between kept events,
    duplicates included. Worked out in one vectorised pass over the sorted rows (window
    functions over millions of rows cost several times more).
    """
    import numpy as np
    import pyarrow as pa

    con.execute(CODES_SQL)
    null_node = con.execute("SELECT code FROM path_nodes WHERE node IS NULL").fetchone()
    rows = con.execute(ORDERED_SQL).fetchnumpy()
    person, t, code = (np.asarray(rows[c]) for c in ("person", "t", "code"))
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
    kept = code[keep]
    first = np.flatnonzero(starts[keep])
    offsets = pa.array(np.append(first, len(kept)), type=pa.int32())
    table = pa.table(
        {
            "seq": pa.array(np.arange(len(first), dtype=np.int64)),
            "nodes": pa.ListArray.from_arrays(offsets, pa.array(kept, type=pa.int32())),
        }
    )
    con.register("_sequences_in", table)
    con.execute("CREATE TEMP TABLE sequences AS SELECT * FROM _sequences_in")
    con.unregister("_sequences_in")


def _trim_sql(steps: int, start: str | None, end: str | None) -> str:
    """`paths`: each sequence from its first --from node and up to the first --to node after
    that (sequences without them are left out), `whole` whole, `nodes` cut to --steps: the first
    steps, or with --to the last steps before it, as PostHog counts back from an end point."""
    nodes = "nodes"
    where = []
    if start is not None:
        nodes = f"list_slice({nodes}, list_position({nodes}, $start), len({nodes}))"
        where.append("list_position(nodes, $start) IS NOT NULL")
    if end is not None:
        nodes = f"list_slice({nodes}, 1, list_position({nodes}, $end))"
    inner = f"SELECT seq, {nodes} AS whole FROM sequences"
    if where:
        inner += " WHERE " + " AND ".join(where)
    if end is not None:
        cut = f"list_slice(whole, greatest(len(whole) - {steps} + 1, 1), len(whole))"
        inner = f"SELECT * FROM ({inner}) WHERE list_position(whole, $end) IS NOT NULL"
    else:
        cut = f"list_slice(whole, 1, {steps})"
    return f"CREATE TEMP TABLE paths AS SELECT seq, whole, {cut} AS nodes FROM ({inner})"


def summarize(
    con: duckdb.DuckDBPyConnection,
    steps: int = DEFAULT_STEPS,
    start: str | None = None,
    end: str | None = None,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """Paths, entry/exit nodes and edges from the `facts` table, as Paths' fields."""
    _sequences(con)
    codes = con.execute("SELECT code, node FROM path_nodes").fetchall()
    name = dict(codes)
    code = {node: c for c, node in codes}
    # A --from/--to node no event has is code -1, which no sequence holds.
    points = (("start", start), ("end", end))
    con.execute(_trim_sql(steps, start, end), {k: code.get(v, -1) for k, v in points if v})
    total = con.execute("SELECT count(*) FROM paths").fetchone()
    assert total is not None
    limit = int(top)
    common = con.execute(
        f"SELECT nodes, count(*) AS n FROM paths GROUP BY nodes ORDER BY n DESC, nodes"
        f" LIMIT {limit}"
    ).fetchall()

    def ends(expr: str) -> list[tuple[str, int]]:
        rows = con.execute(
            f"SELECT {expr} AS v, count(*) AS n FROM paths GROUP BY v ORDER BY n DESC, v"
            f" LIMIT {limit}"
        ).fetchall()
        return [(name[v], int(n)) for v, n in rows]

    # An edge counts the sequences that take it (a sequence taking it twice counts once).
    edges = con.execute(
        f"""
        SELECT nodes[k] AS source, nodes[k + 1] AS target, count(DISTINCT seq) AS n
        FROM (SELECT seq, nodes, unnest(range(1, len(nodes))) AS k FROM paths)
        GROUP BY source, target ORDER BY n DESC, source, target LIMIT {limit}
        """
    ).fetchall()
    return {
        "total_sequences": int(total[0]),
        "paths": [([name[c] for c in nodes], int(n)) for nodes, n in common],
        "entry_nodes": ends("nodes[1]"),
        "exit_nodes": ends("whole[len(whole)]"),
        "edges": [(name[s], name[t], int(n)) for s, t, n in edges],
    }


def paths(
    ws: Workspace,
    as_of: datetime,
    span: DateRange,
    *,
    steps: int = DEFAULT_STEPS,
    start: str | None = None,
    end: str | None = None,
    top: int = DEFAULT_TOP,
    progress: Any = None,
) -> Paths:
    """The paths of the events in `span` (nothing after `as_of`); lists keep the `top` first."""
    start, end = check_options(steps, start, end)
    if progress:
        progress("fetching path events")
    schema = {"person_id": "VARCHAR", "timestamp": "TIMESTAMP", "node": "VARCHAR"}
    with open_facts(ws, QUERY, as_of, schema, since=span.start, until=span.end) as con:
        if progress:
            progress("working out paths")
        found = summarize(con, steps, start, end, top)
    return Paths(as_of=as_of, range=span, steps=steps, start=start, end=end, **found)
