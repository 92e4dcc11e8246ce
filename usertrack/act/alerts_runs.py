"""An alerts pass's workflow runs from the local copy of the app's tables
(usertrack/engines/postgres/app_mirror.py), row for row what queries/neon/run_windows.sql and
run_failure_days.sql give on PostgreSQL.

Both files read every run of their windows (a million in 8 weeks at 100,000 users), group them
and join them to the users; the copy's check reads the same runs once with no grouping and no
join, and DuckDB counts both answers from the copy. One check covers every window the pass asks
(the run triggers' weeks and the failure days), made when the first answer is asked.

Used only where the copy may answer (app_mirror.copy_source: the shipped text of both files on a
PostgreSQL database, ...) and the answers are not already in the answer cache. Otherwise, or when
the copy cannot be used (held by another command, a check the database refuses), the files run
on the database.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.clock import naive_utc
from usertrack.engines.shortcut import MirrorShortcut

if TYPE_CHECKING:
    import duckdb

    from usertrack.engines.postgres.app_mirror import AppMirror
    from usertrack.workspace import Workspace

FILES = ("neon/run_windows", "neon/run_failure_days")
ACCOUNTS = "neon/accounts"  # the plans (usertrack.act.alerts_plans), from the copy's users
# The statements of RunsCopy's run_windows, failure_days and plans in place of the files, as
# shipped: the runs' two checked together (both files gated in, or neither), the plans alone.
RUN_SHORTCUTS = (
    MirrorShortcut(
        FILES[0],
        digest="e2b12ac1e8873e56a8babd062d94b383a78263f7b277bbe8b2b8469c8aa63a62",
        entry="alerts",
        used_by="usertrack alerts",
    ),
    MirrorShortcut(
        FILES[1],
        digest="372179e0822db34d3ee94c9388900b19d6c89ea7066cf3db3550b3c698f3d47b",
        entry="alerts",
        used_by="usertrack alerts",
    ),
)
PLANS = MirrorShortcut(
    ACCOUNTS,
    digest="d61b2d17a989c3498b53b45b685ca4f698f09a8772d940e599bfd6423bc32e1e",
    entry="alerts plans",
    used_by="usertrack alerts",
)
SHORTCUTS = (*RUN_SHORTCUTS, PLANS)


class RunsCopy:
    """The runs of `spans` ((since, as_of] each) checked once in the copy, on first use; each
    answer None when the files answer instead. The copy is closed once each span has been asked
    for, and with `plans` once the pass's plans are done (`plans_done`): its DuckDB instance's
    threads and memory are not held through the rest of the pass. Thread-safe; `close` when the
    pass ends."""

    def __init__(
        self, ws: Workspace, spans: list[tuple[datetime, datetime]], *, plans: bool = False
    ) -> None:
        self._ws = ws
        self._spans = [(naive_utc(a), naive_utc(b)) for a, b in spans]
        # the answers still to be asked (the plans: one more, until `plans_done`)
        self._left = len(set(self._spans)) + plans
        self._plans = plans
        self._lock = threading.Lock()
        self._tried = False
        self._mirror: AppMirror | None = None
        from usertrack.engines.postgres import app_mirror

        self._cached = app_mirror.answer_cache(ws)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._mirror is not None:
            self._mirror.close()
            self._mirror = None

    def _asked(self) -> None:
        """One answer asked for (from the copy or not): the last closes the copy. Under the
        lock."""
        self._left -= 1
        if self._left <= 0:
            self._close()

    def run_windows(self, end: datetime, days: int, windows: int) -> list[dict[str, Any]] | None:
        """run_windows.sql's rows at `end` (window_end, runs, runs_completed), or None."""
        query, values = self._ws.bind(FILES[0], end, days=days, windows=windows)
        if self._cached is not None and self._cached.peek(query, values) is not None:
            with self._lock:
                self._asked()
            return None  # the answer cache answers at once
        at = naive_utc(values["as_of"])
        step = int(values["days"])
        count = int(values["windows"])
        with self._lock:
            con = self._ready(at - timedelta(days=step * count), at, str(values["exclude_pattern"]))
            if con is None:
                self._asked()
                return None
            rows = con.execute(
                """
                WITH per_user AS (
                    SELECT user_id,
                           (epoch_us($at::TIMESTAMP) - epoch_us(ts)) // ($days * 86400000000) AS k,
                           count(*) AS runs,
                           count(*) FILTER (WHERE run_state = 'completed') AS runs_completed
                    FROM runs
                    WHERE ts > $at::TIMESTAMP - to_days(CAST($days * $windows AS INTEGER))
                      AND ts <= $at::TIMESTAMP
                    GROUP BY ALL
                )
                SELECT p.k, sum(p.runs)::BIGINT, sum(p.runs_completed)::BIGINT
                FROM per_user AS p
                JOIN fastapi_users AS f ON f.id = p.user_id
                JOIN wasp_users AS w ON w.id = f.wasp_user_id
                WHERE w.created_at <= $at::TIMESTAMP - to_days(CAST($days * p.k AS INTEGER))
                  AND w.kept
                GROUP BY p.k
                """,
                {"at": at, "days": step, "windows": count},
            ).fetchall()
            self._asked()
        by_k = {int(k): (int(runs), int(done)) for k, runs, done in rows}
        out = []
        for k in range(count - 1, -1, -1):
            runs, done = by_k.get(k, (0, 0))
            window_end = at - timedelta(days=step * k)  # bound as UTC without a zone
            out.append({"window_end": window_end, "runs": runs, "runs_completed": done})
        self._store(query, values, out)
        return out

    def failure_days(self, as_of: datetime, days: int) -> list[dict[str, Any]] | None:
        """run_failure_days.sql's rows at `as_of` (day, runs, runs_failed), or None."""
        query, values = self._ws.bind(FILES[1], as_of, days=days)
        if self._cached is not None and self._cached.peek(query, values) is not None:
            with self._lock:
                self._asked()
            return None
        at = naive_utc(values["as_of"])
        since = at - timedelta(days=int(values["days"]))
        with self._lock:
            con = self._ready(since, at, str(values["exclude_pattern"]))
            if con is None:
                self._asked()
                return None
            rows = con.execute(
                """
                SELECT r.day, count(*),
                       count(*) FILTER (WHERE r.run_state = 'failed')
                FROM runs AS r
                JOIN fastapi_users AS f ON f.id = r.user_id
                JOIN wasp_users AS w ON w.id = f.wasp_user_id
                WHERE w.kept AND r.ts > $since AND r.ts <= $at
                GROUP BY 1
                """,
                {"since": since, "at": at},
            ).fetchall()
            self._asked()
        counted: dict[date, tuple[int, int]] = {d: (int(n), int(f)) for d, n, f in rows}
        out = []
        day, last = since.date(), (at - timedelta(microseconds=1)).date()
        while day <= last:
            runs, failed = counted.get(day, (0, 0))
            out.append({"day": day, "runs": runs, "runs_failed": failed})
            day += timedelta(days=1)
        self._store(query, values, out)
        return out

    def plans(self, as_of: datetime, emails: list[str]) -> dict[str, str | None] | None:
        """accounts.sql's subscription_status of `emails` (those it has a row of), from the
        copy's users as the file keeps them (created by as_of, an email not blank nor excluded,
        the greatest status of an email's users); None when the file answers: no plans asked
        of the copy, an email whose users' statuses differ (the database orders them by its
        own collation), or an answer the answer cache holds."""
        if not self._plans:
            return None
        from usertrack.segments.some import ONLY_EMAILS_PARAM, ONLY_PARAM

        query, values = self._ws.bind(ACCOUNTS, as_of)
        if not PLANS.gate(query, values):
            return None
        asked = {**values, ONLY_PARAM: True, ONLY_EMAILS_PARAM: emails}  # as Plans asks it
        if self._cached is not None and self._cached.peek(query, asked) is not None:
            return None  # the answer cache answers at once
        with self._lock:
            con = self._checked_con(str(values["exclude_pattern"]))
            if con is None or self._left <= 0:
                return None
            rows = con.execute(
                """
                SELECT email, max(subscription_status), count(DISTINCT subscription_status)
                FROM wasp_users
                WHERE kept AND created_at <= $at AND email <> ''
                  AND email IN (SELECT unnest($emails::VARCHAR[]))
                GROUP BY email
                """,
                {"at": naive_utc(values["as_of"]), "emails": emails},
            ).fetchall()
        if any(statuses > 1 for _, _, statuses in rows):
            return None
        return {email: status for email, status, _ in rows}

    def plans_done(self) -> None:
        """The pass asks for no more plans: the copy closes once its spans are answered too."""
        with self._lock:
            if self._plans:
                self._plans = False
                self._asked()

    def _store(self, query: Any, values: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """The answer kept in the answer cache too, when the database has one."""
        if self._cached is None or not rows:
            return
        from usertrack.engines.base import Result

        columns = list(rows[0])
        self._cached.store_answer(query, values, Result(columns, [tuple(r.values()) for r in rows]))

    def _ready(
        self, since: datetime, as_of: datetime, exclude_pattern: str
    ) -> duckdb.DuckDBPyConnection | None:
        """The copy's connection once checked (the first call checks every span), or None when
        the files answer; a window outside the spans checked: None too. Under the lock."""
        if not any(a <= since and as_of <= b for a, b in self._spans):
            return None
        return self._checked_con(exclude_pattern)

    def _checked_con(self, exclude_pattern: str) -> duckdb.DuckDBPyConnection | None:
        """The copy's connection, checked on the first call (every span), or None. Under the
        lock."""
        if not self._tried:
            self._tried = True
            self._mirror = self._checked(exclude_pattern)
        if self._mirror is None or self._mirror.meta("exclude_pattern") != exclude_pattern:
            return None
        return self._mirror.con

    def _checked(self, exclude_pattern: str) -> AppMirror | None:

        from usertrack.engines.postgres import app_mirror

        ws = self._ws
        asked = [(cut, ws.library.get(cut.query_id), None) for cut in RUN_SHORTCUTS]
        source = app_mirror.copy_source(ws, asked)
        if source is None or not self._spans:
            return None
        since = min(a for a, _ in self._spans)
        as_of = max(b for _, b in self._spans)
        path = app_mirror.mirror_path(self._ws.settings.home, source.identity)
        return app_mirror.open_checked(
            path, source, since, as_of, (app_mirror.RUNS,), exclude_pattern
        )


def for_pass(ws: Workspace, triggers: Any, as_of: datetime, kinds: set[str]) -> RunsCopy:
    """The copy for an alerts pass's run triggers at `as_of` (`triggers`: alerts.Trigger):
    each failure spike's days and each run metric's windows, checked together; the plans of
    the people the pass may alert too (in a dashboard as well: no other panel reads
    accounts.sql kept to a few emails)."""
    from usertrack.act.metric_alerts import extent

    spans: list[tuple[datetime, datetime]] = []
    for trigger in triggers:
        if trigger.kind not in kinds:
            continue
        if trigger.kind == "failures":
            spans.append((as_of - timedelta(days=trigger.days + 1), as_of))
        elif trigger.kind == "metric" and trigger.metric.metric in ("runs", "run_success_rate"):
            starts, step, end = extent(trigger.metric, as_of)
            spans.append((end - step * len(starts), end))
    plans = bool(spans) and bool(kinds & {"activity", "segment"})
    return RunsCopy(ws, spans, plans=plans)
