"""Live sources through the CLI: doctor, insight, query, the cache and the user config file.

PostgreSQL is the embedded server reached by DATABASE_URL; PostHog is the compatible server of
tests/posthog_server.py over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import handmade
from tests.cli_runner import run
from tests.posthog_server import (
    DEFAULT_KEY,
    TABLE_INSIGHT_ID,
    TRENDS_SHORT_ID,
    FakePostHog,
    live_env,
    serve,
)
from usertrack.core.config import load_settings
from usertrack.core.errors import EXIT_CONFIG, EXIT_CONNECTION, EXIT_QUERY

REPO = Path(__file__).resolve().parents[2]
PROJECT = 4242
# doctor and query --check send each file as of one moment, parsed once (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_check_moment")


@pytest.fixture
def fake(handmade_store: Path) -> Iterator[FakePostHog]:
    with serve(handmade_store, project_id=PROJECT) as server:
        yield server


def test_doctor_passes_on_working_sources(fake: FakePostHog, handmade_db: str) -> None:
    result = run(["doctor"], **live_env(fake, handmade_db))
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(
        line.startswith(("✓", "  ")) for line in lines if not line.startswith(("! role:", "- "))
    )
    # without a project key the key's check is not run: a '-', never a tick
    assert "- PostHog project key: not checked: POSTHOG_PROJECT_API_KEY is not set" in result.stdout
    # the session's server is reached as its superuser: said plainly, not a failure
    assert "! role: postgres is a superuser" in result.stdout
    assert "read-only" in result.stdout and "Usertrack test project" in result.stdout
    assert "(timezone UTC)" in result.stdout
    assert DEFAULT_KEY not in result.stdout + result.stderr


def test_doctor_shows_a_project_timezone_other_than_utc(
    handmade_store: Path, handmade_db: str
) -> None:
    with serve(handmade_store, project_id=PROJECT, timezone="America/Los_Angeles") as server:
        result = run(["doctor"], **live_env(server, handmade_db))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "timezone America/Los_Angeles; usertrack asks for UTC days and weeks" in result.stdout


def test_doctor_names_each_problem_and_its_fix(
    fake: FakePostHog, make_database: Callable[[str], str]
) -> None:
    empty_db = make_database("CREATE TABLE wasp_user (id int, email text)")
    env = live_env(fake, empty_db, POSTHOG_PERSONAL_API_KEY="phx_wrongwrongwrongwrong")
    result = run(["doctor"], **env)
    assert result.exit_code == EXIT_QUERY  # the first failure: the schema
    out = result.stdout
    assert "✓ PostgreSQL" in out and "✓ read-only" in out
    assert "✗ schema" in out and "does not exist" in out and "fix:" in out
    assert "✗ PostHog" in out and "POSTHOG_PERSONAL_API_KEY" in out
    assert "phx_wrongwrongwrongwrong" not in out + result.stderr


def test_doctor_without_database_url(fake: FakePostHog) -> None:
    env = live_env(fake, "")
    env.pop("DATABASE_URL")
    result = run(["doctor"], **env)
    assert result.exit_code == EXIT_CONFIG
    assert "✗ PostgreSQL: DATABASE_URL is not set" in result.stdout


def test_insight_by_id_and_short_id(fake: FakePostHog, handmade_db: str) -> None:
    env = live_env(fake, handmade_db)
    table = run(["insight", str(TABLE_INSIGHT_ID), "--format", "json"], **env)
    assert table.exit_code == 0, table.stderr
    doc = json.loads(table.stdout)
    assert doc["rows"] and "event" in " ".join(doc["columns"]).lower()
    trends = run(["insight", TRENDS_SHORT_ID, "--format", "csv"], **env)
    assert trends.exit_code == 0, trends.stderr
    assert trends.stdout.splitlines()[0].startswith("date,series,value")
    missing = run(["insight", "999999"], **env)
    assert missing.exit_code == 3 and "999999" in missing.stderr


def test_cache_spares_the_rate_limit_until_refresh_or_clear(
    fake: FakePostHog, handmade_db: str
) -> None:
    env = live_env(fake, handmade_db)
    args = ["segments", "--format", "json", "--as-of", "2026-11-16"]
    first = run(args, **env)
    assert first.exit_code == 0, first.stderr
    sent = len(fake.query_texts())
    assert sent >= 3
    second = run(args, **env)
    assert second.stdout == first.stdout
    assert len(fake.query_texts()) == sent  # answered from the cache
    third = run([*args, "--refresh"], **env)
    assert third.stdout == first.stdout and len(fake.query_texts()) == 2 * sent
    assert run(["cache", "clear"], **env).exit_code == 0
    run(args, **env)
    assert len(fake.query_texts()) == 3 * sent
    no_cache = {**env, "USERTRACK_CACHE_TTL": "0"}
    run(args, **no_cache)
    assert len(fake.query_texts()) == 4 * sent
    cache_files = [f for f in (Path(load_settings().home) / "cache").rglob("*") if f.is_file()]
    assert any(f.suffix == ".hogql" for f in cache_files)  # the printed texts kept, key-free
    assert all(DEFAULT_KEY.encode() not in f.read_bytes() for f in cache_files)


def test_query_command_binds_parameters(fake: FakePostHog, handmade_db: str) -> None:
    env = live_env(fake, handmade_db)
    result = run(["query", "neon/runs", "--as-of", "2026-11-16", "-f", "json"], **env)
    assert result.exit_code == 0, result.stderr
    rows = {r[0]: r for r in json.loads(result.stdout)["rows"]}
    assert rows["bob@acme.io"][1] == 8 and "erin@datagen.dev" not in rows
    bad = run(["query", "neon/runs", "-p", "email=x"], **env)
    assert bad.exit_code == 2 and "has no parameter 'email'" in bad.stderr


def test_config_file_supplies_sources_and_the_environment_wins(
    fake: FakePostHog, handmade_db: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[posthog]\nhost = "{fake.url}"\nproject_id = {PROJECT}\n'
        f'personal_api_key = "{DEFAULT_KEY}"\n\n[database]\nurl = "{handmade_db}"\n'
    )
    settings = load_settings({"USERTRACK_CONFIG": str(config)})
    assert not settings.demo and settings.posthog_project_id == str(PROJECT)
    assert settings.config_file == config
    override = load_settings({"USERTRACK_CONFIG": str(config), "POSTHOG_PROJECT_ID": "7"})
    assert override.posthog_project_id == "7"
    result = run(["segments", "-f", "json", "--as-of", "2026-11-16"], USERTRACK_CONFIG=str(config))
    assert result.exit_code == 0, result.stderr
    got = {u["email"]: u["segments"] for u in json.loads(result.stdout)["users"]}
    assert got == handmade.EXPECTED


def test_bad_config_file_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[posthog]\nprojct_id = 3\n")
    result = run(["segments"], USERTRACK_CONFIG=str(config))
    assert result.exit_code == EXIT_CONFIG
    assert (
        "unknown key 'projct_id'" in result.stderr and "did you mean 'project_id'" in result.stderr
    )
    missing = run(["segments"], USERTRACK_CONFIG=str(tmp_path / "nope.toml"))
    assert missing.exit_code == EXIT_CONFIG and "does not exist" in missing.stderr


def test_wrong_key_exits_with_connection_code(fake: FakePostHog, handmade_db: str) -> None:
    env = live_env(fake, handmade_db, POSTHOG_PERSONAL_API_KEY="phx_nopenopenopenope1234")
    result = run(["segments", "--refresh"], **env)
    assert result.exit_code == EXIT_CONNECTION
    assert "POSTHOG_PERSONAL_API_KEY" in result.stderr
    assert "phx_nopenopenopenope1234" not in result.stderr + result.stdout


def test_refresh_reaches_posthog_as_force_blocking(fake: FakePostHog, handmade_db: str) -> None:
    env = live_env(fake, handmade_db)
    args = ["segments", "--format", "json", "--as-of", "2026-11-16"]
    assert run(args, **env).exit_code == 0
    first = fake.refreshes()
    assert first and set(first) == {None}
    assert run([*args, "--refresh"], **env).exit_code == 0
    assert set(fake.refreshes()[len(first) :]) == {"force_blocking"}
    assert run(["insight", str(TABLE_INSIGHT_ID), "-f", "json"], **env).exit_code == 0
    assert fake.refreshes()[-1] == "force_blocking"


def test_posthog_only_commands_need_no_database_and_pass_refresh(fake: FakePostHog) -> None:
    """The analytics and the tracking-plan audit read PostHog only: no DATABASE_URL needed, and
    --refresh reaches PostHog as force_blocking there too."""
    env = live_env(fake)
    for command in (["funnel"], ["tracking-plan"]):
        args = [*command, "--format", "json", "--as-of", "2026-11-16"]
        result = run(args, DATABASE_URL="", **env)
        assert result.exit_code == 0, result.stderr
        before = len(fake.refreshes())
        result = run([*args, "--refresh"], DATABASE_URL="", **env)
        assert result.exit_code == 0, result.stderr
        assert set(fake.refreshes()[before:]) == {"force_blocking"}, command


def test_config_file_errors_name_the_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[posthog]\nhost = "https://eu.posthog.com"\n\n[cache]\nttl_seconds = -5\n')
    result = run(["segments"], USERTRACK_CONFIG=str(config))
    assert result.exit_code == EXIT_CONFIG
    assert f"{config}:5 [cache] ttl_seconds = '-5' is not a whole number" in result.stderr
    assert "USERTRACK_CACHE_TTL" not in result.stderr
    # The environment wins over the file, and is named when it is the one at fault.
    result = run(["segments"], USERTRACK_CONFIG=str(config), USERTRACK_CACHE_TTL="x")
    assert result.exit_code == EXIT_CONFIG and "USERTRACK_CACHE_TTL='x'" in result.stderr
    assert str(config) not in result.stderr
    config.write_text('[posthog]\n# the project\nproject_id = "abc"\n')
    result = run(["segments"], USERTRACK_CONFIG=str(config))
    assert result.exit_code == EXIT_CONFIG
    assert f"{config}:3 [posthog] project_id must be a number" in result.stderr
    assert "POSTHOG_PROJECT_ID" not in result.stderr
    config.write_text('[posthog]\ninsecure = "yes"\n')
    result = run(["segments"], USERTRACK_CONFIG=str(config))
    assert result.exit_code == EXIT_CONFIG
    assert f"{config}:2: [posthog] insecure must be true or false" in result.stderr
    config.write_text('[database]\nurl = "postgresql://r:pAss1X@sEcr3tY@127.0.0.1:1/db"\n')
    result = run(["segments"], USERTRACK_CONFIG=str(config))
    assert result.exit_code == EXIT_CONFIG
    assert f"{config}:2 [database] url is malformed" in result.stderr
    assert "pAss1X" not in result.stderr and "sEcr3tY" not in result.stderr
    config.write_text("[posthog]\nhost = 'https://eu.posthog.com'\nprojct_id = 3\n")
    result = run(["segments"], USERTRACK_CONFIG=str(config))
    assert f"{config}:3: unknown key 'projct_id'" in result.stderr
