"""Saved insights: fetched fresh from PostHog and turned into a table."""

from __future__ import annotations

import json
import time
from typing import Any

from usertrack.errors import NotFoundError, QueryError
from usertrack.sources.base import Result
from usertrack.sources.posthog_http.transport import RunStats, Transport
from usertrack.sources.posthog_http.values import convert_rows, to_date


def insight_table(result: Any, columns: Any = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """A saved insight's `result` as columns and rows.

    - SQL (HogQL) insights: `columns` + rows, as they are.
    - Trends: long format, one row per series and day: `date` (the `days` entry), `series` (the
      series `label`), `value`, plus `breakdown_value` when a series has one and `compare_label`
      when the insight compares periods. Long format keeps one shape whatever the date range, and
      joins, filters and exports (csv) without knowing the days in advance.
    - Other insights whose result is a list of objects (funnels, ...): one row per object, columns
      the scalar keys in first-seen order.
    """
    if isinstance(result, list) and result and all(isinstance(s, dict) for s in result):
        if all("data" in s and ("days" in s or "labels" in s) for s in result):
            has_breakdown = any(s.get("breakdown_value") not in (None, "") for s in result)
            has_compare = any(s.get("compare_label") for s in result)
            cols = ["date", "series", "value"]
            if has_breakdown:
                cols.append("breakdown_value")
            if has_compare:
                cols.append("compare_label")
            rows: list[tuple[Any, ...]] = []
            for s in result:
                days = s.get("days") or s.get("labels") or []
                data = s.get("data") or []
                label = s.get("label")
                if label is None and isinstance(s.get("action"), dict):
                    label = s["action"].get("custom_name") or s["action"].get("name")
                for day, value in zip(days, data, strict=False):
                    row: list[Any] = [to_date(day) if len(str(day)) == 10 else day, label, value]
                    if has_breakdown:
                        bv = s.get("breakdown_value")
                        row.append(json.dumps(bv) if isinstance(bv, list | dict) else bv)
                    if has_compare:
                        row.append(s.get("compare_label"))
                    rows.append(tuple(row))
            return cols, rows
        keys: list[str] = []
        for s in result:
            for k, v in s.items():
                if k not in keys and not isinstance(v, dict | list):
                    keys.append(k)
        return keys, [tuple(s.get(k) for k in keys) for s in result]
    if isinstance(columns, list) and isinstance(result, list):
        return [str(c) for c in columns], [tuple(r) for r in result]
    if isinstance(result, list) and not result:
        return [str(c) for c in columns] if isinstance(columns, list) else [], []
    raise ValueError("an insight result of a shape usertrack does not know")


class Insights(Transport):
    """A saved insight's fresh result, as a table."""

    def fetch_insight(self, insight_id: str, *, where: str | None = None) -> Result:
        """A saved insight's fresh result (`refresh=blocking`) as a table (see `insight_table`)."""
        started = time.monotonic()
        stats = RunStats()
        ident = str(insight_id).strip()
        label = where or f"insight {ident}"
        base = f"/api/projects/{self.project_id}/insights/"
        if ident.isdigit():
            resp = self._send(
                "GET", f"{base}{ident}/", stats, label, params={"refresh": "force_blocking"}
            )
        else:
            resp = self._send(
                "GET", base, stats, label, params={"short_id": ident, "refresh": "force_blocking"}
            )
        body = self._json(resp, label)
        if resp.status_code == 404 and ident.isdigit():
            raise NotFoundError(
                f"{label}: PostHog has no saved insight {ident} in project"
                f" {self.project_id} ({self.host_label})"
            )
        if resp.status_code != 200:
            self._raise_for(resp, body, label)
        if not ident.isdigit():
            found = body.get("results") if isinstance(body, dict) else None
            if not found:
                raise NotFoundError(
                    f"{label}: PostHog has no saved insight with short id {ident!r} in project"
                    f" {self.project_id} ({self.host_label})"
                )
            body = found[0]
        if not isinstance(body, dict):
            raise QueryError(f"{label}: PostHog answered an insight that is not an object")
        result = body.get("result")
        if result is None:
            raise QueryError(
                f"{label}: PostHog returned no result for insight {ident} (it may not have been"
                " calculated; refresh=force_blocking was asked)"
            )
        if body.get("hasMore"):
            raise QueryError(
                f"{label}: saved insight {ident} has more rows than PostHog returned (hasMore);"
                " add a LIMIT to the insight or write the query as HogQL in a query file so"
                " usertrack can page it"
            )
        try:
            columns, rows = insight_table(result, body.get("columns"))
        except ValueError as e:
            raise QueryError(f"{label}: saved insight {ident}: {e}") from None
        rows = convert_rows([list(r) for r in rows], body.get("types"), len(columns))
        stats.pages = 1
        meta = self._meta(stats, started, len(rows))
        meta["insight"] = {
            "id": body.get("id"),
            "short_id": body.get("short_id"),
            "name": body.get("name") or body.get("derived_name"),
            "last_refresh": body.get("last_refresh"),
        }
        return Result(columns=columns, rows=rows, meta=meta)
