"""`usertrack report DASHBOARD`: dashboard files checked with the commands' own options, computed
on the fixed demo (real embedded PostgreSQL and event store), written as JSON, Markdown with SVG
charts and one HTML page; stranger values stay text."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from tests.cli_runner import run
from usertrack.dashboards import render
from usertrack.segments.history import history_path

MINE = """\
title: My three panels
period:
  days: 14
panels:
  - analysis: funnel
    title: Sign-up to workspace
    note: two steps only
    steps: [user_signed_up, workspace_created]
    window: 7d
  - analysis: retention
    title: Weekly retention
    periods: 4
  - analysis: features
    title: Features
    threshold: 5
  - analysis: trends
    title: Page views by browser
    events: [$pageview]
    by: $browser
    interval: day
"""


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return fixed_demo_home


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_typo_in_a_panel_option_is_one_line_naming_file_line(home: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, MINE.replace("    window: 7d", "    windwo: 7d"))
    out = tmp_path / "out"
    result = run(["report", str(path), "-f", "json", "--out", str(out / "r.json")], home)
    assert result.exit_code == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    # what a funnel panel takes: the command's own options, but those the dashboard decides
    from typer.main import get_command

    from usertrack.cli import app
    from usertrack.dashboards.spec import panel_params

    funnel = get_command(app).commands["funnel"]  # type: ignore[attr-defined]
    takes = sorted(panel_params(funnel))
    assert {"window", "steps", "by_segment"} <= set(takes) and "out" not in takes
    assert errors == [
        f"usertrack: error: {path}:9: panel 'Sign-up to workspace': option 'windwo' is not an"
        f" option of `usertrack funnel` (it takes: {', '.join(takes)})"
    ]
    assert not out.exists()


def test_a_bad_value_is_checked_by_the_options_own_type(home: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, MINE.replace("    periods: 4", "    periods: many"))
    result = run(["report", str(path), "-f", "json", "--out", "-"], home)
    assert result.exit_code == 2
    assert f"{path}:12: panel 'Weekly retention': option 'periods' is invalid" in result.stderr
    flag = _write(tmp_path, MINE.replace("    threshold: 5", "    compare: yes please"))
    result = run(["report", str(flag), "-f", "json", "--out", "-"], home)
    assert result.exit_code == 2
    assert "option 'compare' must be true or false" in result.stderr


def test_a_panel_without_a_value_its_command_needs_is_one_line(home: Path, tmp_path: Path) -> None:
    """A trends panel without its events (the command's required argument): exit 2, one line
    naming the file, the panel's line and what it lacks, not an internal error."""
    path = _write(tmp_path, MINE.replace("    events: [$pageview]\n", ""))
    out = tmp_path / "out"
    result = run(["report", str(path), "-f", "json", "--out", str(out / "r.json")], home)
    assert result.exit_code == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        f"usertrack: error: {path}:16: panel 'Page views by browser': option 'events' is"
        " needed by `usertrack trends`"
    ]
    assert "Traceback" not in result.stderr and not out.exists()


def test_my_dashboard_in_every_format(home: Path, tmp_path: Path) -> None:
    path = _write(tmp_path, MINE)
    out = tmp_path / "out"
    as_of = ["--as-of", "2026-11-16"]
    result = run(["report", str(path), *as_of, "-f", "json", "--out", str(out / "r.json")], home)
    assert result.exit_code == 0, result.stderr
    data = json.loads((out / "r.json").read_text(encoding="utf-8"))
    analyses = [p["analysis"] for p in data["panels"]]
    assert analyses == ["funnel", "retention", "features", "trends"]
    trends = data["panels"][3]
    assert trends["chart_alt"].startswith("Trends per day, totals: $pageview / ")
    for series in trends["data"]["series"]:
        shown = "other" if series["other"] else (series["breakdown"] or "(none)")
        assert f"$pageview / {shown} {series['total']}" in trends["chart_alt"]
    assert "$$_posthog" not in trends["chart_alt"]
    funnel = data["panels"][0]["data"]
    assert [s["event"] for s in funnel["steps"]] == ["user_signed_up", "workspace_created"]
    assert funnel["from"] == "2026-11-02T00:00:00Z" and funnel["to"] == "2026-11-16T00:00:00Z"
    assert data["panels"][0]["note"] == "two steps only"

    # Markdown: SVG files beside it, referenced relatively, whose alt text states the JSON's numbers
    result = run(["report", str(path), *as_of, "--out", str(out)], home)
    assert result.exit_code == 0, result.stderr
    md_path = Path(result.stdout.strip())
    text = md_path.read_text(encoding="utf-8")
    images = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", text)
    assert len(images) == 4
    for _alt, name in images:
        assert "/" not in name and (out / name).read_text(encoding="utf-8").startswith("<svg")
    funnel_alt = images[0][0]
    for i, step in enumerate(funnel["steps"], 1):
        assert f"{i}. {step['event']} {step['persons']}" in funnel_alt

    result = run(["report", str(path), *as_of, "--out", str(out / "r.html")], home)
    assert result.exit_code == 0, result.stderr
    page = (out / "r.html").read_text(encoding="utf-8")
    assert page.count('class="chart"') == 4
    before_bundle = page.split("<script>")[0]
    assert "http://" not in before_bundle and "https://" not in before_bundle  # nothing fetched
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", before_bundle)
    assert "vegaEmbed" in page

    # --charts mermaid: one Markdown file, its charts as mermaid blocks
    mermaid = out / "mermaid"
    result = run(["report", str(path), *as_of, "--charts", "mermaid", "--out", str(mermaid)], home)
    assert result.exit_code == 0, result.stderr
    assert [p.suffix for p in mermaid.iterdir()] == [".md"]
    text = next(mermaid.iterdir()).read_text(encoding="utf-8")
    assert text.count("```mermaid\nxychart-beta") >= 4 and "![" not in text
    assert "bar [" + ", ".join(str(s["persons"]) for s in funnel["steps"]) + "]" in text
    result = run(["report", str(path), "--charts", "mermaid", "-f", "html", "--out", "-"], home)
    assert result.exit_code == 2 and "--charts mermaid goes with -f md" in result.stderr


