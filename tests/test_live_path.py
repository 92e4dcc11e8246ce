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

REPO = Path(__file__).resolve().parent.parent


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
