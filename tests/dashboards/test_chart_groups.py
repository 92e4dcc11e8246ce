"""The charts draw what the command answered: `funnel --compare`, `--by`, `--by-segment`,
`retention --compare` and `trends --compare` drew the plain answer only, silently. Each group is
a series now (a colour, a legend; the previous period dashed), at most MAX_GROUPS of them with
the cut in the title, and what a chart has no mark for is named in its title and alt text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.dashboards.test_dashboard_browser import CHROMIUM, chromium, console_lines
from usertrack.dashboards import charts
from usertrack.dashboards.group_charts import MAX_GROUPS
from usertrack.segments.history import history_path


def _steps(entered: int, converted: int, first: str = "a", last: str = "b") -> list[Any]:
    return [
        {"event": first, "persons": entered, "conversion_from_start": 100.0, "drop_off": 0},
        {
            "event": last,
            "persons": converted,
            "conversion_from_start": round(100 * converted / entered, 1),
            "drop_off": entered - converted,
        },
    ]


def _values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec["data"]["values"]


def test_a_compared_funnel_draws_the_previous_period_beside_this_one() -> None:
    d = {"steps": _steps(10, 4), "previous": {"steps": _steps(20, 5)}}
    spec, alt = charts.chart("funnel", d) or ({}, "")
    assert spec["encoding"]["color"]["field"] == "period"
    drawn = {(r["period"], r["step"]): r["persons"] for r in _values(spec)}
    assert drawn[("previous period", "2. b")] == 5 and drawn[("this period", "2. b")] == 4
    assert "previous period: 1. a 100% (20 persons), 2. b 25% (5 persons)" in alt


def test_a_funnel_by_a_property_draws_the_largest_values_and_says_how_many() -> None:
    values = [{"value": f"v{i}", "steps": _steps(10 + i, i)} for i in range(23)]
    d = {"steps": _steps(300, 100), "breakdown_property": "$browser", "breakdown": values}
    spec, alt = charts.chart("funnel", d) or ({}, "")
    assert f"top {MAX_GROUPS} of 23 values" in spec["title"]
    assert spec["encoding"]["color"]["title"] == "$browser"
    assert spec["encoding"]["color"]["scale"]["domain"] == [f"v{i}" for i in range(15, 23)]
    assert {r["$browser"] for r in _values(spec)} == {f"v{i}" for i in range(15, 23)}
    assert alt.startswith("Conversion from the first step, % (by $browser; top 8 of 23 values)")


def test_a_funnel_by_segment_draws_each_segment() -> None:
    parts = [{"segment": s, "steps": _steps(10, n)} for s, n in (("failing", 2), ("at_risk", 6))]
    d = {"steps": _steps(20, 8), "by_segment": parts}
    spec, alt = charts.chart("funnel", d) or ({}, "")
    assert spec["encoding"]["color"]["field"] == "segment"
    assert spec["encoding"]["yOffset"]["field"] == "segment"
    assert "failing: 1. a 100% (10 persons), 2. b 20% (2 persons)" in alt
    assert "at_risk: 1. a 100% (10 persons), 2. b 60% (6 persons)" in alt


def test_a_funnel_chart_names_what_it_does_not_draw() -> None:
    timing = {"bins": [{"from": 0, "to": 60, "persons": 4}]}
    spec, alt = charts.chart("funnel", {"steps": _steps(10, 4), "time_to_convert": timing}) or (
        {},
        "",
    )
    assert "Not drawn: the time to convert (--time-to-convert)." in spec["title"]["subtitle"]
    assert alt.endswith("Not drawn: the time to convert (--time-to-convert).")
    trend = {"interval": "week", "points": [{"start": "2026-11-02", "conversion_rate": 1.0}]}
    spec, alt = charts.chart("funnel", {"steps": _steps(10, 4), "trend": trend}) or ({}, "")
    assert spec["vconcat"][1]["title"] == "Conversion by week of entry"  # drawn below the steps
    assert "Not drawn" not in alt and "Conversion by week of entry, %: 2026-11-02 1." in alt
    d = {"steps": _steps(10, 4), "previous": {"steps": _steps(9, 3)}, "breakdown_property": "p",
         "breakdown": [{"value": "x", "steps": _steps(10, 4)}]}  # fmt: skip
    spec, alt = charts.chart("funnel", d) or ({}, "")
    assert "Not drawn: the previous period (--compare)." in spec["title"]["subtitle"]


def test_a_compared_retention_draws_both_average_curves() -> None:
    cohorts = [{"start": "2026-11-02", "size": 4, "retained": [4, 1]}]
    average = [{"period": 0, "size": 4, "percent": 100.0}, {"period": 1, "percent": 25.0}]
    before = [{"period": 0, "size": 8, "percent": 100.0}, {"period": 1, "percent": 50.0}]
    d = {"period": "week", "cohorts": cohorts, "average": average,
         "compare": {"previous_average": before}}  # fmt: skip
    spec, alt = charts.chart("retention", d) or ({}, "")
    line = spec["vconcat"][0]
    assert line["encoding"]["color"]["scale"]["domain"] == ["these cohorts", "the previous cohorts"]
    assert {(r["group"], r["period"], r["retained_pct"]) for r in _values(line)} == {
        ("these cohorts", 0, 100.0), ("these cohorts", 1, 25.0),
        ("the previous cohorts", 0, 100.0), ("the previous cohorts", 1, 50.0),
    }  # fmt: skip
    assert "the previous cohorts: 0 100, 1 50" in alt


def test_a_compared_trend_draws_the_previous_period_dashed() -> None:
    d = {"points": ["2026-11-01", "2026-11-02"], "interval": "day", "math": "total",
         "series": [{"event": "e", "data": [3, 4], "total": 7}],
         "previous": {"series": [{"event": "e", "data": [1, 2], "total": 3}]}}  # fmt: skip
    spec, alt = charts.chart("trends", d) or ({}, "")
    assert spec["encoding"]["strokeDash"]["field"] == "period"
    previous = [r["value"] for r in _values(spec) if r["period"] == "previous period"]
    assert previous == [1, 2]
    assert "e 7 (previous period 3)" in alt


def test_a_trend_by_segment_draws_each_segments_line() -> None:
    parts = [{"segment": s, "series": [{"event": "e", "data": [n]}]} for s, n in
             (("failing", 2), ("at_risk", 7))]  # fmt: skip
    d = {"points": ["2026-11-01"], "interval": "day", "series": [{"event": "e", "data": [9]}],
         "by_segment": parts}  # fmt: skip
    spec, _alt = charts.chart("trends", d) or ({}, "")
    assert {r["series"]: r["value"] for r in _values(spec)} == {"failing: e": 2, "at_risk: e": 7}


def test_a_strangers_breakdown_value_is_text_in_the_drawing() -> None:
    values = [{"value": "<script>alert(1)</script>", "steps": _steps(10, 4)},
              {"value": "b\u202eevil", "steps": _steps(5, 1)}]  # fmt: skip
    made = charts.chart("funnel", {"steps": _steps(15, 5), "breakdown_property": "p",
                                   "breakdown": values})  # fmt: skip
    assert made is not None
    drawn = charts.svg(made[0])
    assert "<script>" not in drawn and "&lt;script&gt;alert(1)&lt;/script&gt;" in drawn
    assert "\u202e" not in drawn and "b\ufffdevil" in drawn


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return fixed_demo_home


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_the_pages_draw_each_group_with_a_legend(home: Path, tmp_path: Path) -> None:
    """In a real browser: `funnel --by $browser` draws a bar for each (step, value) and a legend
    of the values; `trends --compare` a second, dashed line named in the legend."""
    as_of = ["--as-of", "2026-11-16"]
    answer = json.loads(run(["funnel", "--by", "$browser", *as_of, "-f", "json"], home).stdout)
    values = [str(b["value"]) for b in answer["breakdown"]][:MAX_GROUPS]
    pages = {
        "funnel": ["funnel", "--by", "$browser"],
        "trends": ["trends", "$pageview", "--compare"],
    }
    for name, args in pages.items():
        page = tmp_path / f"{name}.html"
        result = run([*args, *as_of, "-f", "html", "--out", str(page)], home)
        assert result.exit_code == 0, result.stderr
        shown = chromium(page, "--dump-dom")
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert console_lines(shown.stderr) == []
        chart = shown.stdout.split('id="chart-1"', 1)[1].split("</section>", 1)[0]
        legend = chart.split('class="mark-group role-legend"', 1)[1]
        if name == "funnel":
            assert all(f">{v}</text>" in legend for v in values), legend[:800]
            bars = re.findall(r'<path[^>]+aria-label="([^"]+)"[^>]+role="graphics-symbol"', chart)
            assert len(bars) == len(values) * len(answer["steps"])
        else:
            assert ">previous period</text>" in legend and ">this period</text>" in legend
            lines = re.findall(r'<path [^>]*aria-roledescription="line mark"[^>]*>', chart)
            dashes = [re.search(r'stroke-dasharray="([^"]*)"', p) for p in lines]
            assert len(lines) == 2 and len({m and m.group(1) for m in dashes}) == 2, lines


def test_a_retention_by_a_property_draws_a_curve_per_value_and_says_how_many() -> None:
    cohorts = [{"start": "2026-11-02", "size": 300, "retained": [300, 90]}]
    values = [
        {"value": f"v{i}", "size": 10 + i, "cohorts": [],
         "average": [{"period": 0, "size": 10 + i, "percent": 100.0},
                     {"period": 1, "percent": float(i)}]}
        for i in range(11)
    ]  # fmt: skip
    d = {"period": "week", "cohorts": cohorts, "by": "$browser", "breakdown": values,
         "average": [{"period": 0, "size": 300, "percent": 100.0}]}  # fmt: skip
    spec, alt = charts.chart("retention", d) or ({}, "")
    line = spec["vconcat"][0]
    drawn = [f"v{i}" for i in range(3, 11)]  # the 8 largest cohorts
    assert line["encoding"]["color"]["title"] == "$browser"
    assert line["encoding"]["color"]["scale"]["domain"] == drawn
    assert {r["group"] for r in _values(line)} == set(drawn)
    assert line["title"]["text"] == "Average retention curve by $browser"
    assert f"top {MAX_GROUPS} of 11 values" in json.dumps(line["title"])
    assert "v10: 0 100, 1 10" in alt and "v2:" not in alt and "top 8 of 11 values" in alt


def test_a_compared_activity_draws_the_previous_days_dashed() -> None:
    daily = [{"date": f"2026-11-0{i}", "dau": i, "wau": 10 * i, "mau": 100 * i} for i in (1, 2)]
    earlier = [{"date": f"2026-10-3{i}", "dau": 5, "wau": 50, "mau": 500} for i in (0, 1)]
    d = {"dau": 2, "wau": 20, "mau": 200, "daily": daily,
         "previous": {"dau": 5, "wau": 50, "mau": 500, "daily": earlier}}  # fmt: skip
    spec, alt = charts.chart("activity", d) or ({}, "")
    view = spec["vconcat"][0]  # one view: its data on top
    assert view["encoding"]["strokeDash"]["field"] == "period"
    assert "previous (dashed" in view["title"]
    before = [r for r in _values(spec) if r["period"] == "previous period"]
    assert [(r["date"], r["day"], r["measure"], r["persons"]) for r in before][:4] == [
        ("2026-11-01", "2026-10-30", "DAU (any event)", 5),
        ("2026-11-01", "2026-10-30", "WAU", 50), ("2026-11-01", "2026-10-30", "MAU", 500),
        ("2026-11-02", "2026-10-31", "DAU (any event)", 5),
    ]  # fmt: skip
    assert (
        "The previous period (2 days from 2026-10-30): DAU (any event) 5, WAU 50, MAU 500." in alt
    )


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_the_pages_draw_retention_by_value_and_the_previous_activity(
    home: Path, tmp_path: Path
) -> None:
    """In a real browser: `retention --by $browser` draws a curve per value (at most
    MAX_GROUPS) with a legend of the values; `activity --compare` draws DAU, WAU and MAU twice,
    the previous period's lines dashed, named in a legend."""
    as_of = ["--as-of", "2026-11-16"]
    answer = json.loads(run(["retention", "--by", "$browser", *as_of, "-f", "json"], home).stdout)
    values = [str(b["value"]) for b in answer["breakdown"]]
    assert len(values) >= 2
    pages = {"retention": ["retention", "--by", "$browser"], "activity": ["activity", "--compare"]}
    for name, args in pages.items():
        page = tmp_path / f"{name}.html"
        result = run([*args, *as_of, "-f", "html", "--out", str(page)], home)
        assert result.exit_code == 0, result.stderr
        shown = chromium(page, "--dump-dom")
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert console_lines(shown.stderr) == []
        chart = shown.stdout.split('id="chart-1"', 1)[1].split("</section>", 1)[0]
        lines = re.findall(r'<path [^>]*aria-roledescription="line mark"[^>]*>', chart)
        legends = chart.split('class="mark-group role-legend"')[1:]
        if name == "retention":
            shown_values = values[:MAX_GROUPS] if len(values) <= MAX_GROUPS else None
            assert len(lines) == min(len(values), MAX_GROUPS), len(lines)
            if shown_values is not None:
                assert all(
                    any(f">{v}</text>" in legend for legend in legends) for v in shown_values
                ), chart[:800]
        else:
            assert any(">previous period</text>" in legend for legend in legends)
            dashes = {
                (m.group(1) if (m := re.search(r'stroke-dasharray="([^"]*)"', p)) else "")
                for p in lines
            }
            assert len(lines) == 6 and len(dashes) == 2, lines


