"""A disk cache of query results: a report then deep dives spend PostHog's rate limit once.

Results are kept per (source, query text, parameters) for a time-to-live (default 10 minutes,
USERTRACK_CACHE_TTL seconds, 0 turns it off; `--refresh` bypasses it for one command). Only the live
sources are cached (PostHog's API, DATABASE_URL): the local engines answer faster than a cache.
A live run's as_of ("now") is floored to a multiple of the TTL (`floor_to_ttl`) and the queries run
with that moment, so runs within one TTL window share entries and each answer matches its key.

Entries are pickles under USERTRACK_HOME/cache (a 0700 folder, 0600 files), written atomically: a
failed write leaves no temporary file. They hold query results (your users' data) but never a
credential: the key is a hash that includes no secret. Every use of the cache deletes the expired
entries (a user's data is not kept past the TTL), and the folder is capped at MAX_CACHE_BYTES,
the oldest entries going first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.core.style import jsonable
from usertrack.engines.base import Result, Source

if TYPE_CHECKING:
    from usertrack.queries.library import Query

DEFAULT_TTL_SECONDS = 600
MAX_CACHE_BYTES = 200 * 1024 * 1024
# A temporary file older than this is left over by a killed process, not one being written.
STALE_TMP_SECONDS = 3600
_FORMAT = 1  # bump when the pickled shape changes


def floor_to_ttl(moment: datetime, ttl_seconds: int) -> datetime:
    """`moment` floored to a multiple of the TTL since the epoch (unchanged when the TTL is 0)."""
    if ttl_seconds <= 0:
        return moment
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % ttl_seconds, UTC)


def cache_dir(home: Path) -> Path:
    return home / "cache"


def clear(home: Path) -> int:
    """Remove every cached result, the answers kept for the events stores
    (usertrack.engines.local.storecache) and the local copies of the app's tables
    (usertrack.engines.postgres.app_mirror); return how many there were."""
    from usertrack.engines.local.storecache import SUFFIX, TEXT_SUFFIX, folder_of

    count = 0
    for folder, suffix in (
        (cache_dir(home), ".pickle"),
        (folder_of(home), SUFFIX),
        (folder_of(home), TEXT_SUFFIX),
        (cache_dir(home) / "app-mirror", ".duckdb"),
    ):
        if folder.is_dir():
            stale = [*folder.glob(f"*{suffix}"), *folder.glob("*.tmp"), *folder.glob("*.wal")]
            for entry in stale:
                entry.unlink(missing_ok=True)
                count += entry.suffix == suffix
    return count


class CachedSource(Source):
    """Wraps a source: answers from disk when a fresh entry exists, else asks and stores.

    What it passes on of the engine behind is named here: how it runs (`max_concurrent`,
    `arrow_results`, `parses_with_pyarrow`), whether it is live, and what the engine knows
    besides query files (`group_types`, `first_event`). The rest of the engine's capabilities
    are the base's (none): an answer that does not come through `run` is not the cache's."""

    def __init__(
        self,
        inner: Source,
        folder: Path,
        *,
        identity: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        refresh: bool = False,
        max_bytes: int = MAX_CACHE_BYTES,
    ) -> None:
        self._inner = inner
        self.kind = inner.kind
        self.dialect = inner.dialect
        self.description = inner.description
        self.folder = folder
        self.identity = identity
        self.ttl_seconds = ttl_seconds
        self.refresh = refresh
        self.max_bytes = max_bytes
        # Queries run side by side as the source behind allows (profiles.run_by_source).
        self.max_concurrent = inner.max_concurrent
        # run(..., arrow_over=N) as the source behind takes it (an Arrow answer pickles as
        # its buffers: no Python value per cell to write or read back)
        self.arrow_results = inner.arrow_results
        self.parses_with_pyarrow = inner.parses_with_pyarrow
        self._swept = False
        self._lock = threading.Lock()  # the sweep, shared by those threads

    def _sweep_once(self) -> None:
        """Once per command: expired entries go before anything is read."""
        with self._lock:
            if not self._swept:
                self.sweep()
                self._swept = True

    @property
    def inner(self) -> Source:
        """The source behind the cache."""
        return self._inner

    @property
    def is_live(self) -> bool:
        return self._inner.is_live

    @property
    def runs_bundles(self) -> bool:
        return self._inner.answers_bundles

    def group_types(self) -> dict[str, int] | None:
        return self._inner.group_types()

    def first_event(self) -> datetime | None:
        return self._inner.first_event()

    def list_saved(
        self, kind: str, search: str | None = None, most: int = 1_000
    ) -> tuple[list[dict[str, Any]], int]:
        return self._inner.list_saved(kind, search, most)

    def __repr__(self) -> str:
        return f"CachedSource({self.inner!r})"

    def key(self, query: Query, params: Mapping[str, Any]) -> str:
        material = json.dumps(
            {
                "format": _FORMAT,
                "source": self.identity,
                "query": query.id,
                "sql": query.sql,
                "insight": query.insight,
                "params": jsonable(dict(sorted(params.items()))),
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def peek(self, query: Query, params: Mapping[str, Any]) -> Result | None:
        """The fresh cached answer `run` would give without asking, or None."""
        if self.refresh or self.ttl_seconds <= 0:
            return None
        cached = self._read(self.folder / f"{self.key(query, params)}.pickle")
        return None if cached is None else _as_rows(cached)

    def store_answer(self, query: Query, params: Mapping[str, Any], result: Result) -> None:
        """Cache `result`, answered for `query` by other means (a bundle of queries)."""
        if self.ttl_seconds > 0:
            self._write(self.folder / f"{self.key(query, params)}.pickle", result)
            self._cap()

    def run(
        self, query: Query, params: Mapping[str, Any], *, arrow_over: int | None = None
    ) -> Result:
        """The source's answer, from the cache when a fresh entry holds it. `arrow_over` as
        the source behind takes it (only when it does): an entry kept as an Arrow table is
        answered as rows to a caller that asked for none."""
        self._sweep_once()
        path = self.folder / f"{self.key(query, params)}.pickle"
        if not self.refresh and self.ttl_seconds > 0:
            cached = self._read(path)
            if cached is not None:
                if arrow_over is None or not self.arrow_results:
                    return _as_rows(cached)
                return cached
        if arrow_over is not None and self.arrow_results:
            result = self.inner.run(query, params, arrow_over=arrow_over)
        else:
            result = self.inner.run(query, params)
        if self.ttl_seconds > 0:
            self._write(path, result)
            self._cap()
        return result

    def run_many(
        self, jobs: list[tuple[Query, Mapping[str, Any]]], *, arrow_over: int | None = None
    ) -> list[Result]:
        """Each job's answer, as `run` gives it: from the cache where a fresh entry holds it;
        the others in one request where the source behind answers several query files at once
        (PostHog's bundles: engines/posthog/bundle.py, one query of the hourly budget instead of
        one each), sent synchronously; any it leaves out, one by one."""
        self._sweep_once()
        out: list[Result | None] = [None] * len(jobs)
        todo: list[int] = []
        for i, (query, params) in enumerate(jobs):
            cached = None
            if not self.refresh and self.ttl_seconds > 0:
                cached = self._read(self.folder / f"{self.key(query, params)}.pickle")
            if cached is None:
                todo.append(i)
                continue
            out[i] = _as_rows(cached) if arrow_over is None or not self.arrow_results else cached
        if self.inner.answers_bundles and len(todo) > 1:
            answered = self.inner.run_bundle(
                [jobs[i] for i in todo], asynchronous=False, arrow_over=arrow_over
            )
            for i, result in zip(todo, answered, strict=True):
                if result is None:
                    continue
                out[i] = result
                self.store_answer(*jobs[i], result)
        return [
            result if result is not None else self.run(*jobs[i], arrow_over=arrow_over)
            for i, result in enumerate(out)
        ]

    def _entries(self) -> list[tuple[Path, os.stat_result]]:
        out = []
        try:
            names = list(self.folder.iterdir())
        except OSError:
            return []
        for entry in names:
            if entry.suffix not in (".pickle", ".tmp"):
                continue
            try:
                out.append((entry, entry.stat()))
            except OSError:
                continue
        return out

    def sweep(self) -> int:
        """Delete the expired entries (every entry when the cache is off) and left-over temporary
        files; make the rest owner-only. Returns how many were deleted."""
        now = time.time()
        removed = 0
        for entry, st in self._entries():
            age = now - st.st_mtime
            limit = STALE_TMP_SECONDS if entry.suffix == ".tmp" else self.ttl_seconds
            try:
                if age > limit or (entry.suffix == ".pickle" and age < 0):
                    entry.unlink(missing_ok=True)
                    removed += 1
                elif st.st_mode & 0o077:
                    os.chmod(entry, 0o600)
            except OSError:
                continue  # another process got there first, or a folder we cannot change
        return removed

    def _cap(self) -> None:
        """Delete the oldest entries until the folder holds at most max_bytes."""
        entries = [(e, st) for e, st in self._entries() if e.suffix == ".pickle"]
        total = sum(st.st_size for _, st in entries)
        for entry, st in sorted(entries, key=lambda item: item[1].st_mtime):
            if total <= self.max_bytes:
                break
            entry.unlink(missing_ok=True)
            total -= st.st_size

    def _read(self, path: Path) -> Result | None:
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return None
        if age > self.ttl_seconds or age < 0:
            return None
        try:
            with path.open("rb") as fh:
                result = pickle.load(fh)
        except Exception:
            with contextlib.suppress(OSError):  # a damaged entry is a miss, never an error
                path.unlink(missing_ok=True)
            return None
        if not isinstance(result, Result):
            return None
        return Result(result.columns, result.rows, {**result.meta, "cache": "hit"}, result.arrow)

    def _write(self, path: Path, result: Result) -> None:
        from usertrack.core.files import private_dir

        tmp: str | None = None
        try:
            private_dir(self.folder)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")  # 0600
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except Exception:
            # A cache that cannot be written only costs speed, and leaves nothing behind.
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def close(self) -> None:
        self.inner.close()


def _as_rows(result: Result) -> Result:
    """`result` with its rows as Python values, for a caller that asked for no Arrow table."""
    if result.arrow is None:
        return result
    from usertrack.engines.postgres.pg_copy import as_rows

    return replace(result, rows=as_rows(result.arrow), arrow=None)
