"""`usertrack sync posthog` against a real local capture stand-in (tests/capture_server.py),
on the hand-made workspace whose segments are worked out in tests/handmade.py."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests import handmade
from tests.capture_server import serve
from tests.cli_runner import REPO, all_have_open, run
from usertrack.act.sync import RETRIES
from usertrack.core.style import counted

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
        assert f"{counted(len(known), 'user')} to send: {len(known)} gaining" in dry.stdout
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
        assert again.exit_code == 0 and "0 users to send" in again.stdout
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


def test_a_failing_capture_host_leaves_the_users_pending_and_the_rerun_sends_them(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    with serve() as capture:
        # Each post is retried (RETRIES) after the host's Retry-After, short here: the backoff's
        # own waits (0.5, 1 and 2 s) are the deadline test's
        capture.fail, capture.retry_after = 500, 0.05
        failed = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert failed.exit_code == 5, failed.stderr
        assert "stay pending" in failed.stderr and KEY not in failed.stderr
        assert len(capture.posts) == RETRIES + 1  # retried, after the Retry-After
        # Every stderr line is usertrack's (the SDK's own "[PostHog] error uploading" is not).
        assert all(ln.startswith("usertrack: ") for ln in failed.stderr.splitlines()), failed.stderr
        doc = json.loads((home / "posthog-sync.json").read_text())
        assert not any(doc["workspaces"].values())  # nothing counted as synced
        (pending,) = doc["pending"].values()
        assert len(pending["items"]) == 3
        capture.fail = None
        retried = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert retried.exit_code == 0, retried.stderr
        assert "3 users of an interrupted sync to send first" in retried.stdout
        assert "0 users to send" in retried.stdout
        assert len(capture.events) == 3
    doc = json.loads((home / "posthog-sync.json").read_text())
    assert "pending" not in doc and len(next(iter(doc["workspaces"].values()))) == 3
    assert not (home / "posthog-sync.acks").exists()


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
        assert "2 users to send: 0 gaining segments, 1 changing, 1 losing" in second.stdout
        sets = capture.sets()
        assert set(sets) == {ids["carol@beta.com"], ids["dave@gamma.dev"]}
        assert sets[ids["carol@beta.com"]]["usertrack_segments"] == ["frustrated", "power_user"]
        dave = sets[ids["dave@gamma.dev"]]
        assert dave["usertrack_segments"] == [] and dave["usertrack_primary_segment"] is None
    synced = json.loads(state.read_text())["workspaces"][workspace]
    assert "dave@gamma.dev" not in synced
    assert synced["carol@beta.com"] == ["frustrated", "power_user"]


# ----------------------------------------------------------------------------- identity


def _event(distinct_id: str, person_id: str, when: str, email: str) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{distinct_id} {when}")),
        "event": "$pageview",
        "distinct_id": distinct_id,
        "person_id": person_id,
        "timestamp": when,
        "properties": {"$pathname": "/"},
        "person_properties": {"email": email},
    }


def _with_events(
    tmp_path: Path, env: dict[str, str], extra: list[dict[str, Any]]
) -> dict[str, str]:
    path = Path(env["USERTRACK_EVENTS"])
    with path.open("a", encoding="utf-8") as fh:
        for row in extra:
            fh.write(json.dumps(row) + "\n")
    return env


def test_a_stranger_with_the_same_email_does_not_take_over_the_sync(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Bob (account id 2) is identified by the app as distinct_id "2"; a
    stranger's person sends ' BOB@acme.io' an hour after bob's last event: bob's own person gets
    his segments. carol's person was never identified with her user id (3): with a stranger's
    person carrying her email too (even one whose distinct_id is her email), neither is tied to
    her, so she is skipped as ambiguous, listed and counted, and nothing is written for her."""
    env = _with_events(
        tmp_path,
        env,
        [
            _event("2", "p-bob", "2026-11-14T10:00:00.000000+00:00", "bob@acme.io"),
            _event("evil-1", "p-evil-1", "2026-11-15T11:00:00.000000+00:00", " BOB@acme.io"),
            _event("evil-2", "p-evil-2", "2026-11-15T11:00:00.000000+00:00", "CAROL@beta.com"),
            _event(
                "carol@beta.com", "p-evil-3", "2026-11-15T12:00:00.000000+00:00", "carol@beta.com"
            ),
        ],
    )
    home = tmp_path / "home"
    with serve() as capture:
        dry = _sync(home, env, POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY)
        assert dry.exit_code == 0, dry.stderr
        assert "1 skipped as ambiguous" in dry.stdout
        assert "  ambiguous carol@beta.com  (skipped)" in dry.stdout
        applied = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert applied.exit_code == 0, applied.stderr
        assert "1 skipped as ambiguous" in applied.stdout
        sets = capture.sets()
    assert sets["2"]["usertrack_segments"] == ["failing", "power_user"]
    assert not {"evil-1", "evil-2", "carol@beta.com", "carol", "bob"} & set(sets)
    (synced,) = json.loads((home / "posthog-sync.json").read_text())["workspaces"].values()
    assert "carol@beta.com" not in synced and synced["bob@acme.io"] == ["failing", "power_user"]


