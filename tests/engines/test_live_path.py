"""The live path (DATABASE_URL + PostHog's HTTP query API) gives exactly the demo's segments.

The demo's PostgreSQL is reached through DATABASE_URL like any database, and its events are
served by the PostHog-compatible server of tests/posthog_server.py over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.posthog_server import DEFAULT_KEY, serve
from usertrack.cli import app
from usertrack.demo.generator import ensure_demo, start_demo_postgres

REPO = Path(__file__).resolve().parents[2]


def segments_json(home: Path, *args: str, **env: str) -> dict[str, object]:
    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(home))
    for key, value in env.items():
        mp.setenv(key, value)
    mp.chdir(REPO)
    try:
        result = CliRunner().invoke(app, ["segments", "--format", "json", *args])
    finally:
        mp.undo()
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_demo_over_http_and_database_url_matches_the_local_path(demo_home: Path) -> None:
    local = segments_json(demo_home)
    demo = ensure_demo(demo_home)
    uri = start_demo_postgres(demo)
    with serve(demo.events_path, project_id=4242) as fake:
        live = segments_json(
            demo_home,
            "--as-of",
            str(local["as_of"]),
            DATABASE_URL=uri,
            POSTHOG_HOST=fake.url,
            POSTHOG_PROJECT_ID="4242",
            POSTHOG_PERSONAL_API_KEY=DEFAULT_KEY,
        )
        sent = fake.query_texts()
    assert live == local
    assert len(sent) >= 3  # every per-user PostHog query went over HTTP
    assert all(DEFAULT_KEY not in text for text in sent)


def command_json(home: Path, argv: list[str], **env: str) -> dict[str, object]:
    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(home))
    for key, value in env.items():
        mp.setenv(key, value)
    mp.chdir(REPO)
    try:
        result = CliRunner().invoke(app, [*argv, "--format", "json"])
    finally:
        mp.undo()
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("refuse_packed", [False, True])
def test_results_past_the_row_cap_answer_as_the_local_path(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch, refuse_packed: bool
) -> None:
    """`funnel --by-segment` with PostHog's row cap at 150: the segments' per-user queries, the
    persons' emails and the funnel's facts all come past the cap, packed (the per-user queries
    in one bundle, the others one request each; where PostHog refuses that, by pages and
    partitions), and the JSON is the local one."""
    from tests.engine_compare import strip_live_only
    from usertrack.engines.posthog.transport import Transport
    from usertrack.engines.posthog.values import per_person_columns

    argv = ["funnel", "--by-segment"]
    local = command_json(demo_home, argv)
    argv += ["--as-of", str(local["as_of"])]
    defaults = dict(Transport.__init__.__kwdefaults__ or {})
    monkeypatch.setattr(Transport.__init__, "__kwdefaults__", {**defaults, "page_size": 150})
    demo = ensure_demo(demo_home)
    uri = start_demo_postgres(demo)
    with serve(demo.events_path, project_id=4242, max_rows=150) as fake:
        fake.refuse_packed = refuse_packed
        live = command_json(
            demo_home,
            [*argv, "--refresh"],
            DATABASE_URL=uri,
            POSTHOG_HOST=fake.url,
            POSTHOG_PROJECT_ID="4242",
            POSTHOG_PERSONAL_API_KEY=DEFAULT_KEY,
        )
        sent = fake.query_texts()
    assert strip_live_only(live) == strip_live_only(local)
    packed = [t for t in sent if "usertrack_packed" in t]
    paged = [t for t in sent if "OFFSET" in t or "usertrack_partition" in t]
    head, tail = "SELECT * FROM (\n", "\n) LIMIT 150"
    probes = [
        t
        for t in sent
        if t.startswith(head) and t.endswith(tail) and per_person_columns(t[len(head) : -len(tail)])
    ]
    # The segments' three per-user queries (activity, MCP clicks, UX issues) go as one bundle,
    # their rows packed in it; the other queries whose rows are one per person (segment_persons
    # and funnel_events) go packed first, one request each (two of the per-user ones, and the
    # other two, come past 150 rows). Where PostHog refuses them, the bundle's three are sent
    # alone, each packed first as the other two.
    bundled = [t for t in sent if "usertrack_rows_" in t]
    assert len(bundled) == 1
    assert len(packed) == (5 if refuse_packed else 2)
    assert bool(paged) == refuse_packed
    # Refused, each is probed (and the four past the cap paged); else no probe at all.
    assert len(probes) == (5 if refuse_packed else 0)


def test_activity_by_segment_sends_each_query_once_past_the_row_cap(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`activity --by-segment` with PostHog's row cap at 150: every query, the persons' creation
    (activity_created.sql, a row per person) included, is one request, packed, not a probe that
    comes back full and then the packed request; the JSON is the local one."""
    from tests.engine_compare import strip_live_only
    from usertrack.engines.posthog.transport import Transport

    argv = ["activity", "--by-segment", "--days", "14"]
    local = command_json(demo_home, argv)
    argv += ["--as-of", str(local["as_of"])]
    defaults = dict(Transport.__init__.__kwdefaults__ or {})
    monkeypatch.setattr(Transport.__init__, "__kwdefaults__", {**defaults, "page_size": 150})
    demo = ensure_demo(demo_home)
    uri = start_demo_postgres(demo)
    with serve(demo.events_path, project_id=4242, max_rows=150) as fake:
        live = command_json(
            demo_home,
            [*argv, "--refresh"],
            DATABASE_URL=uri,
            POSTHOG_HOST=fake.url,
            POSTHOG_PROJECT_ID="4242",
            POSTHOG_PERSONAL_API_KEY=DEFAULT_KEY,
        )
        names = [
            (r.get("body") or {}).get("name", "")
            for r in fake.requests
            if r["path"].endswith("/query/")
        ]
    assert strip_live_only(live) == strip_live_only(local)
    assert "usertrack posthog/activity_created" in names
    assert len(names) == len(set(names)), names
