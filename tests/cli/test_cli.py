"""The CLI as a newcomer meets it: the demo, every format, and bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests import handmade
from tests.cli_runner import run
from usertrack.core.errors import (
    EXIT_CONFIG,
    EXIT_CONNECTION,
    EXIT_QUERY_FILE,
    EXIT_USAGE,
)

REPO = Path(__file__).resolve().parents[2]
SEGMENT_IDS = ["failing", "frustrated", "high_intent", "at_risk", "power_user"]


def test_segments_table_on_the_demo(demo_home: Path) -> None:
    result = run(["segments"], demo_home)
    assert result.exit_code == 0, result.stderr
    for name, action in [
        ("Failing users", "Support"),
        ("Frustrated users", "Fix UX"),
        ("High-intent prospects", "Outreach"),
        ("At-risk users", "Re-engage"),
        ("Power users", "Nurture"),
    ]:
        assert name in result.stdout and action in result.stdout
    notice = [line for line in result.stderr.splitlines() if "demo" in line]
    assert len(notice) == 1 and "DATABASE_URL" in notice[0]


def test_segments_json_shape_on_the_demo(demo_home: Path) -> None:
    result = run(["segments", "--format", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["as_of"].endswith("Z")
    assert [s["id"] for s in doc["segments"]] == SEGMENT_IDS
    assert all(
        set(s) == {"id", "name", "action", "count", "type", "avg_engagement", "avg_revenue"}
        for s in doc["segments"]
    )
    users = doc["users"]
    assert users and all(u["email"] == u["email"].strip().lower() for u in users)
    assert not any(u["email"].endswith("@datagen.dev") for u in users)
    for seg in doc["segments"]:
        members = [u for u in users if seg["id"] in u["segments"]]
        assert seg["count"] == len(members) > 0, seg
    for u in users:
        assert u["primary"] == (u["segments"][0] if u["segments"] else None)
        assert u["segments"] == [s for s in SEGMENT_IDS if s in u["segments"]]
    assert any(not u["in_neon"] for u in users) and any(not u["in_posthog"] for u in users)
    profile_columns = {
        "email", "created_at", "credits", "subscription_status", "last_active_at", "run_count",
        "runs_completed", "runs_failed", "run_success_rate", "tool_calls", "tool_failures",
        "mcp_connect_clicks", "mcp_servers", "rage_clicks", "exceptions", "pageviews",
        "last_seen_at", "in_posthog", "in_neon",
    }  # fmt: skip
    assert profile_columns <= set(users[0])


def test_one_segment_in_its_order(demo_home: Path) -> None:
    result = run(["segments", "--segment", "failing", "--format", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [s["id"] for s in doc["segments"]] == ["failing"]
    rates = [u["run_success_rate"] for u in doc["users"]]
    assert rates == sorted(rates) and all(r < 50 for r in rates)
    assert all(u["run_count"] > 5 for u in doc["users"])


def test_csv_and_markdown(demo_home: Path) -> None:
    as_json = json.loads(run(["segments", "-f", "json", "--as-of", "2026-11-01"], demo_home).stdout)
    result = run(["segments", "--format", "csv", "--as-of", "2026-11-01"], demo_home)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(as_json["users"])
    assert rows[0]["email"] == as_json["users"][0]["email"]
    md = run(["segments", "--format", "md", "--as-of", "2026-11-01"], demo_home)
    assert md.exit_code == 0 and "| Segment | Type | Users | Avg engagement |" in md.stdout
    assert "## Power users" in md.stdout


def test_out_file_is_written_whole(demo_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "segments.json"
    result = run(["segments", "--out", str(out)], demo_home)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert json.loads(out.read_text())["users"]
    assert [p.name for p in tmp_path.iterdir()] == ["segments.json"]  # no temp file left
    nested = tmp_path / "new" / "deeper" / "x.json"  # folders are created, as for `report`
    made = run(["segments", "--out", str(nested)], demo_home)
    assert made.exit_code == 0, made.stderr
    assert json.loads(nested.read_text())["users"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["segments", "--as-of", "last tuesday"], "--as-of 'last tuesday' is not a date"),
        (["segments", "--format", "xml"], "--format 'xml' is not one of"),
        (["segments", "--out", "x.txt"], "cannot tell the format"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], fragment: str) -> None:
    result = run(args)
    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_bad_segments_file_exits_2_and_prints_nothing(demo_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "segments.yaml"
    bad.write_text(
        "segments:\n  - id: busy\n    name: Busy\n    action: Nurture\n    rule: runs > 5\n"
    )
    result = run(["segments", "--segments", str(bad)], demo_home)
    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""
    assert "segment 'busy'" in result.stderr and "unknown column 'runs'" in result.stderr


def test_bad_query_file_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "neon").mkdir()
    (tmp_path / "neon" / "x.sql").write_text(
        "-- name: x\n-- description: d\n-- returns: table\nSELECT %(who)s"
    )
    result = run(["segments", "--queries", str(tmp_path)])
    assert result.exit_code == EXIT_QUERY_FILE
    assert f"{tmp_path / 'neon' / 'x.sql'}:4:" in result.stderr


def test_partial_configuration_is_a_config_error() -> None:
    result = run(["segments"], DATABASE_URL="postgresql://u@127.0.0.1:1/db")
    assert result.exit_code == EXIT_CONFIG
    assert "PostHog" in result.stderr and "demo" not in result.stderr


def test_unreachable_database_hides_the_password(tmp_path: Path) -> None:
    events = handmade.write_events_jsonl(tmp_path / "events.jsonl")
    result = run(
        ["segments"],
        DATABASE_URL="postgresql://usr:pa55word-xyz@127.0.0.1:1/db?connect_timeout=3",
        USERTRACK_EVENTS=str(events),
        USERTRACK_CONNECT_ATTEMPTS="2",
    )
    assert result.exit_code == EXIT_CONNECTION, result.stderr
    assert "pa55word-xyz" not in result.stderr + result.stdout
    assert "cannot connect" in result.stderr and "Connection refused" in result.stderr
    assert "attempts" not in result.stderr  # a refused port is not a waking database: no retry
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [[], ["segments"], ["demo"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = run([*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.stdout


def test_debug_traceback_never_shows_the_password(tmp_path: Path) -> None:
    """USERTRACK_DEBUG=1 shows a traceback, still without the password or key, in a real process."""
    import os
    import subprocess
    import sys

    events = handmade.write_events_jsonl(tmp_path / "events.jsonl")
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://usr:pa55word-debug@127.0.0.1:1/db?connect_timeout=2",
        "USERTRACK_EVENTS": str(events),
        "USERTRACK_CONNECT_ATTEMPTS": "1",
        "USERTRACK_DEBUG": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "usertrack", "segments"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "SourceConnectionError" in proc.stderr
    assert "pa55word-debug" not in proc.stderr + proc.stdout
