"""What an alerts pass works out side by side: the classifications its segment triggers compare,
and the figures of its failure and metric triggers.

None of these depends on another: each classification waits mostly on its queries (the app's
database and the events store, in processes and threads of their own), the metric figures on
theirs. One after another, a pass took their sum; started together when the pass begins, it takes
about the longest of them. The pass still takes each answer in the order of its triggers, so its
alerts, notes and errors come in the same order as when each was worked out when asked.

Side by side only where that changes nothing else: not when USERTRACK_DB_CONNECTIONS bounds
the database connections a command opens (each classification opens its own lanes), and in a
dashboard, whose panels share each moment's classification (`Workspace.shared`: the dashboard
decides when it is made), the figures only: a classification is asked for when the pass needs
it, as before. A dashboard's alerts panel thus waits for the longest of its figures (the run
windows, the failure days, the funnel's weeks, the DAU trend), not their sum.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from usertrack.engines.concurrency import Background

if TYPE_CHECKING:
    from usertrack.workspace import Workspace


class Ahead:
    """Work started ahead on threads of its own, by key; `get` gives its answer (or raises its
    error) when the pass asks for it, or works it out then when it was not started ahead."""

    def __init__(self, ws: Workspace) -> None:
        from usertrack.engines.base import CancelToken, current_token

        self.side_by_side = ws.settings.db_connections is None
        self.in_dashboard = ws.scope.shared is not None
        self._work: dict[Hashable, Background[Any]] = {}
        self._later: dict[Hashable, Callable[[], Any]] = {}  # not side by side: when asked
        self._done: dict[Hashable, Any] = {}
        # The work's sources stop when the pass fails or is interrupted (`cancel`).
        self._token = CancelToken().cancelled_with(current_token())

    def start(self, key: Hashable, work: Callable[[], Any], *, classifies: bool = False) -> None:
        """`work()` on a thread of its own from now, when the pass runs side by side; else
        when `get` asks for it (`classifies`: work that classifies, in a dashboard)."""
        if key in self._work or key in self._done:
            return
        if not self.side_by_side or (classifies and self.in_dashboard):
            self._later.setdefault(key, work)
            return

        self._work[key] = Background(lambda: self._scoped(work), "usertrack-alerts")

    def _scoped(self, work: Callable[[], Any]) -> Any:
        from usertrack.engines.base import cancel_scope

        with cancel_scope(self._token):
            return work()

    def cancel(self) -> None:
        """Stop what still runs: its queries are cancelled on the database, its waits end."""
        self._token.cancel()

    def give(self, key: Hashable, answer: Any) -> None:
        """`answer` is the answer of `key` (known without working it out)."""
        self._done[key] = answer

    def get(self, key: Hashable, work: Callable[[], Any]) -> Any:
        """The answer of `key`: the one started ahead, else `work()`'s; worked out once. Work
        started ahead may ask for another's answer from its own thread: the answer is kept
        before the work leaves `_work`, so that either holds it."""
        started = self._work.get(key)
        if started is not None:
            found = started.result()
        elif key in self._done:
            return self._done[key]
        else:
            found = self._later.pop(key, work)()
        self._done[key] = found
        self._work.pop(key, None)
        return found

    def settle(self) -> None:
        """Wait for whatever still runs, so the workspace is then closed under no query; once
        cancelled, a moment at most (a cancelled query ends at once), as
        usertrack.engines.concurrency.stop_all waits."""
        import time

        from usertrack.engines.concurrency import CANCEL_GRACE_SECONDS

        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        for started in self._work.values():
            if self._token.cancelled:
                started.settle(max(0.0, deadline - time.monotonic()))
            else:
                started.settle()
        self._work.clear()
