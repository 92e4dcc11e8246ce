"""The live weekly dashboard sends its PostHog bundles while its rehearsal asks the app's database
(usertrack.dashboards.prefetch.rehearsed): when one lane fails or the user presses Ctrl-C, the
other is stopped, the command ends as before (one line, its exit code) and no query is left
running on PostHog. On the demo's PostgreSQL and the tests' PostHog (tests/posthog_server.py)
over real HTTP; the request timings that show the overlap itself are in
tests/engines/test_query_counts.py, beside the dashboard's count."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import run
from tests.posthog_server import FakePostHog, serve_demo
from usertrack.core.errors import EXIT_CONNECTION

# The weekly dashboard's moment in tests/engines/test_query_counts.py: the same bundle texts,
# which the tests' PostHog parses once.
AS_OF = "2026-11-12"
WEEKLY = ["report", "weekly", "--as-of", AS_OF]


@pytest.fixture(scope="module")
def live(demo_home: Path) -> Iterator[tuple[FakePostHog, dict[str, str]]]:
    with serve_demo(demo_home) as served:
        yield served


def bundles_sent(fake: FakePostHog, since: int) -> int:
    """The bundles (async query requests) PostHog received from its request `since` on."""
    return sum(
        1 for r in fake.requests[since:] if r["method"] == "POST" and r["refresh"] == "async"
    )


def polled(fake: FakePostHog, since: int) -> set[str]:
    """The async queries the client has polled from request `since` on (their paths): those
    whose ids it holds."""
    return {
        r["path"]
        for r in fake.requests[since:]
        if r["method"] == "GET" and re.search(r"/query/[0-9a-f]+/$", r["path"])
    }


def bundle_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "usertrack-bundle" and t.is_alive()]


def test_posthog_refusing_the_bundles_is_the_commands_one_line(
    live: tuple[FakePostHog, dict[str, str]], tmp_path: Path
) -> None:
    """PostHog refuses the key (403 on every query): the three bundles, sent before the
    database's work, are refused and the command ends with PostHog's one line and its exit
    code, as when the bundles went out after that work; nothing is written, nothing more sent,
    no thread of the bundles left running."""
    fake, env = live
    since = len(fake.requests)
    fake.missing_scope = True
    try:
        result = run([*WEEKLY, "--out", str(tmp_path / "w")], home=tmp_path / "home", **env)
    finally:
        fake.missing_scope = False
    assert result.exit_code == EXIT_CONNECTION, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("usertrack: error: PostHog at ") and "denied access (HTTP 403)" in last
    # the first refusal cancels the others: a bundle not sent yet is not sent at all
    refused = [r["status"] for r in fake.requests[since:]]
    assert refused and set(refused) == {403} and len(refused) <= 3, refused
    assert not (tmp_path / "w").exists()
    assert bundle_threads() == []


def test_the_database_failing_is_the_commands_one_line(
    live: tuple[FakePostHog, dict[str, str]], tmp_path: Path
) -> None:
    """The app's database cannot be reached: the bundles are answered meanwhile and the command
    ends with the database's one line and its exit code, no thread of the bundles left."""
    fake, env = live
    since = len(fake.requests)
    nowhere = {**env, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    result = run([*WEEKLY, "--out", str(tmp_path / "w")], home=tmp_path / "home", **nowhere)
    assert result.exit_code == EXIT_CONNECTION, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-2].startswith("usertrack: error: cannot connect to PostgreSQL"), lines
    assert lines[-1].startswith("usertrack: hint: check DATABASE_URL"), lines
    assert bundles_sent(fake, since) == 3
    assert not (tmp_path / "w").exists()
    assert bundle_threads() == []


def test_ctrl_c_while_the_bundles_and_the_database_work(
    live: tuple[FakePostHog, dict[str, str]], tmp_path: Path
) -> None:
    """Ctrl-C while PostHog still runs the bundles (they never complete here) and the rehearsal
    asks the database: exit 130 with the one line, nothing written, and each bundle cancelled on
    PostHog (a DELETE of its async query) before the process ended."""
    fake, env = live
    fake.async_polls = 10**6  # "running", poll after poll
    since = len(fake.requests)
    out = tmp_path / "weekly"
    full = {k: v for k, v in os.environ.items() if not k.startswith("USERTRACK_")}
    full.update(env, USERTRACK_HOME=str(tmp_path / "home"), USERTRACK_CONFIG="")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "usertrack",
            "-q",
            "report",
            "weekly",
            "--as-of",
            AS_OF,
            "--out",
            str(out),
        ],
        env=full,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # every bundle sent and its id in the client's hands (it polls each): on a busy
        # machine a bundle's answer (202, the id) can come well after PostHog received it
        deadline = time.monotonic() + 120
        while len(polled(fake, since)) < 3 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert bundles_sent(fake, since) == 3 and len(polled(fake, since)) == 3
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=12)
    finally:
        fake.async_polls = 1
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert stderr.splitlines()[-1:] == ["usertrack: interrupted"], stderr
    assert not out.exists()
    deleted: set[str] = set()
    settled = time.monotonic() + 2  # a DELETE sent as the process ended, still being recorded
    while deleted != polled(fake, since) and time.monotonic() < settled:
        deleted = {r["path"] for r in fake.requests[since:] if r["method"] == "DELETE"}
        time.sleep(0.05)
    assert bundles_sent(fake, since) == 3 and deleted == polled(fake, since), deleted
