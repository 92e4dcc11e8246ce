"""A local PostHog-compatible HTTP server for the tests: real HTTP on 127.0.0.1, real ClickHouse.

It answers the endpoints usertrack's live PostHog source uses, the way PostHog does (see the facts
in usertrack/engines/posthog/ and ../shared/DESIGN.md). By default the engine is real
ClickHouse (chdb) running the HogQL printed as PostHog prints it (tests/clickhouse_engine.py,
tests/hogql_printer.py), in the project timezone `timezone` unless a request's modifiers say
`convertToProjectTimezone: false`; `engine="duckdb"` uses usertrack's own local engine instead
(`LocalPostHogSource`), for tests about the HTTP behaviour at sizes where loading ClickHouse would
only cost time.

- `POST /api/projects/{id}/query/` (HogQLQuery with `values`): a query without a top-level LIMIT
  gives `default_rows` rows plus `hasMore`/`limit`/`offset`; any LIMIT is capped at `max_rows`
  without a word. HogQL the engine cannot run is 400 `validation_error` with the engine's message.
  More than `max_concurrent` queries at once are refused with 429 (PostHog's concurrency limit);
  `query_delay` holds every query that long, to provoke it (`query_hold`, an Event, until the
  test sets it: a minute at most); `latency(text, values)`, when set,
  holds each query the seconds it answers (bench/posthog_pulls.py: a simulated scan cost).
  With `reject_offset`, any OFFSET is refused with PostHog's 400 for personal-API-key queries;
  with `refuse_packed`, a packed request (usertrack's whole result as tuples in arrays,
  engines/posthog/paging.py, or a bundle of query files, engines/posthog/bundle.py) is refused as
  ClickHouse refuses one over its memory limit.
  `"refresh": "async"` (or "force_async") answers 202 with a `query_status` at once; the query
  runs on a thread, its text parsed in a child process as PostHog's worker would (the parser
  holds the GIL: tests/hogql_printer.parse_apart), and `GET .../query/{qid}/` answers
  "running" `async_polls` times, then the result (or `async_error`), waiting up to 10 s for
  the query to end (else "running" again).
  `expire_async` makes every status record unknown (404).
- `GET .../feature_flags/`: the project's feature flags (`FEATURE_FLAGS`), `search` on the key
  or name, deleted ones never listed, paged as the insights and dashboards lists.
- `GET /api/projects/{id}/`: the project's name and `timezone`. `GET .../insights/{id}/` and
  `GET .../insights/?short_id=`: two canned insights (a trends one, a HogQL table one); `result`
  is null unless `refresh=blocking` (or force_blocking) is asked.
- `Authorization: Bearer <api_key>` is required (401 otherwise); `missing_scope` makes every
  request 403 as for a key without `query:read`; another project id is 404.
- On demand: `throttle(n, retry_after)` answers the next n requests with 429 and Retry-After;
  `time_out_next(n)` answers the next n synchronous query POSTs with 504; `force_has_more`
  claims `hasMore` on every answer.

Answers are written as PostHog's API writes them (tests/posthog_json.py): orjson as its REST
renderer (compact, UTF-8, NaN as null), a query's status as Django's JsonResponse.

Every request is recorded in `requests` (method, path, query string, JSON body, headers with
Authorization replaced by REDACTED, and the `refresh` mode asked, from the body or the query
string); `refreshes()` lists the modes of the query and insight requests; `max_in_flight` is the
most queries ever running at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.clickhouse_engine import ClickHouseEngine, ClickHouseError, HogQLError
from tests.hogql_printer import Printer, parse_apart, parse_select, warm_parser
from tests.posthog_json import render, render_status
from usertrack.core.errors import QueryError
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.queries.library import Query

DEFAULT_KEY = "phx_TestKey0123456789abcdefSECRET"
TIMINGS = "_usertrack_timings"  # a key of the engine's answer, never sent
PACKED_REFUSED = "Memory limit (for query) exceeded: would use 10.00 GiB"
OFFSET_NOT_ALLOWED = (
    "OFFSET is not supported on queries made with a personal API key. For pagination, use keyset"
    " pagination on the `timestamp` column, e.g. `WHERE timestamp > :last_seen_timestamp ORDER BY"
    " timestamp LIMIT N`. For bulk data extraction, use batch exports:"
    " https://posthog.com/docs/cdp/batch-exports"
)

TRENDS_INSIGHT_ID = 11
TRENDS_SHORT_ID = "Tr3nds11"
TABLE_INSIGHT_ID = 12
TABLE_SHORT_ID = "T4ble012"
TABLE_INSIGHT_SQL = "SELECT event, count() AS n FROM events GROUP BY event ORDER BY event"
CREATED_IDS_FROM = 100  # ids of the insights a test creates (POST insights/)
INSIGHT_SEARCHED = ("name", "derived_name", "description")  # and tags
# The project's dashboards (posthog/api/dashboards/dashboard.py DashboardBasicSerializer's
# fields that usertrack reads).
DASHBOARDS = (
    {"id": 7, "name": "Growth weekly", "description": "Signups, activation and MCP clicks",
     "pinned": True, "tags": [], "created_at": "2026-10-01T09:00:00Z",
     "last_accessed_at": "2026-11-15T08:00:00Z"},
    {"id": 8, "name": "Tool reliability", "description": "<b>Failures</b> by provider",
     "pinned": False, "tags": ["ops"], "created_at": "2026-10-02T09:00:00Z",
     "last_accessed_at": None},
)  # fmt: skip
# The project's feature flags (posthog/api/feature_flag.py FeatureFlagSerializer's fields that
# usertrack reads; `name` is the flag's description there). Flag 23 is deleted: never listed.
FEATURE_FLAGS = (
    {"id": 21, "key": "new-onboarding", "name": "The <i>guided</i> onboarding checklist",
     "active": True, "tags": ["growth"], "deleted": False,
     "created_at": "2026-10-05T10:00:00Z", "updated_at": "2026-11-14T16:45:00Z"},
    {"id": 22, "key": "mcp-connect-v2", "name": "Second MCP connect flow", "active": False,
     "tags": [], "deleted": False, "created_at": "2026-10-20T10:00:00Z",
     "updated_at": "2026-10-21T08:00:00Z"},
    {"id": 23, "key": "old-growth-banner", "name": "Retired banner", "active": False,
     "tags": ["growth"], "deleted": True, "created_at": "2026-09-01T10:00:00Z",
     "updated_at": "2026-09-30T08:00:00Z"},
)  # fmt: skip
TRENDS_RESULT: list[dict[str, Any]] = [
    {
        "action": {"id": "$pageview", "type": "events", "name": "$pageview", "custom_name": None},
        "label": "$pageview",
        "count": 6.0,
        "data": [1.0, 2.0, 3.0],
        "labels": ["9-Nov-2026", "10-Nov-2026", "11-Nov-2026"],
        "days": ["2026-11-09", "2026-11-10", "2026-11-11"],
    },
    {
        "action": {"id": "mcp_connect_clicked", "type": "events", "name": "mcp_connect_clicked"},
        "label": "mcp_connect_clicked",
        "count": 1.0,
        "data": [0.0, 1.0, 0.0],
        "labels": ["9-Nov-2026", "10-Nov-2026", "11-Nov-2026"],
        "days": ["2026-11-09", "2026-11-10", "2026-11-11"],
    },
]


_ENGINES: dict[tuple[str, int, int, str], ClickHouseEngine] = {}
_ENGINES_LOCK = threading.Lock()


def clickhouse_for(store_path: Path, timezone: str = "UTC") -> ClickHouseEngine:
    """The ClickHouse copy of a store, loaded once per test session (and again if it changed)."""
    stat = Path(store_path).stat()
    key = (str(Path(store_path).resolve()), stat.st_mtime_ns, stat.st_size, timezone)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = ClickHouseEngine(Path(store_path), timezone=timezone)
        return engine


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, type_: str, code: str, detail: str, attr: str | None = None) -> _Answer:
    return _Answer(status, {"type": type_, "code": code, "detail": detail, "attr": attr})


def has_top_level_limit(sql: str) -> bool:
    """Whether a HogQL text has a LIMIT outside parentheses (not LIMIT n BY)."""
    text = re.sub(r"--[^\n]*", " ", sql)
    text = re.sub(r"'(?:[^'\\]|\\.|'')*'", "''", text)
    while True:
        new = re.sub(r"\([^()]*\)", "()", text)
        if new == text:
            break
        text = new
    for m in re.finditer(r"\bLIMIT\s+\d+(\s*,\s*\d+)?(\s+BY\b)?", text, re.IGNORECASE):
        if not m.group(2):
            return True
    return False


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat() + ("Z" if v.tzinfo is None else "")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    return v


def _ch_type(values: list[Any]) -> str:
    v = next((x for x in values if x is not None), None)
    if isinstance(v, bool):
        return "Bool"
    if isinstance(v, int):
        return "Int64"
    if isinstance(v, float):
        return "Float64"
    if isinstance(v, datetime):
        return "DateTime64(6, 'UTC')"
    if isinstance(v, date):
        return "Date"
    if isinstance(v, list | tuple):
        # A packed column (groupArray of tuples: lists or, from DuckDB, dicts) is typed as
        # ClickHouse types it, Array(Tuple(T1, ...)), each element by its values.
        items = [x for xs in values if isinstance(xs, list | tuple) for x in xs]
        rows = [list(x.values()) if isinstance(x, dict) else x for x in items]
        if rows and all(isinstance(r, list | tuple) for r in rows):
            width = len(rows[0])
            if all(len(r) == width for r in rows):
                inner = ", ".join(_ch_type([r[i] for r in rows]) for i in range(width))
                return f"Array(Tuple({inner}))"
        return "Array(String)"
    if v is None:
        return "Nullable(Nothing)"
    return "String"


def metadata_placeholders(
    tree: Any, known: dict[str, Any] | None, *, filters: bool, from_globals: bool
) -> Any:
    """The tree of a HogQLMetadata text with its placeholders put in as get_hogql_metadata
    (posthog/hogql/metadata.py) puts them in.

    - `{filters}` (placeholders.py FindPlaceholders `has_filters`) is `true` when no filters are
      asked (filters.py ReplaceFilters.visit_placeholder, `self.filters is None`).
    - PostHog's master puts each other `{name}` in from the request's `globals`
      (placeholders.py ReplacePlaceholders: the name read as HogVM's GET_GLOBAL reads it); a
      simple value (utils.py is_simple_value: a number, a string, a bool, a list or a dict of
      them) becomes a constant, anything else, null included, is refused ("Placeholder
      returned an unexpected type: NoneType. ..."); a name `globals` lacks is HogVM's "Global
      variable not found", a HogVMException, which get_hogql_metadata answers as "Unexpected
      HogVMException" (not an ExposedHogQLError; DEBUG is off on PostHog's servers).
    - Earlier PostHog (`from_globals` False; metadata.py parsed, then `replace_filters` only
      `if query.filters`, and printed) leaves every placeholder to the printer:
      printer/base.py visit_placeholder, "Unresolved placeholder: {name}" (the first one this
      walk meets)."""

    def put(node: Any) -> Any:
        if isinstance(node, list):
            return [put(n) for n in node]
        if not isinstance(node, dict):
            return node
        if node.get("node") != "Placeholder":
            return {k: put(v) for k, v in node.items()}
        inner = node.get("expr") or {}
        chain = [str(c) for c in inner.get("chain") or []] if inner.get("node") == "Field" else []
        name = ".".join(chain)
        if chain[:1] == ["filters"] and (filters or from_globals):
            return {"node": "Constant", "value": True}
        if not from_globals:
            raise HogQLError(f"Unresolved placeholder: {{{name}}}")
        if not chain or not known or chain[0] not in known:
            raise HogQLError("Unexpected HogVMException")
        value: Any = known
        for link in chain:
            value = value.get(link) if isinstance(value, dict) else None
        if not _simple(value):
            raise HogQLError(
                f"Placeholder returned an unexpected type: {type(value).__name__}. "
                "Expected an AST node or a simple value."
            )
        return {"node": "Constant", "value": value}

    return put(tree)


def _simple(value: Any) -> bool:
    """posthog/hogql/utils.py is_simple_value."""
    if isinstance(value, int | float | str | bool):
        return True
    if isinstance(value, list):
        return all(_simple(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _simple(v) for k, v in value.items())
    return False


class FakePostHog:
    """The server's state and knobs; `start()`/`stop()` or `with serve(...)`."""

    def __init__(
        self,
        store_path: Path,
        *,
        api_key: str = DEFAULT_KEY,
        project_id: int = 4242,
        project_name: str = "Usertrack test project",
        default_rows: int = 100,
        max_rows: int = 50_000,
        max_concurrent: int = 3,
        engine: str = "clickhouse",
        timezone: str = "UTC",
    ) -> None:
        self.timezone = timezone
        self.clickhouse: ClickHouseEngine | None = None
        self.engine: LocalPostHogSource | None = None
        if engine == "clickhouse":
            self.clickhouse = clickhouse_for(store_path, timezone)
            warm_parser()  # as PostHog's servers are: the first query's figures its own
        else:
            self.engine = LocalPostHogSource(store_path, description="fake PostHog engine")
        self.api_key = api_key
        self.project_id = project_id
        self.project_name = project_name
        self.default_rows = default_rows
        self.max_rows = max_rows
        self.max_concurrent = max_concurrent
        # Knobs tests may set at any time.
        self.query_delay = 0.0
        self.query_hold: threading.Event | None = None
        self.latency: Callable[[str, dict[str, Any]], float] | None = None
        self.reject_offset = False
        self.refuse_packed = False
        self.force_has_more = False
        self.missing_scope = False
        self.async_polls = 1
        self.async_error: str | None = None
        self.expire_async = False
        # State.
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.concurrency_refusals = 0
        self._throttle_left = 0
        self._throttle_retry_after: float | None = 1
        self._throttle_detail = ""
        self._timeouts_left = 0
        self.jobs: dict[str, dict[str, Any]] = {}
        self._async_workers: list[threading.Thread] = []  # every async query's, for `stop`
        self.metadata_texts: list[str] = []  # the HogQLMetadata requests' texts
        # HogQLMetadata puts `globals` into placeholders (PostHog's master); False: as earlier
        # PostHog, which leaves them to the printer (metadata_placeholders)
        self.metadata_globals = True
        self.created: list[dict[str, Any]] = []  # insights POSTed to insights/, in order
        self.dashboards: list[dict[str, Any]] = [dict(d) for d in DASHBOARDS]
        self.feature_flags: list[dict[str, Any]] = [dict(f) for f in FEATURE_FLAGS]
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> FakePostHog:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-posthog", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        # The async queries still running (a client that left, or whose cancelling was not
        # heard): ended first, as ClickHouse in this process (chdb) crashes when it shuts down
        # under a running query.
        with self.lock:
            workers, self._async_workers = self._async_workers, []
        for worker in workers:
            worker.join(timeout=60)
        if self.engine is not None:
            self.engine.close()

    def throttle(self, n: int, retry_after: float | None = 1, detail: str | None = None) -> None:
        """Answer the next `n` requests with 429 (Retry-After omitted when None)."""
        with self.lock:
            self._throttle_left = n
            self._throttle_retry_after = retry_after
            wait = f" Expected available in {retry_after:g} seconds." if retry_after else ""
            self._throttle_detail = detail or f"Request was throttled.{wait}"

    def time_out_next(self, n: int = 1) -> None:
        """Answer the next `n` synchronous query POSTs with 504 (PostHog's execution timeout)."""
        with self.lock:
            self._timeouts_left = n

    def query_texts(self) -> list[str]:
        """The HogQL texts of every query POST, in order."""
        return [
            r["body"]["query"]["query"]
            for r in self.requests
            if r["method"] == "POST" and r["path"].endswith("/query/") and r["body"]
        ]

    def refreshes(self) -> list[str | None]:
        """The `refresh` mode of every query POST and insight GET, in order (None: not sent)."""
        return [
            r["refresh"]
            for r in self.requests
            if (r["method"] == "POST" and r["path"].endswith("/query/"))
            or (r["method"] == "GET" and "/insights/" in r["path"])
        ]

    # ------------------------------------------------------------------ engine

    def execute(
        self, text: str, values: dict[str, Any], modifiers: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run HogQL as PostHog's query endpoint would; raise _Answer for errors."""
        if self.reject_offset and re.search(r"\bOFFSET\b", text, re.IGNORECASE):
            raise _error(400, "validation_error", "query_error", OFFSET_NOT_ALLOWED)
        if self.refuse_packed and ("usertrack_packed" in text or "usertrack_rows_" in text):
            raise _error(400, "validation_error", "query_error", PACKED_REFUSED)
        if self.clickhouse is not None:
            return self._execute_clickhouse(text, values, modifiers)
        assert self.engine is not None
        query = Query(
            name="request",
            folder="posthog",
            path=Path("request.sql"),
            sql=text,
            description="",
            returns="table",
        )
        try:
            result = self.engine.run(query, values or {})
        except QueryError as e:
            message = str(e).split(": ", 1)[-1]
            raise _error(400, "validation_error", "query_error", message) from None
        rows, response = self._capped(text, list(result.rows))
        columns = list(result.columns)
        types = [[c, _ch_type([r[i] for r in rows])] for i, c in enumerate(columns)]
        response.update(
            {
                "results": [[_json_value(v) for v in row] for row in rows],
                "columns": columns,
                "types": types,
                "hogql": text,
                "is_cached": False,
                "query_status": None,
            }
        )
        return response

    def _capped(self, text: str, rows: list[Any]) -> tuple[list[Any], dict[str, Any]]:
        """PostHog's row caps: a query without a LIMIT gives `default_rows` rows and says
        hasMore; any LIMIT is capped at `max_rows` without a word."""
        response: dict[str, Any] = {}
        if has_top_level_limit(text):
            rows = rows[: self.max_rows]
        else:
            response.update(
                {"hasMore": len(rows) > self.default_rows, "limit": self.default_rows, "offset": 0}
            )
            rows = rows[: self.default_rows]
        if self.force_has_more:
            response["hasMore"] = True
        return rows, response

    def _execute_clickhouse(
        self, text: str, values: dict[str, Any], modifiers: dict[str, Any] | None
    ) -> dict[str, Any]:
        assert self.clickhouse is not None
        try:
            result = self.clickhouse.run(
                text,
                values,
                modifiers,
                default_limit=self.default_rows + 1,
                max_limit=self.max_rows,
            )
        except (HogQLError, ClickHouseError) as e:
            raise _error(400, "validation_error", "query_error", str(e)) from None
        rows, response = self._capped(text, list(result.rows))
        response.update(
            {
                "results": rows,
                "columns": result.columns,
                "types": [[c, t] for c, t in zip(result.columns, result.types, strict=True)],
                "hogql": text,
                "clickhouse": result.sql,
                "is_cached": False,
                "query_status": None,
                TIMINGS: result.timings,  # taken off the answer before it is sent
            }
        )
        return response

    # ------------------------------------------------------------------ routes

    def handle(
        self, method: str, path: str, qs: dict[str, list[str]], headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            if self._throttle_left > 0:
                self._throttle_left -= 1
                extra = (
                    {"Retry-After": f"{self._throttle_retry_after:g}"}
                    if self._throttle_retry_after is not None
                    else {}
                )
                detail = self._throttle_detail
                err = {"type": "throttled_error", "code": "throttled", "detail": detail}
                raise _Answer(429, {**err, "attr": None}, extra)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            raise _error(
                401, "authentication_error", "authentication_failed", "Invalid personal API key."
            )
        if self.missing_scope:
            raise _error(
                403,
                "authentication_error",
                "permission_denied",
                "API key missing required scope 'query:read'",
            )
        m = re.fullmatch(r"/api/projects/(\d+)/(.*)", path)
        if not m or int(m.group(1)) != self.project_id:
            raise _error(404, "invalid_request", "not_found", "Not found.")
        rest = m.group(2)
        if rest == "" and method == "GET":
            project = {"id": self.project_id, "name": self.project_name, "timezone": self.timezone}
            return 200, project, {}
        if rest == "query/" and method == "POST":
            return self._post_query(body)
        qm = re.fullmatch(r"query/([0-9a-f]+)/", rest)
        if qm and method == "GET":
            return self._get_status(qm.group(1))
        if qm and method == "DELETE":
            with self.lock:
                self.jobs.pop(qm.group(1), None)
            return 200, {"message": True}, {}
        if rest == "insights/" and method == "GET" and "short_id" in qs:
            short = (qs.get("short_id") or [""])[0]
            found = [i for i in self._insights(qs) if i["short_id"] == short]
            return 200, {"count": len(found), "next": None, "previous": None, "results": found}, {}
        if rest == "insights/" and method == "GET":
            # posthog/api/insight.py `_filter_request`: `search` is icontains of the name, the
            # derived name, a tag or the description; listed newest first, paged by limit and
            # offset with `next` the absolute URL of the next page.
            return 200, self._listed("insights", self._insights(qs), qs), {}
        if rest == "insights/" and method == "POST":
            return 201, self._create_insight(body), {}
        if rest == "groups_types/" and method == "GET":  # posthog/api/group.py: a list, unpaged
            kinds = self.clickhouse.group_types if self.clickhouse is not None else []
            listed = [{"group_type": t, "group_type_index": i} for t, i in kinds]
            return 200, listed, {}
        if rest == "dashboards/" and method == "GET":
            return 200, self._listed("dashboards", self.dashboards, qs), {}
        if rest == "feature_flags/" and method == "GET":
            # posthog/api/feature_flag.py FeatureFlagViewSet: `safely_get_queryset` lists the
            # flags not deleted, newest created first; `_filter_request`'s `search` keeps those
            # whose key or name contains it (icontains); paged as every list.
            flags = sorted((f for f in self.feature_flags if not f["deleted"]),
                           key=lambda f: str(f["created_at"]), reverse=True)  # fmt: skip
            return 200, self._listed("feature_flags", flags, qs), {}
        im = re.fullmatch(r"insights/(\d+)/", rest)
        if im and method == "GET":
            for insight in self._insights(qs):
                if insight["id"] == int(im.group(1)):
                    return 200, insight, {}
            raise _error(404, "invalid_request", "not_found", "Not found.")
        raise _error(404, "invalid_request", "not_found", "Not found.")

    def metadata(self, q: dict[str, Any]) -> dict[str, Any]:
        """A HogQLMetadata answer, as posthog/hogql/metadata.py get_hogql_metadata gives it (the
        response's fields from posthog/schema.py HogQLMetadataResponse). The request has no
        `values`: the text is parsed without placeholders (`parse_select(query.query)`), and
        its placeholders are put in as metadata_placeholders() does; then it is resolved and
        printed by the same printer as every query, `globals` resolving a bare field name that
        nothing else resolves (resolver.py visit_field). PostHog's message in `errors` when it
        refuses. Nothing runs (PostHog's EXPLAIN for index use is left out)."""
        text = q.get("query")
        if q.get("language") != "hogQL" or not isinstance(text, str):
            raise _error(400, "validation_error", "invalid_input", "query: invalid HogQLMetadata")
        self.metadata_texts.append(text)
        modifiers = q.get("modifiers") or {}
        known = q.get("globals")
        errors = []
        try:
            tree = metadata_placeholders(
                parse_select(text),
                known if isinstance(known, dict) else None,
                filters=q.get("filters") is not None,
                from_globals=self.metadata_globals,
            )
            Printer(
                {},
                globals=known if isinstance(known, dict) else None,
                timezone=self.timezone,
                convert_to_project_timezone=bool(modifiers.get("convertToProjectTimezone", True)),
            ).print_query(tree, top=True)
        except HogQLError as e:
            errors.append({"message": str(e), "start": None, "end": None, "fix": None})
        return {
            "isValid": not errors,
            "query": text,
            "errors": errors,
            "warnings": [],
            "notices": [],
            "table_names": [],
            "view_metadata": {},
        }

    def _post_query(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        q = body.get("query") if isinstance(body, dict) else None
        if isinstance(q, dict) and q.get("kind") == "HogQLMetadata":
            return 200, self.metadata(q), {}
        if not isinstance(q, dict) or q.get("kind") != "HogQLQuery" or "query" not in q:
            raise _error(400, "validation_error", "invalid_input", "query: invalid HogQLQuery")
        text, values = q["query"], q.get("values") or {}
        modifiers = q.get("modifiers") or {}
        if body.get("refresh") in ("async", "force_async"):
            qid = uuid.uuid4().hex
            job: dict[str, Any] = {"polls_left": self.async_polls, "done": threading.Event()}

            def work() -> None:
                # In the background, as PostHog's async queries run (a Celery task): the POST
                # answers at once however long the query takes.
                started, cpu = time.perf_counter(), time.thread_time()
                timings: dict[str, float] = {}
                apart = 0.0  # the parse's CPU seconds in a child process, as a worker's
                try:
                    if self.async_error:
                        raise _error(400, "validation_error", "query_error", self.async_error)
                    if self.clickhouse is not None:
                        apart = parse_apart(text)
                    job["results"] = self.execute(text, values, modifiers)
                    timings = job["results"].pop(TIMINGS, None) or {}
                except _Answer as a:
                    job["error_message"] = a.body.get("detail")
                except Exception as e:  # a bug in the fake: PostHog's internal error
                    job["error_message"] = repr(e)
                finally:
                    # the query's phases and the stand-in's own work on it (wall and CPU
                    # seconds), handed to the poll that answers it: for the bench's figures
                    own = time.thread_time() - cpu - timings.get("clickhouse_thread_cpu", 0.0)
                    own += apart
                    job["timings"] = {
                        **{k: v for k, v in timings.items() if k != "clickhouse_thread_cpu"},
                        "async_took": time.perf_counter() - started,
                        "async_cpu": own,
                    }
                    job["done"].set()

            worker = threading.Thread(target=work, name=f"fake-posthog-async-{qid}", daemon=True)
            with self.lock:
                self.jobs[qid] = job
                self._async_workers.append(worker)
            worker.start()
            status = {"id": qid, "team_id": self.project_id, "complete": False, "error": False}
            return 202, {"cache_key": f"cache_{qid}", "query_status": status}, {}
        with self.lock:
            if self._timeouts_left > 0:
                self._timeouts_left -= 1
                raise _error(
                    504, "server_error", "timeout", "Query timed out; try again with async"
                )
            self.in_flight += 1
            if self.in_flight > self.max_concurrent:
                self.in_flight -= 1
                self.concurrency_refusals += 1
                raise _Answer(
                    429,
                    {
                        "type": "throttled_error",
                        "code": "throttled",
                        "detail": f"Exceeded maximum concurrency limit: {self.max_concurrent}",
                        "attr": None,
                    },
                    {"Retry-After": "1"},
                )
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.query_delay:
                time.sleep(self.query_delay)
            if self.query_hold is not None:
                self.query_hold.wait(60)
            if self.latency is not None:
                time.sleep(self.latency(text, values))
            return 200, self.execute(text, values, modifiers), {}
        finally:
            with self.lock:
                self.in_flight -= 1

    def _get_status(self, qid: str) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            job = None if self.expire_async else self.jobs.get(qid)
            if job is None:
                raise _error(
                    404,
                    "invalid_request",
                    "not_found",
                    f"Query {qid} not found for team {self.project_id}",
                )
            status: dict[str, Any] = {"id": qid, "team_id": self.project_id}
            running = {"query_status": {**status, "complete": False, "error": False}}
            if job["polls_left"] > 0:
                job["polls_left"] -= 1
                return 202, running, {}
        # Past `async_polls`, the answer waits a while for the query (so a quick one is complete
        # at the poll the tests count on), then says it is still running.
        if not job["done"].wait(timeout=10):
            return 202, running, {}
        if "error_message" in job:
            status.update(complete=True, error=True, error_message=job["error_message"])
            return 400, {"query_status": status}, {}
        status.update(complete=True, error=False, results=job["results"])
        return 200, {"query_status": status, TIMINGS: job.get("timings")}, {}

    def _listed(
        self, what: str, items: list[dict[str, Any]], qs: dict[str, list[str]]
    ) -> dict[str, Any]:
        """A list endpoint's page: DRF's limit/offset pagination (`count`, `next`, `previous`,
        `results`); `search` filters insights and feature flags (dashboards/ has no such
        filter)."""
        search = (qs.get("search") or [""])[0].lower()
        if search and what == "feature_flags":
            items = [i for i in items if any(search in str(i.get(k) or "").lower()
                                             for k in ("key", "name"))]  # fmt: skip
        if search and what == "insights":
            items = [
                i
                for i in items
                if any(search in str(i.get(k) or "").lower() for k in INSIGHT_SEARCHED)
                or any(search in str(t).lower() for t in i.get("tags") or [])
            ]
        limit = int((qs.get("limit") or ["100"])[0])
        offset = int((qs.get("offset") or ["0"])[0])
        page = items[offset : offset + limit]
        base = f"{self.url}/api/projects/{self.project_id}/{what}/"
        kept = {k: v[0] for k, v in qs.items() if k not in ("limit", "offset")}

        def link(at: int) -> str:
            from urllib.parse import urlencode

            return base + "?" + urlencode({**kept, "limit": limit, "offset": at})

        return {
            "count": len(items),
            "next": link(offset + limit) if offset + limit < len(items) else None,
            "previous": link(max(0, offset - limit)) if offset else None,
            "results": page,
        }

    def _create_insight(self, body: Any) -> dict[str, Any]:
        """POST insights/: PostHog's InsightSerializer.create; a HogQL insight is a
        DataVisualizationNode around a HogQLQuery. Answers the new insight (201)."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), dict):
            raise _error(400, "validation_error", "invalid_input", "query is required", "query")
        source = body["query"].get("source") or {}
        if body["query"].get("kind") != "DataVisualizationNode" or source.get("kind") != (
            "HogQLQuery"
        ):
            raise _error(400, "validation_error", "invalid_input", "unknown query kind", "query")
        with self.lock:
            number = CREATED_IDS_FROM + len(self.created)
            insight = {
                "id": number,
                "short_id": f"new{number:05d}",
                "name": body.get("name"),
                "derived_name": None,
                "description": body.get("description") or "",
                "tags": [],
                "saved": bool(body.get("saved")),
                "query": body["query"],
                "result": None,
                "last_modified_at": "2026-11-16T00:00:00Z",
            }
            self.created.append(insight)
        return insight

    def _insights(self, qs: dict[str, list[str]]) -> list[dict[str, Any]]:
        refresh = (qs.get("refresh") or [""])[0] in ("blocking", "force_blocking")
        table = self.execute(TABLE_INSIGHT_SQL, {}) if refresh else None
        created = []
        for insight in reversed(self.created):  # newest first, as PostHog lists them
            if refresh:
                ran = self.execute(insight["query"]["source"]["query"], {})
                insight = {**insight, "result": ran["results"], "columns": ran["columns"],
                           "types": ran.get("types"), "hasMore": False}  # fmt: skip
            created.append(insight)
        return [
            *created,
            {
                "id": TRENDS_INSIGHT_ID,
                "short_id": TRENDS_SHORT_ID,
                "name": "Daily pageviews and MCP clicks",
                "description": "Pageviews and MCP connect clicks per day",
                "tags": ["growth"],
                "last_modified_at": "2026-11-10T09:30:15.123456Z",  # as PostHog writes it
                "query": {"kind": "InsightVizNode", "source": {"kind": "TrendsQuery"}},
                "result": TRENDS_RESULT if refresh else None,
                "hasMore": None,
                "columns": None,
                "last_refresh": "2026-11-16T00:00:00Z" if refresh else None,
            },
            {
                "id": TABLE_INSIGHT_ID,
                "short_id": TABLE_SHORT_ID,
                "name": "Events by name",
                "description": "",
                "tags": [],
                "last_modified_at": "2026-11-12T00:00:00Z",
                "query": {
                    "kind": "DataVisualizationNode",
                    "source": {"kind": "HogQLQuery", "query": TABLE_INSIGHT_SQL},
                },
                "result": table["results"] if table else None,
                "columns": table["columns"] if table else None,
                "types": table["types"] if table else None,
                "hasMore": False,
                "last_refresh": "2026-11-16T00:00:00Z" if refresh else None,
            },
        ]


class _Handler(BaseHTTPRequestHandler):
    fake: FakePostHog
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as PostHog's servers answer: the headers and the body go out as two writes,
    # and with Nagle's algorithm the body waited for the client's delayed ACK of the headers
    # (40 ms on Linux) on every request of a kept-alive connection
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        recorded = {k: ("REDACTED" if k == "authorization" else v) for k, v in headers.items()}
        qs = parse_qs(parts.query)
        # PostHog's `refresh` (ExecutionMode): in the JSON body of a query, in the query string
        # of an insight; None when the client sent none (PostHog's default, "blocking").
        refresh = body.get("refresh") if isinstance(body, dict) else None
        refresh = refresh or (qs.get("refresh") or [None])[0]
        with self.fake.lock:
            record: dict[str, Any] = {
                "method": method,
                "path": parts.path,
                "query": {k: v[0] for k, v in qs.items()},
                "body": body,
                "headers": recorded,
                "refresh": refresh,
                "at": time.monotonic(),
            }
            self.fake.requests.append(record)
        extra: dict[str, str] = {}
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            status, payload, extra = self.fake.handle(method, parts.path, qs, headers, body)
        except _Answer as a:
            status, payload, extra = a.status, a.body, a.headers
        except Exception as e:  # a bug in the fake: answer 500 like a server would
            status, payload = 500, {"type": "server_error", "code": "error", "detail": repr(e)}
        timings = payload.pop(TIMINGS, None) if isinstance(payload, dict) else None
        # PostHog's renderer, but a query's status is Django's JsonResponse (tests/posthog_json.py)
        status_poll = method == "GET" and re.search(r"/query/[0-9a-f]+/$", parts.path)
        data = (render_status if status_poll else render)(payload)
        took = time.perf_counter() - started
        # the stand-in's own Python (parsing, printing, reading and writing JSON) in CPU seconds:
        # its wall time ("took") also counts the waits for a core, which ClickHouse's threads and
        # the other requests' threads share
        cpu = time.thread_time() - cpu - (timings or {}).get("clickhouse_thread_cpu", 0.0)
        with self.fake.lock:  # what was sent back: for the bench's transfer figures
            results = payload.get("results") if isinstance(payload, dict) else None
            status_body = payload.get("query_status") if isinstance(payload, dict) else None
            if results is None and isinstance(status_body, dict):
                inner = status_body.get("results")
                results = inner.get("results") if isinstance(inner, dict) else None
            # the rows unpacked: a row of arrays (one per person) stands for as many rows as
            # its arrays hold, the rows the query gave before it was packed
            elements = (
                sum(
                    max([len(v) for v in row if isinstance(v, list)] or [1])
                    for row in results
                    if isinstance(row, list)
                )
                if isinstance(results, list)
                else 0
            )
            # this request's own record: with queries side by side, the last one may be another's
            record.update(
                elements=elements,
                status=status,
                bytes=len(data),
                rows=len(results) if isinstance(results, list) else 0,
                took=took,  # the answer's making, JSON included, not its sending
                cpu=cpu,
                timings=timings or {},  # a ClickHouse query's phases (CHResult.timings)
            )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


def live_env(server: FakePostHog, db: str | None = None, **more: str) -> dict[str, str]:
    """The environment that points usertrack at `server` (PostHog) and `db` (Postgres; without
    it, no DATABASE_URL at all)."""
    return {
        **({} if db is None else {"DATABASE_URL": db}),
        "POSTHOG_HOST": server.url,
        "POSTHOG_PROJECT_ID": str(server.project_id),
        "POSTHOG_PERSONAL_API_KEY": DEFAULT_KEY,
        **more,
    }


def posthog_query(sql: str, name: str = "adhoc", returns: str = "table") -> Query:
    """A query of the posthog folder made from its text, as a shipped file `name` would be."""
    return Query(
        name=name,
        folder="posthog",
        path=Path(f"queries/posthog/{name}.sql"),
        sql=sql,
        description="test",
        returns=returns,
    )


@contextmanager
def serve(store_path: Path, **options: Any) -> Iterator[FakePostHog]:
    """Run a FakePostHog on 127.0.0.1 (ephemeral port) for the duration of the block."""
    fake = FakePostHog(store_path, **options).start()
    try:
        yield fake
    finally:
        fake.stop()


@contextmanager
def serve_demo(home: Path) -> Iterator[tuple[FakePostHog, dict[str, str]]]:
    """The demo of `home` live: its events served by a FakePostHog (project 4242), its
    database started, and the environment that points usertrack at both."""
    from usertrack.demo.generator import ensure_demo, start_demo_postgres

    demo = ensure_demo(home)
    uri = start_demo_postgres(demo)
    with serve(demo.events_path, project_id=4242) as fake:
        yield fake, live_env(fake, uri)
