"""queries/posthog/path_prefixes.sql answered on the local engine: the shortcut declared against
it (usertrack.engines.local.rollups PATH_PREFIXES), and the file run as written where the
shortcut's gate says no (an edited copy in a library of one's own).

Locally the paths are counted from every sequence of the range in numpy
(usertrack.analytics.paths.run), so the prefixes of the top paths and their approaches are
counted from those same sequences (completion.prefix_counts, conversion.followed_counts) rather
than by running the file, which would cut them all again. `answer` gives the file's rows from
the sequences for any prefixes and approaches asked (tests/engines/test_shortcuts.py compares it
with the file's own rows); `as_written` runs the file for the figures when the shortcut is off.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.analytics.paths import completion, conversion
from usertrack.analytics.paths.codes import cut_paths, grouped

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

QUERY = completion.PREFIXES_QUERY
ENTRY = "path_prefixes"  # where the analysis takes the shortcut (its Shortcut.entry)


def answer(
    kept: Any,
    first: Any,
    codes: list[tuple[int, Any]],
    steps: int,
    start: str | None,
    end: str | None,
    prefixes: Sequence[Sequence[str]],
    approaches: Sequence[Sequence[str]] = (),
) -> list[tuple[int, list[str], int]]:
    """path_prefixes.sql's rows (kind, prefix, sequences) from the sequences (kept codes and
    starts, the nodes' codes and names) cut by --steps, --from and --to: kind 0, the cut
    sequences beginning each asked prefix; kind 1 (with --to), the sequences following each
    asked approach. A prefix or approach no sequence follows has no row; ordered by kind, then
    prefix."""
    import numpy as np

    code = {node: c for c, node in codes}
    _, _, columns = cut_paths(kept, first, code, steps, start, end)
    distinct, counts = grouped(columns)
    rows: list[tuple[int, list[str], int]] = []
    for prefix in {tuple(p): None for p in prefixes}:
        same = np.ones(len(counts), dtype=bool)
        for j, node in enumerate(prefix[:steps]):
            same &= distinct[j] == code.get(node, -1)
        n = int(counts[same].sum()) if 0 < len(prefix) <= steps else 0
        if n:
            rows.append((0, list(prefix), n))
    if end is not None and approaches:
        begin, upto = conversion.approach_bounds(
            kept, first, None if start is None else code.get(start, -1), code.get(end, -1)
        )
        asked = [([*a, end], 0) for a in {tuple(a): None for a in approaches}]
        found = conversion.followed_counts(kept, begin, upto, asked, code, steps)
        for (nodes, _), n in zip(asked, found, strict=True):
            if n:
                rows.append((1, nodes[:-1], n))
    return sorted(rows, key=lambda r: (r[0], r[1]))


def as_written(
    ws: Workspace,
    as_of: datetime,
    params: dict[str, Any],
    paths: list[tuple[list[str], int]],
    end: str | None,
) -> tuple[list[list[int]], list[int]] | None:
    """The top paths' prefix counts and (with --to) followed counts from path_prefixes.sql run
    as written, or None when the shortcut answers it (the file as shipped)."""
    from usertrack.engines.local import shortcuts

    if not paths:
        return None
    # the gate reads the file (its origin), not the values nor its filter: a --by-segment
    # group's run binds no list of its persons for it
    if shortcuts.find(ws.library.get(QUERY), ENTRY) is not None:
        return None
    wanted = completion.prefixes_of(paths)
    approaches = [] if end is None else conversion.approaches_of(paths)
    asked = ws.run_query(QUERY, as_of, **params, prefixes=wanted, approaches=approaches)
    begun, follow = completion.prefix_rows(list(asked.columns), [tuple(r) for r in asked.rows])
    followed = [] if end is None else conversion.from_approach_rows(paths, follow)
    return completion.from_prefix_rows(paths, begun), followed
