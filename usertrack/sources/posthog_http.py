"""The live PostHog source: HogQL query files run through PostHog's query API (httpx).

Facts this module relies on (PostHog's docs and source; see also ../shared/DESIGN.md):

- `POST {host}/api/projects/{id}/query/` with `{"query": {"kind": "HogQLQuery", "query", "values"}}`
  and `Authorization: Bearer <personal API key>` (scope `query:read`). `{name}` placeholders are
  replaced by the constants in `values` (posthog/hogql_queries/hogql_query_runner.py, `to_query`),
  so a value is never spliced into the text.
- A SELECT without LIMIT returns DEFAULT_RETURNED_ROWS = 100 rows and `hasMore`; any LIMIT is capped
  at MAX_SELECT_RETURNED_ROWS = 50,000 without a word (posthog/hogql/constants.py). So every request
  this module sends carries its own LIMIT <= the cap, and results are paged explicitly.
- Pages are `SELECT * FROM (<query>) ORDER BY <every column> LIMIT n OFFSET k`: ClickHouse returns
  GROUP BY rows in no particular order, so OFFSET pages of an unordered query could overlap or miss
  rows. Ordering by every column makes the order total (rows equal in every column are
  interchangeable).
- Newer PostHog refuses OFFSET in queries made with a personal API key unless the organization is
  allow-listed (posthog/hogql/user_query_validator.py: 400 "OFFSET is not supported on queries made
  with a personal API key ... use keyset pagination"). On that answer this module pages by keyset
  on the first column instead (`WHERE c >= {after} ORDER BY c, ... LIMIT n`, holding back the rows
  that tie with a page's last key until the next page, which brings them all again).
- Per-user queries (`returns: per-user`) are not paged: each OFFSET or keyset page re-runs the
  whole aggregation in PostHog (twenty pages, twenty executions near the 10 s limit at a million
  persons). After a probe comes back full, one `count()` sizes them and they are pulled as
  independent partitions `WHERE cityHash64(coalesce(email, '')) % {n} = {k}` (n and k bound as
  values), each aimed well under the cap; a partition that comes back at the cap is split in two
  (k of 2n and k + n of 2n), never trusted. At most 3 run at once.
- Limits: 240 queries/minute, 2,400/hour per project (120/hour for some older teams), 3 queries at
  once; query requests are spaced in advance to stay within the per-minute and per-hour limits
  (`RequestPace`), rather than sent until PostHog answers 429
  `{"type": "throttled_error", "code": "throttled", "detail"}` with `Retry-After`.
  Queries over the concurrency limit are refused with 429 too (posthog/api/query.py turns
  ConcurrencyLimitExceeded into Throttled). A process-wide semaphore keeps at most 3 of our own
  queries running per host and project.
- A query running longer than about 10 s fails with 504; resubmitted with `"refresh": "async"` it
  answers a `query_status` (`id`, `complete`, `error`, `error_message`, `results`) to poll at
  `GET .../query/{id}/` (202 running, 200 complete, 400 error with a message, 500 internal error;
  the record expires after 10 minutes: 404). In PostHog's code `query_status.results` holds the
  whole query response (`{"results", "columns", "types", ...}`,
  posthog/clickhouse/client/execute_async.py); a bare row list with `query_status.columns` is
  accepted too.
- Errors are `{"type", "code", "detail", "attr"}`; bad HogQL is 400 `validation_error`.
- Saved insights: `GET .../insights/{id}/?refresh=force_blocking` (or
  `.../insights/?short_id=X&...`); the rows are in `result` (singular) and, for SQL insights, the
  names in `columns`.
- `refresh` (PostHog's ExecutionMode, schema.py RefreshType): "blocking" (the default) may answer
  from PostHog's own cache; "force_blocking" always recalculates, "force_async" likewise in the
  background. usertrack has its own cache, so `--refresh` sends force_blocking, a saved insight is
  always fetched with force_blocking (the command promises a refreshed result), and the async
  path (only taken after a synchronous attempt found nothing cached) sends force_async.

Result values: columns whose ClickHouse type (the response's `types`) is DateTime become naive UTC
`datetime`s and Date columns `date`s, the same values the local engine
(usertrack.sources.posthog_local) gives, so the segment rules see timestamps either way.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from usertrack.clock import hogql_timestamp
from usertrack.errors import (
    Cancelled,
    ConfigError,
    NotFoundError,
    QueryError,
    SourceConnectionError,
    UsertrackError,
    redact,
    register_secret,
)
from usertrack.sources.base import (
    CancelToken,
    Result,
    cancel_scope,
    check_cancelled,
    current_token,
    pause,
)

if TYPE_CHECKING:
    import httpx

    from usertrack.sources.queries import Query

__all__ = [
    "DEFAULT_HOST",
    "MAX_CONCURRENT_QUERIES",
    "MAX_SELECT_RETURNED_ROWS",
    "PostHogHTTPSource",
    "insight_table",
    "top_level_limit",
    "wire_values",
]

DEFAULT_HOST = "https://us.posthog.com"
MAX_SELECT_RETURNED_ROWS = 50_000  # posthog/hogql/constants.py
MAX_CONCURRENT_QUERIES = 3  # per project
KEY_ENV = "POSTHOG_PERSONAL_API_KEY"
PROJECT_ENV = "POSTHOG_PROJECT_ID"
HOST_ENV = "POSTHOG_HOST"
LIMITS_TEXT = (
    "PostHog allows 240 queries/minute and 2,400 queries/hour per project"
    " (120/hour for some older teams), and 3 queries running at once"
)
_AFTER = "usertrack_keyset_after"  # the keyset placeholder; cannot clash with a file's params
# Documented rate limits of the query API per project (posthog.com/docs/api/queries).
QUERIES_PER_MINUTE = 240
QUERIES_PER_HOUR = 2400
# A per-user partition aims at this share of the page (the cap), so that hash skew rarely brings
# one to the cap (which costs splitting it and asking again).
PARTITION_SHARE = 0.4
# Splitting stops here: rows still at the cap with this many partitions share one email.
MAX_PARTITIONS = 1 << 16
_PARTS = "usertrack_partitions"  # the partition placeholders
_PART = "usertrack_partition"
_PLAIN_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --------------------------------------------------------------------------------------------
# Concurrency: one semaphore per (host, project) for the whole process


_slots_lock = threading.Lock()
_slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}


def _project_slots(host: str, project_id: str) -> threading.BoundedSemaphore:
    with _slots_lock:
        key = (host, project_id)
        sem = _slots.get(key)
        if sem is None:
            sem = threading.BoundedSemaphore(MAX_CONCURRENT_QUERIES)
            _slots[key] = sem
        return sem


class RequestPace:
    """Spaces requests in advance so that no minute holds more than `per_minute` of them and no
    hour more than `per_hour`: each request reserves the earliest moment both windows allow, in
    order, and waits until then (PostHog would answer 429 past either limit)."""

    def __init__(
        self, per_minute: int, per_hour: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self.per_hour = per_hour
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()  # reserved moments of the last hour, in order

    def reserve(self) -> float:
        """Reserve the next request's moment; return the seconds to wait for it."""
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - 3600:
                self._sent.popleft()
            at = max(now, self._sent[-1]) if self._sent else now
            for window, limit in ((60.0, self.per_minute), (3600.0, self.per_hour)):
                if len(self._sent) >= limit:
                    at = max(at, self._sent[-limit] + window)
            self._sent.append(at)
            return at - now


