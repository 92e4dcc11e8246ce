"""One query request to PostHog: sent synchronously, and when PostHog answers that it takes
longer (a read timeout, 504, 202 or a pending `query_status`), resubmitted async and polled
until done, cancelled when the command is."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import Cancelled, QueryError, UsertrackError
from usertrack.engines.base import check_cancelled
from usertrack.engines.posthog.bundle import Gathered
from usertrack.engines.posthog.transport import RunStats, Transport, offset_refused

if TYPE_CHECKING:
    from usertrack.engines.posthog.answers import Rows
    from usertrack.queries.library import Query


class OffsetRefused(Exception):
    """PostHog refused OFFSET for this personal API key: page by keyset instead."""


class QueryRequests(Transport):
    """One HogQL text run to its rows: synchronously, or async with polling."""

    # ---------------------------------------------------------------- one query request

    def _query_page(
        self, query: Query, text: str, values: dict[str, Any], stats: RunStats, **how: Any
    ) -> tuple[list[str], list[list[Any]], Any]:
        """Run one HogQL text; return (columns, rows, types): `_query_read` (its `expect`,
        `offset_page`, `asynchronous`), the rows as json.loads gives them."""
        cols, rows, types = self._query_read(query, text, values, stats, **how)
        assert isinstance(rows, list)  # no `rows` reader: a list of rows
        return cols, rows, types

    def _query_read(
        self,
        query: Query,
        text: str,
        values: dict[str, Any],
        stats: RunStats,
        *,
        expect: int,
        offset_page: bool = False,
        asynchronous: bool = False,
        rows: Callable[[], Gathered] | None = None,
    ) -> tuple[list[str], list[list[Any]] | Gathered, Any]:
        """Run one HogQL text; return (columns, rows, types). Never more rows than `expect`.
        `asynchronous`: submitted async at once and polled (one request whatever it takes),
        for a query expected to run past PostHog's synchronous limit. `rows`, when given: the
        answer's rows read into what it makes as they are read (Transport._json), answered in
        the rows' place."""
        import httpx

        where = self._where(query)
        body: dict[str, Any] = {
            "query": {
                "kind": "HogQLQuery",
                "query": text,
                "values": values,
                # usertrack's definitions are UTC days and weeks whatever the project's timezone
                # (docs/metrics.md); PostHog would otherwise read every DateTime in the project's
                # timezone (HogQLQueryModifiers; its own insight runners set this too).
                "modifiers": {"convertToProjectTimezone": False},
            },
            "name": f"usertrack {query.id}",
        }
        if self.refresh:
            body["refresh"] = "force_blocking"
        path = f"/api/projects/{self.project_id}/query/"
        resp = None
        if not asynchronous:
            try:
                resp = self._send("POST", path, stats, where, json=body, slot=True, timeout_ok=True)
            except httpx.TimeoutException:
                resp = None
        if asynchronous:
            payload = self._run_async(query, body, stats, first=True, rows=rows)
        elif resp is None or resp.status_code == 504:
            payload = self._run_async(query, body, stats, rows=rows)
        else:
            data = self._json(resp, where, rows=rows)
            if resp.status_code == 400 and offset_page and offset_refused(data):
                raise OffsetRefused()
            if resp.status_code == 202 or (
                resp.status_code == 200 and _pending_status(data) is not None
            ):
                payload = self._poll(query, data, stats, slot_held=False, rows=rows)
            elif resp.status_code != 200:
                self._raise_for(resp, data, where)
            else:
                payload = data
        cols, found, types = self._unpack(payload, where)
        if payload.get("hasMore"):
            raise QueryError(
                f"{where}: PostHog returned {len(found):,} rows and says more exist (hasMore) for a"
                f" request limited to {expect:,}; the result cannot be completed, so it is not used"
            )
        if len(found) > expect:
            raise QueryError(
                f"{where}: PostHog returned {len(found):,} rows for a request limited to"
                f" {expect:,}; refusing a result that cannot be checked"
            )
        return cols, found, types

    def _unpack(
        self, payload: Any, where: str
    ) -> tuple[list[str], list[list[Any]] | Gathered, Any]:
        if not isinstance(payload, dict):
            raise QueryError(f"{where}: PostHog answered something that is not a query result")
        rows = payload.get("results")
        cols = payload.get("columns") or []
        if rows is None:
            raise QueryError(f"{where}: PostHog answered without results")
        if isinstance(rows, Gathered):  # read as they came (Transport._json's `rows`)
            if rows.not_rows:
                raise QueryError(f"{where}: PostHog answered results that are not rows")
            return [str(c) for c in cols], rows, payload.get("types")
        if not isinstance(rows, list) or not all(isinstance(r, list | tuple) for r in rows):
            raise QueryError(f"{where}: PostHog answered results that are not rows")
        return [str(c) for c in cols], [list(r) for r in rows], payload.get("types")

    # ---------------------------------------------------------------- async

    def _run_async(
        self,
        query: Query,
        body: dict[str, Any],
        stats: RunStats,
        *,
        first: bool = False,
        rows: Callable[[], Rows] | None = None,
    ) -> dict[str, Any]:
        """Resubmit with refresh=force_async and poll until the query completes. `first`: not
        a resubmission but the first request, "async" (PostHog may answer from its cache, as
        a synchronous request may) unless --refresh."""
        where = self._where(query)
        stats.went_async = True
        mode = "force_async"
        if first:
            mode = "force_async" if self.refresh else "async"
        else:
            self._note(f"{query.id}: longer than PostHog's synchronous limit; running it async")
        path = f"/api/projects/{self.project_id}/query/"
        with self._slot():
            resp = self._send("POST", path, stats, where, json={**body, "refresh": mode})
            data = self._json(resp, where, rows=rows)
            if resp.status_code not in (200, 202):
                self._raise_for(resp, data, where)
            if _pending_status(data) is None and isinstance(data, dict) and "results" in data:
                return data  # a fresh cached answer
            return self._poll(query, data, stats, slot_held=True, rows=rows)

    def _poll(
        self,
        query: Query,
        data: Any,
        stats: RunStats,
        *,
        slot_held: bool,
        rows: Callable[[], Rows] | None = None,
    ) -> dict[str, Any]:
        where = self._where(query)
        status = _pending_status(data)
        if status is None:
            raise QueryError(f"{where}: PostHog answered an async query without a query_status")
        done = self._status_result(status, where)
        if done is not None:
            return done
        if not status.get("id"):
            raise QueryError(f"{where}: PostHog answered an async query without a query_status id")
        qid = str(status["id"])
        if not slot_held:
            with self._slot():
                return self._poll_loop(query, qid, status, stats, rows)
        return self._poll_loop(query, qid, status, stats, rows)

    def _poll_loop(
        self,
        query: Query,
        qid: str,
        status: dict[str, Any],
        stats: RunStats,
        rows: Callable[[], Rows] | None = None,
    ) -> dict[str, Any]:
        where = self._where(query)
        path = f"/api/projects/{self.project_id}/query/{qid}/"
        started = time.monotonic()
        interval = self.poll_interval
        try:
            return self._poll_until_done(query, path, qid, status, stats, started, interval, rows)
        except Cancelled:
            self._cancel(path, stats, where)  # PostHog need not finish a query nobody awaits
            raise

    def _poll_until_done(
        self,
        query: Query,
        path: str,
        qid: str,
        status: dict[str, Any],
        stats: RunStats,
        started: float,
        interval: float,
        rows: Callable[[], Rows] | None = None,
    ) -> dict[str, Any]:
        where = self._where(query)
        while True:
            check_cancelled()
            done = self._status_result(status, where)
            if done is not None:
                return done
            elapsed = time.monotonic() - started
            if elapsed >= self.async_timeout:
                self._cancel(path, stats, where)
                raise QueryError(
                    f"{where}: PostHog was still running the query after {elapsed:.0f} s;"
                    " gave up and cancelled it (narrow the time window or aggregate more)"
                )
            self._note(f"{query.id}: running on PostHog ({elapsed:.0f} s)")
            self._sleep(min(interval, max(0.0, self.async_timeout - elapsed)))
            interval = min(interval * 1.5, self.poll_interval_max)
            resp = self._send("GET", path, stats, where, server_errors_ok=True)
            stats.async_polls += 1
            data = self._json(resp, where, rows=rows)
            if resp.status_code == 404:
                raise QueryError(
                    f"{where}: PostHog no longer knows async query {qid} (its status record"
                    " expired or was cancelled); run it again"
                )
            st = data.get("query_status") if isinstance(data, dict) else None
            if resp.status_code in (200, 202, 400, 500) and isinstance(st, dict):
                status = st
                continue
            self._raise_for(resp, data, where)

    def _status_result(self, status: dict[str, Any], where: str) -> dict[str, Any] | None:
        if status.get("error"):
            message = status.get("error_message") or "an internal error (no message given)"
            raise QueryError(f"{where}: PostHog failed the query: {message}")
        if not status.get("complete"):
            return None
        results = status.get("results")
        if isinstance(results, dict):
            return results  # the whole query response, as PostHog stores it
        if isinstance(results, list | Gathered):
            return {
                "results": results,
                "columns": status.get("columns") or [],
                "types": status.get("types"),
            }
        raise QueryError(f"{where}: PostHog completed the async query without results")

    def _cancel(self, path: str, stats: RunStats, where: str) -> None:
        with suppress(UsertrackError):  # best effort; a cancelled command still sends this one
            self._send("DELETE", path, stats, where, cancellable=False)


def _pending_status(data: Any) -> dict[str, Any] | None:
    """The `query_status` of an answer that carries no rows yet (async), else None."""
    if not isinstance(data, dict):
        return None
    st = data.get("query_status")
    if isinstance(st, dict) and (data.get("results") is None or st.get("error")):
        return st
    return None
