"""Conversion paths with --to GOAL (docs/metrics.md, "Conversion paths"): each top path's
conversions, the sequences that followed its steps before the goal and its conversion rate.

A top path with --to is a sequence's last --steps nodes up to its first GOAL: its steps before
the goal (its approach, the path without GOAL) were taken right before it. A sequence's own
approach is its nodes from its start (or its first --from node) up to its first GOAL, or to its
end when it never reaches GOAL (the sequences --to leaves out of the paths). A sequence
followed a path's approach when its own approach holds it: from its start when the path is
shorter than --steps (such a path began where its sequences begin), anywhere in it when the
path is --steps long (its sequences may have begun earlier). The path's conversions are the
sequences it counts, each of which followed its approach and went on straight to GOAL; its
conversion rate is conversions / followed.

Locally the approaches are counted from the same sequences the paths are (`followed`); live,
PostHog counts them in the query that counts the top paths (queries/posthog/paths_summary.sql's
kind 7; where an edited copy of that file counts none, queries/posthog/path_prefixes.sql in one
request after it, on the local engine too), and for a --by-segment run path_sequences.sql sends
each person's approaches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from usertrack.analytics.paths.codes import first_at_or_after
from usertrack.analytics.paths.completion import rate


def approaches_of(paths: Sequence[tuple[Sequence[str], int]]) -> list[list[str]]:
    """Each path's approach: its nodes but the last (the goal), each once, in the paths' order."""
    seen: dict[tuple[str, ...], None] = {}
    for nodes, _ in paths:
        seen.setdefault(tuple(nodes[:-1]), None)
    return [list(a) for a in seen]


def anchored(approach: Sequence[Any], steps: int) -> bool:
    """Whether a path of this approach is shorter than --steps, so began where its sequence
    does: its approach is followed from a sequence's start, not anywhere in it."""
    return len(approach) < steps - 1


def approach_bounds(kept: Any, first: Any, start: int | None, end: int) -> tuple[Any, Any]:
    """For the sequences (kept codes, sequence starts) that have the --from node (all without
    one), the offsets where each one's approach begins (its first --from node, else its start)
    and ends (its first --to node after that, exclusive, else the sequence's end)."""
    import numpy as np

    stop = np.append(first[1:], len(kept))[: len(first)]
    lo = first
    if start is not None:
        lo = first_at_or_after(kept, start, first)
        held = lo < stop
        lo, stop = lo[held], stop[held]
    return lo, np.minimum(first_at_or_after(kept, end, lo), stop)


def followed(kept: Any, lo: Any, upto: Any, approach: Sequence[int], steps: int) -> int:
    """How many of the approaches `kept[lo[i]:upto[i]]` (in order, apart) follow `approach`
    (node codes): begin with it when `anchored`, else hold it as consecutive nodes."""
    import numpy as np

    m = len(approach)
    if m == 0:
        return len(lo)
    if anchored(approach, steps):
        ok = (upto - lo) >= m
        last = max(len(kept) - 1, 0)
        for j, c in enumerate(approach):
            ok &= kept[np.minimum(lo + j, last)] == c
        return int(ok.sum())
    at = np.flatnonzero(kept == approach[0])
    for j, c in enumerate(approach[1:], 1):
        at = at[at + j < len(kept)]
        at = at[kept[at + j] == c]
    whose = np.searchsorted(lo, at, side="right") - 1  # the approach each match begins in
    inside = whose >= 0
    inside[inside] = at[inside] + m <= upto[whose[inside]]
    return len(np.unique(whose[inside]))


def followed_counts(
    kept: Any,
    lo: Any,
    upto: Any,
    paths: Sequence[tuple[Sequence[str], int]],
    code: dict[Any, int],
    steps: int,
) -> list[int]:
    """Per path (nodes as names, `code` their codes), the approaches that follow its own."""
    return [
        followed(kept, lo, upto, [code.get(n, -1) for n in nodes[:-1]], steps) for nodes, _ in paths
    ]


def from_approach_rows(
    paths: Sequence[tuple[Sequence[str], int]], counted: dict[tuple[str, ...], int]
) -> list[int]:
    """`followed_counts` from path_prefixes.sql's approach rows (approach, sequences); an
    approach without a row is followed by no sequence."""
    return [counted.get(tuple(nodes[:-1]), 0) for nodes, _ in paths]


def conversions(
    goal: str, paths: Sequence[tuple[Sequence[str], int]], followed: Sequence[int]
) -> dict[str, Any]:
    """With --to: each top path's conversions (its sequences), the sequences that followed its
    steps before the goal and its conversion rate, conversions / followed."""
    return {
        "goal": goal,
        "paths": [
            {
                "nodes": list(nodes),
                "conversions": n,
                "followed": k,
                "conversion_rate": rate(n, k),
            }
            for (nodes, n), k in zip(paths, followed, strict=True)
        ],
    }
