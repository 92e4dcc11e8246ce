"""How far the sequences that begin a top path follow it (docs/metrics.md, "Completion and
drop-off"): for each top path, how many cut sequences begin with each of its prefixes (its first
k nodes, k from 1), and the completion and drop-off per step worked out of those counts (with
--to, the conversion rate: usertrack.analytics.paths.conversion).

Live, PostHog counts the prefixes in the query that counts the top paths
(queries/posthog/paths_summary.sql's kind 6), or, where an edited copy of that file counts
none, in one more query after it (queries/posthog/path_prefixes.sql, with every prefix of the
top paths it answered); locally they are counted from the same cut sequences the top paths are
counted from (`prefix_counts`), a shortcut of paths_summary.sql as shipped: an edited copy runs
as written there too, followed by path_prefixes.sql where it counts none, as live.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PREFIXES_QUERY = "posthog/path_prefixes"
RATE_DIGITS = 4  # rates are written as fractions of 1, to 4 decimals


def prefix_counts(distinct: list[Any], counts: Any, chosen: Sequence[int]) -> list[list[int]]:
    """For each chosen row of `distinct` (the cut paths as columns of node codes, -1 past a
    path's end; `counts` the sequences of each), the sequences whose first k nodes are that
    path's first k, for k from 1 to its length."""
    import numpy as np

    out: list[list[int]] = []
    for i in chosen:
        same = np.ones(len(counts), dtype=bool)
        found: list[int] = []
        for column in distinct:
            code = column[i]
            if code < 0:
                break
            same &= column == code
            found.append(int(counts[same].sum()))
        out.append(found)
    return out


def prefixes_of(paths: Sequence[tuple[Sequence[str], int]]) -> list[list[str]]:
    """Every prefix of the paths' nodes (path_prefixes.sql's `prefixes`), each once."""
    seen: dict[tuple[str, ...], None] = {}
    for nodes, _ in paths:
        for k in range(1, len(nodes) + 1):
            seen.setdefault(tuple(nodes[:k]), None)
    return [list(p) for p in seen]


def prefix_rows(
    columns: list[str], rows: list[tuple[Any, ...]]
) -> tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], int]]:
    """path_prefixes.sql's rows (kind, prefix, sequences) as two counts by nodes: the cut
    sequences beginning each prefix (kind 0), the sequences following each approach (kind 1)."""
    at = {c: i for i, c in enumerate(columns)}
    found: tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], int]] = ({}, {})
    for r in rows:
        found[int(r[at["kind"]])][tuple(r[at["prefix"]])] = int(r[at["sequences"]])
    return found


def from_prefix_rows(
    paths: Sequence[tuple[Sequence[str], int]], counted: dict[tuple[str, ...], int]
) -> list[list[int]]:
    """`prefix_counts`' lists from path_prefixes.sql's prefix counts (`prefix_rows`); a prefix
    without a row has no sequence."""
    return [
        [counted.get(tuple(nodes[:k]), 0) for k in range(1, len(nodes) + 1)] for nodes, _ in paths
    ]


def rate(part: int, whole: int) -> float | None:
    """part / whole to RATE_DIGITS decimals, None of no whole."""
    return None if whole <= 0 else round(part / whole, RATE_DIGITS)


def completion(prefix: Sequence[int]) -> float | None:
    """The sequences that follow the whole path / the sequences that begin with its first node."""
    return rate(prefix[-1], prefix[0]) if prefix else None


def dropoff(nodes: Sequence[str], prefix: Sequence[int]) -> list[dict[str, Any]]:
    """Per step k from 2: the node there, the sequences that reach it along the path (its first
    k nodes) and the drop-off rate, 1 - reached(k) / reached(k - 1)."""
    out = []
    for k in range(2, len(prefix) + 1):
        before, reached = prefix[k - 2], prefix[k - 1]
        lost = rate(before - reached, before)
        out.append({"step": k, "node": nodes[k - 1], "sequences": reached, "rate": lost})
    return out
