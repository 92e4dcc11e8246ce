"""workspace.keep_open's end: the sources and in-memory databases it kept are closed, but with
`leave` (a dashboard's one-command process) the events store's read-only connection and those
databases, which hold nothing but memory, are handed to the process's exit instead
(usertrack.cli.program.leave_to_exit)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.analytics_helpers import record, write_export
from usertrack.checks.sandbox import connect, release
from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
from usertrack.engines.local.source import LocalPostHogSource
from usertrack.workspace import keep_open, open_workspace

AS_OF = datetime(2026, 11, 17, tzinfo=UTC)


def _used_source(tmp_path: Path) -> LocalPostHogSource:
    """The events source of a workspace opened within keep_open, after a query on it."""
    events = write_export(
        tmp_path / "events.jsonl",
        [record(1, "$pageview", datetime(2026, 11, 16, 10, tzinfo=UTC), "pa", "pa", "a@x.io")],
    )
    env = {"USERTRACK_HOME": str(tmp_path / "home"), "USERTRACK_EVENTS": str(events)}
    settings = load_settings({**env, "USERTRACK_CONFIG": "", "USERTRACK_CACHE_TTL": "0"})
    ws = open_workspace(
        settings,
        queries_dir=resolve_queries_dir(None),
        segments_path=resolve_segments_file(None),
        database=False,
    )
    with ws:
        assert ws.run_query("posthog/daily_active", AS_OF, days=2).rows
        source = ws.sources["posthog"]
    assert isinstance(source, LocalPostHogSource)
    assert source._con is not None  # kept open by keep_open past the workspace's close
    return source


def test_the_kept_sources_are_closed_on_leaving(tmp_path: Path) -> None:
    with keep_open():
        source = _used_source(tmp_path)
    assert source._con is None


def test_with_leave_the_events_store_is_left_to_the_exit(tmp_path: Path) -> None:
    left: list[Any] = []
    with keep_open(leave=left.append):
        source = _used_source(tmp_path)
        spare = connect(reuse=True)  # an analysis's own database, given back to be used again
        release(spare)
    try:
        assert source in left and any(con is spare for con in left)
        assert source._con is not None  # not closed: the exit frees its memory
        assert spare.execute("SELECT 42").fetchone() == (42,)
    finally:
        source.close()
        spare.close()


def test_without_leave_the_kept_databases_are_closed(tmp_path: Path) -> None:
    import duckdb
    import pytest

    with keep_open():
        spare = connect(reuse=True)
        release(spare)
    with pytest.raises(duckdb.ConnectionException):
        spare.execute("SELECT 42")
