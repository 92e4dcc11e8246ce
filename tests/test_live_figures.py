"""Live analytics answered as figures: PostHog works out `sessions` (and `paths`) in HogQL and
sends a few rows, not one per session or event, with the same JSON as the local engine.

The PostHog stand-in is tests/posthog_server.py (PostHog's printing on ClickHouse, real HTTP,
PostHog's row caps); the demo's PostgreSQL is reached through DATABASE_URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.engine_compare import strip_live_only
from tests.posthog_server import FakePostHog, live_env, serve

PROJECT = 4242


@pytest.fixture(scope="module")
def live(demo_home: Path) -> Iterator[tuple[Path, FakePostHog, dict[str, str], str]]:
    from usertrack.demo.generator import ensure_demo, start_demo_postgres

    demo = ensure_demo(demo_home)
    uri = start_demo_postgres(demo)
    result = run(["segments", "-f", "json", "-n", "1"], demo_home)
    assert result.exit_code == 0, result.stderr
    as_of = str(json.loads(result.stdout)["as_of"])
    with serve(demo.events_path, project_id=PROJECT) as fake:
        yield demo_home, fake, live_env(fake, uri), as_of


def _both(
    live: tuple[Path, FakePostHog, dict[str, str], str], args: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The command's JSON live (checked equal to the local engine's) and its query requests."""
    home, fake, env, as_of = live
    argv = [*args, "--format", "json", "--as-of", as_of, "--refresh"]
    local = run(argv, home)
    assert local.exit_code == 0, local.stderr
    before = len(fake.requests)
    answered = run(argv, home, **env)
    assert answered.exit_code == 0, answered.stderr
    doc = json.loads(answered.stdout)
    assert strip_live_only(doc) == strip_live_only(json.loads(local.stdout)), args
    sent = [r for r in fake.requests[before:] if r["path"].endswith("/query/")]
    return doc, sent


@pytest.mark.parametrize(
    "args",
    [["sessions"], ["sessions", "--days", "7", "--top", "3", "--where", "event != '$autocapture'"]],
)
def test_sessions_live_are_figures_in_one_request(
    live: tuple[Path, FakePostHog, dict[str, str], str], args: list[str]
) -> None:
    doc, sent = _both(live, args)
    assert doc["sessions"] > 500  # the demo's sessions: far more than the rows answered
    assert len(sent) == 1
    assert sent[0]["rows"] <= 2 + 6 + 5 * 10  # all, buckets, five lists of the top values


@pytest.mark.parametrize(
    "args",
    [
        ["paths"],
        ["paths", "--to", "/settings"],
        ["paths", "--from", "/dashboard", "--to", "/settings", "--steps", "3", "--top", "4"],
        ["paths", "--steps", "20", "--days", "60", "--where", "properties.$browser = 'Chrome'"],
    ],
)
def test_paths_live_are_figures_in_one_request(
    live: tuple[Path, FakePostHog, dict[str, str], str], args: list[str]
) -> None:
    doc, sent = _both(live, args)
    assert doc["edges"] and doc["paths"]
    assert len(sent) == 1
    # all, then per kind the top paths, entry and exit nodes, summed edges and positional edges
    assert sent[0]["rows"] <= 1 + 4 * 20 + 50
    assert sent[0]["rows"] < doc["total_sequences"]  # fewer rows than sequences, let alone events


def test_paths_live_note_a_node_no_event_has(
    live: tuple[Path, FakePostHog, dict[str, str], str],
) -> None:
    """A --from no event has: the same empty answer and the same note with its closest node,
    for which the nodes of the range are asked for once the figures say it is in no sequence."""
    home, fake, env, as_of = live
    argv = ["paths", "--from", "/dashbord", "--format", "json", "--as-of", as_of, "--refresh"]
    local = run(argv, home)
    before = len(fake.requests)
    answered = run(argv, home, **env)
    sent = [r for r in fake.requests[before:] if r["path"].endswith("/query/")]
    assert len(sent) == 2 and sent[0]["rows"] == 1  # the figures: no sequence; then the nodes
    assert local.exit_code == answered.exit_code == 0, answered.stderr
    note = [line for line in local.stderr.splitlines() if "--from" in line]
    assert note and "did you mean '/dashboard'" in note[0]
    assert note == [line for line in answered.stderr.splitlines() if "--from" in line]
    assert strip_live_only(json.loads(answered.stdout)) == strip_live_only(json.loads(local.stdout))