def test_pick_target_never_by_recency() -> None:
    from usertrack.act.sync import pick_target

    # one person: theirs, the identifying distinct_id first
    assert pick_target({"p1": ["anon", "42"]}, {"42"}) == "42"
    assert pick_target({"p1": ["b", "a"]}, set()) == "a"
    # several: the one identified, else nobody
    assert pick_target({"p1": ["42"], "p2": ["x"]}, {"42"}) == "42"
    assert pick_target({"p1": ["y"], "p2": ["x"]}, {"42"}) is None
    assert pick_target({"p1": ["42"], "p2": ["43"]}, {"42", "43"}) is None


def test_resolve_targets_identifies_accounts_by_user_id_and_others_by_email() -> None:
    from usertrack.act.sync import resolve_targets

    rows = [
        # an account holder: their user id wins, a stranger's person named by the email does not
        {"email": "acc@q.io", "person_ids": ["p1", "p2"], "distinct_ids": ["acc@q.io", "77"]},
        # no account: the person identified by the email (as the app sent it) wins
        {"email": "p@q.io", "person_ids": ["p3", "p4"], "distinct_ids": ["P@Q.io", "anon"]},
        # events without a person_id: each distinct_id a person of its own, never merged
        {"email": "x@y.io", "person_ids": ["", ""], "distinct_ids": ["a", "b"]},
    ]
    targets, ambiguous = resolve_targets(rows, {"acc@q.io": {"77"}})
    assert targets == {"acc@q.io": "77", "p@q.io": "P@Q.io"}
    assert ambiguous == {"x@y.io": 2}


def test_emails_from_posthog_are_listed_as_plain_text(tmp_path: Path, env: dict[str, str]) -> None:
    """An OSC 8 hyperlink in a PostHog email shows escaped in the listing, never as a link."""
    evil = "x\x1b]8;;http://evil\x1b\\@evil.io"
    env = _with_events(
        tmp_path, env, [_event("x-1", "p-x", "2026-11-15T11:00:00.000000+00:00", evil)]
    )
    home = tmp_path / "home"
    with serve() as capture:
        first = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert first.exit_code == 0, first.stderr
    # As if an earlier sync had sent that person a segment they have left: listed as losing.
    state = home / "posthog-sync.json"
    doc = json.loads(state.read_text())
    (workspace,) = doc["workspaces"]
    doc["workspaces"][workspace][evil] = ["at_risk"]
    state.write_text(json.dumps(doc))
    dry = _sync(home, env)
    assert dry.exit_code == 0, dry.stderr
    assert "losing" in dry.stdout and "x\\x1b]8;;http://evil\\x1b\\@evil.io" in dry.stdout
    assert "\x1b" not in dry.stdout


