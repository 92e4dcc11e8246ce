"""Unfinished periods are marked wherever a period is shown: activity's lifecycle drew the week
holding --as-of as if it were complete, and `trends -i week` its last, cut week, both reading as
a drop. A table marks them (`*` and a footnote), the JSON says `"complete": false` (the
lifecycle's week) or `points_complete` (a trend's points), a chart draws them lighter or shaded
with a note. And the charts' own care: DAU, WAU, MAU in that order, features by adoption, dates
written one way."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.dashboards.test_dashboard_browser import CHROMIUM, chromium, console_lines
from usertrack.dashboards import charts
from usertrack.segments.history import history_path

# A Friday: the ISO week of 2026-11-09 (Monday) holds it and has not ended.
FRIDAY = ["--as-of", "2026-11-13"]


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return fixed_demo_home


def test_the_lifecycles_current_week_is_marked_unfinished(home: Path) -> None:
    answer = json.loads(run(["activity", *FRIDAY, "-f", "json"], home).stdout)
    *ended, last = answer["lifecycle"]
    assert last["period_start"] == "2026-11-09" and last["complete"] is False
    assert all("complete" not in row for row in ended)
    table = run(["activity", *FRIDAY, "-f", "md"], home).stdout
    assert "| 2026-11-09 \\* |" in table or "| 2026-11-09 * |" in table
    assert "| 2026-11-02 |" in table
    assert re.search(r"\* this week has not ended by the as-of \\?\(2026-11-13 00:00 UTC", table)
    terminal = run(["activity", *FRIDAY], home, COLUMNS="200").stdout
    assert "2026-11-09 *" in terminal and "has not ended by the as-of" in terminal
    spec, alt = charts.chart("activity", answer) or ({}, "")
    life = spec["vconcat"][1]
    assert life["encoding"]["opacity"]["scale"] == {"domain": [True, False], "range": [1, 0.35]}
    assert {r["week"] for r in life["data"]["values"] if r["complete"] is False} == {"2026-11-09"}
    assert "has not ended" in life["title"]["subtitle"]
    assert "The week of 2026-11-09 has not ended: partial." in alt
    blocks = charts.mermaid("activity", answer)
    (bars, note) = next(b for b in blocks if "    bar [" in b[0])
    axis = next(line for line in bars.splitlines() if "x-axis" in line)
    assert '"2026-11-09 *"' in axis and '"2026-11-02"' in axis and "partial" in note
    (lines, plain) = next(b for b in blocks if "    line [" in b[0])
    assert "*" not in lines and plain == ""  # the days drawn are whole


def test_a_reports_mermaid_charts_mark_the_unfinished_week(home: Path, tmp_path: Path) -> None:
    """`report -f md --charts mermaid` drew the lifecycle's running week as a whole one."""
    spec = tmp_path / "mine.yaml"
    panels = "title: Mine\nperiod:\n  days: 30\npanels:\n  - analysis: activity\n"
    spec.write_text(panels, encoding="utf-8")
    out = tmp_path / "out"
    result = run(["report", str(spec), *FRIDAY, "--charts", "mermaid", "--out", str(out)], home)
    assert result.exit_code == 0, result.stderr
    text = next(out.iterdir()).read_text(encoding="utf-8")
    assert '"2026-11-09 \\*"' in text or '"2026-11-09 *"' in text
    assert re.search(r"```\n+\\?\* a period not ended by the as-of", text), text