def test_report_list_and_unknown_name(home: Path) -> None:
    result = run(["report", "--list"], home)
    assert result.exit_code == 0, result.stderr
    assert re.search(r"^weekly\tshipped\t.*weekly\.yaml$", result.stdout, re.M)
    result = run(["report", "nope"], home)
    assert result.exit_code == 2
    assert "no dashboard named 'nope' (there are: " in result.stderr
    mine = home / "dashboards" / "mine.yaml"
    mine.parent.mkdir()
    try:
        mine.write_text(MINE.split("  - analysis: retention")[0], encoding="utf-8")
        result = run(["report", "--list"], home)
        assert f"mine\thome\t{mine}\n" in result.stdout
        result = run(["report", "mine", "--as-of", "2026-11-16", "-f", "json", "--out", "-"], home)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["title"] == "My three panels"
    finally:
        mine.unlink()
        mine.parent.rmdir()


HOSTILE = [
    "</script><script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2">',
    "javascript:window.__pwned=3",
    "evil\u202egnp.exe\u0007",
]


def hostile_panels() -> list[dict[str, object]]:
    steps = [
        {
            "event": name,
            "persons": 10 - i,
            "conversion_from_previous": 100.0,
            "conversion_from_start": 100.0,
            "drop_off": 0,
            "median_seconds_to_convert": None,
        }
        for i, name in enumerate(HOSTILE)
    ]
    segments = [{"id": "x", "name": name, "count": 3} for name in HOSTILE]
    edges = [
        {"source": a, "target": b, "step": i + 1, "count": 5 - i}
        for i, (a, b) in enumerate(itertools.pairwise(HOSTILE))
    ]
    return [
        {"analysis": "funnel", "title": HOSTILE[0], "note": HOSTILE[1], "data": {"steps": steps}},
        {"analysis": "segments", "title": "s", "note": "", "data": {"segments": segments}},
        {"analysis": "paths", "title": "p", "note": "", "data": {"edges": edges}},
    ]


def hostile_page() -> str:
    meta = {"title": HOSTILE[1], "period_text": "p", "period_label": "p"}
    return render.to_html(meta, hostile_panels())


def test_stranger_values_in_the_html_are_text() -> None:
    page = hostile_page()
    head, _, rest = page.partition('<script type="application/json" id="charts">')
    island = rest.split("</script>", 1)[0]
    # outside the JSON island, only our own tags: every value is escaped
    assert "<img" not in head and "<script>window" not in head
    assert "&lt;img src=x onerror=" in head
    # inside it, no value can close the element or open a tag
    assert "<" not in island and ">" not in island
    specs = json.loads(island)
    text = json.dumps(specs, ensure_ascii=False)
    assert "\u202e" not in text and "\u0007" not in text and "\u202e" not in head
    assert "</script><script>window.__pwned=1</script>" in text  # kept as text, not dropped
    assert page.count("<script") == 3  # the island, the bundle, the drawing: no other


