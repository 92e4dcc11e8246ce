"""What entered_segment compares with: the segments one day before the moment, whatever other
commands saved in the history (a `report weekly` saves its week's snapshots), said in every
format: the table's title, Markdown, stderr (csv and json too) and each Slack message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import run
from tests.slack_server import serve

DAY_EARLIER = (
    "entered a segment since 2026-11-15 00:00 UTC (the segments one day earlier, worked out"
    " from the data)"
)


@pytest.fixture()
def demo(fixed_demo_home: Path) -> Iterator[Path]:
    """The fixed demo (300 users, anchor 2026-11-16) with no history, outbox or kept pass."""
    from usertrack.segments.history import history_path

    def clean() -> None:
        history_path(fixed_demo_home).unlink(missing_ok=True)
        (fixed_demo_home / "alerts-outbox.json").unlink(missing_ok=True)
        (fixed_demo_home / "alerts-segments.json").unlink(missing_ok=True)

    clean()
    yield fixed_demo_home
    clean()


def _alerts(home: Path, *args: str) -> dict[str, object]:
    result = run(["alerts", "-f", "json", *args], home)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_weekly_report_between_two_passes_changes_no_alert(demo: Path) -> None:
    """`alerts` listed 43 on a fresh home and 101 after `report weekly` had saved a snapshot of
    its week's end, four days back, which became the baseline; only -f json said so. The same
    moment lists the same alerts, at the data's own moment and at a chosen one."""
    import sqlite3

    from usertrack.segments.history import history_path

    before = _alerts(demo)
    chosen = _alerts(demo, "--as-of", "2026-11-15 12:00")
    assert before["baseline"] == {
        "as_of": "2026-11-15T00:00:00Z",
        "from": "data",
        "what": "the segments one day earlier, worked out from the data",
    }
    # The week of 2026-11-02: its end, 2026-11-09, is saved, a week before the moment.
    report = run(
        ["report", "weekly", "--as-of", "2026-11-05", "-f", "json", "--out", str(demo / "w.json")],
        demo,
    )
    assert report.exit_code == 0, report.stderr
    with sqlite3.connect(history_path(demo)) as con:
        saved = {row[0] for row in con.execute("SELECT as_of FROM snapshots")}
    assert "2026-11-09T00:00:00Z" in saved
    assert _alerts(demo) == before
    assert _alerts(demo, "--as-of", "2026-11-15 12:00") == chosen


@pytest.mark.parametrize("fmt", ["table", "md", "csv", "json"])
def test_every_format_states_the_baseline(demo: Path, fmt: str) -> None:
    result = run(["alerts", "-f", fmt], demo, COLUMNS="200")
    assert result.exit_code == 0, result.stderr
    assert f"usertrack: segment triggers: {DAY_EARLIER}\n" in result.stderr
    if fmt == "table":
        assert f"Segment triggers: {DAY_EARLIER}" in result.stdout
    elif fmt == "md":
        assert (
            "Segment triggers: entered a segment since 2026-11-15 00:00 UTC \\(the" in result.stdout
        )


def test_a_slack_message_of_a_segment_alert_states_the_baseline(demo: Path) -> None:
    with serve() as slack:
        sent = run(["alerts", "--notify", "slack"], demo, SLACK_WEBHOOK_URL=slack.url)
        assert sent.exit_code == 0, sent.stderr
        entered = [m for m in slack.received if "entered a segment" in m["text"].lower()]
    assert entered
    for message in entered:
        summary = message["blocks"][2]["text"]["text"]
        assert f"• Compared: {DAY_EARLIER}" in summary
