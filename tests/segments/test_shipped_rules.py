"""The shipped rules (segments.yaml, segments/engagement.yaml) on profiles made by hand: each
profile has every column the rules read (docs/query-files.md, "Profile columns"), and two
profiles differ in one column only, so the order or the segment can only come from that column."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from usertrack.segments.rules import classify, load_segments

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 11, 20)
BASE: dict[str, Any] = {
    "created_at": datetime(2026, 11, 1), "credits": 100, "subscription_status": None,
    "last_active_at": datetime(2026, 11, 19), "run_count": 0, "runs_completed": 0,
    "runs_failed": 0, "run_success_rate": None, "tool_calls": 0, "tool_failures": 0,
    "mcp_connect_clicks": 2, "mcp_servers": ["Airtable", "Stripe"], "rage_clicks": 0,
    "exceptions": 0, "pageviews": 40, "events_total": 120, "days_since_active": 1,
    "last_seen_at": datetime(2026, 11, 19), "in_posthog": True, "in_neon": True,
}  # fmt: skip
TYPES = {
    "created_at": "TIMESTAMP", "subscription_status": "VARCHAR", "last_active_at": "TIMESTAMP",
    "run_success_rate": "DOUBLE", "mcp_servers": "VARCHAR[]", "last_seen_at": "TIMESTAMP",
    "in_posthog": "BOOLEAN", "in_neon": "BOOLEAN",
}  # fmt: skip


def profiles(rows: dict[str, dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """A `profile` table of one row per email: BASE with the row's own values."""
    con = duckdb.connect()
    columns = ", ".join(f"CAST(${c} AS {TYPES.get(c, 'BIGINT')}) AS {c}" for c in BASE)
    con.execute(f"CREATE TABLE profile AS SELECT $email AS email, {columns} LIMIT 0",
                {"email": "", **BASE})  # fmt: skip
    for email, own in rows.items():
        con.execute(f"INSERT INTO profile SELECT $email, {columns}",
                    {"email": email, **BASE, **own})  # fmt: skip
    return con


def test_a_user_who_clicked_a_high_value_server_comes_first_in_outreach() -> None:
    spec = load_segments(REPO / "segments.yaml")
    con = profiles({
        "aaron@example.com": {},  # first by email, the tie-break
        "zoe@example.com": {"mcp_servers": ["Airtable", "Gmail"]},
        "mia@example.com": {"mcp_servers": ["Linear", "Stripe"]},
        "bob@example.com": {"mcp_connect_clicks": 5},  # more clicks, no high-value server
    })  # fmt: skip
    result = classify(spec, con, AS_OF)
    assert result.counts["high_intent"] == 4
    members = [u["email"] for u in result.members("high_intent")]
    assert members == ["mia@example.com", "zoe@example.com", "bob@example.com",
                       "aaron@example.com"]  # fmt: skip


def test_a_churned_user_is_in_no_engagement_segment() -> None:
    spec = load_segments(REPO / "segments" / "engagement.yaml")
    people: dict[str, dict[str, Any]] = {
        "champ@example.com": {},
        "gone@example.com": {"days_since_active": 60},
        "nobody@example.com": {"days_since_active": None, "in_posthog": False},
    }
    churned = {f"churned.{e}": {**own, "subscription_status": "canceled"}
               for e, own in people.items()}  # fmt: skip
    result = classify(spec, profiles({**people, **churned}), AS_OF)
    by_email = {u["email"]: u for u in result.users}
    assert [by_email[e]["primary"] for e in people] == ["champion", "dormant", "dormant"]
    for email in churned:
        assert by_email[email]["segments"] == [] and by_email[email]["primary"] is None
    assert sum(result.counts.values()) == len(people)
