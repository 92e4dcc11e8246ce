"""Charts are bounded like queries: at most 20 lines and 10,000 marks drawn (the chart says what
it left out, the JSON stays whole), prepared in linear time, and drawn by vl-convert in a child
process under a memory and a time bound (exit 11 past them, nothing written). On a synthetic
answer of 808 series of 2,000 points, on the fixed demo through the CLI in every chart format,
and through a one-panel dashboard."""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.analytics.trends.maths import series_label
from usertrack.core.errors import LimitError
from usertrack.dashboards import charts

EVENTS = [
    "$pageview",
    "feature_used",
    "api_call_made",
    "report_generated",
    "mcp_connect_clicked",
    "export_downloaded",
    "user_signed_up",
    "search_performed",
]
HOSTILE = [*EVENTS, "--by", "$session_id", "--top", "100", "--days", "2000"]
SERIES, MARKS = 20, 10_000  # what a chart draws at most


def _answer(points: int = 2000, breakdowns: int = 100) -> dict[str, Any]:
    """A trends answer as `trends --by --top 100` gives it: 8 events, 100 values and the rest
    of each, `points` days."""
    start = datetime(2021, 1, 1)
    days = [(start + timedelta(days=i)).isoformat() for i in range(points)]
    series = []
    for e, event in enumerate(EVENTS):
        for b in range(breakdowns + 1):
            data = [(i * (b + 1) + e) % 11 for i in range(points)]
            value = "$$_posthog_breakdown_other_$$" if b == breakdowns else f"s-{e}-{b}"
            series.append(
                {"event": event, "breakdown": value, "data": data, "total": sum(data) + b}
            )
    return {"points": days, "math": "total", "interval": "day", "series": series}


def test_a_chart_of_808_series_of_2000_points_is_capped_in_linear_time() -> None:
    doc = _answer()
    before = copy.deepcopy(doc)
    started = time.monotonic()
    made = charts.chart("trends", doc)
    took = time.monotonic() - started
    assert made is not None
    spec, alt = made
    assert took < 30, f"preparing the chart took {took:.1f} s"
    rows = spec["data"]["values"]
    drawn = {r["series"] for r in rows}
    assert len(rows) <= MARKS and len(drawn) == SERIES
    # the largest by the answer's own totals (the series given above differ by their totals)
    ranked = sorted(doc["series"], key=lambda s: -s["total"])[:SERIES]
    assert drawn == {series_label(s["event"], s["breakdown"]) for s in ranked}
    assert "mcp_connect_clicked / other" in drawn  # PostHog's bucket, named as people read it
    # one day in N of each line, the last day always among them
    assert {r["time"] for r in rows} >= {doc["points"][-1]}
    assert len({r["time"] for r in rows}) == MARKS // SERIES
    note = "Drawn: the 20 largest of 808 series by total; one day in 4 of each line."
    assert spec["title"] == {"text": "Trends", "subtitle": [note, "-f json has every value."]}
    assert alt.endswith(note)
    assert doc == before  # the answer itself (its JSON) is whole


def test_a_small_chart_is_drawn_whole_without_a_note() -> None:
    doc = _answer(points=30, breakdowns=1)  # 16 series of 30 points
    spec, alt = charts.chart("trends", doc) or ({}, "")
    assert spec["title"] == "Trends" and "Drawn" not in alt
    assert len(spec["data"]["values"]) == 16 * 30


def test_a_retention_heatmap_keeps_the_latest_cohorts_that_fit() -> None:
    cohorts = [{"start": f"c{i:03d}", "size": 10, "retained": [10] * (400 - i)} for i in range(400)]
    spec, alt = charts.chart("retention", {"period": "day", "cohorts": cohorts}) or ({}, "")
    heat = spec["vconcat"][1]
    cells = heat["data"]["values"]
    assert len(cells) <= MARKS and cells[-1]["cohort"] == "c399"
    kept = len({c["cohort"] for c in cells})
    assert heat["title"]["subtitle"][0] == f"Drawn: the latest {kept} of 400 cohorts."
    assert alt.endswith(f"Drawn: the latest {kept} of 400 cohorts.")


