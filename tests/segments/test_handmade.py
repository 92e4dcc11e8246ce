"""The hand-made workspace of tests/handmade.py: segments worked out by hand, end to end."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests import handmade
from usertrack.cli import app
from usertrack.core.config import load_settings
from usertrack.engines.postgres.source import PostgresSource
from usertrack.queries.library import load_queries
from usertrack.rendering.export import column_records
from usertrack.segments.rules import load_segments
from usertrack.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def handmade_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return handmade.write_events_jsonl(tmp_path_factory.mktemp("ev") / "export.jsonl")


@pytest.fixture
def workspace(handmade_db: str, handmade_events: Path, tmp_path: Path) -> Workspace:
    from usertrack.engines.local.eventstore import import_events
    from usertrack.engines.local.source import LocalPostHogSource

    store = tmp_path / "events.duckdb"
    import_events(handmade_events, store)
    return Workspace(
        settings=load_settings(),
        library=load_queries(REPO / "queries"),
        rules=load_segments(REPO / "segments.yaml"),
        sources={
            "neon": PostgresSource(handmade_db),
            "posthog": LocalPostHogSource(store, description="hand-made events"),
        },
    )


def test_segments_match_the_hand_worked_answer(workspace: Workspace) -> None:
    with workspace:
        result = workspace.classify(handmade.AS_OF)
    got = {u["email"]: u["segments"] for u in result.users}
    assert got == handmade.EXPECTED
    primary = {u["email"]: u["primary"] for u in result.users}
    assert primary["alice@acme.io"] == "high_intent"  # first match in file order
    assert primary["carol@beta.com"] == "frustrated"
    assert primary["dave@gamma.dev"] is None
    assert result.counts == {
        "failing": 1,
        "frustrated": 1,
        "high_intent": 1,
        "at_risk": 2,
        "power_user": 2,
    }
    # at_risk is ordered by signup, oldest first.
    assert [u["email"] for u in result.members("at_risk")] == ["frank@delta.io", "alice@acme.io"]


def test_what_stays_in_duckdb_reads_the_same_as_the_fetched_rows(workspace: Workspace) -> None:
    """A classification keeps its rows in DuckDB until asked: members, memberships and the json
    columns read from there agree with the same read after every row was fetched."""
    with workspace:
        lazy = workspace.classify(handmade.AS_OF)
        fetched = workspace.classify(handmade.AS_OF)
    fetched.rows  # noqa: B018  (fetch every row: the answers below then come from them)
    assert "rows" not in lazy.__dict__
    records = partial(column_records, columns=lazy.columns)
    for seg in lazy.segments:
        assert lazy.members(seg.id, 1) == fetched.members(seg.id, 1)
        assert records(lazy.json_columns(seg.id)) == records(fetched.json_columns(seg.id))
    assert list(lazy.memberships()) == list(fetched.memberships())
    assert {email for email, _, _ in lazy.memberships()} == {
        e for e, segs in handmade.EXPECTED.items() if segs
    }
    columns = lazy.json_columns()
    assert "rows" not in lazy.__dict__  # none of the above fetched every row
    assert columns["email"] == [u["email"] for u in fetched.users]
    assert lazy.user_count == len(fetched.rows) == len(handmade.EXPECTED)
    stamps = [c for c in lazy.columns if c.endswith("_at")]
    assert stamps
    for c in stamps:  # timestamps as the json writes them, made by DuckDB
        want = [u[c].isoformat(timespec="seconds") + "Z" if u[c] else None for u in fetched.users]
        assert columns[c] == want


def test_a_snapshot_saved_from_duckdb_holds_the_rows_saved_from_python(
    workspace: Workspace, tmp_path: Path
) -> None:
    """History.save builds a classification's snapshot in DuckDB (its rows stay there); it
    loads back as the snapshot saved from users fetched into Python."""
    from dataclasses import replace
    from types import SimpleNamespace

    from usertrack.segments.history import History

    with workspace:
        lazy = workspace.classify(handmade.AS_OF)
    with History(tmp_path / "duckdb.sqlite3", "ws") as history:
        assert history.save(lazy) is not None
        from_duckdb = history.load(lazy.as_of)
    assert "rows" not in lazy.__dict__  # saved without fetching every row
    fetched = SimpleNamespace(as_of=lazy.as_of, users=lazy.users, segments=lazy.segments)
    with History(tmp_path / "python.sqlite3", "ws") as history:
        assert history.save(fetched) is not None
        from_python = history.load(lazy.as_of)

    assert from_duckdb is not None and from_python is not None
    # users fetched into Python cannot tell the accounts in no segment: not recorded
    assert from_python.accounts is None
    assert replace(from_duckdb, accounts=None) == from_python
    # dave and heidi: accounts in no segment (ivan has none, grace signs up later, erin is
    # internal)
    assert from_duckdb.accounts == {"dave@gamma.dev", "heidi@zeta.io"}
    expected = {email: tuple(segs) for email, segs in handmade.EXPECTED.items() if segs}
    assert dict(from_duckdb.members) == expected
    assert dict(from_duckdb.primary) == {email: segs[0] for email, segs in expected.items()}
    assert from_duckdb.members["alice@acme.io"] == ("high_intent", "at_risk")
    assert from_duckdb.users == len(handmade.EXPECTED)
    assert from_duckdb.segment_ids == tuple(s.id for s in lazy.segments)


def test_profile_columns_join_both_sources(workspace: Workspace) -> None:
    with workspace:
        result = workspace.classify(handmade.AS_OF)
    users = {u["email"]: u for u in result.users}
    bob = users["bob@acme.io"]
    assert (bob["run_count"], bob["runs_completed"], bob["runs_failed"]) == (8, 2, 6)
    assert bob["run_success_rate"] == 25.0
    assert (bob["tool_calls"], bob["tool_failures"]) == (5, 3)
    assert bob["pageviews"] == 3 and bob["in_posthog"] and bob["in_neon"]
    carol = users["carol@beta.com"]  # 'Carol@Beta.com' in Neon, ' carol@beta.com' in PostHog
    assert carol["in_posthog"] and carol["in_neon"] and carol["rage_clicks"] == 1
    frank = users["frank@delta.io"]  # Neon only
    assert frank["in_neon"] and not frank["in_posthog"] and frank["pageviews"] is None
    assert frank["run_count"] == 0 and frank["run_success_rate"] is None
    ivan = users["ivan@eta.io"]  # PostHog only
    assert ivan["in_posthog"] and not ivan["in_neon"] and ivan["credits"] is None
    assert ivan["mcp_servers"] == ["HubSpot"]
    heidi = users["heidi@zeta.io"]  # runs and events after as_of are ignored
    assert heidi["run_count"] == 3 and heidi["exceptions"] == 0
    alice = users["alice@acme.io"]
    assert alice["mcp_connect_clicks"] >= 2 and "Gmail" in alice["mcp_servers"]
    assert "erin@datagen.dev" not in users  # internal accounts excluded
    assert "grace@eps.io" not in users  # signs up after as_of


def test_moving_as_of_moves_the_windows(workspace: Workspace) -> None:
    """Ten days on, alice's clicks are still inside 30 days; carol's rage click is not in 7."""
    from datetime import timedelta

    with workspace:
        result = workspace.classify(handmade.AS_OF + timedelta(days=10))
    got = {u["email"]: u["segments"] for u in result.users}
    assert "frustrated" not in got["carol@beta.com"]
    assert "high_intent" in got["alice@acme.io"]
    assert "grace@eps.io" in got  # exists by then


def test_cli_on_env_configured_sources(
    handmade_db: str, handmade_events: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", handmade_db)
    monkeypatch.setenv("USERTRACK_EVENTS", str(handmade_events))
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, ["segments", "--as-of", "2026-11-16", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["as_of"] == "2026-11-16T00:00:00Z"
    assert {u["email"]: u["segments"] for u in doc["users"]} == handmade.EXPECTED
    assert "demo" not in result.stderr
