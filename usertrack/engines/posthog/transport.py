"""The PostHog source's transport: the httpx client and its settings, one request with retries
(429 with Retry-After, 5xx, network errors), requests paced within PostHog's per-minute and
per-hour limits, at most 3 queries at once per project, and PostHog's errors as usertrack's,
with secrets redacted. The facts behind them are in this package's docstring."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import (
    ConfigError,
    QueryError,
    SourceConnectionError,
    redact,
    register_secret,
)
from usertrack.engines import query_counts
from usertrack.engines.base import check_cancelled, pause
from usertrack.engines.posthog import answers

if TYPE_CHECKING:
    import httpx

    from usertrack.queries.library import Query

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
# Documented rate limits of the query API per project (posthog.com/docs/api/queries).
QUERIES_PER_MINUTE = 240
QUERIES_PER_HOUR = 2400


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


@dataclass
class RunStats:
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
    packed_failed: bool = False  # refused, or its types unreadable: not asked again
    notes: list[str] = field(default_factory=list)

    def add(self, other: RunStats) -> None:
        """Count a partition's requests, retries and waits in this run's."""
        self.requests += other.requests
        self.retries += other.retries
        self.waited += other.waited
        self.paced += other.paced
        self.async_polls += other.async_polls
        self.went_async = self.went_async or other.went_async
        self.notes.extend(n for n in other.notes if n not in self.notes)


class Transport:
    """The connection to one PostHog project: its settings, the shared httpx client, and one
    request at a time with retries, pacing and PostHog's errors."""

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
        printed_folder: Path | None = None,
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
        # where the texts printed from PostHog's parse tree are kept (hogql.printer.kept_text)
        self.printed_folder = printed_folder
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

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

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
        stats: RunStats,
        where: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        slot: bool = False,
        timeout_ok: bool = False,
        server_errors_ok: bool = False,
        cancellable: bool = True,
        once: bool = False,
    ) -> httpx.Response:
        """One request, retried on 429, 5xx (but 504 when `timeout_ok`) and network errors.

        `timeout_ok`: a read timeout re-raises httpx.TimeoutException and 504 is returned, for the
        caller to go async. `server_errors_ok`: 400/500 answers are returned (async polling).
        `once`: a request that creates something is retried only when it surely did not reach
        PostHog (429, a connection never made); after a 5xx or a lost answer it may have been
        done, and a second one would do it twice.
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
            if method == "POST" and path.endswith("/query/"):
                query_counts.count("posthog")  # each counts against PostHog's query limits
            retry_after: float | None = None
            unsent = False  # this attempt never connected: nothing reached PostHog
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
                    unsent = True
            except httpx.TransportError as e:
                problem = f"cannot reach PostHog at {self.host_label}: {_exc_text(e)}"
                kind = "network"
                if isinstance(e, httpx.ConnectError):
                    connect_failures += 1
                    unsent = True
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
            if once and not (kind == "throttled" or unsent):
                raise SourceConnectionError(
                    f"{where}: {problem}; not sent again, since PostHog may have done it: check"
                    " before trying again"
                )
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

    def _pace_wait(self, where: str, stats: RunStats) -> None:
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

    def _json(
        self,
        resp: httpx.Response,
        where: str,
        *,
        strict: bool = True,
        rows: Callable[[], answers.Rows] | None = None,
    ) -> Any:
        """The answer's JSON. `rows`: a 200 answer's `results` arrays each read into a new
        `rows()` as they are read (answers.loads), rather than made Python lists whole."""
        try:
            if rows is not None and resp.status_code == 200 and answers.readable(resp.content):
                return answers.loads(resp.content, rows)
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

    def _where(self, query: Query) -> str:
        return f"{query.id} ({query.path})"

    def _note(self, message: str) -> None:
        if self._progress is not None:
            with suppress(Exception):  # a broken spinner must not fail a query
                self._progress(redact(message))

    def _meta(self, stats: RunStats, started: float, n_rows: int) -> dict[str, Any]:
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


def offset_refused(body: Any) -> bool:
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