_paces: dict[tuple[str, str, int, int], RequestPace] = {}


def _project_pace(host: str, project_id: str, per_minute: int, per_hour: int) -> RequestPace:
    with _slots_lock:
        key = (host, project_id, per_minute, per_hour)
        pace = _paces.get(key)
        if pace is None:
            pace = _paces[key] = RequestPace(per_minute, per_hour)
        return pace


# --------------------------------------------------------------------------------------------
# Values and query text


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # naive datetimes are UTC throughout usertrack
        return hogql_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID | Path):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_wire(v) for v in value]
    return value


def wire_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as the JSON `values` of a HogQLQuery (datetime -> 'YYYY-MM-DD HH:MM:SS' UTC)."""
    return {name: _wire(v) for name, v in params.items()}


def top_level_limit(sql: str) -> int | None:
    """The row count of the query's own top-level LIMIT, or None (none, or not sure).

    `LIMIT n BY ...` is not a row limit; `LIMIT k, n` and `LIMIT n OFFSET k` are. A UNION (or
    INTERSECT/EXCEPT) at top level answers None: its LIMIT may bind one branch only. None is always
    safe: the caller then pages the query, which respects whatever LIMIT is inside it.
    """
    from usertrack.errors import HogQLTranslationError
    from usertrack.sources.hogql import tokenize

    try:
        toks = [t for t in tokenize(sql) if t.kind not in ("ws", "comment")]
    except HogQLTranslationError:
        return None
    depth = 0
    found: int | None = None
    for i, t in enumerate(toks):
        if t.kind in ("(", "["):
            depth += 1
        elif t.kind in (")", "]"):
            depth -= 1
        elif depth == 0 and t.kind == "id":
            word = t.text.upper()
            if word in ("UNION", "INTERSECT", "EXCEPT"):
                return None
            if word != "LIMIT":
                continue
            nxt = toks[i + 1 : i + 4]
            if not nxt or nxt[0].kind != "num" or not nxt[0].text.isdigit():
                return None  # LIMIT {param} or an expression: cannot know
            count = int(nxt[0].text)
            if len(nxt) >= 3 and nxt[1].kind == "," and nxt[2].kind == "num":
                if not nxt[2].text.isdigit():
                    return None
                count = int(nxt[2].text)  # LIMIT offset, count
            elif len(nxt) >= 2 and nxt[1].kind == "id" and nxt[1].text.upper() == "BY":
                continue  # LIMIT n BY: per-group, not a row limit
            found = count
    return found


def _strip_sql(sql: str) -> str:
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def _ident(name: str) -> str:
    if _PLAIN_IDENT.fullmatch(name):
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


# --------------------------------------------------------------------------------------------
# Result values


def _type_name(t: Any) -> str:
    if isinstance(t, list | tuple) and len(t) >= 2:
        return str(t[1])
    return str(t) if t is not None else ""


def _to_datetime(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _to_date(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return value


def _converters(types: Any, width: int) -> list[Callable[[Any], Any] | None]:
    convs: list[Callable[[Any], Any] | None] = [None] * width
    if not isinstance(types, list) or len(types) != width:
        return convs
    for i, t in enumerate(types):
        name = _type_name(t)
        if "Array(" in name or "Tuple(" in name or "Map(" in name:
            continue
        if "DateTime" in name:
            convs[i] = _to_datetime
        elif re.search(r"\bDate(32)?\b", name):
            convs[i] = _to_date
    return convs


def _convert_rows(rows: list[Any], types: Any, width: int) -> list[tuple[Any, ...]]:
    convs = _converters(types, width)
    out: list[tuple[Any, ...]] = []
    if any(convs):
        for row in rows:
            out.append(tuple(c(v) if c else v for c, v in zip(convs, row, strict=False)))
    else:
        out = [tuple(row) for row in rows]
    return out


# --------------------------------------------------------------------------------------------
# Saved insights as tables


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
                    row: list[Any] = [_to_date(day) if len(str(day)) == 10 else day, label, value]
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


# --------------------------------------------------------------------------------------------
# The source


@dataclass
class _Run:
    """Counters of one `run`, reported in Result.meta."""

    requests: int = 0
    pages: int = 0
    retries: int = 0
    waited: float = 0.0
    async_polls: int = 0
    went_async: bool = False
    paging: str = "single"
    partitions: int = 0  # per-user partitions fetched (a split one counts once, as do its halves)
    splits: int = 0
    paced: float = 0.0  # seconds waited to stay within the per-minute and per-hour limits
    notes: list[str] = field(default_factory=list)

    def add(self, other: _Run) -> None:
        """Count a partition's requests, retries and waits in this run's."""
        self.requests += other.requests
        self.retries += other.retries
        self.waited += other.waited
        self.paced += other.paced
        self.async_polls += other.async_polls
        self.went_async = self.went_async or other.went_async
        self.notes.extend(n for n in other.notes if n not in self.notes)


class _OffsetRefused(Exception):
    """PostHog refused OFFSET for this personal API key: page by keyset instead."""


class PostHogHTTPSource:
    """Runs HogQL query files (and saved insights) through the PostHog query API.

    Thread-safe: the CLI runs sources from threads; one httpx.Client is shared (it is thread-safe)
    and at most 3 queries per host+project run at once across every instance in the process.
    """

    kind = "posthog"
    dialect = "hogql"

    def __init__(
        self,
        api_key: str,
        project_id: str | int,
        host: str | None = None,
        *,
        progress: Callable[[str], None] | None = None,
        page_size: int = MAX_SELECT_RETURNED_ROWS,
        max_attempts: int = 6,
        max_total_wait: float = 180.0,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        connect_attempts: int = 3,
        poll_interval: float = 0.5,
        poll_interval_max: float = 5.0,
        async_timeout: float = 900.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        sleep: Callable[[float], None] = pause,
        refresh: bool = False,
        queries_per_minute: int = QUERIES_PER_MINUTE,
        queries_per_hour: int = QUERIES_PER_HOUR,
    ) -> None:
        import httpx

        if not api_key:
            raise ConfigError(f"{KEY_ENV} is not set: a personal API key with scope query:read")
        register_secret(api_key)
        pid = str(project_id).strip()
        if not pid.isdigit():
            raise ConfigError(f"{PROJECT_ENV} must be a number, not {redact(pid)!r}")
        if not 1 <= page_size <= MAX_SELECT_RETURNED_ROWS:
            raise ValueError(f"page_size must be 1..{MAX_SELECT_RETURNED_ROWS}")
        base = (host or DEFAULT_HOST).strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", base):
            raise ConfigError(f"{HOST_ENV} must be a URL like {DEFAULT_HOST}, not {redact(base)!r}")
        self.host = base
        self.project_id = pid
        # Never a user:password@ in a label (config.check_posthog_host refuses them anyway).
        self.host_label = re.sub(r"^https?://(?:[^/]*@)?", "", base)
        self.refresh = refresh  # ask PostHog to recalculate rather than answer from its cache
        self.description = f"PostHog {self.host_label} project {pid}"
        self.page_size = page_size
        self.max_attempts = max(1, max_attempts)
        self.max_total_wait = max_total_wait
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.connect_attempts = max(1, connect_attempts)
        self.poll_interval = poll_interval
        self.poll_interval_max = poll_interval_max
        self.async_timeout = async_timeout
        self.read_timeout = read_timeout
        self._progress = progress
        self._sleep = sleep
        self._slots = _project_slots(self.host, pid)
        self._pace = _project_pace(self.host, pid, queries_per_minute, queries_per_hour)
        self._client: httpx.Client | None = httpx.Client(
            base_url=self.host,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": "usertrack",
            },
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"PostHogHTTPSource({self.description!r})"

    __str__ = __repr__

    # ---------------------------------------------------------------- public API

    def run(self, query: Query, params: Mapping[str, Any]) -> Result:
        """Every row of `query` (or of the saved insight it names), as one Result."""
        if query.insight and not query.sql.strip():
            return self.fetch_insight(query.insight, where=self._where(query))
        started = time.monotonic()
        stats = _Run()
        sql = _strip_sql(query.sql)
        values = self._values(query, sql, params)
        if query.per_user and top_level_limit(sql) is None:
            columns, rows, types = self._fetch_per_user(query, sql, values, stats)
        else:
            columns, rows, types = self._fetch_all(query, sql, values, stats)
        return Result(
            columns=columns,
            rows=_convert_rows(rows, types, len(columns)),
            meta=self._meta(stats, started, len(rows)),
        )

    def fetch_insight(self, insight_id: str, *, where: str | None = None) -> Result:
        """A saved insight's fresh result (`refresh=blocking`) as a table (see `insight_table`)."""
        started = time.monotonic()
        stats = _Run()
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
        rows = _convert_rows([list(r) for r in rows], body.get("types"), len(columns))
        stats.pages = 1
        meta = self._meta(stats, started, len(rows))
        meta["insight"] = {
            "id": body.get("id"),
            "short_id": body.get("short_id"),
            "name": body.get("name") or body.get("derived_name"),
            "last_refresh": body.get("last_refresh"),
        }
        return Result(columns=columns, rows=rows, meta=meta)

    def project(self) -> dict[str, str]:
        """The project's `name` and `timezone` (`GET /api/projects/{id}/`): checks host, key and
        project at once. The timezone is the one PostHog reads dates in unless told otherwise;
        usertrack tells it to stay in UTC (`convertToProjectTimezone: false`)."""
        stats = _Run()
        label = f"project {self.project_id}"
        resp = self._send("GET", f"/api/projects/{self.project_id}/", stats, label)
        body = self._json(resp, label)
        if resp.status_code != 200:
            self._raise_for(resp, body, label)
        body = body if isinstance(body, dict) else {}
        return {k: str(body[k]) for k in ("name", "timezone") if body.get(k) is not None}

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> PostHogHTTPSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- paging

    def _fetch_all(
        self, query: Query, sql: str, values: dict[str, Any], stats: _Run
    ) -> tuple[list[str], list[list[Any]], Any]:
        where = self._where(query)
        page = self.page_size
        own_limit = top_level_limit(sql)
        if own_limit is not None and own_limit <= page:
            # The query's own LIMIT fits one request under the cap: send it as written.
            cols, rows, types = self._query_page(query, sql, values, stats, expect=own_limit)
            stats.pages = 1
            return cols, rows, types

        # A probe: most per-user results fit one page, and then no ordering or OFFSET is needed.
        probe = f"SELECT * FROM (\n{sql}\n) LIMIT {page}"
        cols, rows, types = self._query_page(query, probe, values, stats, expect=page)
        stats.pages = 1
        if len(rows) < page:
            return cols, rows, types
        if not cols:
            raise QueryError(f"{where}: PostHog returned a full page without column names")
        try:
            stats.paging = "offset"
            return self._offset_pages(query, sql, values, cols, stats)
        except _OffsetRefused:
            stats.paging = "keyset"
            stats.notes.append("OFFSET refused for this API key: paged by keyset")
            return self._keyset_pages(query, sql, values, cols, stats)

    def _fetch_per_user(
        self, query: Query, sql: str, values: dict[str, Any], stats: _Run
    ) -> tuple[list[str], list[list[Any]], Any]:
        """Every row of a per-user query: one request when it fits a page, else partitions by a
        hash of the email, each one execution of the query over a share of the people."""
        where = self._where(query)
        page = self.page_size
        probe = f"SELECT * FROM (\n{sql}\n) LIMIT {page}"
        cols, rows, types = self._query_page(query, probe, values, stats, expect=page)
        stats.pages = 1
        if len(rows) < page:
            return cols, rows, types
        if "email" not in cols:
            raise QueryError(
                f"{where}: a per-user query must return an 'email' column"
                f" (it returned: {', '.join(cols) or 'nothing'})"
            )
        count = f"SELECT count() AS usertrack_rows FROM (\n{sql}\n)"
        _c, counted, _t = self._query_page(query, count, values, stats, expect=1)
        stats.pages += 1
        total = int(counted[0][0]) if counted and counted[0] else page
        n = max(2, math.ceil(total / max(1, int(page * PARTITION_SHARE))))
        stats.paging = "partitions"
        # The probe's types: a partition may come back empty, with nothing to tell a type by.
        return cols, self._partitions(query, sql, values, cols, n, stats), types

    def _partitions(
        self,
        query: Query,
        sql: str,
        values: dict[str, Any],
        cols: list[str],
        n: int,
        stats: _Run,
    ) -> list[list[Any]]:
        """The rows of partitions 0..n-1, at most MAX_CONCURRENT_QUERIES at a time."""
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        where = self._where(query)
        page = self.page_size
        text = (
            f"SELECT * FROM (\n{sql}\n) WHERE cityHash64(coalesce({_ident('email')}, ''))"
            f" % {{{_PARTS}}} = {{{_PART}}} LIMIT {page}"
        )
        # The partitions' own token: a failing partition stops the others' waits, and so does
        # the command's token (another source failed, or Ctrl-C).
        token = CancelToken()
        outer = current_token()

        def fetch(k: int, of: int) -> tuple[int, int, list[str], list[list[Any]], _Run]:
            own = _Run()
            with cancel_scope(token):
                part_values = {**values, _PARTS: of, _PART: k}
                pcols, prows, _t = self._query_page(query, text, part_values, own, expect=page)
            return k, of, pcols, prows, own

        todo = deque((k, n) for k in range(n))
        out: list[list[Any]] = []
        running: set[Future[tuple[int, int, list[str], list[list[Any]], _Run]]] = set()
        pool = ThreadPoolExecutor(MAX_CONCURRENT_QUERIES, thread_name_prefix="usertrack-part")
        try:
            with outer.on_cancel(token.cancel) if outer else nullcontext():
                while todo or running:
                    while todo and len(running) < MAX_CONCURRENT_QUERIES:
                        running.add(pool.submit(fetch, *todo.popleft()))
                    finished, running = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in finished:
                        k, of, pcols, prows, own = future.result()
                        stats.add(own)
                        stats.pages += 1
                        stats.partitions += 1
                        if len(prows) >= page:
                            # At the cap: rows may have been cut. Ask for its two halves instead.
                            if of * 2 > MAX_PARTITIONS:
                                raise QueryError(
                                    f"{where}: cannot split this result: {page:,} rows still"
                                    f" share one of {of:,} partitions by email; a per-user"
                                    " query must return one row per email"
                                )
                            stats.splits += 1
                            todo.extend([(k, of * 2), (k + of, of * 2)])
                            continue
                        self._check_columns(query, cols, pcols)
                        out.extend(prows)
                        self._note(
                            f"{query.id}: {len(out):,} rows so far"
                            f" ({stats.partitions} of {n + stats.splits} partitions)"
                        )
        except BaseException:
            token.cancel()
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return out

    def _order_by(self, cols: list[str]) -> str:
        return ", ".join(_ident(c) for c in cols)

    def _offset_pages(
        self, query: Query, sql: str, values: dict[str, Any], cols: list[str], stats: _Run
    ) -> tuple[list[str], list[list[Any]], Any]:
        page = self.page_size
        order = self._order_by(cols)
        out: list[list[Any]] = []
        types: Any = None
        offset = 0
        while True:
            text = f"SELECT * FROM (\n{sql}\n) ORDER BY {order} LIMIT {page} OFFSET {offset}"
            pcols, rows, ptypes = self._query_page(
                query, text, values, stats, expect=page, offset_page=True
            )
            stats.pages += 1
            self._check_columns(query, cols, pcols)
            types = ptypes if types is None else types
            out.extend(rows)
            self._note(f"{query.id}: {len(out):,} rows so far ({stats.pages} pages)")
            if len(rows) < page:
                return cols, out, types
            offset += page

    def _keyset_pages(
        self, query: Query, sql: str, values: dict[str, Any], cols: list[str], stats: _Run
    ) -> tuple[list[str], list[list[Any]], Any]:
        where = self._where(query)
        page = self.page_size
        key = _ident(cols[0])
        order = self._order_by(cols)
        out: list[list[Any]] = []
        types: Any = None
        after: Any = None
        held: list[list[Any]] = []
        while True:
            cond = f"{key} IS NOT NULL" + (f" AND {key} >= {{{_AFTER}}}" if held else "")
            text = f"SELECT * FROM (\n{sql}\n) WHERE {cond} ORDER BY {order} LIMIT {page}"
            page_values = {**values, _AFTER: after} if held else values
            pcols, rows, ptypes = self._query_page(query, text, page_values, stats, expect=page)
            stats.pages += 1
            self._check_columns(query, cols, pcols)
            types = ptypes if types is None else types
            if types is not None and "DateTime" in _type_name(_index(types, 0)):
                raise QueryError(
                    f"{where}: cannot page this result: PostHog refuses OFFSET for this API key"
                    f" and the first column ({cols[0]}) is a timestamp; make the first column a"
                    " text or number key (email for per-user queries)"
                )
            if len(rows) < page:
                out.extend(rows)  # this page re-brings every held-back row
                break
            last = rows[-1][0]
            if not isinstance(last, str | int | float) or isinstance(last, bool):
                raise QueryError(
                    f"{where}: cannot page this result: PostHog refuses OFFSET for this API key"
                    f" and the first column ({cols[0]}) is not text or a number"
                )
            keep = [r for r in rows if r[0] != last]
            if not keep:
                raise QueryError(
                    f"{where}: cannot page this result: more than {page:,} rows share the value"
                    f" {last!r} of its first column ({cols[0]}), and PostHog refuses OFFSET for"
                    " this API key; make the first column unique (one row per email)"
                )
            out.extend(keep)
            held = [r for r in rows if r[0] == last]
            after = last
            self._note(f"{query.id}: {len(out):,} rows so far ({stats.pages} pages)")
        # Rows whose key is NULL were left out by `IS NOT NULL` (keyset cannot reach them).
        text = f"SELECT * FROM (\n{sql}\n) WHERE {key} IS NULL ORDER BY {order} LIMIT {page}"
        _c, nulls, _t = self._query_page(query, text, values, stats, expect=page)
        stats.pages += 1
        if len(nulls) >= page:
            raise QueryError(
                f"{where}: cannot page this result: {page:,} or more rows have no value in its"
                f" first column ({cols[0]}), and PostHog refuses OFFSET for this API key"
            )
        out.extend(nulls)
        return cols, out, types

    def _check_columns(self, query: Query, expected: list[str], got: list[str]) -> None:
        if got and got != expected:
            raise QueryError(
                f"{self._where(query)}: the columns changed between pages"
                f" ({', '.join(expected)} then {', '.join(got)})"
            )

    # ---------------------------------------------------------------- one query request

    def _query_page(
        self,
        query: Query,
        text: str,
        values: dict[str, Any],
        stats: _Run,
        *,
        expect: int,
        offset_page: bool = False,
    ) -> tuple[list[str], list[list[Any]], Any]:
        """Run one HogQL text; return (columns, rows, types). Never more rows than `expect`."""
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
        try:
            resp = self._send("POST", path, stats, where, json=body, slot=True, timeout_ok=True)
        except httpx.TimeoutException:
            resp = None
        if resp is None or resp.status_code == 504:
            payload = self._run_async(query, body, stats)
        else:
            data = self._json(resp, where)
            if resp.status_code == 400 and offset_page and _offset_refused(data):
                raise _OffsetRefused()
            if resp.status_code == 202 or (
                resp.status_code == 200 and _pending_status(data) is not None
            ):
                payload = self._poll(query, data, stats, slot_held=False)
            elif resp.status_code != 200:
                self._raise_for(resp, data, where)
            else:
                payload = data
        cols, rows, types = self._unpack(payload, where)
        if payload.get("hasMore"):
            raise QueryError(
                f"{where}: PostHog returned {len(rows):,} rows and says more exist (hasMore) for a"
                f" request limited to {expect:,}; the result cannot be completed, so it is not used"
            )
        if len(rows) > expect:
            raise QueryError(
                f"{where}: PostHog returned {len(rows):,} rows for a request limited to"
                f" {expect:,}; refusing a result that cannot be checked"
            )
        return cols, rows, types

    def _unpack(self, payload: Any, where: str) -> tuple[list[str], list[list[Any]], Any]:
        if not isinstance(payload, dict):
            raise QueryError(f"{where}: PostHog answered something that is not a query result")
        rows = payload.get("results")
        cols = payload.get("columns") or []
        if rows is None:
            raise QueryError(f"{where}: PostHog answered without results")
        if not isinstance(rows, list) or not all(isinstance(r, list | tuple) for r in rows):
            raise QueryError(f"{where}: PostHog answered results that are not rows")
        return [str(c) for c in cols], [list(r) for r in rows], payload.get("types")

    # ---------------------------------------------------------------- async

    def _run_async(self, query: Query, body: dict[str, Any], stats: _Run) -> dict[str, Any]:
        """Resubmit with refresh=force_async and poll until the query completes."""
        where = self._where(query)
        stats.went_async = True
        self._note(f"{query.id}: longer than PostHog's synchronous limit; running it async")
        path = f"/api/projects/{self.project_id}/query/"
        with self._slot():
            resp = self._send("POST", path, stats, where, json={**body, "refresh": "force_async"})
            data = self._json(resp, where)
            if resp.status_code not in (200, 202):
                self._raise_for(resp, data, where)
            if _pending_status(data) is None and isinstance(data, dict) and "results" in data:
                return data  # a fresh cached answer
            return self._poll(query, data, stats, slot_held=True)

    def _poll(self, query: Query, data: Any, stats: _Run, *, slot_held: bool) -> dict[str, Any]:
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
                return self._poll_loop(query, qid, status, stats)
        return self._poll_loop(query, qid, status, stats)

    def _poll_loop(
        self, query: Query, qid: str, status: dict[str, Any], stats: _Run
    ) -> dict[str, Any]:
        where = self._where(query)
        path = f"/api/projects/{self.project_id}/query/{qid}/"
        started = time.monotonic()
        interval = self.poll_interval
        try:
            return self._poll_until_done(query, path, qid, status, stats, started, interval)
        except Cancelled:
            self._cancel(path, stats, where)  # PostHog need not finish a query nobody awaits
            raise

    def _poll_until_done(
        self,
        query: Query,
        path: str,
        qid: str,
        status: dict[str, Any],
        stats: _Run,
        started: float,
        interval: float,
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
            data = self._json(resp, where)
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
        if isinstance(results, list):
            return {
                "results": results,
                "columns": status.get("columns") or [],
                "types": status.get("types"),
            }
        raise QueryError(f"{where}: PostHog completed the async query without results")

    def _cancel(self, path: str, stats: _Run, where: str) -> None:
        with suppress(UsertrackError):  # best effort; a cancelled command still sends this one
            self._send("DELETE", path, stats, where, cancellable=False)

    # ---------------------------------------------------------------- HTTP with retries

    @contextmanager
    def _slot(self) -> Iterator[None]:
        self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()

    def _send(
        self,
        method: str,
        path: str,
        stats: _Run,
        where: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        slot: bool = False,
        timeout_ok: bool = False,
        server_errors_ok: bool = False,
        cancellable: bool = True,
    ) -> httpx.Response:
        """One request, retried on 429, 5xx (but 504 when `timeout_ok`) and network errors.

        `timeout_ok`: a read timeout re-raises httpx.TimeoutException and 504 is returned, for the
        caller to go async. `server_errors_ok`: 400/500 answers are returned (async polling).
        """
        import httpx

        client = self._client
        if client is None:
            raise QueryError(f"{where}: the PostHog source is closed")
        attempt = 0
        connect_failures = 0
        while True:
            if cancellable:
                check_cancelled()
            attempt += 1
            stats.requests += 1
            retry_after: float | None = None
            if slot:
                self._pace_wait(where, stats)
            try:
                if slot:
                    with self._slot():
                        resp = client.request(method, path, json=json, params=params)
                else:
                    resp = client.request(method, path, json=json, params=params)
            except httpx.TimeoutException as e:
                if timeout_ok and not isinstance(e, httpx.ConnectTimeout | httpx.PoolTimeout):
                    raise
                problem = f"no answer from PostHog at {self.host_label} ({_exc_name(e)})"
                kind = "network"
                if isinstance(e, httpx.ConnectTimeout):
                    connect_failures += 1
            except httpx.TransportError as e:
                problem = f"cannot reach PostHog at {self.host_label}: {_exc_text(e)}"
                kind = "network"
                if isinstance(e, httpx.ConnectError):
                    connect_failures += 1
            else:
                code = resp.status_code
                if code == 429:
                    kind = "throttled"
                    retry_after = _retry_after(resp)
                    detail = _detail(self._json(resp, where, strict=False)) or "throttled"
                    problem = _throttle_text(detail, retry_after)
                elif code == 504 and timeout_ok:
                    return resp
                elif code >= 500 and not (server_errors_ok and code == 500):
                    kind = "server"
                    detail = _detail(self._json(resp, where, strict=False))
                    problem = f"PostHog at {self.host_label} answered HTTP {code}" + (
                        f": {detail}" if detail else ""
                    )
                else:
                    return resp
            if kind == "network" and connect_failures >= self.connect_attempts:
                raise SourceConnectionError(
                    f"{where}: {problem} (tried {attempt} times; check {HOST_ENV} and the network)"
                )
            remaining = self.max_total_wait - stats.waited
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            if attempt >= self.max_attempts or delay > remaining:
                why = (
                    f"gave up after {attempt} attempts"
                    if attempt >= self.max_attempts
                    else f"the next wait ({delay:.0f} s) is over the {self.max_total_wait:.0f} s"
                    " budget for waiting"
                )
                message = f"{where}: {problem}; {why}, {stats.waited:.1f} s waited"
                if kind == "throttled":
                    raise QueryError(f"{message}. {LIMITS_TEXT}.")
                raise SourceConnectionError(message)
            stats.retries += 1
            self._note(f"{where}: {problem}; retrying in {delay:.1f} s")
            self._sleep(delay)
            stats.waited += delay

    def _pace_wait(self, where: str, stats: _Run) -> None:
        delay = self._pace.reserve()
        if delay > 0.01:
            self._note(
                f"{where}: waiting {delay:.1f} s to stay within PostHog's"
                f" {self._pace.per_minute}/minute and {self._pace.per_hour:,}/hour query limits"
            )
            self._sleep(delay)
            stats.paced += delay

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return delay * random.uniform(0.5, 1.0) + random.uniform(0, self.backoff_base * 0.1)

    # ---------------------------------------------------------------- errors and helpers

    def _json(self, resp: httpx.Response, where: str, *, strict: bool = True) -> Any:
        try:
            return resp.json()
        except ValueError:
            if not strict or resp.status_code != 200:
                return {}
            raise QueryError(
                f"{where}: PostHog at {self.host_label} answered HTTP 200 with a body that is not"
                " JSON (is the host an app host, like https://us.posthog.com?)"
            ) from None

    def _raise_for(self, resp: httpx.Response, body: Any, where: str) -> None:
        code = resp.status_code
        detail = _detail(body)
        err_code = body.get("code") if isinstance(body, dict) else None
        attr = body.get("attr") if isinstance(body, dict) else None
        if code == 401:
            raise SourceConnectionError(
                f"PostHog at {self.host_label} refused the personal API key (HTTP 401): it is"
                f" wrong, expired or revoked; check {KEY_ENV}" + (f" ({detail})" if detail else "")
            )
        if code == 403:
            raise SourceConnectionError(
                f"PostHog at {self.host_label} denied access (HTTP 403): the key in {KEY_ENV} lacks"
                f" the scope query:read or access to project {self.project_id} ({PROJECT_ENV})"
                + (f": {detail}" if detail else "")
            )
        if code == 404:
            raise ConfigError(
                f"{where}: PostHog at {self.host_label} has no project {self.project_id} for this"
                f" key (HTTP 404): check {PROJECT_ENV} and {HOST_ENV}"
                + (f" ({detail})" if detail else "")
            )
        if code in (301, 302, 307, 308):
            raise ConfigError(
                f"PostHog at {self.host_label} redirects (HTTP {code}) to"
                f" {resp.headers.get('location', '?')}: set {HOST_ENV} to the app host"
            )
        if code == 400:
            extra = f" [{err_code}" + (f", field {attr}" if attr else "") + "]" if err_code else ""
            raise QueryError(f"{where}: PostHog rejected the query: {detail or 'HTTP 400'}{extra}")
        raise QueryError(
            f"{where}: PostHog answered HTTP {code}" + (f": {detail}" if detail else "")
        )

    def _values(self, query: Query, sql: str, params: Mapping[str, Any]) -> dict[str, Any]:
        from usertrack.sources.queries import placeholders

        used = {name for name, _ in placeholders(sql, "hogql")}
        missing = sorted(n for n in used if n not in params and n != "filters")
        if missing:
            raise QueryError(
                f"{self._where(query)}: no value given for parameter(s) {', '.join(missing)}"
            )
        return wire_values({k: v for k, v in params.items() if k in used})

    def _where(self, query: Query) -> str:
        return f"{query.id} ({query.path})"

    def _note(self, message: str) -> None:
        if self._progress is not None:
            with suppress(Exception):  # a broken spinner must not fail a query
                self._progress(redact(message))

    def _meta(self, stats: _Run, started: float, n_rows: int) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "engine": "posthog",
            "host": self.host_label,
            "project_id": self.project_id,
            "pages": stats.pages,
            "paging": stats.paging,
            "page_size": self.page_size,
            "requests": stats.requests,
            "retries": stats.retries,
            "waited_seconds": round(stats.waited, 3),
            "async": stats.went_async,
            "async_polls": stats.async_polls,
            "paced_seconds": round(stats.paced, 3),
            "rows": n_rows,
            "seconds": round(time.monotonic() - started, 4),
        }
        if stats.paging == "partitions":
            meta["partitions"] = stats.partitions
            meta["splits"] = stats.splits
        if stats.notes:
            meta["notes"] = list(stats.notes)
        return meta


