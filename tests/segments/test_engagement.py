"""The product-growth guide's engagement segments (segments/engagement.yaml) on hand-made events.

Every person's total events and days since their last event are worked out here from the events
below; the segment each lands in follows the product-growth guide's thresholds (>= 100 events
and <= 7 days: champion; >= 30 and <= 14: power user; <= 14: active; <= 30: at risk; else
dormant).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import record
from tests.cli_runner import run
from usertrack.core.config import load_settings, resolve_segments_file
from usertrack.queries.library import load_queries
from usertrack.segments.rules import load_segments
from usertrack.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 11, 20, 12, tzinfo=UTC)  # after every hand-made account
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

# email -> (events before as_of, the last one's age)
PEOPLE = {
    "champ@example.com": (100, 7 * DAY),  # exactly 7 days: champion
    "almost@example.com": (100, 8 * DAY),  # 8 days: not a champion; >= 30 and <= 14: power
    "power@example.com": (30, 14 * DAY),  # exactly 14 days, exactly 30 events: power user
    "busy@example.com": (29, 0 * DAY),  # one event short of power: active
    "quiet@example.com": (3, 15 * DAY),  # 15 days: at risk
    "edge@example.com": (2, 30 * DAY + 23 * 3600 * SECOND),  # 30 whole days: still at risk
    "gone@example.com": (50, 31 * DAY),  # 31 days: dormant
}
EXPECTED = {
    "champ@example.com": ("champion", 100, 7),
    "almost@example.com": ("power_user", 100, 8),
    "power@example.com": ("power_user", 30, 14),
    "busy@example.com": ("active", 29, 0),
    "quiet@example.com": ("at_risk", 3, 15),
    "edge@example.com": ("at_risk", 2, 30),
    "gone@example.com": ("dormant", 50, 31),
}


def _records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, (email, (n, age)) in enumerate(PEOPLE.items()):
        last = AS_OF - age
        for k in range(n):
            # champ's events come from two distinct_ids of one person: still 100 events
            did = f"{email}-{k % 2}" if email.startswith("champ") else email
            out.append(record(len(out) + 1, "ping", last - k * 60 * SECOND, did, f"p{i}", email))
    # after as_of: does not exist yet (busy would be a champion with these)
    for _ in range(80):
        out.append(record(len(out) + 1, "ping", AS_OF + SECOND, "busy@example.com", "p3",
                          "busy@example.com"))  # fmt: skip
    # an internal account is left out
    out.append(record(len(out) + 1, "ping", AS_OF - DAY, "zed", "p99", "zed@datagen.dev"))
    return out


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engagement") / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    return path


def test_engagement_segments_match_the_activity_specification(
    handmade_db: str, export: Path, tmp_path: Path
) -> None:
    from usertrack.engines.local.eventstore import import_events
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.engines.postgres.source import PostgresSource

    store = tmp_path / "events.duckdb"
    import_events(export, store)
    ws = Workspace(
        settings=load_settings(),
        library=load_queries(REPO / "queries"),
        rules=load_segments(REPO / "segments" / "engagement.yaml"),
        sources={
            "neon": PostgresSource(handmade_db),
            "posthog": LocalPostHogSource(store, description="hand-made events"),
        },
    )
    with ws:
        result = ws.classify(AS_OF)
    users = {u["email"]: u for u in result.users}
    got = {
        e: (users[e]["primary"], users[e]["events_total"], users[e]["days_since_active"])
        for e in EXPECTED
    }
    assert got == EXPECTED
    assert all(users[e]["segments"] == [EXPECTED[e][0]] for e in EXPECTED)
    assert "zed@datagen.dev" not in users
    # the app's accounts PostHog has never seen: no events, no last activity: dormant
    neon_only = [u for u in users.values() if not u["in_posthog"]]
    assert neon_only
    for u in neon_only:
        assert u["events_total"] is None and u["days_since_active"] is None
        assert u["primary"] == "dormant"


def test_short_name_finds_the_shipped_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = resolve_segments_file(Path("engagement"))
    assert shipped.name == "engagement.yaml" and shipped.is_file()
    assert [s.id for s in load_segments(shipped).segments] == [
        "champion", "power_user", "active", "at_risk", "dormant"
    ]  # fmt: skip
    # a file of that name in the working folder wins over the shipped set
    (tmp_path / "engagement").write_text("segments: []\n")
    assert resolve_segments_file(Path("engagement")) == Path("engagement")


def test_engagement_through_the_cli_on_the_demo(demo_home: Path) -> None:
    result = run(["segments", "--segments", "segments/engagement.yaml", "-f", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    users = json.loads(result.stdout)["users"]
    assert users
    churned = [u for u in users if u["subscription_status"] == "canceled"]
    # the demo's churned users include some as active as the others: still in no segment
    assert churned and any((u["days_since_active"] or 99) <= 14 for u in churned)
    for u in users:
        n, days = u["events_total"], u["days_since_active"]
        if u["subscription_status"] == "canceled":  # churned: left out of every segment
            assert u["segments"] == [] and u["primary"] is None, u
            continue
        if days is None:
            want = "dormant"
        elif n >= 100 and days <= 7:
            want = "champion"
        elif n >= 30 and days <= 14:
            want = "power_user"
        elif days <= 14:
            want = "active"
        elif days <= 30:
            want = "at_risk"
        else:
            want = "dormant"
        # one segment each, as the specification's if/else chain: the counts add up to the
        # users who have not churned
        assert u["segments"] == [want], u
        assert u["primary"] == want, u
    short = run(["segments", "--segments", "engagement", "-f", "json"], demo_home)
    assert json.loads(short.stdout)["users"] == users