# ----------------------------------------------------------------------------- exactly once

KNOWN = ["alice@acme.io", "bob@acme.io", "carol@beta.com"]  # segmented and seen by PostHog


def _start(home: Path, env: dict[str, str], capture_url: str, *args: str) -> subprocess.Popen[str]:
    """`usertrack sync posthog --apply` in a process of its own, as cron would run it."""
    full = {
        **os.environ,
        **env,
        "USERTRACK_HOME": str(home),
        "POSTHOG_CAPTURE_HOST": capture_url,
        "POSTHOG_PROJECT_API_KEY": KEY,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "usertrack", "sync", "posthog", "--apply", "--as-of", AS_OF, *args],
        cwd=REPO,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_each_user_once(events: list[dict[str, Any]], home: Path) -> None:
    """Every known user reached PostHog; a user sent twice was sent as the very same event (the
    uuid PostHog deduplicates on, the timestamp, the values); the state is folded."""
    ids = _latest_distinct_ids()
    by_id: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_id.setdefault(event["distinct_id"], []).append(event)
    assert set(by_id) == {ids[e] for e in KNOWN}
    for distinct_id, sent in by_id.items():
        same = {(e["uuid"], e["timestamp"], json.dumps(e["$set"], sort_keys=True)) for e in sent}
        assert len(same) == 1, (distinct_id, sent)
    doc = json.loads((home / "posthog-sync.json").read_text())
    assert "pending" not in doc
    (synced,) = doc["workspaces"].values()
    assert sorted(synced) == KNOWN
    assert not (home / "posthog-sync.acks").exists()


def test_two_concurrent_applies_send_each_user_once(tmp_path: Path, env: dict[str, str]) -> None:
    """The second run waits for the first's lock, then plans against what the
    first sent: nothing left. (Without the lock both would send everyone.)"""
    home = tmp_path / "home"
    with serve() as capture:
        # The first run holds the lock, its first post unanswered, until the second has come to
        # the lock (both have its file open: the second waits); 8 s at most, as a fixed hold was.
        capture.hold_first = 8.0
        runs = [_start(home, env, capture.url, "--batch-size", "1") for _ in range(2)]
        deadline = time.monotonic() + capture.hold_first
        pids = [r.pid for r in runs]
        while not capture.let_first_go.is_set() and time.monotonic() < deadline:
            if capture.posts and all_have_open(home / "sync.lock", pids):
                capture.let_first_go.set()
            time.sleep(0.01)
        outs = [run.communicate(timeout=120) for run in runs]
        for run, (out, err) in zip(runs, outs, strict=True):
            assert run.returncode == 0, err
            assert KEY not in out + err
        assert sorted(out.split(";")[0] for out, _ in outs) == [
            "0 users to send: 0 gaining segments, 0 changing, 0 losing every segment",
            "3 users to send: 3 gaining segments, 0 changing, 0 losing every segment",
        ]
        assert len(capture.events) == 3
        _assert_each_user_once(capture.events, home)


