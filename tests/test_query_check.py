"""Query files checked against PostHog without running them: `usertrack doctor` and
`usertrack query --check` send each HogQL file as a HogQLMetadata query (posthog/hogql/metadata.py)
to the tests' PostHog, which answers through the same printer as every query it runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import run
from tests.posthog_server import DEFAULT_KEY, FakePostHog, live_env, serve
from usertrack.core.errors import EXIT_CONFIG, EXIT_QUERY

REPO = Path(__file__).resolve().parent.parent
PROJECT = 4242

# a user's own file with the alias that shadowed `person` in the shipped paths query
SHADOWING = """-- name: mine
-- description: my pages per person
-- returns: table
-- param since: 2026-01-01
SELECT person_id AS person, count() AS pages
FROM events
WHERE timestamp >= toDateTime({since}) AND person.properties.email != ''
GROUP BY person
"""
SHADOW_MESSAGE = (
    "Cannot access property 'properties' on 'person'. This can happen when a column alias"
    " shadows a table field. Try renaming the alias."
)
# a function HogQL does not have
EXACT = """-- name: median_exact
-- description: the exact median of the events' hours
-- returns: table
SELECT quantileExactInclusive(0.5)(toHour(timestamp)) AS h FROM events
"""


@pytest.fixture
def fake(handmade_store: Path) -> Iterator[FakePostHog]:
    with serve(handmade_store, project_id=PROJECT) as server:
        yield server


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """The shipped library plus two files of the user's that PostHog refuses."""
    root = tmp_path / "queries"
    shutil.copytree(REPO / "queries", root)
    (root / "posthog" / "mine.sql").write_text(SHADOWING)
    (root / "posthog" / "median_exact.sql").write_text(EXACT)
    return root


def test_doctor_has_posthog_accept_every_shipped_hogql_file(
    fake: FakePostHog, handmade_db: str
) -> None:
    result = run(["doctor"], **live_env(fake, handmade_db))
    assert result.exit_code == 0, result.stdout + result.stderr
    shipped = sorted((REPO / "queries" / "posthog").glob("*.sql"))
    assert f"✓ HogQL files: PostHog accepts all {len(shipped)} HogQL query files" in result.stdout
    assert len(fake.metadata_texts) == len(shipped)


def test_doctor_names_each_file_posthog_refuses_with_posthogs_message(
    fake: FakePostHog, handmade_db: str, library: Path
) -> None:
    result = run(["doctor", "--queries", str(library)], **live_env(fake, handmade_db))
    assert result.exit_code == EXIT_QUERY, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if "HogQL files" in x)
    assert line.startswith("✗ HogQL files: PostHog refuses 2 of ")
    assert f"{library / 'posthog' / 'mine.sql'}: {SHADOW_MESSAGE}" in line
    assert (
        f"{library / 'posthog' / 'median_exact.sql'}: Unsupported function call"
        " 'quantileExactInclusive(...)'"
    ) in line
    assert "fix: rewrite each named file" in result.stdout
    assert DEFAULT_KEY not in result.stdout + result.stderr


def test_query_check_lists_the_refused_files(fake: FakePostHog, library: Path) -> None:
    env = live_env(fake)
    result = run(["query", "--check", "--queries", str(library)], **env)
    assert result.exit_code == EXIT_QUERY, result.stdout + result.stderr
    refused = [x for x in result.stdout.splitlines() if x.startswith("✗ ")]
    assert refused == [
        f"✗ {library / 'posthog' / 'median_exact.sql'}: Unsupported function call"
        " 'quantileExactInclusive(...)'",
        f"✗ {library / 'posthog' / 'mine.sql'}: {SHADOW_MESSAGE}",
    ]
    one = run(["query", "--check", "posthog/mine", "--queries", str(library)], **env)
    assert one.exit_code == EXIT_QUERY
    assert one.stdout.splitlines() == [
        f"✗ {library / 'posthog' / 'mine.sql'}: {SHADOW_MESSAGE}",
        "PostHog accepts 0 of 1 HogQL query files",
    ]
    good = run(["query", "--check", "posthog/paths_summary", "--queries", str(library)], **env)
    assert good.exit_code == 0, good.stdout + good.stderr
    assert good.stdout.splitlines() == ["PostHog accepts 1 of 1 HogQL query files"]


def test_a_file_posthog_refuses_at_run_time_is_one_line_and_exit_7(
    fake: FakePostHog, handmade_db: str, library: Path
) -> None:
    args = ["query", "posthog/mine", "--queries", str(library)]
    result = run(args, **live_env(fake, handmade_db))
    assert result.exit_code == EXIT_QUERY, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(library / "posthog" / "mine.sql") in lines[0]
    assert "Cannot access property 'properties' on 'person'" in lines[0]


def test_the_check_needs_a_live_posthog(demo_home: Path, tmp_path: Path) -> None:
    result = run(["query", "--check"], tmp_path / "home")
    assert result.exit_code == EXIT_CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a live PostHog" in lines[0], result.stderr
    doctor = run(["doctor"], demo_home)
    assert "✓ HogQL files: not checked: checking the query files against PostHog needs a live" in (
        doctor.stdout
    )
