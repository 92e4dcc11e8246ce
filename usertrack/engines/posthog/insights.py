"""Saved insights: fetched fresh from PostHog and turned into a table."""

from __future__ import annotations

import json
import time
from typing import Any

from usertrack.core.errors import NotFoundError, QueryError
from usertrack.engines.base import Result
from usertrack.engines.posthog.transport import RunStats, Transport
from usertrack.engines.posthog.values import convert_rows, to_date

# Rows a list request asks for, and the most a list gathers (PostHog's insights endpoints are
# throttled at 240 a minute and 1,200 an hour: posthog/rate_limit.py).
PAGE = 100
MAX_LISTED = 1_000


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

    # ------------------------------------------------------------------ listing and creating

    def list_saved(
        self, kind: str, search: str | None = None, most: int = MAX_LISTED
    ) -> tuple[list[dict[str, Any]], int]:
        """The project's saved insights, dashboards or feature flags (`kind`: "insights",
        "dashboards" or "feature_flags"), at most `most` of them, and how many there are.
        PostHog pages a list (limit and offset, `count`, `next`: posthog/api's DRF
        pagination); each `next` is followed on this host only (the key never goes elsewhere).
        `search`: for insights PostHog's own filter (`search`: the name, derived name, a tag or
        the description contains it, any case: posthog/api/insight.py `_filter_request`); for
        feature flags PostHog's too (the key or the name contains it, any case:
        posthog/api/feature_flag.py `FeatureFlagViewSet._filter_request`; deleted flags are
        never listed); dashboards/ has no such filter, so their name, description and tags are
        matched here the same way."""
        from urllib.parse import urlsplit

        stats = RunStats()
        where = f"PostHog {kind}"
        path: str | None = f"/api/projects/{self.project_id}/{kind}/"
        first: dict[str, str] = {"limit": str(PAGE)}
        if kind == "insights":
            first["basic"] = "true"  # InsightBasicSerializer: no results computed
            first["saved"] = "true"
            if search:
                first["search"] = search
        if kind == "feature_flags" and search:
            first["search"] = search
        params: dict[str, str] | None = first
        found: list[dict[str, Any]] = []
        total = 0
        own = urlsplit(self.host)
        while path is not None and len(found) < most:
            resp = self._send("GET", path, stats, where, params=params)
            body = self._json(resp, where)
            if resp.status_code != 200:
                self._raise_for(resp, body, where)
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise QueryError(f"{where}: PostHog answered a list that is not one")
            items = [i for i in body["results"] if isinstance(i, dict)]
            if kind == "dashboards" and search:
                items = [i for i in items if _matches(i, search)]
            found.extend(items)
            total = int(body.get("count") or 0)
            following = body.get("next")
            path, params = None, None
            if isinstance(following, str) and following:
                parts = urlsplit(following)
                if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
                    raise QueryError(
                        f"{where}: PostHog's next page is on another host ({parts.netloc});"
                        " not followed"
                    )
                path = parts.path + (f"?{parts.query}" if parts.query else "")
        if kind == "dashboards" and search:
            total = len(found) if path is None else max(total, len(found))
        return found[:most], max(total, len(found[:most]))

    def create_insight(self, name: str, hogql: str) -> dict[str, Any]:
        """Save a HogQL query as an insight named `name` (POST insights/, the SQL insight's
        shape: a DataVisualizationNode around a HogQLQuery) and answer PostHog's insight (its
        `id`, `short_id`). Sent once: never retried after it may have reached PostHog."""
        from usertrack.engines.hogql.parser import ParseError
        from usertrack.engines.hogql.printer import PrintError, sent_text

        where = f"creating insight {name!r}"
        try:
            hogql = sent_text(hogql)  # printed from PostHog's own parse tree, as every query
        except (ParseError, PrintError) as e:
            raise QueryError(f"{where}: the query cannot be sent: {e}") from None
        body = {
            "name": name,
            "query": {
                "kind": "DataVisualizationNode",
                "source": {"kind": "HogQLQuery", "query": hogql},
            },
            "saved": True,
        }
        stats = RunStats()
        resp = self._send(
            "POST", f"/api/projects/{self.project_id}/insights/", stats, where, json=body, once=True
        )
        answer = self._json(resp, where)
        if resp.status_code not in (200, 201):
            self._raise_for(resp, answer, where)
        if not isinstance(answer, dict) or answer.get("id") is None:
            raise QueryError(f"{where}: PostHog answered no insight id")
        return answer


def _matches(item: dict[str, Any], search: str) -> bool:
    text = search.lower()
    fields = [item.get("name"), item.get("derived_name"), item.get("description")]
    fields += list(item.get("tags") or [])
    return any(text in str(f or "").lower() for f in fields)