def test_a_second_apply_gives_up_with_exit_10_while_one_runs(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.core import locks

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setattr(locks, "DEFAULT_WAIT_SECONDS", 0.5)
    with serve() as capture, locks.exclusive(home, "sync", what="the test"):
        busy = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert busy.exit_code == 10, busy.stderr
        assert "another usertrack sync posthog --apply is running" in busy.stderr
        assert capture.posts == []


@pytest.mark.parametrize(
    ("acknowledged", "taken"),
    [(0, False), (0, True), (1, True), (2, False), (2, True)],
    ids=["before-any-post", "first-post-unanswered", "after-1-batch", "after-2-lost", "after-2"],
)
def test_kill_9_during_apply_then_rerun_sends_only_the_unacknowledged(
    tmp_path: Path, env: dict[str, str], acknowledged: int, taken: bool
) -> None:
    """The capture host takes `acknowledged` batches of one user, then receives
    the next post (keeping its events when `taken`: PostHog got them but the answer never came
    back) and never answers; the process is killed with SIGKILL there. The rerun sends the rest,
    as the same events, and every user is acknowledged once."""
    home = tmp_path / "home"
    with serve() as capture:
        capture.stall_after, capture.take_stalled = acknowledged, taken
        run = _start(home, env, capture.url, "--batch-size", "1")
        try:
            assert capture.stalled.wait(60), run.communicate(timeout=5)
        finally:
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
        capture.stall_after = None
        capture.release.set()
        before = list(capture.events)
        assert len(before) == acknowledged + taken
        doc = json.loads((home / "posthog-sync.json").read_text())
        (pending,) = doc["pending"].values()
        assert [item[0] for item in pending["items"]] == KNOWN
        rerun = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert rerun.exit_code == 0, rerun.stderr
        first = f"{counted(3 - acknowledged, 'user')} of an interrupted sync to send first"
        assert first in rerun.stdout
        assert "0 users to send" in rerun.stdout
        assert len(capture.events) == 3 + taken
        _assert_each_user_once(capture.events, home)
        # and nothing more on the next run
        again = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert again.exit_code == 0 and len(capture.events) == 3 + taken


def _as_if_killed(home: Path, acks: bytes) -> None:
    """The state of a run killed after saving its generation: the synced users back in a pending
    generation, and `acks` as the acknowledgements file it had appended."""
    state = home / "posthog-sync.json"
    doc = json.loads(state.read_text())
    (workspace,) = doc["workspaces"]
    ids = _latest_distinct_ids()
    items = [[e, ids[e], s, s[0]] for e, s in sorted(doc["workspaces"][workspace].items())]
    doc["workspaces"][workspace] = {}
    doc["pending"] = {
        workspace: {"generation": "g1", "synced_at": "2026-11-20T10:00:00+00:00", "items": items}
    }
    state.write_text(json.dumps(doc))
    (home / "posthog-sync.acks").write_bytes(acks)


def test_killed_after_the_last_acknowledgement_the_rerun_sends_nothing_and_folds(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Every batch acknowledged, the process killed before the fold: the rerun sends nothing,
    folds the generation and drops its acknowledgements (and a stale generation's, g0, left by
    a kill between an earlier fold and the cleanup)."""
    home = tmp_path / "home"
    with serve() as capture:
        assert (
            _sync(
                home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
            ).exit_code
            == 0
        )
        _as_if_killed(
            home,
            b'{"generation": "g0", "done": [[0, 1]]}\n{"generation": "g1", "done": [[0, 3]]}\n',
        )
        capture.events.clear()
        rerun = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert rerun.exit_code == 0, rerun.stderr
        assert capture.events == [] and "interrupted" not in rerun.stdout
    doc = json.loads((home / "posthog-sync.json").read_text())
    assert "pending" not in doc and sorted(next(iter(doc["workspaces"].values()))) == KNOWN
    assert not (home / "posthog-sync.acks").exists()


def test_an_acknowledgement_cut_short_by_the_kill_is_sent_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The last line of the acks file without its newline was being written when the process
    died: that batch counts as not acknowledged and goes again; the complete lines hold."""
    home = tmp_path / "home"
    with serve() as capture:
        assert (
            _sync(
                home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
            ).exit_code
            == 0
        )
        _as_if_killed(
            home, b'{"generation": "g1", "done": [[0, 1]]}\n{"generation": "g1", "done": [[1,'
        )
        capture.events.clear()
        rerun = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert rerun.exit_code == 0, rerun.stderr
        assert "2 users of an interrupted sync to send first" in rerun.stdout
        ids = _latest_distinct_ids()
        assert sorted(e["distinct_id"] for e in capture.events) == sorted(
            [ids["bob@acme.io"], ids["carol@beta.com"]]
        )
        # the events of generation g1 and its moment, as the killed run would have sent them
        assert {e["timestamp"] for e in capture.events} == {"2026-11-20T10:00:00+00:00"}
    doc = json.loads((home / "posthog-sync.json").read_text())
    assert "pending" not in doc and sorted(next(iter(doc["workspaces"].values()))) == KNOWN


# ----------------------------------------------------------------------------- damaged state

DAMAGED = {
    "not-json": ("posthog-sync.json", '{"workspaces": {', "not valid JSON"),
    "an-array": ("posthog-sync.json", "[1, 2, 3]", "the sync state is a JSON array, not an object"),
    "workspaces-a-list": (
        "posthog-sync.json",
        '{"workspaces": []}',
        '"workspaces" is missing or not an object',
    ),
    "segments-a-number": (
        "posthog-sync.json",
        '{"workspaces": {"w": {"a@b.io": 5}}}',
        "the segments are 5, not a list of segment ids",
    ),
    "pending-item": (
        "posthog-sync.json",
        '{"workspaces": {}, "pending": {"w": {"generation": "g", "synced_at":'
        ' "2026-11-20T10:00:00+00:00", "items": [["a@b.io", 7, [], null]]}}}',
        "item 0 is not [email, distinct_id, [segments], primary]",
    ),
    "acks": ("posthog-sync.acks", "garbage\n", "line 1 is not an acknowledgement"),
}


@pytest.mark.parametrize("case", DAMAGED, ids=list(DAMAGED))
def test_a_damaged_state_file_is_named_never_overwritten_and_reset_recovers(
    tmp_path: Path, env: dict[str, str], case: str
) -> None:
    """Exit 8 naming the file, what is wrong and the recovery; the file is
    left as it was and nothing is sent; --reset-state moves it aside and the next run re-sends."""
    name, text, what = DAMAGED[case]
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    path = home / name
    path.write_text(text)
    with serve() as capture:
        for args in ([], ["--apply"]):
            result = _sync(
                home, env, *args, POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
            )
            assert result.exit_code == 8, (args, result.stderr)
            assert f"{path}: " in result.stderr and what in result.stderr, result.stderr
            assert "usertrack sync posthog --reset-state" in result.stderr
            assert "Traceback" not in result.stderr and result.stdout == ""
            assert path.read_text() == text
        assert capture.posts == []
        reset = _sync(home, env, "--reset-state")
        assert reset.exit_code == 0, reset.stderr
        (aside,) = home.glob(f"{name}.damaged-*")
        assert aside.read_text() == text and not path.exists()
        assert f"moved {path} aside as {aside.name}" in reset.stderr
        again = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert again.exit_code == 0, again.stderr
        assert "3 users to send: 3 gaining" in again.stdout and len(capture.events) == 3


def test_a_capture_host_that_never_answers_is_given_up_at_the_deadline(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each post has a timeout and the whole send a deadline: a host that takes the connection
    and never answers costs seconds, not forever; the users stay pending (exit 5) and the next
    run sends them, as the same events."""
    from usertrack.act import sync

    monkeypatch.setattr(sync, "POST_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(sync, "DEADLINE_SECONDS", 3.0)
    home = tmp_path / "home"
    with serve() as capture:
        capture.stall_after = 0
        started = time.monotonic()
        stuck = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert stuck.exit_code == 5, stuck.stderr
        assert time.monotonic() - started < 30
        assert "stay pending" in stuck.stderr and "Timeout" in stuck.stderr
        first = {e["distinct_id"]: e["uuid"] for e in capture.events}
        capture.stall_after = None
        capture.events.clear()
        rerun = _sync(
            home, env, "--apply", POSTHOG_CAPTURE_HOST=capture.url, POSTHOG_PROJECT_API_KEY=KEY
        )
        assert rerun.exit_code == 0, rerun.stderr
        assert {e["distinct_id"]: e["uuid"] for e in capture.events} == first
        _assert_each_user_once(capture.events, home)