def test_a_weekly_trends_cut_last_week_is_marked(home: Path) -> None:
    args = ["trends", "$pageview", "-i", "week", *FRIDAY]
    answer = json.loads(run([*args, "-f", "json"], home).stdout)
    assert answer["points"][-1] == "2026-11-09T00:00:00Z"
    assert answer["points_complete"][-1] is False and answer["points_complete"][1] is True
    table = run([*args, "-f", "md"], home).stdout
    assert re.search(r"\| 2026-11-09 \\?\* \|", table), table
    assert "holds only in part: its counts are partial" in table
    spec, alt = charts.chart("trends", answer) or ({}, "")
    band = spec["layer"][0]
    assert band["mark"]["type"] == "rect"
    assert band["data"]["values"][-1] == {"start": answer["points"][-1], "end": answer["to"]}
    assert "2026-11-09" in spec["title"]["subtitle"][0] and "Shaded" in alt
    ((block, note),) = charts.mermaid("trends", answer)  # the shaded chart keeps its line
    assert "    line [" in block
    # mermaid draws no shading: the cut week's label is marked, and the note says why
    axis = next(line for line in block.splitlines() if "x-axis" in line)
    # the range's first week (begun before it) and its last (cut by the as-of)
    assert axis.endswith('"2026-11-09T00:00:00Z *"]') and axis.count("*") == 2
    assert '"2026-10-12T00:00:00Z *"' in axis and '"2026-10-19T00:00:00Z",' in axis
    assert note.startswith("* a period") and "partial" in note


def test_a_funnels_weekly_trend_marks_the_weeks_the_range_cuts(home: Path) -> None:
    """The range is the 30 days to the as-of: it begins on a Wednesday, inside the first week,
    and ends on a Friday, inside the last."""
    args = ["funnel", "--trend", "week", *FRIDAY]
    answer = json.loads(run([*args, "-f", "json"], home).stdout)
    points = answer["trend"]["points"]
    assert points[0]["complete"] is False and points[-1]["complete"] is False
    assert all("complete" not in p for p in points[1:-1])
    table = run([*args, "-f", "md"], home).stdout
    assert re.search(rf"\| {points[0]['start']} \\?\* \|", table), table
    assert re.search(rf"\| {points[1]['start']} \|", table)
    assert "holds only in part: its counts are partial" in table
    spec, alt = charts.chart("funnel", answer) or ({}, "")
    band = spec["vconcat"][1]["layer"][0]
    assert [r["start"] for r in band["data"]["values"]] == [points[0]["start"], points[-1]["start"]]
    assert f"Shaded: the week of {points[0]['start']} and {points[-1]['start']}" in alt


def test_a_trend_of_whole_days_says_nothing_of_cut_periods(home: Path) -> None:
    answer = json.loads(run(["trends", "$pageview", *FRIDAY, "-f", "json"], home).stdout)
    assert "points_complete" not in answer
    spec, _alt = charts.chart("trends", answer) or ({}, "")
    assert "layer" not in spec and spec["title"] == "Trends"


def _daily() -> dict[str, Any]:
    day = {"date": "2026-11-01", "dau": 1, "wau": 2, "mau": 3}
    return {"dau": 1, "wau": 2, "mau": 3, "daily": [day], "lifecycle": []}


def test_dau_wau_mau_in_their_order_and_dates_one_way() -> None:
    spec, _alt = charts.chart("activity", _daily()) or ({}, "")
    encoding = spec["vconcat"][0]["encoding"]
    assert encoding["color"]["sort"] == ["DAU (any event)", "WAU", "MAU"]
    assert encoding["x"]["axis"] == {"format": "%b %d"}
    drawn = charts.svg(spec)
    assert ">Nov 01</text>" in drawn or "Nov 01" in drawn
    labels = re.findall(r">(DAU \(any event\)|WAU|MAU)</text>", drawn)
    assert labels == ["DAU (any event)", "WAU", "MAU"]


def test_the_activity_chart_names_dau_as_its_table_does() -> None:
    """The alt text said `DAU 1` where the headline, the table and the legend say
    `DAU (any event)`: every place the chart names a series names it the same."""
    spec, alt = charts.chart("activity", _daily()) or ({}, "")
    view = spec["vconcat"][0]
    assert alt.startswith("2026-11-01: DAU (any event) 1, WAU 2, MAU 3.")
    assert view["title"].startswith("DAU (any event), WAU, MAU")
    assert {r["measure"] for r in spec["data"]["values"]} == {"DAU (any event)", "WAU", "MAU"}
    assert {"field": "measure", "type": "nominal"} in view["encoding"]["tooltip"]
    earlier = {"dau": 4, "wau": 5, "mau": 6, "daily": [{"date": "2026-10-31", "dau": 4,
                                                      "wau": 5, "mau": 6}]}  # fmt: skip
    _spec, alt = charts.chart("activity", {**_daily(), "previous": earlier}) or ({}, "")
    assert "The previous period (1 days from 2026-10-31): DAU (any event) 4, WAU 5, MAU 6." in alt


