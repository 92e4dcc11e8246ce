"""`usertrack report weekly` on a small demo with a fixed anchor (real embedded PostgreSQL, local
PostHog engine, no mocks): a golden file, byte-identical re-runs, --template, --out errors.

The golden report is tests/data/weekly-golden.md. When a change to the report is intended,
regenerate it and review the diff:

    USERTRACK_UPDATE_GOLDEN=1 uv run pytest tests/test_report.py -k golden
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.cli_runner import run
from usertrack.errors import EXIT_USAGE
from usertrack.history import History, history_path
from usertrack.report import METRICS, ReportWeek, metric_status

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "data" / "weekly-golden.md"
ANCHOR = date(2026, 11, 16)
NAME = "usertrack-2026-W46.md"
WORKSPACE = "demo:300u:2026-11-16"


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    """The fixed demo with an empty history."""
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return fixed_demo_home


def report(home: Path, out: Path, *extra: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    result = run(["report", "weekly", "--as-of", "2026-11-16", "--out", str(out), *extra], home)
    assert result.exit_code == 0, result.stderr
    path = out / NAME
    assert result.stdout.strip() == str(path)
    return path


def test_weekly_report_matches_the_golden_file(home: Path, tmp_path: Path) -> None:
    text = report(home, tmp_path / "out").read_text(encoding="utf-8")
    if os.environ.get("USERTRACK_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
        pytest.skip(f"regenerated {GOLDEN}")
    assert GOLDEN.exists(), "no golden file: run with USERTRACK_UPDATE_GOLDEN=1 once"
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_weekly_report_content(home: Path, tmp_path: Path) -> None:
    text = report(home, tmp_path / "out").read_text(encoding="utf-8")
    assert text.startswith("# usertrack weekly report 2026-W46\n")
    assert "The 7 days from Mon 2026-11-09 to Sun 2026-11-15 (UTC)" in text
    for metric in METRICS:
        row = next(line for line in text.splitlines() if line.startswith(f"| {metric.name} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[4] in ("Excellent", "Good", "Below target", "n/a"), row
        assert cells[5] == metric.good_text and cells[6] == metric.excellent_text
    assert text.count("```mermaid") == 2
    assert "xychart-beta" in text and "line [" in text and "bar [" in text
    for heading in (
        "## Key metrics",
        "## Segments",
        "### Who moved",
        "## Top users by segment",
        "### Failing users (",
        "### Top failing tools",
        "### Failing runs by error",
        "### Failure categories",
        "## UX issues (last 7 days)",
        "## Traffic sources (last 7 days)",
    ):
        assert heading in text, heading
    assert "Last week is computed as of 2026-11-09 00:00 UTC" in text
    assert "@datagen.dev" not in text
    assert not re.search(r"\b(nan|None)\b", text)


def test_weekly_report_is_byte_identical_across_runs(home: Path, tmp_path: Path) -> None:
    first = report(home, tmp_path / "a").read_bytes()
    second = report(home, tmp_path / "b").read_bytes()
    assert first == second
    with History(history_path(home), WORKSPACE) as history:
        assert history.moments() == [datetime(2026, 11, 16, tzinfo=UTC)]  # saved, replaced


def test_weekly_report_uses_last_weeks_snapshot(home: Path, tmp_path: Path) -> None:
    saved = run(["segments", "--as-of", "2026-11-09", "-f", "json"], home)
    assert saved.exit_code == 0, saved.stderr
    text = report(home, tmp_path / "out", "--no-save").read_text(encoding="utf-8")
    assert "Last week is the snapshot saved as of 2026-11-09 00:00 UTC." in text
    with History(history_path(home), WORKSPACE) as history:
        assert history.moments() == [datetime(2026, 11, 9, tzinfo=UTC)]  # --no-save


def test_weekly_report_with_a_custom_template(home: Path, tmp_path: Path) -> None:
    template = tmp_path / "mine.md.j2"
    template.write_text(
        "Week {{ week.label }} ({{ week.first_day }}..{{ week.last_day }})\n"
        "{% for m in metrics %}{{ m.id }}={{ m.status }}\n{% endfor %}"
        "{% for s in segments %}{{ s.id }}: {{ s.count }} (+{{ s.entered_count }}"
        " -{{ s.left_count }})\n{% endfor %}",
        encoding="utf-8",
    )
    text = report(home, tmp_path / "out", "--template", str(template)).read_text()
    lines = text.splitlines()
    assert lines[0] == "Week 2026-W46 (2026-11-09..2026-11-15)"
    assert [line.split("=")[0] for line in lines[1:6]] == [m.id for m in METRICS]
    assert [line.split(":")[0] for line in lines[6:]] == [
        "failing",
        "frustrated",
        "high_intent",
        "at_risk",
        "power_user",
    ]
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_a_broken_template_names_its_line(home: Path, tmp_path: Path) -> None:
    template = tmp_path / "bad.md.j2"
    template.write_text("# {{ week.label }}\n\n{{ no_such_thing.value }}\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    result = run(
        [
            "report",
            "weekly",
            "--as-of",
            "2026-11-16",
            "--out",
            str(out),
            "--template",
            str(template),
        ],
        home,
    )
    assert result.exit_code == EXIT_USAGE
    assert f"{template}:3: template error" in result.stderr
    assert list(out.iterdir()) == []
    missing = run(["report", "weekly", "--template", str(tmp_path / "nope.j2")], home)
    assert missing.exit_code == EXIT_USAGE and "no such template file" in missing.stderr


def test_out_to_a_missing_folder_is_a_usage_error(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "not-there"
    result = run(["report", "weekly", "--as-of", "2026-11-16", "--out", str(missing)], home)
    assert result.exit_code == EXIT_USAGE
    assert "folder does not exist" in result.stderr
    assert result.stdout == ""
    assert not missing.exists()
    assert not history_path(home).exists()  # it stopped before doing anything


def test_report_week_is_named_by_the_iso_week_of_its_last_day() -> None:
    week = ReportWeek.ending(datetime(2026, 11, 16, tzinfo=UTC))
    assert (week.first_day, week.last_day) == (date(2026, 11, 9), date(2026, 11, 15))
    assert week.label == "2026-W46" and week.file_name == NAME
    assert week.previous().label == "2026-W45"
    new_year = ReportWeek.ending(datetime(2027, 1, 1, tzinfo=UTC))
    assert new_year.last_day == date(2026, 12, 31) and new_year.label == "2026-W53"
    midday = ReportWeek.ending(datetime(2026, 11, 16, 12, 0, tzinfo=UTC))
    assert midday.last_day == date(2026, 11, 16) and midday.label == "2026-W47"


def test_metric_status_follows_seed_000s_thresholds() -> None:
    by_id = {m.id: m for m in METRICS}
    assert [metric_status(by_id["dau"], v) for v in (5, 10, 10.1, 50, 51)] == [
        "Below target",
        "Below target",
        "Good",
        "Good",
        "Excellent",
    ]
    mcp = by_id["mcp_connect_rate"]
    assert [metric_status(mcp, v) for v in (4.9, 5, 10, 10.5)] == [
        "Below target",
        "Good",
        "Good",
        "Excellent",
    ]
    days = by_id["signup_to_first_run"]
    assert [metric_status(days, v) for v in (0.5, 1, 6.9, 7, None)] == [
        "Excellent",
        "Good",
        "Good",
        "Below target",
        "n/a",
    ]
    assert metric_status(by_id["run_success_rate"], 95.5) == "Excellent"
    assert metric_status(by_id["credit_utilization"], 20) == "Below target"
