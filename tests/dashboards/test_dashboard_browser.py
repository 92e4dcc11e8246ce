"""The weekly dashboard's HTML in a real browser: headless Chromium (Debian's `chromium`; .ci/run
installs it) opens the file offline, runs its scripts, and the DOM it leaves is checked: every
chart drew marks, nothing was logged to the console, and a page of hostile values ran none of
them. A screenshot is saved beside the page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_runner import run
from tests.dashboards.test_dashboards import HOSTILE, hostile_panels
from usertrack.dashboards import render
from usertrack.segments.history import history_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")

FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root in CI's container
    "--disable-gpu",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=20000",  # run the page's scripts to the end
]


def chromium(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, "--enable-logging=stderr", "--v=0", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=page.parent,
    )


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_the_weekly_dashboard_draws_every_chart(fixed_demo_home: Path, tmp_path: Path) -> None:
    history_path(fixed_demo_home).unlink(missing_ok=True)
    page = tmp_path / "weekly.html"
    result = run(
        ["report", "weekly", "--as-of", "2026-11-16", "-f", "html", "--out", str(page)],
        fixed_demo_home,
    )
    assert result.exit_code == 0, result.stderr
    charts = page.read_text(encoding="utf-8").count('class="chart"')
    assert charts >= 9

    shown = chromium(page, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert console_lines(shown.stderr) == []
    dom = shown.stdout
    pieces = re.split(r'<div class="chart[^"]*" id="chart-\d+"', dom)[1:]
    assert len(pieces) == charts
    for piece in pieces:
        chart = piece.split("</section>", 1)[0]
        assert "<svg" in chart
        marks = re.findall(r'class="mark-(?:rect|line|symbol|area)', chart)
        assert marks, chart[:500]
        assert re.search(r'<path[^>]+d="M', chart)  # a mark with a drawn shape

    shot = tmp_path / "weekly.png"
    taken = chromium(page, "--window-size=1200,3000", f"--screenshot={shot}")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_a_page_of_hostile_values_runs_none_of_them(tmp_path: Path) -> None:
    panels = hostile_panels()
    # payloads that leave a mark in the DOM if they ever run
    marks = [
        "</script><script>document.body.setAttribute('data-pwned','1')</script>",
        "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">",
        "javascript:document.body.setAttribute('data-pwned','3')",
        *HOSTILE,
    ]
    for panel in panels:
        data: dict[str, list[dict[str, object]]] = panel["data"]  # type: ignore[assignment]
        for row in data.get("steps") or data.get("segments") or []:
            row["event" if "event" in row else "name"] = marks.pop(0) if marks else "x"
    flow = panels[2]["data"]["edges"]  # type: ignore[index]
    for edge, mark in zip(flow, marks_of_the_flow(), strict=False):  # the paths' flow: its nodes
        edge["target"] = mark
    panels[0]["title"] = "<img src=x onerror=\"document.body.setAttribute('data-pwned','4')\">"
    meta = {"title": "<script>document.body.setAttribute('data-pwned','5')</script>"}
    page = tmp_path / "hostile.html"
    page.write_text(
        render.to_html({**meta, "period_text": "p", "period_label": "p"}, panels),
        encoding="utf-8",
    )
    shown = chromium(page, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = shown.stdout
    assert "data-pwned=" not in dom  # no payload ran
    assert "setAttribute('data-pwned','1')" in dom  # ...they are there, as text in the charts
    assert console_lines(shown.stderr) == []
    assert dom.count("<svg") >= 3  # the charts still drew, the flow among them


def marks_of_the_flow() -> list[str]:
    return [
        "<img src=x onerror=\"document.body.setAttribute('data-pwned','6')\">",
        "</script><script>document.body.setAttribute('data-pwned','7')</script>",
        "javascript:document.body.setAttribute('data-pwned','8')",
    ]


def test_failures_by_cause_draws_each_level_apart_with_a_legend(tmp_path: Path) -> None:
    """The failures chart drew a cause found at both levels as one bar of their sum (177
    failed runs and 161 failed tool calls as 338), one colour, no legend, while `usertrack
    failures` keeps the levels apart. Each level is its own bar now, named by a legend."""
    causes = [{"cause": "Sandbox rate limit", "failures": 177, "users": 9},
              {"cause": "Bad input", "failures": 12, "users": 4}]  # fmt: skip
    tools = [{"cause": "Sandbox rate limit", "failures": 161, "users": 8}]
    panel = {
        "analysis": "failures",
        "title": "Failures by cause",
        "note": "",
        "data": {"workflow_causes": causes, "tool_causes": tools},
    }
    page = tmp_path / "failures.html"
    page.write_text(
        render.to_html({"title": "t", "period_text": "p", "period_label": "p"}, [panel]),
        encoding="utf-8",
    )
    shown = chromium(page, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert console_lines(shown.stderr) == []
    chart = shown.stdout.split('id="chart-1"', 1)[1].split("</section>", 1)[0]
    legend = chart.split('class="mark-group role-legend"', 1)[1]
    assert ">workflow</text>" in legend and ">tool</text>" in legend
    bars = re.findall(r'<path[^>]+aria-label="([^"]+)"[^>]+role="graphics-symbol"', chart)
    assert len(bars) == 3, bars  # a bar for each (level, cause): none summed
    assert not any("338" in b for b in bars)