def test_features_are_drawn_by_adoption() -> None:
    features = [{"feature": n, "adoption": a, "persons": 1, "uses": 1}
                for n, a in (("b", 2.0), ("a", 9.5), ("c", 4.0))]  # fmt: skip
    spec, _alt = charts.chart("features", {"features": features}) or ({}, "")
    assert [r["name"] for r in spec["data"]["values"]] == ["a", "c", "b"]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_the_pages_show_the_unfinished_periods(home: Path, tmp_path: Path) -> None:
    """In a real browser: the lifecycle's unfinished week is drawn lighter with its note, and a
    weekly trend's cut weeks are shaded with theirs."""
    for name, args in {
        "activity": ["activity"],
        "trends": ["trends", "$pageview", "-i", "week"],
    }.items():
        page = tmp_path / f"{name}.html"
        result = run([*args, *FRIDAY, "-f", "html", "--out", str(page)], home)
        assert result.exit_code == 0, result.stderr
        shown = chromium(page, "--dump-dom")
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert console_lines(shown.stderr) == []
        chart = shown.stdout.split('id="chart-1"', 1)[1].split("</section>", 1)[0]
        if name == "activity":
            assert "Lighter: the week of 2026-11-09 has not ended" in chart
            light = re.findall(r'aria-label="[^"]*week: 2026-11-09[^"]*"[^>]*opacity="0.35"', chart)
            assert len(light) == 4, chart[:1000]  # new, returning, resurrecting, dormant
        else:
            assert "Shaded: the week of 2026-10-12 and 2026-11-09" in chart
            assert re.search(r'class="mark-rect role-mark', chart)


def test_a_thin_rate_says_its_sample_and_interval(home: Path, tmp_path: Path) -> None:
    """The weekly dashboard's "D30 7.7%" was one cohort, 2 of 26 persons: a rate over fewer
    than THIN_SAMPLE persons now says its sample and its 95% interval, on the page, in the
    retention table's line of day points and on the chart."""
    from usertrack.analytics.proportions import THIN_SAMPLE, rate_text
    from usertrack.dashboards import render

    assert THIN_SAMPLE == 30
    assert rate_text(7.7, 2, 26) == "7.7% (2 of 26; 2.1-24.1%)"
    assert rate_text(54.6, 588, 1077) == "54.6%"
    thin = {"day": 30, "period": 30, "cohorts": 1, "size": 26, "persons": 2, "percent": 7.7,
            "low": 2.1, "high": 24.1}  # fmt: skip
    cohorts = [{"start": "2026-10-01", "size": 26, "retained": [26] + [2] * 30}]
    d = {"period": "day", "cohorts": cohorts, "day_points": [thin],
         "average": [{"period": 0, "size": 26, "persons": 26, "percent": 100.0, "low": 87.1,
                      "high": 100.0}, {**thin}]}  # fmt: skip
    assert "D30 7.7% (2 of 26; 2.1-24.1%)" in render.headline("retention", d)
    spec, alt = charts.chart("retention", d) or ({}, "")
    curve = spec["vconcat"][0]
    whiskers = curve["layer"][1]
    assert whiskers["mark"]["type"] == "rule"
    assert (
        whiskers["data"]["values"][0]["low"] == 2.1
        and whiskers["data"]["values"][0]["high"] == 24.1
    )
    assert "30: 7.7% (2 of 26; 2.1-24.1%)" in curve["title"]["subtitle"][0]
    assert "7.7% (2 of 26; 2.1-24.1%)" in alt
    table = run(["retention", "--period", "day", "--periods", "31", *FRIDAY, "-f", "md"], home)
    answer = json.loads(
        run(["retention", "--period", "day", "--periods", "31", *FRIDAY, "-f", "json"], home).stdout
    )
    few = [p for p in answer["day_points"] if p.get("size") and p["size"] < THIN_SAMPLE]
    assert few, answer["day_points"]  # the demo's day 30: one small cohort
    for p in few:
        assert f"day {p['day']} {rate_text(p['percent'], p['persons'], p['size'])}" in (
            table.stdout.replace("\\", "")
        )