def _index(seq: Any, i: int) -> Any:
    try:
        return seq[i]
    except (IndexError, TypeError, KeyError):
        return None


def _pending_status(data: Any) -> dict[str, Any] | None:
    """The `query_status` of an answer that carries no rows yet (async), else None."""
    if not isinstance(data, dict):
        return None
    st = data.get("query_status")
    if isinstance(st, dict) and (data.get("results") is None or st.get("error")):
        return st
    return None


def _offset_refused(body: Any) -> bool:
    detail = _detail(body) or ""
    return "OFFSET" in detail and "personal API key" in detail


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        d = body.get("detail")
        if d is None and "error" in body:
            d = body.get("error")
        if isinstance(d, str):
            return redact(d.strip())
        if d is not None:
            return redact(json.dumps(d))
    return ""


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _throttle_text(detail: str, retry_after: float | None) -> str:
    low = detail.lower()
    if "concurren" in low:
        which = "the limit of 3 queries running at once per project"
    elif retry_after is not None and retry_after > 60:
        which = "the hourly limit (2,400 queries/hour per project; 120/hour for some older teams)"
    else:
        which = "the per-minute limit (240 queries/minute per project)"
    wait = f", Retry-After {retry_after:g} s" if retry_after is not None else ""
    return f"PostHog rate limit hit, likely {which}: {detail}{wait}"


def _exc_name(e: BaseException) -> str:
    return type(e).__name__


def _exc_text(e: BaseException) -> str:
    # httpx exception text names the error, never the request headers; redact anyway.
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return redact(f"{type(e).__name__}: {text}" if text else type(e).__name__)
