"""Story: the product's feature flags, as PostHog keeps a project's (listed by `usertrack
insight --list` and `--search` on the demo).

A handful of flags written into the events store's `feature_flags` table
(usertrack.engines.local.saved): their key, name (PostHog's description of a flag), whether they
are on, tags and when they were made and last changed, in days before the anchor. One was
deleted: PostHog never lists a deleted flag, nor does the demo.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from usertrack.engines.local.saved import FLAGS_TABLE

if TYPE_CHECKING:
    import duckdb

# key, name, active, tags, created (days before the anchor), last changed (days before), deleted
FLAGS: tuple[tuple[str, str, bool, list[str], int, int, bool], ...] = (
    ("agent-builder-v2", "The new agent builder canvas", True, ["build"], 120, 9, False),
    ("mcp-connect-button", "One-click MCP server connect on the tools page", True,
     ["growth", "mcp"], 75, 30, False),
    ("credits-upsell-banner", "Banner offering credits when a run fails for lack of them",
     False, ["billing"], 40, 12, False),
    ("webhook-retries", "Retry failed webhooks with backoff", True, ["integrations"], 200, 150,
     False),
    ("schedules-calendar-view", "Schedules shown as a calendar", True, [], 18, 2, False),
    ("legacy-run-logs", "The old run log viewer", False, ["operate"], 400, 60, True),
)  # fmt: skip


def flags_table(con: duckdb.DuckDBPyConnection, anchor: date) -> None:
    """Write FLAGS into the store as its `feature_flags` table (ids from 1 in FLAGS' order)."""
    midnight = datetime.combine(anchor, datetime.min.time())
    rows = [
        (number, key, name, active, json.dumps(tags), midnight - timedelta(days=made),
         midnight - timedelta(days=changed), deleted)
        for number, (key, name, active, tags, made, changed, deleted) in enumerate(FLAGS, 1)
    ]  # fmt: skip
    con.execute(
        f"CREATE TABLE {FLAGS_TABLE} (id INTEGER, key VARCHAR, name VARCHAR, active BOOLEAN,"
        " tags VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP, deleted BOOLEAN)"
    )
    con.executemany(f"INSERT INTO {FLAGS_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