def test_the_heatmap_writes_its_numbers_and_lightens_the_running_periods() -> None:
    cohorts = [{"start": "2026-11-02", "size": 4, "retained": [4, 1, 1]},
               {"start": "2026-11-09", "size": 10, "retained": [10, 6]}]  # fmt: skip
    d = {"period": "week", "as_of": "2026-11-20T00:00:00Z", "cohorts": cohorts,
         "average": [{"period": 0, "percent": 100.0}]}  # fmt: skip
    spec, _alt = charts.chart("retention", d) or ({}, "")
    heat = spec["vconcat"][1]
    rect, text = heat["layer"]
    assert text["mark"]["type"] == "text" and text["encoding"]["text"]["field"] == "retained_pct"
    running = {(c["cohort"], c["period"]) for c in heat["data"]["values"] if not c["complete"]}
    assert running == {("2026-11-02", 2), ("2026-11-09", 1)}  # the week of 2026-11-16
    assert rect["encoding"]["color"]["legend"]["orient"] == "bottom"
    assert rect["encoding"]["color"]["legend"]["values"] == [0, 25, 50, 75, 100]
    assert heat["title"]["subtitle"][0].startswith("Lighter: a week not ended by the as-of")


def test_the_retention_tables_mark_the_running_diagonal(home: Path) -> None:
    """Each cohort's last period holds the as-of (a Friday): its share is still counting. The
    JSON says `"complete": false` on the cohort, the tables mark that cell."""
    args = ["retention", *FRIDAY]
    answer = json.loads(run([*args, "-f", "json"], home).stdout)
    assert answer["cohorts"] and all(c["complete"] is False for c in answer["cohorts"])
    table = run([*args, "-f", "md"], home).stdout.replace("\\", "")
    last = answer["cohorts"][-1]
    row = next(line for line in table.splitlines() if line.startswith(f"| {last['start']} |"))
    assert row.rstrip(" |").endswith("100.0% *"), row
    assert "* the week holding the as-of (2026-11-13 00:00 UTC) has not ended" in table
    whole = json.loads(run(["retention", "--as-of", "2026-11-16", "-f", "json"], home).stdout)
    assert all("complete" not in c for c in whole["cohorts"])  # a Monday: every week ended