def test_stranger_values_in_mermaid_are_text() -> None:
    meta = {"title": "t", "period_text": "p", "period_label": "p"}
    text, files = render.to_markdown(meta, hostile_panels(), "x", charts_as="mermaid")
    assert files == {}  # one file: the charts are in it
    blocks = re.findall(r"```mermaid\n(.*?)\n```", text, re.S)
    assert [b.split("\n", 1)[0] for b in blocks] == ["xychart-beta", "xychart-beta", "flowchart LR"]
    for block in blocks:
        assert not re.search(r"[<>`&\u202e\u0007]", block.replace("-->", "")), block
        for line in block.splitlines()[1:]:  # each label one string: no quote inside it
            for label in re.findall(r'"([^"]*)"', line):
                assert "\n" not in label and "'" not in label.replace("'", "")
    assert "window.__pwned=3" in blocks[0]  # kept as text
    assert "-->|5|" in blocks[2] and "-->|3|" in blocks[2]  # the edges' counts


def test_the_paths_flow_states_every_edge_it_draws() -> None:
    from usertrack.dashboards.charts import chart

    edges = [
        {"source": "a", "target": "b", "step": 1, "count": 7},
        {"source": "b", "target": "c", "step": 2, "count": 5},
        {"source": "x", "target": "c", "step": 2, "count": 2},
    ]
    made = chart("paths", {"edges": edges})
    assert made is not None
    spec, alt = made
    for e in edges:  # the alt text's numbers are the panel's JSON's
        assert f"step {e['step']} {e['source']} → {e['target']} {e['count']}" in alt
    layers = spec["layer"]
    # the labels on a white halo: a text layer under them
    assert [layer["mark"]["type"] for layer in layers] == ["rule", "point", "text", "text"]
    assert {n["label"] for n in layers[3]["data"]["values"]} == {"a (7)", "b (5)", "c (7)", "x (2)"}
    assert layers[0]["encoding"]["x"]["scale"]["domain"] == [0.9, 3.95]  # none past step 3
    assert layers[0]["encoding"]["x"]["axis"]["values"] == [1, 2, 3]
    drawn = layers[0]["data"]["values"]
    # b is where a's 7 arrive at step 2 and where 5 leave it: one node, the widest of its column
    assert {(d["source"], d["next_step"], d["next_rank"]) for d in drawn} == {
        ("a", 2, 0),
        ("b", 3, 0),
        ("x", 3, 0),
    }


# Every shape of chart, with a stranger's values: what tests/chart_reference.py (altair) builds too.
SHAPES = [
    ("metrics", {"daily_active": [{"label": "11-15", "active_users": 3},
                                  {"label": "11-16", "active_users": 5}]}),
    ("activity", {"dau": 1, "wau": 2, "mau": 3,
                  "daily": [{"date": "2026-11-01", "dau": 1, "wau": 2, "mau": 3}],
                  "lifecycle": [{"period_start": "2026-10-26", "new": 1, "returning": 2,
                                 "resurrecting": 0, "dormant": -3}]}),
    ("activity", {"daily": [], "lifecycle": [{"period_start": "2026-10-26", "new": 1,
                                              "returning": 2, "resurrecting": 0, "dormant": -3}]}),
    ("funnel", {"steps": [
        {"event": "a<b>", "persons": 5, "conversion_from_start": 100.0, "drop_off": 0,
         "median_seconds_to_convert": None},
        {"event": "b", "name": "B\u202e", "persons": 2, "conversion_from_start": 40.0,
         "drop_off": 3, "median_seconds_to_convert": 61.5}]}),
    ("funnel", {"counted": "accounts", "steps": [
        {"event": "a", "accounts": 3, "conversion_from_start": 100.0, "drop_off": 0}]}),
    ("retention", {"period": "week", "as_of": "2026-11-16T00:00:00Z",
                   "cohorts": [{"start": "2026-11-02", "size": 4, "retained": [4, 1]},
                               {"start": "2026-11-09", "size": 0, "retained": [0, 0]}],
                   "average": [{"period": 0, "percent": 100.0}, {"period": 1, "percent": None}]}),
    ("features", {"by": "event", "features": [
        {"event": "</script>", "adoption": 1.5, "persons": 2, "uses": 3, "trend": "up"}]}),
    ("features", {"by": "feature", "features": [
        {"feature": "a", "category": "<b>Build", "adoption": 80.0, "persons": 8, "uses": 9},
        {"feature": "b", "category": None, "adoption": None, "persons": 0, "uses": 0}]}),
    ("paths", {"edges": [{"step": 1, "source": "a", "target": "b", "count": 3},
                         {"step": 2, "source": "b", "target": "c", "count": 1},
                         {"step": 2, "source": "x", "target": "c", "count": 2}]}),
    ("segments", {"segments": [{"name": "S", "before": 1, "after": 3, "change": 2,
                                "entered": ["a@x"], "left": []}]}),
    ("failures", {"workflow_causes": [{"cause": "c", "failures": 2, "users": 1}],
                  "tool_causes": [{"cause": "d", "failures": 5, "users": 2},
                                  {"cause": "c", "failures": 2, "users": 2}]}),
    ("sessions", {"buckets": [{"bucket": "0-30s", "sessions": 2}]}),
    ("churn", {"period": "week", "engagement": {"average": 41.5, "distribution": [
        {"band": "0-19", "persons": 1}, {"band": "20-39", "persons": 0}]},
        "periods": [{"start": "2026-11-02", "churn_rate": 50.0},
                    {"start": "2026-11-09", "churn_rate": None}]}),
    ("churn", {"period": "day", "engagement": {"distribution": []},
               "periods": [{"start": "2026-11-02", "churn_rate": 12.5}]}),
    ("tools", {"top_tools": [{"tool_name": "<b>x", "calls": 4, "failures": 1,
                              "success_rate": 75.0}],
               "agents": [{"status": "completed", "runs": 3}, {"status": "failed", "runs": 1}]}),
    ("tools", {"top_tools": [], "agents": [{"status": "failed", "runs": 1}]}),
    ("accounts", {"summary": {"accounts": 3, "healthy": 1, "at_risk": 1, "dormant": 1},
                  "account_segments": [{"name": "S", "accounts": 2}]}),
    ("accounts", {"summary": {"accounts": 1, "healthy": 1, "at_risk": 0, "dormant": 0},
                  "account_segments": []}),
    ("alerts", {"alerts": [{"trigger": "t"}, {"trigger_name": "N"}, {}]}),
    ("trends", {"points": ["2026-11-01", "2026-11-02"], "math": "dau", "interval": "day",
                "series": [{"event": "$pageview", "breakdown": "Chrome", "data": [1, None]},
                           {"event": "x", "data": [3, 4.5]}]}),
]  # fmt: skip


