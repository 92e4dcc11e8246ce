"""queries/posthog/path_prefixes.sql's rows counted from the sequences paths counts its top
paths from: the shortcut declared against it (usertrack.engines.local.rollups PATH_PREFIXES).

`answer` gives the file's rows from the sequences for any prefixes and approaches asked
(tests/engines/test_shortcuts.py compares it with the file's own rows). paths itself no longer
reads the file beside the shipped paths_summary.sql, whose shortcut counts the same figures;
after an edited summary that counts none it runs the file as written, as live.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from usertrack.analytics.paths import completion, conversion
from usertrack.analytics.paths.codes import cut_paths, grouped

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
