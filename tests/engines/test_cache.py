"""The disk cache is honest: live runs share entries within a TTL window (and run the queries for
the moment they are keyed by), expired entries are deleted, the folder is capped, a failed write
leaves nothing behind, and everything is owner-only.

PostHog is the compatible server of tests/posthog_server.py over real HTTP on 127.0.0.1 (it
records every request); PostgreSQL is the embedded server with the hand-made database.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import handmade
from tests.cli_runner import run
from tests.posthog_server import DEFAULT_KEY, FakePostHog, posthog_query, serve
from tests.posthog_server import live_env as posthog_live_env
from usertrack.core.config import load_settings
from usertrack.engines.cache import CachedSource, cache_dir, floor_to_ttl
from usertrack.engines.posthog import PostHogHTTPSource
from usertrack.queries.library import load_queries

REPO = Path(__file__).resolve().parents[2]
PROJECT = 4242
TTL = 3600


@pytest.fixture
def fake(handmade_store: Path) -> Iterator[FakePostHog]:
    with serve(handmade_store, project_id=PROJECT) as server:
        yield server


def live_env(fake: FakePostHog, db: str, **more: str) -> dict[str, str]:
    return posthog_live_env(fake, db, USERTRACK_CACHE_TTL=str(TTL), **more)


def cache_folder() -> Path:
    return cache_dir(load_settings().home)


def posted_as_of(fake: FakePostHog) -> set[str]:
    return {
        r["body"]["query"]["values"]["as_of"]
        for r in fake.requests
        if r["method"] == "POST" and r["body"] and "as_of" in r["body"]["query"].get("values", {})
    }


def away_from_a_window_edge(ttl: int, margin: float = 3.0) -> None:
    """Wait past the next multiple of the TTL when it is due within `margin` seconds."""
    left = ttl - time.time() % ttl
    if left < margin:
        time.sleep(left + 0.1)


def test_floor_to_ttl() -> None:
    moment = datetime(2026, 11, 22, 8, 14, 46, tzinfo=UTC)
    assert floor_to_ttl(moment, 600) == datetime(2026, 11, 22, 8, 10, tzinfo=UTC)
    assert floor_to_ttl(moment, 3600) == datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    assert floor_to_ttl(moment, 0) == moment


def test_two_live_runs_a_second_apart_share_an_entry(fake: FakePostHog, handmade_db: str) -> None:
    env = live_env(fake, handmade_db)
    args = ["segments", "-f", "json", "--no-save"]
    away_from_a_window_edge(TTL)
    first = run(args, **env)
    assert first.exit_code == 0, first.stderr
    sent = len(fake.query_texts())
    assert sent >= 3
    time.sleep(1.1)
    second = run(args, **env)
    assert second.exit_code == 0, second.stderr
    assert len(fake.query_texts()) == sent  # every query answered from the cache
    assert second.stdout == first.stdout
    # The run is as of now floored to the TTL, and that is the moment the queries were run for.
    as_of = datetime.fromisoformat(json.loads(first.stdout)["as_of"].replace("Z", "+00:00"))
    assert int(as_of.timestamp()) % TTL == 0
    assert 0 <= time.time() - as_of.timestamp() < TTL + 5
    assert posted_as_of(fake) == {as_of.strftime("%Y-%m-%d %H:%M:%S")}


def test_expired_entries_are_deleted_on_every_use(fake: FakePostHog, handmade_db: str) -> None:
    env = live_env(fake, handmade_db)
    first = run(["segments", "-f", "json", "--no-save"], **env)
    assert first.exit_code == 0, first.stderr
    folder = cache_folder()
    old = sorted(folder.glob("*.pickle"))
    assert old
    stranger = folder / ("0" * 64 + ".pickle")  # another command's entry, expired long ago
    stranger.write_bytes(b"user data")
    leftover = folder / "tmpabc.tmp"  # a write killed half-way, a day ago
    leftover.write_bytes(b"half")
    hours_ago = time.time() - 2 * TTL
    for path in [*old, stranger]:
        os.utime(path, (hours_ago, hours_ago))
    os.utime(leftover, (time.time() - 86400, time.time() - 86400))

    other = run(["query", "neon/weekly_metrics", "-f", "json"], **env)  # other cache keys
    assert other.exit_code == 0, other.stderr
    assert not stranger.exists() and not leftover.exists()
    assert not [p for p in old if p.exists()]
    assert list(folder.glob("*.pickle"))  # the new answer is cached

    off = run(["query", "neon/weekly_metrics", "-f", "json"], **{**env, "USERTRACK_CACHE_TTL": "0"})
    assert off.exit_code == 0, off.stderr
    assert list(folder.glob("*.pickle")) == []  # with the cache off, nothing is kept


def _source(fake: FakePostHog, folder: Path, **options: Any) -> CachedSource:
    inner = PostHogHTTPSource(DEFAULT_KEY, PROJECT, fake.url)
    return CachedSource(inner, folder, identity="posthog test", ttl_seconds=TTL, **options)


def test_an_arrow_answer_is_cached_as_arrow_and_read_back_as_rows_too(
    fake: FakePostHog, tmp_path: Path
) -> None:
    query = posthog_query(
        "SELECT person.properties.email AS email, count() AS events,"
        " min(timestamp) AS first_seen_at FROM events"
        " WHERE timestamp <= toDateTime({as_of}, 'UTC') GROUP BY email",
        "first_seen",
        returns="per-user",
    )
    params = {"as_of": handmade.AS_OF}
    source = _source(fake, tmp_path / "cache")
    try:
        assert source.arrow_results
        asked = source.run(query, params, arrow_over=0)
        assert asked.arrow is not None and asked.rows == []
        sent = len(fake.query_texts())
        again = source.run(query, params, arrow_over=0)  # the entry, as Arrow
        assert again.meta["cache"] == "hit" and again.arrow.equals(asked.arrow)
        plain = source.run(query, params)  # the entry, as rows for a caller asking none
        assert plain.arrow is None and plain.meta["cache"] == "hit"
        assert plain.rows == list(zip(*(c.to_pylist() for c in asked.arrow.columns), strict=True))
        assert isinstance(plain.rows[0][plain.columns.index("first_seen_at")], datetime)
        assert len(fake.query_texts()) == sent
    finally:
        source.close()


def test_the_cache_is_capped_oldest_first(fake: FakePostHog, tmp_path: Path) -> None:
    query = load_queries(REPO / "queries").get("posthog/user_events")
    folder = tmp_path / "cache"
    emails = ["alice@acme.io", "bob@acme.io", "carol@beta.com", "ivan@eta.io"]
    params = [
        {"as_of": handmade.AS_OF, "days": 30, "email": e, "exclude_pattern": "@datagen"}
        for e in emails
    ]
    probe = _source(fake, tmp_path / "probe")
    try:
        probe.run(query, params[0])
        size = next((tmp_path / "probe").glob("*.pickle")).stat().st_size
    finally:
        probe.close()
    source = _source(fake, folder, max_bytes=int(size * 2.5))
    try:
        for n, p in enumerate(params):
            source.run(query, p)
            written = folder / f"{source.key(query, p)}.pickle"
            os.utime(written, (time.time() - 100 + n, time.time() - 100 + n))  # distinct ages
        kept = {p.name for p in folder.glob("*.pickle")}
        total = sum(p.stat().st_size for p in folder.glob("*.pickle"))
        assert total <= size * 2.5
        newest = {f"{source.key(query, p)}.pickle" for p in params[-2:]}
        assert newest <= kept
        assert f"{source.key(query, params[0])}.pickle" not in kept  # the oldest went first
        before = len(fake.query_texts())
        source.run(query, params[-1])  # still cached
        assert len(fake.query_texts()) == before
    finally:
        source.close()


def test_a_failed_write_leaves_no_temporary_file(fake: FakePostHog, tmp_path: Path) -> None:
    query = load_queries(REPO / "queries").get("posthog/user_mcp_servers")
    params = {"as_of": handmade.AS_OF, "email": "alice@acme.io", "exclude_pattern": "@datagen"}
    folder = tmp_path / "cache"
    source = _source(fake, folder)
    try:
        # The entry's name is taken by a folder: the final rename fails after the data is written.
        (folder / f"{source.key(query, params)}.pickle").mkdir(parents=True)
        result = source.run(query, params)
        assert result.rows  # the answer still arrives; only the cache entry is missing
        assert list(folder.glob("*.tmp")) == []
        os.chmod(folder, 0o500)  # a read-only folder (root ignores it; others get an error)
        try:
            assert source.run(query, {**params, "email": "bob@acme.io"}).columns
        finally:
            os.chmod(folder, 0o700)
        assert list(folder.glob("*.tmp")) == []
    finally:
        source.close()


def test_home_cache_and_history_are_private(fake: FakePostHog, handmade_db: str) -> None:
    home = load_settings().home
    home.chmod(0o755)
    result = run(["segments", "-f", "json"], **live_env(fake, handmade_db))  # saves a snapshot
    assert result.exit_code == 0, result.stderr
    folder = cache_folder()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    entries = list(folder.glob("*.pickle"))
    assert entries and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries)
    assert stat.S_IMODE((home / "history.sqlite3").stat().st_mode) == 0o600
    printed = list((folder / "hogql").glob("*.hogql"))  # the query files' printed HogQL
    assert printed and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in printed)
    assert stat.S_IMODE((folder / "hogql").stat().st_mode) == 0o700