def _thin(entered: int, converted: int, low: float, high: float) -> list[Any]:
    steps = _steps(entered, converted)
    for s, (lo, hi) in zip(steps, ((76.2, 100.0), (low, high)), strict=True):
        s.update(sample=entered, conversion_low=lo, conversion_high=hi)
    return steps


def test_a_funnel_groups_thin_rates_draw_their_interval() -> None:
    """The tables said `85.7% (18 of 21; 65.4-95.0%)` of a group under THIN_SAMPLE persons,
    the chart a bare bar: each thin rate past the first step now has its 95% interval drawn
    across its bar, and its sample said in the tooltip, the subtitle and the alt text."""
    values = [{"value": "big", "steps": _steps(300, 150)},
              {"value": "small", "steps": _thin(21, 18, 65.4, 95.0)}]  # fmt: skip
    d = {"steps": _steps(321, 168), "breakdown_property": "$browser", "breakdown": values}
    spec, alt = charts.chart("funnel", d) or ({}, "")
    bars, whiskers = spec["layer"]
    assert whiskers["mark"]["type"] == "rule"
    assert [(r["$browser"], r["step"], r["low"], r["high"]) for r in _values(whiskers)] == [
        ("small", "2. b", 65.4, 95.0)
    ]
    assert whiskers["encoding"]["yOffset"]["field"] == "$browser"
    assert _values(whiskers)[0]["sample"] == "85.7% (18 of 21; 65.4-95.0%)"
    assert "sample" in [t["field"] for t in bars["encoding"]["tooltip"]]
    assert spec["title"]["subtitle"][0].startswith("Fewer than 30 persons in a group")
    assert "small: 1. a 100% (21 persons), 2. b 85.7% (18 of 21; 65.4-95.0%)" in alt
    assert "big: 1. a 100% (300 persons), 2. b 50% (150 persons)" in alt
    compared = {"steps": _steps(300, 150), "previous": {"steps": _thin(21, 18, 65.4, 95.0)}}
    spec, alt = charts.chart("funnel", compared) or ({}, "")
    assert [r["period"] for r in _values(spec["layer"][1])] == ["previous period"]
    parts = [{"segment": "failing", "steps": _thin(21, 18, 65.4, 95.0)}]
    spec, alt = charts.chart("funnel", {"steps": _steps(21, 18), "by_segment": parts}) or ({}, "")
    assert "failing: 1. a 100% (21 persons), 2. b 85.7% (18 of 21; 65.4-95.0%)" in alt
    assert 'class="mark-rule role-mark' in charts.svg(spec)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_the_page_draws_a_thin_groups_interval(home: Path, tmp_path: Path) -> None:
    """In a real browser: `funnel --by $browser` on the small demo has groups under THIN_SAMPLE
    persons; each of their rates past the first step gets a whisker (a rule mark)."""
    from usertrack.analytics.proportions import THIN_SAMPLE

    as_of = ["--as-of", "2026-11-16"]
    answer = json.loads(run(["funnel", "--by", "$browser", *as_of, "-f", "json"], home).stdout)
    thin = [b for b in answer["breakdown"][:MAX_GROUPS]
            if 0 < b["steps"][0]["persons"] < THIN_SAMPLE]  # fmt: skip
    assert thin, [b["steps"][0]["persons"] for b in answer["breakdown"]]
    page = tmp_path / "funnel.html"
    result = run(["funnel", "--by", "$browser", *as_of, "-f", "html", "--out", str(page)], home)
    assert result.exit_code == 0, result.stderr
    shown = chromium(page, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert console_lines(shown.stderr) == []
    chart = shown.stdout.split('id="chart-1"', 1)[1].split("</section>", 1)[0]
    rules = re.findall(r'<line aria-label="([^"]*)"[^>]*aria-roledescription="rule mark"', chart)
    assert len(rules) == sum(len(b["steps"]) - 1 for b in thin), chart[:1500]
    assert all("95% interval: " in label and " of " in label for label in rules), rules
    assert "Fewer than 30 persons in a group: its 95% interval drawn." in chart
