"""`usertrack sync posthog` against a real local capture stand-in (tests/capture_server.py),
on the hand-made workspace whose segments are worked out in tests/handmade.py."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests import handmade
from tests.capture_server import serve
from tests.cli_runner import run

KEY = "phc_TestProjectKey0123456789SECRET"
AS_OF = "2026-11-16"


def _latest_distinct_ids() -> dict[str, str]:
    """Each person's latest distinct_id before AS_OF, from the hand-made events."""
    latest: dict[str, tuple[str, str]] = {}
    for e in handmade.events():
        email = str((e.get("person_properties") or {}).get("email") or "").strip().lower()  # type: ignore[union-attr]
        when = str(e["timestamp"])
        if not email or when > "2026-11-16T00:00:00":
            continue
        if email not in latest or when > latest[email][0]:
            latest[email] = (when, str(e["distinct_id"]))
    return {email: did for email, (_, did) in latest.items()}


@pytest.fixture()
def env(tmp_path: Path, handmade_db: str) -> dict[str, str]:
    events = handmade.write_events_jsonl(tmp_path / "events.jsonl")
    return {"DATABASE_URL": handmade_db, "USERTRACK_EVENTS": str(events)}


def _sync(home: Path, env: dict[str, str], *args: str, **more: str) -> Any:
    return run(["sync", "posthog", "--as-of", AS_OF, *args], home, **env, **more)


def test_dry_run_then_apply_sends_exactly_the_segmented_users(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    segmented = {e: s for e, s in handmade.EXPECTED.items() if s}
    ids = _latest_distinct_ids()
    known = {e: s for e, s in segmented.items() if e in ids}  # frank: Neon only
    with serve() as capture:
        dry = _sync(home, env, POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY)
        assert dry.exit_code == 0, dry.stderr
        assert f"{len(known)} user(s) to send: {len(known)} gaining" in dry.stdout
        assert f"{len(segmented) - len(known)} skipped" in dry.stdout
        assert capture.posts == []  # a dry run sends nothing
        applied = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert applied.exit_code == 0, applied.stderr
        sets = capture.sets()
        assert set(sets) == {ids[e] for e in known}
        for email, segs in known.items():
            props = sets[ids[email]]
            assert props["usertrack_segments"] == segs
            assert props["usertrack_primary_segment"] == segs[0]
            assert props["usertrack_synced_at"].endswith("Z")
        assert all(p["path"].startswith("/batch") and p["gzip"] for p in capture.posts)
        # Nothing changed since: nothing is sent.
        again = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert again.exit_code == 0 and "0 user(s) to send" in again.stdout
        assert len(capture.events) == len(known)
        # --all sends everyone again, as unchanged.
        every = _sync(
            home,
            env,
            "--apply",
            "--all",
            POSTHOG_CAPTURE_HOST=capture.url,
            POSTHOG_PROJECT_API_KEY=KEY,
        )
        assert every.exit_code == 0 and len(capture.events) == 2 * len(known)
    state = home / "posthog-sync.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    (synced,) = json.loads(state.read_text())["workspaces"].values()
    assert synced == known
    for text in (dry.stdout, dry.stderr, applied.stdout, applied.stderr, state.read_text()):
        assert KEY not in text


def test_a_failing_capture_host_leaves_the_state_unadvanced(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    with serve() as capture:
        capture.fail = 500
        failed = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert failed.exit_code == 5, failed.stderr
        assert "stay unsynced" in failed.stderr and KEY not in failed.stderr
        state = home / "posthog-sync.json"
        assert not state.exists() or not any(json.loads(state.read_text())["workspaces"].values())
        capture.fail = None
        retried = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert retried.exit_code == 0, retried.stderr
        assert "gaining" in retried.stdout and capture.events


def test_apply_without_a_key_is_a_config_error(tmp_path: Path, env: dict[str, str]) -> None:
    result = _sync(tmp_path / "home", env, "--apply")
    assert result.exit_code == 4
    assert "POSTHOG_PROJECT_API_KEY" in result.stderr and "POSTHOG_CAPTURE_HOST" in result.stderr


def test_capture_host_is_derived_for_posthog_cloud() -> None:
    from usertrack.act.sync import capture_host

    assert capture_host({"POSTHOG_HOST": "https://eu.posthog.com"})[0] == "https://eu.i.posthog.com"
    assert capture_host({"POSTHOG_HOST": "https://us.posthog.com"})[0] == "https://us.i.posthog.com"
    assert capture_host({"POSTHOG_CAPTURE_HOST": "https://ph.example.com/"})[0] == (
        "https://ph.example.com"
    )


def test_doctor_checks_the_project_key_and_capture_host(tmp_path: Path) -> None:
    home = tmp_path / "home"
    good = run(
        ["doctor"],
        home,
        POSTHOG_PROJECT_API_KEY=KEY,
        POSTHOG_CAPTURE_HOST="https://eu.i.posthog.com",
    )
    assert "✓ PostHog project key" in good.stdout and "✓ capture host" in good.stdout
    assert KEY not in good.stdout + good.stderr
    personal = run(["doctor"], home, POSTHOG_PROJECT_API_KEY="phx_PersonalKey0123456789")
    assert personal.exit_code == 4
    assert "does not start with phc_" in personal.stdout
    assert "✗ capture host" in personal.stdout
    assert "phx_PersonalKey0123456789" not in personal.stdout + personal.stderr


def test_changed_and_emptied_users_are_sent_and_the_rest_not(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    ids = _latest_distinct_ids()
    with serve() as capture:
        first = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert first.exit_code == 0, first.stderr
        # As if an earlier sync had sent carol only "frustrated", and dave a segment he left.
        state = home / "posthog-sync.json"
        doc = json.loads(state.read_text())
        (workspace,) = doc["workspaces"]
        doc["workspaces"][workspace]["carol@beta.com"] = ["frustrated"]
        doc["workspaces"][workspace]["dave@gamma.dev"] = ["power_user"]
        state.write_text(json.dumps(doc))
        capture.events.clear()
        second = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert second.exit_code == 0, second.stderr
        assert "2 user(s) to send: 0 gaining segments, 1 changing, 1 losing" in second.stdout
        sets = capture.sets()
        assert set(sets) == {ids["carol@beta.com"], ids["dave@gamma.dev"]}
        assert sets[ids["carol@beta.com"]]["usertrack_segments"] == ["frustrated", "power_user"]
        dave = sets[ids["dave@gamma.dev"]]
        assert dave["usertrack_segments"] == [] and dave["usertrack_primary_segment"] is None
    synced = json.loads(state.read_text())["workspaces"][workspace]
    assert "dave@gamma.dev" not in synced
    assert synced["carol@beta.com"] == ["frustrated", "power_user"]
