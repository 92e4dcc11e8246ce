"""The charts of sessions, features, churn and activity in groups: with --by-segment (a
dashboard panel's `by_segment`) or --by person.properties.NAME they drew the whole answer only,
as if no group had been asked for. Each group is a series now (a colour, a legend), at most
MAX_GROUPS of them with the cut in the title, as the funnel's and retention's groups are."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.dashboards.test_dashboard_browser import CHROMIUM, chromium, console_lines
from usertrack.dashboards import charts
from usertrack.dashboards.group_charts import GROUP, MAX_GROUPS
from usertrack.segments.history import history_path

BUCKETS = ("0-30s", "30s-2m")


def _values(view: dict[str, Any]) -> list[dict[str, Any]]:
    return view["data"]["values"]


def _sessions(n: int) -> dict[str, Any]:
    return {"sessions": 4 * n, "buckets": [{"bucket": b, "sessions": n * (i + 1)}
                                           for i, b in enumerate(BUCKETS)]}  # fmt: skip


def test_sessions_by_segment_draws_each_segments_share_per_length() -> None:
    parts = [{"segment": "failing", **_sessions(1)}, {"segment": "at_risk", **_sessions(10)}]
    d = {**_sessions(11), "by_segment": parts}
    spec, alt = charts.chart("sessions", d) or ({}, "")
    assert spec["encoding"]["color"]["scale"]["domain"] == ["failing", "at_risk"]
    assert spec["encoding"]["xOffset"]["field"] == GROUP
    drawn = {(r[GROUP], r["length"]): (r["share"], r["sessions"]) for r in _values(spec)}
    assert drawn[("failing", "30s-2m")] == (66.7, 2) and drawn[("at_risk", "0-30s")] == (33.3, 10)
    assert spec["title"] == "Sessions by length, % of each segment's sessions (by segment)"
    assert "failing: 0-30s 33.3% (1), 30s-2m 66.7% (2)" in alt


def test_features_by_a_property_draws_each_values_adoption() -> None:
    """A property's name has dots, which Vega-Lite reads as a path into the row: the groups are
    drawn under a plain field, the legend titled with the property."""
    whole = [{"feature": "find", "adoption": 50.0}, {"feature": "share", "adoption": 20.0}]
    values = [
        {"value": "pro", "active_persons": 10, "features": [
            {"feature": "share", "adoption": 40.0, "persons": 4},
            {"feature": "find", "adoption": 90.0, "persons": 9}]},
        {"value": None, "other": True, "active_persons": 5, "features": [
            {"feature": "find", "adoption": 20.0, "persons": 1}]},
    ]  # fmt: skip
    d = {"by": "feature", "features": whole, "breakdown": "person.properties.plan",
         "by_value": values}  # fmt: skip
    spec, alt = charts.chart("features", d) or ({}, "")
    colour = spec["encoding"]["color"]
    assert colour["field"] == GROUP and colour["title"] == "person.properties.plan"
    assert colour["scale"]["domain"] == ["pro", "Other"]
    assert spec["encoding"]["y"]["sort"] == ["find", "share"]  # the whole answer's order
    assert {(r[GROUP], r["feature"]): r["adoption"] for r in _values(spec)} == {
        ("pro", "share"): 40.0, ("pro", "find"): 90.0, ("Other", "find"): 20.0,
    }  # fmt: skip
    assert "(by person.properties.plan)" in spec["title"]
    assert "pro: share 40, find 90; Other: find 20." in alt
    svg = charts.svg(spec)
    assert ">person.properties.plan</text>" in svg and ">Other</text>" in svg


def _churn(rate: float, scored: int) -> dict[str, Any]:
    return {
        "engagement": {"scored": scored, "distribution": [
            {"band": "0-19", "persons": scored // 2}, {"band": "20-39", "persons": scored // 2}]},
        "periods": [{"start": "2026-11-02", "churn_rate": rate},
                    {"start": "2026-11-09", "churn_rate": rate + 1}],
    }  # fmt: skip


def test_churn_by_segment_draws_the_largest_groups_and_says_how_many() -> None:
    parts = [{"segment": f"s{i}", **_churn(float(i), 10 + i)} for i in range(11)]
    d = {"period": "week", **_churn(5.0, 200), "by_segment": parts}
    spec, alt = charts.chart("churn", d) or ({}, "")
    bands, rates = spec["vconcat"]
    drawn = [f"s{i}" for i in range(3, 11)]  # the 8 most scored
    assert {r[GROUP] for r in _values(bands)} == set(drawn)
    assert rates["encoding"]["color"]["scale"]["domain"] == drawn
    assert f"top {MAX_GROUPS} of 11 segments" in rates["title"]
    assert "Churn rate per week (by segment; top 8 of 11 segments), %:" in alt
    assert "s10: 2026-11-02 10, 2026-11-09 11" in alt and "s2:" not in alt


def _daily(n: int, complete: bool = True) -> list[dict[str, Any]]:
    last = {} if complete else {"complete": False}
    return [{"date": "2026-11-12", "dau": n, "wau": 2 * n, "mau": 3 * n},
            {"date": "2026-11-13", "dau": n, "wau": 2 * n, "mau": 3 * n, **last}]  # fmt: skip


def test_activity_by_a_property_draws_a_line_per_value_for_each_measure() -> None:
    values = [{"value": "pro", "daily": _daily(4)}, {"value": "free", "daily": _daily(9)}]
    d = {"to": "2026-11-13T12:00:00Z", "daily": _daily(13, complete=False), "lifecycle": [],
         "breakdown": "person.properties.plan", "by_value": values}  # fmt: skip
    spec, alt = charts.chart("activity", d) or ({}, "")
    dau, _wau, mau = spec["vconcat"]
    assert dau["title"]["text"] == "DAU (any event) per day (by person.properties.plan)"
    assert mau["title"]["text"] == "MAU per day (by person.properties.plan)"
    band, lines = mau["layer"]  # the day the as-of cuts, shaded in every view
    assert band["data"]["values"] == [{"start": "2026-11-13", "end": "2026-11-13T12:00:00Z"}]
    assert {(r[GROUP], r["persons"]) for r in _values(mau)} == {("pro", 12), ("free", 27)}
    assert lines["encoding"]["color"]["scale"]["domain"] == ["pro", "free"]
    assert "Not drawn: each person.properties.plan's lifecycle." in dau["title"]["subtitle"]
    assert "on 2026-11-13: pro: DAU (any event) 4, WAU 8, MAU 12; free:" in alt
    assert "Shaded: the day of 2026-11-13" in alt
    assert charts.chart("activity", {**d, "by_value": []}) is not None  # the whole answer


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return fixed_demo_home


def test_sessions_by_segment_as_svg(home: Path, tmp_path: Path) -> None:
    as_of = ["--as-of", "2026-11-16"]
    answer = json.loads(run(["sessions", "--by-segment", *as_of, "-f", "json"], home).stdout)
    names = [p["segment"] for p in answer["by_segment"]]
    out = tmp_path / "sessions.svg"
    result = run(["sessions", "--by-segment", *as_of, "-f", "svg", "--out", str(out)], home)
    assert result.exit_code == 0, result.stderr
    drawn = out.read_text(encoding="utf-8")
    assert "by segment" in drawn
    shown = names if len(names) <= MAX_GROUPS else None
    assert shown is None or all(f">{n}</text>" in drawn for n in shown), names


BOARD = """\
title: Groups
period:
  days: 30
