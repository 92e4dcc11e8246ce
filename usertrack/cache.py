"""A disk cache of query results: a report then deep dives spend PostHog's rate limit once.

Results are kept per (source, query text, parameters) for a time-to-live (default 10 minutes,
USERTRACK_CACHE_TTL seconds, 0 turns it off; `--refresh` bypasses it for one command). Only the live
sources are cached (PostHog's API, DATABASE_URL): the local engines answer faster than a cache.
Entries are pickles under USERTRACK_HOME/cache, written atomically; they hold query results (your
users' data) but never a credential: the key is a hash that includes no secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.export import jsonable
from usertrack.sources.base import Result, Source

if TYPE_CHECKING:
    from usertrack.queries import Query

DEFAULT_TTL_SECONDS = 600
_FORMAT = 1  # bump when the pickled shape changes


def cache_dir(home: Path) -> Path:
    return home / "cache"


def clear(home: Path) -> int:
    """Remove every cached result; return how many there were."""
    folder = cache_dir(home)
    count = 0
    if folder.is_dir():
        for entry in folder.glob("*.pickle"):
            entry.unlink(missing_ok=True)
            count += 1
    return count


class CachedSource:
    """Wraps a source: answers from disk when a fresh entry exists, else asks and stores."""

    def __init__(
        self,
        inner: Source,
        folder: Path,
        *,
        identity: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        refresh: bool = False,
    ) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.dialect = inner.dialect
        self.description = inner.description
        self.folder = folder
        self.identity = identity
        self.ttl_seconds = ttl_seconds
        self.refresh = refresh
        self.hits = 0
        self.misses = 0

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

    def run(self, query: Query, params: Mapping[str, Any]) -> Result:
        path = self.folder / f"{self.key(query, params)}.pickle"
        if not self.refresh and self.ttl_seconds > 0:
            cached = self._read(path)
            if cached is not None:
                self.hits += 1
                return cached
        self.misses += 1
        result = self.inner.run(query, params)
        if self.ttl_seconds > 0:
            self._write(path, result)
        return result

    def _read(self, path: Path) -> Result | None:
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return None
        if age > self.ttl_seconds or age < 0:
            return None
        try:
            with path.open("rb") as fh:
                result = pickle.load(fh)
        except Exception:
            path.unlink(missing_ok=True)  # a damaged entry is a miss, never an error
            return None
        if not isinstance(result, Result):
            return None
        return Result(result.columns, result.rows, {**result.meta, "cache": "hit"})

    def _write(self, path: Path, result: Result) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs speed

    def close(self) -> None:
        self.inner.close()
