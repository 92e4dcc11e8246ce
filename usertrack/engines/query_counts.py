"""How many queries this process has sent to each live source: what `--verbose` prints and the
JSON's `"queries"` holds.

- `posthog`: every request to PostHog's query endpoint (`POST .../query/`): each HogQL query,
  each page or partition of a long result, an async resubmission, a retry after a 429 or a
  5xx, and the `HogQLMetadata` checks of `query check`. Each one counts against PostHog's
  query limits (docs/connecting.md); polling an async query's status does not.
- `database`: every query file run on the app's PostgreSQL (one read-only transaction each).

The demo and an events export are read by the local engine: no PostHog query is sent. The
counters are process-wide (the partitions of a PostHog query run on threads); a command starts
them from zero (`reset`) and a dashboard reads what its panels added (`counted`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

SOURCES = ("posthog", "database")

_lock = threading.Lock()
_counts = dict.fromkeys(SOURCES, 0)


def count(source: str, n: int = 1) -> None:
    """`n` more queries sent to `source` (one of SOURCES)."""
    with _lock:
        _counts[source] += n


def counts() -> dict[str, int]:
    """The queries sent to each source since the last `reset`."""
    with _lock:
        return dict(_counts)


def reset() -> None:
    with _lock:
        for source in SOURCES:
            _counts[source] = 0


@contextmanager
def counted() -> Iterator[dict[str, int]]:
    """The queries sent while the block runs, in the dict yielded (filled when it ends)."""
    before = counts()
    sent: dict[str, int] = {}
    try:
        yield sent
    finally:
        after = counts()
        sent.update({s: after[s] - before[s] for s in SOURCES})


def text(sent: dict[str, int]) -> str:
    """`3 PostHog queries, 2 database queries`: the line --verbose prints."""
    p, d = sent.get("posthog", 0), sent.get("database", 0)
    return (
        f"{p:,} PostHog {'query' if p == 1 else 'queries'},"
        f" {d:,} database {'query' if d == 1 else 'queries'}"
    )
