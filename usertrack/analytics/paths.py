"""Paths as PostHog's paths insight builds them (docs/metrics.md, "Paths").

The facts query (queries/posthog/path_events.sql) returns every kept event of the range (a
pageview as its pathname, a custom event as its name), per person in time order. DuckDB splits
each person's events into sequences at gaps of 30 minutes or more, collapses consecutive
duplicates, trims to --from/--to and the first --steps nodes, then counts paths and edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.analytics.common import DateRange, facts_connection, load_facts
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


def _sequences(con: duckdb.DuckDBPyConnection) -> None:
    """`sequences`: one row per sequence (`seq`, its person, its nodes in order).

    Per person in time order (ties by node, so the order is stable on every source), a new
    sequence starts at the first event and at every gap >= 30 min; a node equal to the one
    before it in its sequence collapses into it. The gap is measured between kept events,
    duplicates included. Worked out in one vectorised pass over the sorted rows (window
    functions over millions of rows cost several times more).
    """
    import numpy as np
    import pyarrow as pa

    rows = con.sql("SELECT person_id, epoch_us(timestamp) AS t, node FROM facts").to_arrow_table()
    n = rows.num_rows
    person = rows["person_id"].combine_chunks()
    node = rows["node"].combine_chunks()
    person_names, person_code, person_null = _codes(person)
    node_names, node_code, node_null = _codes(node)
    node_rank = _ranks(node_names)[node_code]  # as ORDER BY node sorts them
    t = rows["t"].combine_chunks().to_numpy(zero_copy_only=False)
    # Each person's rows together in time order, ties by node (its text, as ORDER BY ranks
    # it); the persons' own order changes no count. Sorting integer codes in numpy takes about
    # half of DuckDB's sort on the person_id text (2.86 M rows at 100,000 users).
    order = np.lexsort((node_rank, t, person_code)) if n else np.zeros(0, dtype=np.int64)
    person_code, person_null = person_code[order], person_null[order]
    node_code, node_null, t = node_code[order], node_null[order], t[order]

    def same_as_previous(codes: np.ndarray, null: np.ndarray) -> np.ndarray:
        # NULL equals nothing, not even NULL (as the comparison of texts in SQL).
        out = np.zeros(n, dtype=bool)
        out[1:] = (codes[1:] == codes[:-1]) & ~null[1:] & ~null[:-1]
        return out

    close = np.zeros(n, dtype=bool)
    close[1:] = (t[1:] - t[:-1]) < GAP_SECONDS * 1_000_000
    starts = ~(same_as_previous(person_code, person_null) & close)
    keep = starts | ~same_as_previous(node_code, node_null)
    # The rows are in sequence order, so each sequence's nodes are one slice of the kept nodes.
    # Texts are taken from the few distinct ones by code: a take of 2 M rows in random order
    # from the rows themselves costs half a second.
    kept_nodes = node_names.take(pa.array(node_code[keep]))
    first = np.flatnonzero(starts[keep])
    offsets = pa.array(np.append(first, len(kept_nodes)), type=pa.int32())
    table = pa.table(
        {
            "seq": pa.array(np.arange(len(first), dtype=np.int64)),
            "person_id": person_names.take(pa.array(person_code[starts])),
            "nodes": pa.ListArray.from_arrays(offsets, kept_nodes),
        }
    )
    con.register("_sequences_in", table)
    con.execute("CREATE TABLE sequences AS SELECT * FROM _sequences_in")
    con.unregister("_sequences_in")


def _codes(values: Any) -> tuple[Any, Any, Any]:
    """The distinct texts (NULL among them, if any), each value's index into them, and where
    the value is NULL."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(values, null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype("int64")
    return encoded.dictionary, codes, values.is_null().to_numpy(zero_copy_only=False)


def _ranks(texts: Any) -> Any:
    """Each text's place in byte order, NULL last (as ORDER BY sorts them)."""
    import numpy as np
    import pyarrow.compute as pc

    by_text = pc.array_sort_indices(texts, null_placement="at_end").to_numpy()
    rank = np.empty(len(by_text), dtype=np.int64)
    rank[by_text] = np.arange(len(by_text))
    return rank


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
    inner = f"SELECT person_id, seq, {nodes} AS whole FROM sequences"
    if where:
        inner += " WHERE " + " AND ".join(where)
    if end is not None:
        cut = f"list_slice(whole, greatest(len(whole) - {steps} + 1, 1), len(whole))"
        inner = f"SELECT * FROM ({inner}) WHERE list_position(whole, $end) IS NOT NULL"
    else:
        cut = f"list_slice(whole, 1, {steps})"
    return f"CREATE TABLE paths AS SELECT person_id, seq, whole, {cut} AS nodes FROM ({inner})"


def summarize(
    con: duckdb.DuckDBPyConnection,
    steps: int = DEFAULT_STEPS,
    start: str | None = None,
    end: str | None = None,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    """Paths, entry/exit nodes and edges from the `facts` table, as Paths' fields."""
    _sequences(con)
    params = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    con.execute(_trim_sql(steps, start, end), params)
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
        return [(v, int(n)) for v, n in rows]

    # An edge counts the sequences that take it (a sequence taking it twice counts once).
    edges = con.execute(
        f"""
        SELECT nodes[k] AS source, nodes[k + 1] AS target, count(DISTINCT seq) AS n
        FROM (SELECT person_id, seq, nodes, unnest(range(1, len(nodes))) AS k FROM paths)
        GROUP BY source, target ORDER BY n DESC, source, target LIMIT {limit}
        """
    ).fetchall()
    return {
        "total_sequences": int(total[0]),
        "paths": [(list(nodes), int(n)) for nodes, n in common],
        "entry_nodes": ends("nodes[1]"),
        "exit_nodes": ends("whole[len(whole)]"),
        "edges": [(s, t, int(n)) for s, t, n in edges],
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
    import pyarrow as pa

    start, end = check_options(steps, start, end)
    con = facts_connection()
    try:
        if progress:
            progress("fetching path events")
        schema = {"person_id": pa.string(), "timestamp": pa.timestamp("us"), "node": pa.string()}
        load_facts(con, ws, QUERY, as_of, "facts", schema, since=span.start, until=span.end)
        if progress:
            progress("working out paths")
        found = summarize(con, steps, start, end, top)
    finally:
        con.close()
    return Paths(as_of=as_of, range=span, steps=steps, start=start, end=end, **found)
