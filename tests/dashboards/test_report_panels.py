"""The reports as dashboard panels and as charts: `churn`, `tools`, `accounts`, `segments` and
`failures` computed as a dashboard's panels on the fixed demo (real embedded PostgreSQL and event
store) give each command's own `-f json`, and each draws its chart in the page, the Markdown's
SVG files, and from its command's `-f html|svg|png`; in headless Chromium every chart draws."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.dashboards.test_dashboard_browser import CHROMIUM, chromium, console_lines
from usertrack.segments.history import history_path

AS_OF = "2026-11-16"
BOARD = """\
title: Every report
period:
  days: 30
panels:
  - analysis: churn
    title: Engagement score
    top: 5
  - analysis: tools
    title: Tools and agents
  - analysis: accounts
    title: Accounts
  - analysis: segments
    title: Segments
  - analysis: failures
    title: Failures by cause
"""
ANALYSES = ["churn", "tools", "accounts", "segments", "failures"]
# What each chart is titled (in its SVG) and its alt text begins with.
TITLES = {
    "churn": "Engagement score, active identified persons per band",
    "tools": "Tool calls by tool",
    "accounts": "Accounts by health",
    "segments": "Persons per segment",
    "failures": "Failures by cause",
}


@pytest.fixture
def home(fixed_demo_home: Path) -> Path:
    history_path(fixed_demo_home).unlink(missing_ok=True)
    return fixed_demo_home


def _board(tmp_path: Path) -> Path:
    path = tmp_path / "reports.yaml"
    path.write_text(BOARD, encoding="utf-8")
    return path


def _command(home: Path, analysis: str, *args: str) -> dict[str, Any]:
    result = run([analysis, *args, "-f", "json"], home)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_each_report_panel_is_its_commands_answer(home: Path, tmp_path: Path) -> None:
    board = _board(tmp_path)
    result = run(["report", str(board), "--as-of", AS_OF, "-f", "json", "--out", "-"], home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    panels = {p["analysis"]: p for p in doc["panels"]}
    assert [p["analysis"] for p in doc["panels"]] == ANALYSES
    end = doc["to"]
    at = ["--as-of", end]
    assert panels["churn"]["data"] == _command(home, "churn", *at, "--top", "5")
    for analysis in ("tools", "accounts", "failures"):
        assert panels[analysis]["data"] == _command(home, analysis, *at, "--days", "30")
    alone = _command(home, "segments", *at, "--no-save")
    # each segment's count, type and averages, as the command gives them
    assert panels["segments"]["data"]["segments"] == alone["segments"]

    # each headline and each chart's alt text states the command's own numbers
    churn = panels["churn"]
    engagement = churn["data"]["engagement"]
    assert engagement["scored"] > 0 and churn["data"]["at_risk"]["persons"] > 0
    assert churn["summary"].startswith(f"Engagement score {engagement['average']} on average")
    assert f"{churn['data']['at_risk']['persons']:,} at risk" in churn["summary"]
    for band in engagement["distribution"]:
        assert f"{band['band']} {band['persons']}" in churn["chart_alt"]
    tools = panels["tools"]["data"]
    assert panels["tools"]["summary"].startswith(f"{tools['overview']['calls']:,} tool calls")
    for row in tools["top_tools"][:15]:
        assert f"{row['tool_name']} {row['calls']}" in panels["tools"]["chart_alt"]
    for row in tools["agents"]:
        assert f"{row['status']} {row['runs']}" in panels["tools"]["chart_alt"]
    summary = panels["accounts"]["data"]["summary"]
    assert panels["accounts"]["summary"] == (
        f"{summary['accounts']:,} accounts, {summary['active_accounts']:,} active:"
        f" {summary['healthy']:,} healthy, {summary['at_risk']:,} at risk,"
        f" {summary['dormant']:,} dormant."
    )
    for name in ("healthy", "dormant"):
        assert f"{name} {summary[name]}" in panels["accounts"]["chart_alt"]
    for p in doc["panels"]:
        assert p["chart_alt"].startswith(TITLES[p["analysis"]]), p["analysis"]

    # Markdown: an SVG file of each panel beside it; the page: a chart of each panel
    out = tmp_path / "out"
    result = run(["report", str(board), "--as-of", AS_OF, "--out", str(out)], home)
    assert result.exit_code == 0, result.stderr
    text = Path(result.stdout.strip()).read_text(encoding="utf-8")
    images = re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", text)
    assert [name.rsplit("-", 1)[1] for _alt, name in images] == [f"{a}.svg" for a in ANALYSES]
    for (alt, name), analysis in zip(images, ANALYSES, strict=True):
        svg = (out / name).read_text(encoding="utf-8")
        assert svg.startswith("<svg") and TITLES[analysis] in svg
        assert alt.startswith(TITLES[analysis])
    scored = f"over {engagement['scored']:,} active identified persons; "
    assert scored in text  # the headline, Markdown-escaped
    result = run(["report", str(board), "--as-of", AS_OF, "--out", str(out / "r.html")], home)
    assert result.exit_code == 0, result.stderr
    assert (out / "r.html").read_text(encoding="utf-8").count('class="chart"') == len(ANALYSES)


@pytest.mark.parametrize("analysis", ANALYSES)
def test_each_report_command_draws_its_chart(home: Path, tmp_path: Path, analysis: str) -> None:
    at = ["--as-of", AS_OF]
    result = run([analysis, *at, "-f", "svg", "--out", str(tmp_path / "c.svg")], home)
    assert result.exit_code == 0, result.stderr
    svg = (tmp_path / "c.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and TITLES[analysis] in svg
    result = run([analysis, *at, "--out", str(tmp_path / "c.html")], home)
    assert result.exit_code == 0, result.stderr
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert page.count('class="chart"') == 1 and "vegaEmbed" in page
    assert f'aria-label="{TITLES[analysis]}' in page
    result = run([analysis, *at, "--out", str(tmp_path / "c.png")], home)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    result = run([analysis, *at, "-f", "png"], home)
    assert result.exit_code == 2 and "--out NAME.png" in result.stderr
    assert result.stdout == ""


def test_segments_changes_draw_before_and_after(home: Path, tmp_path: Path) -> None:
    args = ["--changes", "--as-of", AS_OF, "--no-save"]
    moved = _command(home, "segments", *args)
    result = run(["segments", *args, "-f", "svg"], home)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("<svg")
    for s in moved["segments"]:
        assert s["name"] in result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_every_report_chart_draws_in_a_browser(home: Path, tmp_path: Path) -> None:
    page = tmp_path / "reports.html"
    result = run(["report", str(_board(tmp_path)), "--as-of", AS_OF, "--out", str(page)], home)
    assert result.exit_code == 0, result.stderr
    shown = chromium(page, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert console_lines(shown.stderr) == []
    pieces = re.split(r'<div class="chart[^"]*" id="chart-\d+"', shown.stdout)[1:]
    assert len(pieces) == len(ANALYSES)
    for piece, analysis in zip(pieces, ANALYSES, strict=True):
        chart = piece.split("</section>", 1)[0]
        assert "<svg" in chart and TITLES[analysis] in chart, analysis
        assert re.findall(r'class="mark-(?:rect|line|symbol)', chart), analysis
        assert re.search(r'<path[^>]+d="M', chart), analysis  # a mark with a drawn shape


def test_the_weekly_mcp_setup_funnel_ends_at_the_url_copied(home: Path) -> None:
    """The weekly dashboard's MCP setup panel: from a connect click to the setup completed,
    `mcp_url_copied`, as `usertrack funnel` of those steps answers over the week; the weekly
    page also has the engagement score and the tools and agents panels."""
    page = run(["report", "weekly", "--as-of", AS_OF, "-f", "json", "--out", "-", "--no-save"],
               home)  # fmt: skip
    assert page.exit_code == 0, page.stderr
    doc = json.loads(page.stdout)
    by_title = {p["title"]: p for p in doc["panels"]}
    assert by_title["Engagement score"]["analysis"] == "churn"
    assert by_title["Tools and agents"]["analysis"] == "tools"
    setup = by_title["MCP setup"]["data"]
    steps = ["mcp_connect_clicked", "mcp_url_copied", "--step-name", "2=Setup completed"]
    alone = _command(home, "funnel", *steps, "--window", "1d", "--days", "7",
                     "--as-of", doc["to"])  # fmt: skip
    assert setup == alone
    assert [(s["event"], s.get("name")) for s in setup["steps"]] == [
        ("mcp_connect_clicked", None), ("mcp_url_copied", "Setup completed")
    ]  # fmt: skip
    assert 0 < setup["steps"][1]["persons"] < setup["steps"][0]["persons"]
