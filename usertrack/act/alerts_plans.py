"""Each alerted person's plan (subscription_status, queries/neon/accounts.sql): what the activity
triggers' `when` reads and every alert shows.

An alerts pass asks for the plans of the people it may alert only: those of the activity query
(a few thousand at most) and those who entered a segment, with accounts.sql kept to their emails
(it keeps itself to a list: `segment_only`), rather than every account's (100,000 rows read into
Python for a few thousand looked up), in a dashboard too (no other panel reads accounts.sql).
Where the file keeps itself to no list, or a live dashboard's rehearsal bundles the queries,
every account's are read once. Where the pass checks the local copy of the app's tables for its
run triggers (usertrack.act.alerts_runs), the plans come from the copy's users, which the check
has just found equal to the database's: no query of the accounts (0.1 s of PostgreSQL's CPU at
100,000 users, every account's email normalized to find the few thousand asked).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usertrack.act.alerts_runs import RunsCopy
    from usertrack.workspace import Workspace

QUERY = "neon/accounts"


class Plans:
    """The plans of the pass's people by email (None: no account, or no plan)."""

    def __init__(self, ws: Workspace, as_of: datetime, copy: RunsCopy | None = None) -> None:
        self.ws = ws
        self.as_of = as_of
        self.copy = copy  # the pass's copy of the app's tables, where it answers
        self.known: dict[str, str | None] = {}
        self.whole = False  # every account's read

    def of(self, emails: Collection[str]) -> dict[str, str | None]:
        """The plans of `emails` (and of any asked before), read once each."""
        if "neon" not in self.ws.sources or self.whole:
            return self.known
        missing = sorted({e for e in emails if e not in self.known})
        if not missing:
            return self.known
        from usertrack.segments.some import ONLY_EMAILS_PARAM, ONLY_PARAM, keeps_itself

        query, values = self.ws.bind(QUERY, self.as_of)
        if self.ws.scope.grouped_run is None and keeps_itself(query):
            found = self.copy.plans(self.as_of, missing) if self.copy is not None else None
            if found is None:
                values = {**values, ONLY_PARAM: True, ONLY_EMAILS_PARAM: missing}
                found = _by_email(self.ws.sources[query.folder].run(query, values))
            self.known.update(dict.fromkeys(missing))
            self.known.update(found)
        else:
            self.known.update(every_plan(self.ws, self.as_of))
            self.whole = True
        return self.known


def every_plan(ws: Workspace, as_of: datetime) -> dict[str, str | None]:
    """Each account's subscription_status by email (the last row of an email wins), as Arrow
    columns where the database can give them (parsed in C++, not 100,000 tuples and dicts), but
    in a dashboard, whose panels share each query's result."""
    query, values = ws.bind(QUERY, as_of)
    source = ws.sources[query.folder]
    if ws.scope.shared is None and ws.scope.grouped_run is None and source.arrow_results:
        result = source.run(query, values, arrow_over=0)
    else:
        result = ws.run_query(QUERY, as_of)
    return _by_email(result)


def _by_email(result: Any) -> dict[str, str | None]:
    if result.arrow is not None:
        emails = result.arrow.column("email").to_pylist()
        plans = (
            result.arrow.column("subscription_status").to_pylist()
            if "subscription_status" in result.columns
            else [None] * len(emails)
        )
        return dict(zip(emails, plans, strict=True))
    email = result.columns.index("email")
    if "subscription_status" not in result.columns:
        return dict.fromkeys((row[email] for row in result.rows), None)
    status = result.columns.index("subscription_status")
    return {row[email]: row[status] for row in result.rows}
