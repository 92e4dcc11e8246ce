"""One name per definition: a number's label says what it counts. `activity`'s DAU counts any
event and `trends EVENT -m dau` only EVENT's, yet both read "DAU"; churn's engagement score
counts identified persons only, yet said "persons active", as activity's count of everyone."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_runner import run
from usertrack.dashboards.charts import chart, mermaid


def test_a_trends_dau_names_its_event_and_activitys_says_any_event(
    fixed_demo_home: Path,
) -> None:
    args = ["trends", "$pageview", "-m", "dau", "--days", "7"]
    answer = json.loads(run([*args, "-f", "json"], fixed_demo_home).stdout)
    assert answer["math"] == "dau" and answer["math_label"] == "DAU ($pageview)"
    terminal = run(args, fixed_demo_home, COLUMNS="200").stdout
    assert "DAU ($pageview): unique persons per day" in terminal
    md = run([*args, "-f", "md"], fixed_demo_home).stdout
    assert "DAU \\($pageview\\): unique persons per day" in md
    assert 'title "DAU (#36;pageview) per day (UTC)"' in md  # the event as entity codes
    spec = (chart("trends", answer) or ({}, ""))[0]
    assert spec["encoding"]["y"]["title"] == "DAU ($pageview)"
    both = json.loads(
        run(["trends", "$pageview", "signup", "-m", "weekly_active", "--days", "7", "-f", "json"],
            fixed_demo_home).stdout
    )  # fmt: skip
    assert both["math_label"] == "WAU ($pageview, signup)"
    total = json.loads(
        run(["trends", "$pageview", "--days", "7", "-f", "json"], fixed_demo_home).stdout
    )
    assert "math_label" not in total

    activity = json.loads(run(["activity", "-f", "json"], fixed_demo_home).stdout)
    said = " ".join(run(["activity"], fixed_demo_home, COLUMNS="200").stdout.split())
    assert f"DAU (any event) {activity['dau']:,}, WAU" in said
    md = run(["activity", "-f", "md"], fixed_demo_home).stdout
    assert "DAU \\(any event\\)" in md and 'title "DAU, WAU and MAU (any event) by day' in md
    spec = (chart("activity", activity) or ({}, ""))[0]
    assert spec["vconcat"][0]["title"] == "DAU (any event), WAU, MAU per day"
    blocks = mermaid("activity", activity)
    assert any("DAU (any event), WAU, MAU per day" in block for block, _ in blocks)


def test_churns_engagement_score_counts_active_identified_persons(fixed_demo_home: Path) -> None:
    answer = json.loads(run(["churn", "-f", "json"], fixed_demo_home).stdout)
    engagement = answer["engagement"]
    assert engagement["definition"].startswith("active identified persons: an email")
    scored = f"{engagement['scored']:,}"
    md = run(["churn", "-f", "md"], fixed_demo_home).stdout
    assert f"of the {scored} active identified persons \\(an email on their events" in md
    terminal = " ".join(run(["churn"], fixed_demo_home, COLUMNS="200").stdout.split())
    assert f"of the {scored} active identified persons (an email on their events" in terminal
    spec = (chart("churn", answer) or ({}, ""))[0]
    titles = [part.get("title") for part in spec.get("vconcat") or [spec]]
    assert "Engagement score, active identified persons per band" in titles


def test_the_weekly_pages_average_dau_is_named_apart_from_the_days_dau(
    fixed_demo_home: Path,
) -> None:
    """The weekly page read "DAU 213.4" in its key metrics and "DAU (any event) 228" a panel
    below: two numbers of one name, the week's average and the last day's. Its daily chart, of
    the same counts as the activity panel's, was "Daily active users" with days as 10-19 where
    the activity chart writes Nov 16. Now the average says so and the chart is named and dated
    as the activity panel's."""
    args = ["report", "weekly", "--as-of", "2026-11-10", "--no-save", "--out", "-"]
    answer = json.loads(run([*args, "-f", "json"], fixed_demo_home).stdout)
    metrics, activity = answer["panels"][0], answer["panels"][1]
    assert metrics["summary"].startswith("Average DAU ")
    assert activity["summary"].startswith("DAU (any event) ")
    labels = [d["label"] for d in metrics["data"]["daily_active"]]
    assert labels[-1] == "Nov 15" and labels[-7] == "Nov 09" and len(labels) == 35
    assert metrics["chart_alt"].startswith("DAU (any event) per day: Oct 12 ")
    spec = (chart("metrics", metrics["data"]) or ({}, ""))[0]
    assert spec["title"] == "DAU (any event) per day"
    assert spec["encoding"]["y"]["title"] == "persons"
    md = run([*args, "-f", "md"], fixed_demo_home).stdout
    assert "\n| Average DAU | " in md and "\n| DAU |" not in md
    assert 'title "DAU (any event) per day, last 35 days"' in md
    assert '"Nov 09", "Nov 10"' in md
