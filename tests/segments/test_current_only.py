"""A past as_of is honest about current-only columns: credits, subscription_status and
last_active_at exist only as today's values in the app's database. On the demo, "now" is the end
of its data (2026-11-16): a past as_of is one before it. Real embedded PostgreSQL, local engine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli_runner import run
from usertrack.segments.history import history_path

REPO = Path(__file__).resolve().parents[2]
CURRENT_ONLY = ["credits", "subscription_status", "last_active_at"]


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return fixed_demo_home


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("usertrack: warning:")]


def test_past_as_of_warns_once_when_rules_read_current_only_columns(home: Path) -> None:
    result = run(["segments", "--as-of", "2026-11-08", "-f", "json", "--no-save"], home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["current_only"] == CURRENT_ONLY
    (line,) = warnings(result.stderr)
    assert (
        "2026-11-08 00:00 UTC" in line and "credits (in High-intent prospects, Power users)" in line
    )
    assert "today's values" in line


@pytest.mark.parametrize(
    "command",
    [
        ["segments", "--no-save"],
        ["report", "weekly", "--out", "-"],
        ["user", "<member>"],
    ],
)
def test_quiet_hides_progress_never_the_warning(home: Path, command: list[str]) -> None:
    """--quiet drops the demo notice and progress; a warning about the answer stays."""
    if "<member>" in command:
        doc = json.loads(run(["segments", "-f", "json", "--no-save"], home).stdout)
        member = next(u["email"] for u in doc["users"] if "power_user" in u["segments"])
        command = [member if c == "<member>" else c for c in command]
    result = run(["-q", *command, "--as-of", "2026-11-08"], home)
    assert result.exit_code == 0, result.stderr
    (line,) = warnings(result.stderr)
    assert "credits (in High-intent prospects, Power users)" in line
    assert result.stderr.splitlines() == [line]  # nothing else: no demo notice, no "wrote"


def test_as_of_now_has_no_warning_but_still_names_the_columns(home: Path) -> None:
    result = run(["segments", "-f", "json", "--no-save"], home)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["current_only"] == CURRENT_ONLY
    assert warnings(result.stderr) == []
    near = run(["segments", "--as-of", "2026-11-15T12:00:00", "--no-save"], home)  # tolerance
    assert near.exit_code == 0 and warnings(near.stderr) == []


def test_changes_warn_once_for_a_computed_past_baseline(home: Path) -> None:
    result = run(["segments", "--changes", "--as-of", "2026-11-10", "--no-save"], home)
    assert result.exit_code == 0, result.stderr
    assert len(warnings(result.stderr)) == 1  # the run and its baseline are both in the past


def test_rules_without_current_only_columns_do_not_warn(home: Path, tmp_path: Path) -> None:
    rules = tmp_path / "runs-only.yaml"
    rules.write_text(
        "segments:\n"
        "  - id: failing\n"
        "    name: Failing users\n"
        "    action: Support\n"
        "    rule: run_count > 5 AND run_success_rate < 50  # not credits\n"
    )
    result = run(
        ["segments", "--segments", str(rules), "--as-of", "2026-11-01", "-f", "json"], home
    )
    assert result.exit_code == 0, result.stderr
    assert warnings(result.stderr) == []
    assert json.loads(result.stdout)["current_only"] == CURRENT_ONLY


def test_weekly_report_of_a_past_week_says_so(home: Path, tmp_path: Path) -> None:
    past = run(["report", "weekly", "--as-of", "2026-11-09", "--out", str(tmp_path)], home)
    assert past.exit_code == 0, past.stderr
    # As the Markdown reads once rendered (the report escapes punctuation in text).
    raw = Path(past.stdout.strip()).read_text()
    text = re.sub(r"\\(.)", r"\1", raw)
    assert "> **Warning:** as of 2026-11-09 00:00 UTC" in text
    # Its own block, between blank lines: the newlines the template wrote as {{ "\n" }} went
    # through the Markdown escaping and came out as spaces (" > **Warning:** ... \n## Key").
    assert "workspace).\n\n> **Warning:** as of" in raw
    assert re.search(r"> \*\*Warning:\*\* [^\n]*\S\n\n## Key metrics", raw)
    assert "credits (in High-intent prospects, Power users)" in text
    assert len(warnings(past.stderr)) == 1
    now_dir = tmp_path / "now"
    now_dir.mkdir()
    now = run(["report", "weekly", "--out", str(now_dir), "--no-save"], home)
    assert now.exit_code == 0, now.stderr
    assert "Warning" not in Path(now.stdout.strip()).read_text()


def test_the_query_files_and_docs_mark_current_only_columns() -> None:
    from usertrack.workspace import current_only_header

    assert current_only_header(REPO / "queries" / "neon" / "accounts.sql") == CURRENT_ONLY
    page = (REPO / "docs" / "query-files.md").read_text()
    assert "current-only" in page.split("## Profile columns", 1)[1].split("## ", 1)[0]


@pytest.mark.parametrize("command", [["segments", "--no-save"], ["tracking-plan"]])
def test_quiet_still_says_rows_were_skipped(
    handmade_db: str, tmp_path: Path, command: list[str]
) -> None:
    """Rows of an events export without an event or a timestamp are left out of every answer:
    that is said on stderr even with --quiet (it was a progress notice, hidden by -q)."""
    good = {
        "uuid": "00000000-0000-0000-0000-000000000001",
        "event": "$pageview",
        "distinct_id": "d-1",
        "person_id": "p-1",
        "timestamp": "2026-11-10T10:00:00Z",
        "properties": {},
        "person_properties": {"email": "ann@acme.io"},
    }
    rows = [good, {**good, "uuid": "x1", "event": None}, {**good, "uuid": "x2", "timestamp": None}]
    export = tmp_path / "events.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    env = {"DATABASE_URL": handmade_db, "USERTRACK_EVENTS": str(export)}
    result = run(["-q", *command, "--as-of", "2026-11-16"], tmp_path / "home", **env)
    assert result.exit_code == 0, result.stderr
    skipped = [w for w in warnings(result.stderr) if "skipped" in w]
    assert len(skipped) == 1, result.stderr
    assert "skipped 2 rows without event or timestamp (events.jsonl: 2)" in skipped[0]