def test_features_are_a_heatmap_by_category_in_the_specifications_bands() -> None:
    """The activity specification's feature usage heatmap: the features grouped by category,
    each coloured by its adoption band (over 75, 50, 25 and 10 percent, then the rest), and a
    legend of the bands; a category of more than PER_LINE features goes on over a named line."""
    from usertrack.dashboards.feature_charts import BANDS, PER_LINE, band

    assert [band(a) for a in (75.1, 75.0, 50.0, 25.5, 10.0, 0.0, None)] == [
        "over 75%", "50-75%", "25-50%", "25-50%", "10% or less", "10% or less", "10% or less",
    ]  # fmt: skip
    many = [{"feature": f"f{i}", "category": "Share", "adoption": 2.0 * i, "persons": 1,
             "uses": 1} for i in range(PER_LINE + 2)]  # fmt: skip
    features = [
        {"feature": "find", "category": "Find", "adoption": 80.0, "persons": 8, "uses": 20},
        *many,
        {"feature": "", "category": None, "adoption": 12.0, "persons": 1, "uses": 1},
    ]
    spec, alt = charts.chart("features", {"by": "feature", "features": features}) or ({}, "")
    cell = spec["layer"][0]["encoding"]
    assert cell["y"]["sort"] == ["Find", "Share", "Share (2)", "(no category)"]
    assert cell["color"]["legend"]["title"] == "Adoption"
    assert cell["color"]["scale"]["domain"] == [b[1] for b in BANDS]
    drawn = {r["name"]: (r["category"], r["band"]) for r in spec["data"]["values"]}
    assert drawn["find"] == ("Find", "over 75%")
    assert drawn[f"f{PER_LINE + 1}"] == ("Share", "10-25%")  # the highest first
    assert drawn["f0"] == ("Share (2)", "10% or less")
    assert drawn["(none)"] == ("(no category)", "10-25%")
    assert alt.startswith("Adoption by category, % of active persons: Find: find 80;")
    svg = charts.svg(spec)
    for text in ("Adoption", "over 75%", "10% or less", "Find", "Share (2)", "(no category)"):
        assert f">{text}</text>" in svg, text


# A Friday at noon: the day of 2026-11-13 has not ended, its counts are half a day's.
NOON = ["--as-of", "2026-11-13T12:00"]


def test_activitys_unfinished_last_day_is_marked(home: Path) -> None:
    """With a mid-day as-of the last day's DAU read as a fall: the day is marked as the
    lifecycle's running week is, in the JSON, the tables, the terminal and the chart."""
    answer = json.loads(run(["activity", *NOON, "--compare", "-f", "json"], home).stdout)
    *whole, last = answer["daily"]
    assert last["date"] == "2026-11-13" and last["complete"] is False
    assert all("complete" not in day for day in whole)
    assert answer["previous"]["daily"][-1]["complete"] is False  # its as-of is at noon too
    table = run(["activity", *NOON, "-f", "md"], home).stdout.replace("\\", "")
    assert "| 2026-11-13 * |" in table and "| 2026-11-12 |" in table
    assert "* this day has not ended by the as-of (2026-11-13 12:00 UTC)" in table
    assert '"11-13 *"]' in table  # the Markdown's own mermaid chart
    terminal = run(["activity", *NOON], home, COLUMNS="200").stdout
    assert "2026-11-13 *: DAU (any event)" in terminal
    assert "Daily, 2026-10-15 to 2026-11-13 *" in terminal
    assert "* this day has not ended by the as-of" in terminal
    spec, alt = charts.chart("activity", answer) or ({}, "")
    band, _lines = spec["vconcat"][0]["layer"]
    assert band["mark"]["type"] == "rect"
    assert band["data"]["values"] == [{"start": "2026-11-13", "end": answer["to"]}]
    assert "Shaded: the day of 2026-11-13" in spec["vconcat"][0]["title"]["subtitle"][0]
    assert "Shaded: the day of 2026-11-13, not ended by the as-of" in alt
    (lines, note), *_ = charts.mermaid("activity", answer)
    assert '"2026-11-13 *"]' in lines and "partial" in note
    midnight = json.loads(run(["activity", *FRIDAY, "-f", "json"], home).stdout)
    assert all("complete" not in day for day in midnight["daily"])


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_the_page_shades_activitys_unfinished_day(home: Path, tmp_path: Path) -> None:
    """In a real browser: the band behind the lines and its note are drawn."""
    page = tmp_path / "activity.html"
    result = run(["activity", *NOON, "-f", "html", "--out", str(page)], home)
    assert result.exit_code == 0, result.stderr
    shown = chromium(page, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert console_lines(shown.stderr) == []
    chart = shown.stdout.split('id="chart-1"', 1)[1].split("</section>", 1)[0]
    assert "Shaded: the day of 2026-11-13, not ended by the as-of" in chart
    assert re.search(r'class="mark-rect role-mark', chart)
    assert ">DAU (any event)</text>" in chart
