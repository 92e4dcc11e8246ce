"""What an alerts pass works out side by side: the classifications its segment triggers compare,
and the figures of its failure and metric triggers.

None of these depends on another: each classification waits mostly on its queries (the app's
database and the events store, in processes and threads of their own), the metric figures on
theirs. One after another, a pass took their sum; started together when the pass begins, it takes
about the longest of them. The pass still takes each answer in the order of its triggers, so its
alerts, notes and errors come in the same order as when each was worked out when asked.

Side by side only where that changes nothing else: not while a dashboard's panels share what
they compute (`Workspace.shared`: the dashboard decides what runs when), and not when
USERTRACK_DB_CONNECTIONS bounds the database connections a command opens (each classification
opens its own lanes).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usertrack.analytics.by_segment import Background
    from usertrack.workspace import Workspace


class Ahead:
    """Work started ahead on threads of its own, by key; `get` gives its answer (or raises its
    error) when the pass asks for it, or works it out then when it was not started ahead."""

    def __init__(self, ws: Workspace) -> None:
        self.side_by_side = ws.shared is None and ws.settings.db_connections is None
        self._work: dict[Hashable, Background[Any]] = {}
        self._done: dict[Hashable, Any] = {}

    def start(self, key: Hashable, work: Callable[[], Any]) -> None:
        """`work()` on a thread of its own from now, when the pass runs side by side."""
        if not self.side_by_side or key in self._work or key in self._done:
            return
        from usertrack.analytics.by_segment import Background

        self._work[key] = Background(work, "usertrack-alerts")

    def get(self, key: Hashable, work: Callable[[], Any]) -> Any:
        """The answer of `key`: the one started ahead, else `work()`'s; worked out once."""
        if key in self._done:
            return self._done[key]
        started = self._work.pop(key, None)
        found = started.result() if started is not None else work()
        self._done[key] = found
        return found

    def settle(self) -> None:
        """Wait for whatever still runs (a pass that failed meanwhile): the workspace is then
        closed under no query."""
        for started in self._work.values():
            started.settle()
        self._work.clear()