def test_the_charts_are_the_specifications_altair_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The charts' Vega-Lite specifications are written as dicts (altair's import is 0.4 s of
    CPU): each is the JSON altair builds from the same rows, key for key in altair's order, so
    the page and the SVG files are the same."""
    from tests import chart_reference as reference
    from usertrack.dashboards import charts

    ours = [charts.chart(analysis, data) for analysis, data in SHAPES]
    assert all(made is not None for made in ours)
    monkeypatch.setattr(charts, "_bars", reference._bars)
    for name in ("metrics", "activity", "retention", "paths", "trends", "failures", "churn",
                 "tools", "accounts", "features"):  # fmt: skip
        monkeypatch.setitem(charts.CHARTS, name, getattr(reference, f"_{name}"))
    theirs = [charts.chart(analysis, data) for analysis, data in SHAPES]
    for (analysis, _), mine, built in zip(SHAPES, ours, theirs, strict=True):
        assert json.dumps(mine) == json.dumps(built), analysis


def test_drawing_a_chart_does_not_import_altair() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from usertrack.dashboards import render\n"
        f"for analysis, data in {SHAPES!r}:\n"
        "    render.chart(analysis, data)\n"
        "assert 'altair' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_analyses_draw_their_charts(home: Path, tmp_path: Path) -> None:
    as_of = ["--as-of", "2026-11-16"]
    result = run(["retention", *as_of, "-f", "html", "--out", str(tmp_path / "r.html")], home)
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count('class="chart"') == 1 and "vegaEmbed" in page
    assert "Average retention by period" in page  # the chart's alt text
    result = run(["funnel", *as_of, "-f", "svg", "--out", str(tmp_path / "f.svg")], home)
    assert result.exit_code == 0, result.stderr
    funnel = json.loads(run(["funnel", *as_of, "-f", "json"], home).stdout)
    svg = (tmp_path / "f.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "Persons per step" in svg
    assert all(s["event"] in svg for s in funnel["steps"])
    result = run(["paths", *as_of, "--out", str(tmp_path / "p.png")], home)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    result = run(["trends", "$pageview", *as_of, "-f", "svg"], home)
    assert result.exit_code == 0 and result.stdout.startswith("<svg")
    result = run(["funnel", "--dropped", "2", "-f", "svg", "--out", str(tmp_path / "d.svg")], home)
    assert result.exit_code == 2 and "no chart" in result.stderr
    result = run(["activity", "-f", "png"], home)
    assert result.exit_code == 2 and "--out NAME.png" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.svg", "p.png", "r.html"]


def test_mcp_report_takes_a_name_never_a_path(home: Path) -> None:
    from usertrack.cli import app
    from usertrack.dashboards.spec import summaries
    from usertrack.mcp.server import ToolError, call, tools, use_app

    use_app(app)
    tool = tools()["report"]
    assert tool.schema["required"] == ["dashboard"]
    assert "out" not in tool.schema["properties"] and "template" not in tool.schema["properties"]
    for bad in ("/etc/passwd", "../x.yaml", "weekly.yaml"):
        with pytest.raises(ToolError, match="must be a name"):
            call(tool, {"dashboard": bad})
    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(home))
    try:
        names = [d["name"] for d in summaries(home)]
        answer = call(tool, {"dashboard": "weekly", "as_of": "2026-11-16", "max_items": 0})
    finally:
        mp.undo()
    assert "weekly" in names
    data = json.loads(answer[0])["untrusted_data"]  # the server marks answers as strangers' data
    assert data["dashboard"] == "weekly" and data["period_label"] == "2026-W46"
    assert [p["analysis"] for p in data["panels"]][:3] == ["metrics", "activity", "funnel"]


def test_every_compared_panel_says_what_changed() -> None:
    step = {"event": "a", "persons": 10, "conversion_from_start": 100.0}
    now = {**step, "event": "b", "persons": 4, "conversion_from_start": 40.0}
    before = {**step, "event": "b", "persons": 5, "conversion_from_start": 50.0}
    funnel = {"steps": [step, now], "previous": {"steps": [{**step, "persons": 10}, before]}}
    assert render.headline("funnel", funnel) == (
        "10 entered, 4 converted (40.0%). Previous period: 10 entered, 5 converted (50.0%),"
        " -10.0 pp now."
    )
    cohorts = [
        {"start": "2026-11-02", "size": 10, "retained": [10, 5, 2]},
        {"start": "2026-11-09", "size": 20, "retained": [20, 12]},
        {"start": "2026-11-16", "size": 7, "retained": [7]},
    ]
    weekly = {"period": "week", "cohorts": cohorts, "as_of": "2026-11-23T00:00:00Z"}
    assert render.headline("retention", weekly).endswith(
        "Latest cohort (2026-11-09): 60.0% (12 of 20; 38.7-78.1%) back after one week, against"
        " 50.0% (5 of 10; 23.7-76.3%) for the one before (+10.0 pp)."
    )


def test_daily_retention_says_d1_d7_d30() -> None:
    def point(day: int, percent: float | None) -> dict[str, object]:
        return {"day": day, "period": day, "percent": percent}

    cohorts = [
        {"start": "2026-10-01", "size": 10, "retained": [10, 5, 4, 4]},
        {"start": "2026-11-20", "size": 30, "retained": [30, 3]},
    ]
    # the analysis's own figures: its average curve and day points, never the cohorts re-added
    average = [{"period": 0, "percent": 100.0}, {"period": 1, "percent": 50.0}]
    days = [point(1, 50.0), point(7, 30.0), point(14, None), point(30, 10.0)]
    d = {"period": "day", "cohorts": cohorts, "average": average, "day_points": days}
    assert render.headline("retention", d) == (
        "2 cohorts, 40 persons; 50.0% came back the next day."
        " Average retention: D1 50.0%, D7 30.0%, D30 10.0%."
    )


def test_the_dashboards_d1_d7_are_the_retention_commands(home: Path, tmp_path: Path) -> None:
    """One definition: the weekly dashboard's daily retention panel, at a moment inside a day
    (whose day has not ended, so it counts for no cohort), says `usertrack retention`'s day
    points."""
    import yaml

    shipped = Path(render.__file__).parent / "weekly.yaml"
    weekly = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    (panel,) = [p for p in weekly["panels"] if p.get("period") == "day"]
    mine = {"title": "Daily", "period": {"days": 7}, "panels": [panel]}
    path = tmp_path / "daily.yaml"
    path.write_text(yaml.safe_dump(mine), encoding="utf-8")
    moment = "2026-11-12T15:00:00Z"
    page = run(["report", str(path), "--as-of", moment, "-f", "md", "--out", "-"], home)
    assert page.exit_code == 0, page.stderr
    said = re.search(r"Average retention: D1 ([\d.]+)%, D7 ([\d.]+)%", page.stdout)
    assert said is not None, page.stdout
    argv = ["retention", "--period", "day", "--periods", str(panel["periods"]), "--as-of", moment]
    answer = run([*argv, "-f", "json"], home)
    assert answer.exit_code == 0, answer.stderr
    points = {p["day"]: p["percent"] for p in json.loads(answer.stdout)["day_points"]}
    assert (float(said[1]), float(said[2])) == (points[1], points[7])
    # and the cohorts re-added, the partial day in, would say otherwise here
    cohorts = json.loads(answer.stdout)["cohorts"]
    old = [c for c in cohorts if c["size"] and len(c["retained"]) > 1]
    naive = round(100 * sum(c["retained"][1] for c in old) / sum(c["size"] for c in old), 1)
    assert naive != points[1]


def test_open_hands_the_html_file_to_the_browser(home: Path, tmp_path: Path) -> None:
    import webbrowser

    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n', encoding="utf-8")
    browser.chmod(0o755)
    mine = _write(tmp_path, MINE.split("  - analysis: retention")[0])
    page = tmp_path / "r.html"
    refused = run(["report", str(mine), "--open", "-f", "json", "--out", "-"], home)
    assert refused.exit_code == 2 and "--open opens the HTML page" in refused.stderr
    webbrowser._tryorder = None  # type: ignore[attr-defined]  # read $BROWSER afresh
    try:
        args = ["report", str(mine), "--as-of", "2026-11-16", "--open", "--out", str(page)]
        result = run(args, home, BROWSER=f"{browser} %s")
        assert result.exit_code == 0, result.stderr
    finally:
        webbrowser._tryorder = None  # type: ignore[attr-defined]
    for _ in range(50):  # the browser command may run in the background
        if opened.exists():
            break
        import time

        time.sleep(0.1)
    assert opened.read_text(encoding="utf-8").strip() == page.resolve().as_uri()


def test_the_weekly_panels_say_what_their_commands_say(home: Path, tmp_path: Path) -> None:
    """The weekly dashboard computes its panels from facts it shares (each moment's
    classification, each query's result): its segments panel equals `segments --changes` run
    alone at the period's end; its alerts panel equals `usertrack alerts` there but for
    entered_segment, which tells who entered a segment in the week (the segments panel's
    `entered`), not since the day before; its key metrics equal those of a run whose panels
    share nothing."""
    from usertrack.workspace import Workspace

    moment = "2026-11-12"
    page = run(["report", "weekly", "--as-of", moment, "-f", "json", "--out", "-", "--no-save"],
               home)  # fmt: skip
    assert page.exit_code == 0, page.stderr
    doc = json.loads(page.stdout)
    panels = {p["analysis"]: p["data"] for p in doc["panels"]}
    end = doc["to"]
    moved = run(["segments", "--changes", "--as-of", end, "-f", "json", "--no-save"], home)
    assert moved.exit_code == 0, moved.stderr
    assert panels["segments"] == json.loads(moved.stdout)
    alone = json.loads(run(["alerts", "--as-of", end, "-f", "json"], home).stdout)
    week = panels["alerts"]
    assert week["as_of"] == alone["as_of"] and week["rules"] == alone["rules"]
    assert week["baseline"]["as_of"] == doc["from"] != alone["baseline"]["as_of"]
    assert week["baseline"]["from"] == "period_start"  # --no-save: no snapshot of it
    others = [a for a in alone["alerts"] if a["trigger"] != "entered_segment"]
    assert [a for a in week["alerts"] if a["trigger"] != "entered_segment"] == others
    # entered_segment: the week's entrants of each segment the trigger names, in its order
    moves = {s["id"]: s for s in panels["segments"]["segments"]}
    said = [(a["detail"], a["email"]) for a in week["alerts"] if a["trigger"] == "entered_segment"]
    wanted = [(f"entered {moves[seg]['name']}", email) for seg in ("failing", "high_intent")
              for email in moves[seg]["entered"]]  # fmt: skip
    assert said == wanted and len(said) > len(
        [a for a in alone["alerts"] if a["trigger"] == "entered_segment"]
    )  # a week holds more entrants than its last day
    # The same run with no query result shared between panels: every query run again.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Workspace, "_shared_key", lambda self, query, values: None)
        again = run(["report", "weekly", "--as-of", moment, "-f", "json", "--out", "-",
                     "--no-save"], home)  # fmt: skip
    assert again.exit_code == 0, again.stderr
    plain = json.loads(again.stdout)
    assert plain["panels"] == doc["panels"]
    # The weekly panels ask the app's database nothing twice (the queries' moments and windows
    # differ), so the count is the same with or without sharing results.
    assert plain["queries"]["database"] == doc["queries"]["database"] > 0


def test_the_weekly_retention_headline_counts_only_ended_weeks(home: Path, tmp_path: Path) -> None:
    """The weekly retention panel's headline compares the two latest cohorts whose week after
    has ended by the moment, as `usertrack retention` counts a period: at a moment inside a week,
    the cohort whose next week is still running is not the latest."""
    from datetime import date, datetime, timedelta

    import yaml

    shipped = Path(render.__file__).parent / "weekly.yaml"
    weekly = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    (panel,) = [p for p in weekly["panels"] if p.get("analysis") == "retention"
                and p.get("period") == "week"]  # fmt: skip
    path = tmp_path / "weekly-retention.yaml"
    mine = {"title": "Weekly", "period": {"days": 7}, "panels": [panel]}
    path.write_text(yaml.safe_dump(mine), encoding="utf-8")
    moment = "2026-11-12T15:00:00Z"
    page = run(["report", str(path), "--as-of", moment, "-f", "md", "--out", "-"], home)
    assert page.exit_code == 0, page.stderr
    sample = r"(?: \\?\(\d+ of \d+; [\d.]+-[\d.]+%\\?\))?"  # a cohort of few persons says so
    said = re.search(rf"Latest cohort \\?\(([\d-]+)\\?\): ([\d.]+)%{sample} back after one week,"
                     r" against ([\d.]+)%", page.stdout)  # fmt: skip
    assert said is not None, page.stdout
    argv = ["retention", "--period", "week", "--periods", str(panel["periods"]), "--as-of", moment]
    answer = run([*argv, "-f", "json"], home)
    assert answer.exit_code == 0, answer.stderr
    cohorts = [c for c in json.loads(answer.stdout)["cohorts"] if c["size"]]
    at = datetime(2026, 11, 12, 15)
    ended = [c for c in cohorts
             if datetime.combine(date.fromisoformat(c["start"]) + timedelta(weeks=2),
                                 datetime.min.time()) <= at]  # fmt: skip
    before, latest = ended[-2:]
    assert said[1] == latest["start"]
    assert float(said[2]) == round(100 * latest["retained"][1] / latest["size"], 1)
    assert float(said[3]) == round(100 * before["retained"][1] / before["size"], 1)
    # the cohort after it has a second week begun but not ended: counting it would say otherwise
    running = cohorts[cohorts.index(latest) + 1]
    assert len(running["retained"]) > 1


def test_a_funnel_panels_steps_may_be_mappings(home: Path, tmp_path: Path) -> None:
    """A panel's step `{event: E, where: {P: V}}` is the step E:P=V; a bad one names the line."""
    mapped = MINE.replace(
        "    steps: [user_signed_up, workspace_created]",
        "    steps:\n      - user_signed_up\n"
        "      - {event: $pageview, where: {$pathname: /pricing}}",
    )
    result = run(["report", str(_write(tmp_path, mapped)), "-f", "json", "--out", "-"], home)
    assert result.exit_code == 0, result.stderr
    funnel = json.loads(result.stdout)["panels"][0]["data"]
    assert [s["event"] for s in funnel["steps"]] == [
        "user_signed_up",
        "$pageview:$pathname=/pricing",
    ]
    bad = _write(tmp_path, mapped.replace("{event: $pageview,", "{evnt: $pageview,"))
    result = run(["report", str(bad), "-f", "json", "--out", "-"], home)
    assert result.exit_code == 2
    assert f"{bad}:8: panel 'Sign-up to workspace': unknown key 'evnt'" in result.stderr, (
        result.stderr
    )


def test_a_funnel_panel_shows_its_steps_names(home: Path, tmp_path: Path) -> None:
    """A panel's step with `name:` is labelled as `--step-name` labels it: in the panel's data
    beside its event and in its chart (HTML-escaped); two steps of one name: file:line, exit 2."""
    named = MINE.replace(
        "    steps: [user_signed_up, workspace_created]",
        "    steps: [{event: user_signed_up, name: 'Signed <up>'}, workspace_created]",
    )
    path = _write(tmp_path, named)
    out = tmp_path / "out"
    as_of = ["--as-of", "2026-11-16"]
    result = run(["report", str(path), *as_of, "-f", "json", "--out", str(out / "r.json")], home)
    assert result.exit_code == 0, result.stderr
    steps = json.loads((out / "r.json").read_text(encoding="utf-8"))["panels"][0]["data"]["steps"]
    assert [(s["event"], s.get("name")) for s in steps] == [
        ("user_signed_up", "Signed <up>"), ("workspace_created", None)
    ]  # fmt: skip
    cli = run(["funnel", "user_signed_up", "workspace_created", "-w", "7d", "-d", "14",
               *as_of, "-f", "json"], home)  # fmt: skip
    assert [s["persons"] for s in steps] == [s["persons"] for s in json.loads(cli.stdout)["steps"]]
    page = run(["report", str(path), *as_of, "-f", "html", "--out", str(out / "r.html")], home)
    assert page.exit_code == 0, page.stderr
    text = (out / "r.html").read_text(encoding="utf-8")
    assert "1. Signed &lt;up&gt;" in text and "Signed <up>" not in text
    twice = _write(
        tmp_path, named.replace("workspace_created]", "{event: x, name: 'Signed <up>'}]")
    )
    result = run(["report", str(twice), *as_of, "-f", "json", "--out", "-"], home)
    assert result.exit_code == 2 and f"{twice}:8: panel 'Sign-up to workspace'" in result.stderr
    assert "names two steps alike" in result.stderr


def test_clean_finds_every_hidden_character_deep_in_a_panel() -> None:
    from usertrack.dashboards.charts import clean

    hidden = [chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]]
    hidden += ["\u061c", "\u200b", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\ufeff"]
    for ch in hidden:
        data = {"rows": [{"n": 1, "name": f"a{ch}b"}, {"n": 2.5, "name": None}], "k": [True]}
        assert clean(data)["rows"][0]["name"] == "a\ufffdb", repr(ch)
        assert data["rows"][0]["name"] == f"a{ch}b"  # the panel's own data is left as it is
    plain = {"rows": [{"name": "tab\tnew\nline, \\u0041 \u2028 é"}], "n": [1, None]}
    assert clean(plain) is plain  # nothing to show otherwise: given back, not copied
    looks = {"name": ["x\\ry", "\\u0007", "\\b"]}  # backslashes, not controls: kept
    assert clean(looks) == looks


def test_the_failures_chart_names_each_level_and_adds_none_up() -> None:
    """The alt text (the Markdown's image text, the JSON's chart_alt) and the mermaid chart
    named a cause without its level, one bar the sum of a cause's two levels."""
    from usertrack.dashboards.charts import chart, mermaid

    data = {
        "workflow_causes": [{"cause": "Sandbox rate limit", "failures": 177, "users": 9}],
        "tool_causes": [{"cause": "Sandbox rate limit", "failures": 161, "users": 8}],
    }
    made = chart("failures", data)
    assert made is not None
    assert made[1] == (
        "Failures by cause, workflow and tool level (not added up): Sandbox rate limit"
        " (workflow level) 177; Sandbox rate limit (tool level) 161."
    )
    ((block, note),) = mermaid("failures", data)
    assert note == "" and block.splitlines()[-2:] == ["    bar [177]", "    bar [161]"]


def test_a_dashboard_of_days_states_its_period_once(home: Path, tmp_path: Path) -> None:
    """The header read "2026-10-17..2026-11-15: 2026-10-17 to 2026-11-15 (UTC)": a range of
    days is stated once; an ISO week keeps its name beside its days."""
    days = _write(tmp_path, "title: Mine\nperiod:\n  days: 30\npanels:\n  - analysis: funnel\n")
    as_of = ["--as-of", "2026-11-16", "-f", "md"]
    result = run(["report", str(days), *as_of, "--out", str(tmp_path / "days.md")], home)
    assert result.exit_code == 0, result.stderr
    head = (tmp_path / "days.md").read_text(encoding="utf-8").splitlines()[2]
    assert head == "2026-10-17 to 2026-11-15 \\(UTC\\)"
    week = _write(tmp_path, "title: Mine\npanels:\n  - analysis: funnel\n")
    result = run(["report", str(week), *as_of, "--out", str(tmp_path / "week.md")], home)
    assert result.exit_code == 0, result.stderr
    head = (tmp_path / "week.md").read_text(encoding="utf-8").splitlines()[2]
    assert head == "2026-W46: 2026-11-09 to 2026-11-15 \\(UTC\\)"


def test_the_paths_labels_stay_within_their_column_and_the_frame() -> None:
    """A node's label is cut to the room between its dot and the next step's (or the frame's
    right edge), so long event names never run into the next column or past the chart."""
    from usertrack.dashboards.charts import chart

    edges = [
        {"source": "workspace_created_from_template", "target": "search_performed", "step": s,
         "count": 9 - s}
        for s in range(1, 5)
    ]  # fmt: skip
    made = chart("paths", {"edges": edges})
    assert made is not None
    spec = made[0]
    lo, hi = spec["layer"][0]["encoding"]["x"]["scale"]["domain"]
    per_step = spec["width"] / (hi - lo)  # pixels from one step to the next
    text = spec["layer"][3]["mark"]
    assert spec["layer"][2]["mark"]["limit"] == text["limit"]  # the halo is cut alike
    assert text["dx"] + text["limit"] < per_step  # short of the next column's dot
    assert text["dx"] + text["limit"] <= (hi - 5) * per_step  # within the frame past step 5
    assert spec["layer"][0]["encoding"]["x"]["axis"]["domain"] is False  # no line past step 5