def _huge_spec(lines: int = 100, points: int = 2000) -> dict[str, Any]:
    rows = [
        {"series": f"s{s}", "time": i, "value": (i * s) % 7}
        for s in range(lines)
        for i in range(points)
    ]
    return {
        "data": {"values": rows},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "color": {"field": "series", "type": "nominal"},
            "x": {"field": "time", "type": "quantitative"},
            "y": {"field": "value", "type": "quantitative"},
        },
    }


def test_drawing_past_the_memory_bound_is_a_limit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from usertrack.dashboards import drawing

    monkeypatch.setattr(drawing, "DRAW_MEMORY", 256 * 1024**2)
    started = time.monotonic()
    with pytest.raises(LimitError, match=r"stopped at the memory bound of drawing charts"):
        charts.png(_huge_spec())
    assert time.monotonic() - started < 30


def test_drawing_past_the_time_bound_is_a_limit_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from usertrack.dashboards import drawing

    monkeypatch.setattr(drawing, "DRAW_SECONDS", 0.5)
    with pytest.raises(LimitError, match=r"stopped after 0.5 s, the time bound of drawing"):
        charts.svg(_huge_spec(lines=400))


def test_several_drawings_come_back_in_order_from_one_child() -> None:
    from usertrack.dashboards import drawing

    spec = charts.chart("sessions", {"buckets": [{"bucket": "0-30s", "sessions": 2}]})
    assert spec is not None
    svg, png = drawing.draw(
        [{"kind": "svg", "spec": spec[0]}, {"kind": "png", "spec": spec[0], "scale": 1}]
    )
    assert svg.startswith(b"<svg") and b"Sessions by length" in svg
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    return fixed_demo_home


@pytest.mark.parametrize("fmt", ["html", "svg", "png"])
def test_the_hostile_trends_chart_ends_in_seconds(home: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"t.{fmt}"
    started = time.monotonic()
    result = run(["trends", *HOSTILE, "-f", fmt, "--out", str(out)], home)
    took = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    assert took < 60, f"-f {fmt} took {took:.1f} s"
    answer = json.loads(run(["trends", *HOSTILE, "-f", "json"], home).stdout)
    assert len(answer["series"]) > SERIES and len(answer["points"]) == 2000  # the JSON is whole
    written = out.read_bytes()
    if fmt == "html":
        assert f"Drawn: the 20 largest of {len(answer['series'])} series by".encode() in written
    elif fmt == "svg":
        assert written.startswith(b"<svg") and b"Drawn: the 20 largest of" in written
    else:
        assert written.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_chart_past_the_bound_exits_11_and_writes_nothing(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.dashboards import drawing

    monkeypatch.setattr(drawing, "DRAW_MEMORY", 256 * 1024**2)
    out = tmp_path / "t.png"
    result = run(["trends", *HOSTILE, "--out", str(out)], home)
    assert result.exit_code == 11, result.stderr
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        "usertrack: error: drawing the chart stopped at the memory bound of drawing charts"
        " (0.25 GiB)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_one_panel_dashboard_of_the_hostile_chart(home: Path, tmp_path: Path) -> None:
    dashboard = tmp_path / "hostile.yaml"
    dashboard.write_text(
        "title: Sessions\nperiod:\n  days: 2000\npanels:\n  - analysis: trends\n"
        f"    title: Sessions\n    events: {json.dumps(EVENTS)}\n"
        "    by: $session_id\n    top: 100\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    started = time.monotonic()
    result = run(["report", str(dashboard), "--out", str(out)], home)
    took = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    assert took < 60, f"the dashboard took {took:.1f} s"
    (svg,) = out.glob("*.svg")
    assert b"Drawn: the 20 largest of" in svg.read_bytes()
