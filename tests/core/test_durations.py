"""A duration is written one way for people (usertrack.core.style.duration: '14m'), in the
terminal, Markdown, the HTML page, chart labels and Slack; JSON and csv keep seconds as numbers.
The page wrote a median session as "861.0 s" where the terminal wrote "14m", and Slack and the
alerts table wrote a time on a page as "14m 21s"."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli_runner import run
from tests.handmade import AS_OF
from usertrack.core.style import duration


def test_a_sessions_median_reads_the_same_in_every_format(fixed_demo_home: Path) -> None:
    answer = json.loads(run(["sessions", "-f", "json"], fixed_demo_home).stdout)
    seconds = answer["median_seconds"]
    assert isinstance(seconds, int | float) and seconds > 60  # JSON: a number of seconds
    shown = duration(seconds)
    md = run(["sessions", "-f", "md"], fixed_demo_home).stdout
    assert f"| Median duration | {shown} |" in md
    page = run(["sessions", "-f", "html", "--out", "-"], fixed_demo_home).stdout
    assert f"median {shown}, bounce rate" in page
    assert not re.search(r"median [0-9.]+ s\b", page)


def test_a_funnels_chart_labels_its_times_as_people_read_them() -> None:
    from usertrack.dashboards.charts import chart

    steps = [
        {"event": "a", "persons": 10, "conversion_from_start": 100.0, "drop_off": 0},
        {"event": "b", "persons": 5, "conversion_from_start": 50.0, "drop_off": 5,
         "median_seconds_to_convert": 861.0},
    ]  # fmt: skip
    made = chart("funnel", {"steps": steps})
    assert made is not None
    rows = made[0]["data"]["values"]
    assert [r["median_time_to_convert"] for r in rows] == ["-", "14m"]
    assert all("median_seconds_to_convert" not in r for r in rows)


def test_slack_and_the_alerts_table_write_a_time_on_a_page_as_everywhere() -> None:
    from usertrack.act.alerts_view import on_page
    from usertrack.act.slack import message

    alert = {
        "kind": "activity", "trigger": "stuck_on_page", "trigger_name": "Stuck",
        "email": "a@x.io", "name": "Ann", "plan": "pro", "current_page": "/docs",
        "time_on_page_seconds": 861, "session_events": 3, "day_events": 9,
        "session_errors": 0, "day_errors": 0, "last_active_at": AS_OF,
    }  # fmt: skip
    sent = message(alert, AS_OF)
    texts = "\n".join(str(b.get("text", {}).get("text", "")) for b in sent["blocks"])
    assert "Time on page: 14m" in texts and "14m 21s" not in texts
    assert on_page(861) == "14m" and on_page(None) == ""