panels:
  - analysis: sessions
    by_segment: true
  - analysis: features
    by_segment: true
  - analysis: churn
    by_segment: true
  - analysis: activity
    by_segment: true
"""


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_a_dashboards_by_segment_panels_draw_each_segment(home: Path, tmp_path: Path) -> None:
    """In a real browser: each panel with `by_segment` draws a legend of the segments and
    marks in each segment's colour."""
    board = tmp_path / "board.yaml"
    board.write_text(BOARD, encoding="utf-8")
    page = tmp_path / "board.html"
    result = run(["report", str(board), "--as-of", "2026-11-16", "-f", "html", "--out",
                  str(page)], home)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    answer = json.loads(run(["sessions", "--by-segment", "--as-of", "2026-11-16", "-f", "json"],
                            home).stdout)  # fmt: skip
    names = [p["segment"] for p in answer["by_segment"]][:MAX_GROUPS]
    shown = chromium(page, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert console_lines(shown.stderr) == []
    pieces = re.split(r'<div class="chart[^"]*" id="chart-\d+"', shown.stdout)[1:]
    assert len(pieces) == 4
    for piece, title in zip(pieces, ("Sessions by length", "Adoption", "Engagement", "DAU"),
                            strict=True):  # fmt: skip
        chart = piece.split("</section>", 1)[0]
        assert title in chart and "by segment" in chart
        legend = chart.split('class="mark-group role-legend"', 1)[1]
        assert all(f">{n}</text>" in legend for n in names), (title, legend[:800])
        assert re.search(r'class="mark-(?:rect|line|symbol)', chart)
