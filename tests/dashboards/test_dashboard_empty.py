"""The weekly dashboard on a project without the activation events (the hand-made workspace of
tests/handmade.py: pageviews, MCP clicks, rage clicks, runs; no sign-up or onboarding event):
every panel with nothing to show says why in words, in JSON, Markdown and HTML, never `None`,
`nan`, an all-zero chart or an empty axis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import handmade
from tests.cli_runner import run

# A custom trends panel of an event the project never sent, after the shipped panels.
CUSTOM = """
  - analysis: trends
    title: Upgrades
    events: [plan_upgraded]
"""
EMPTY = ("funnel", "retention", "features", "paths", "trends")


@pytest.fixture
def dashboard(handmade_db: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    events = handmade.write_events_jsonl(tmp_path / "events.jsonl")
    weekly = Path(__file__).parents[2] / "usertrack" / "dashboards" / "weekly.yaml"
    path = tmp_path / "weekly.yaml"
    path.write_text(weekly.read_text(encoding="utf-8") + CUSTOM, encoding="utf-8")
    env = {"DATABASE_URL": handmade_db, "USERTRACK_EVENTS": str(events), "USERTRACK_CONFIG": ""}
    return path, env


def _report(path: Path, env: dict[str, str], home: Path, fmt: str, out: Path) -> None:
    result = run(
        ["report", str(path), "--as-of", "2026-11-16", "--no-save", "-f", fmt, "--out", str(out)],
        home,
        **env,
    )
    assert result.exit_code == 0, result.stderr


def test_empty_panels_say_why_in_every_format(
    dashboard: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, env = dashboard
    home = tmp_path / "home"
    _report(path, env, home, "json", tmp_path / "w.json")
    panels = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))["panels"]
    said = {}
    for p in panels:
        text = f"{p['summary']} {p['chart_alt'] or ''}"
        assert not re.search(r"\bNone\b|\bnan\b|: \.|^\.$", text), (p["title"], text)
        assert p["summary"], p["title"]  # every panel says something
        # (MCP setup is not empty: the hand-made events hold two connect clicks)
        if p["analysis"] in EMPTY and p["title"] != "MCP setup":
            assert p["chart_alt"] is None, p["title"]  # no chart of zeros
            said[p["title"]] = p["summary"]
    assert said["Activation funnel"] == (
        "No one did the funnel's first step (user_signed_up) in the period: no conversion."
    )
    assert said["Retention"] == (
        "No one did user_signed_up, the cohorts' start, in 8 weeks: no cohort to follow."
    )
    assert said["Upgrades"] == "No plan_upgraded events in the period: nothing to draw."
    assert said["Paths into activation"] == "No paths into onboarding_completed in the period."

    _report(path, env, home, "md", tmp_path / "w.md")
    md = (tmp_path / "w.md").read_text(encoding="utf-8")
    assert "None" not in md and "nan" not in md.split() and "None%" not in md
    for title in ("Activation funnel", "Retention", "Upgrades"):
        section = md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
        assert "![" not in section and ".svg" not in section, section  # no empty chart
        assert said[title].rsplit(": ", 1)[1] in section  # its words instead
    drawn = {p.name for p in tmp_path.glob("w-*.svg")}
    assert "w-02-activity.svg" in drawn  # the panels with data draw theirs
    for n, p in enumerate(panels, start=1):  # the empty ones draw none
        if p["analysis"] in EMPTY and p["title"] != "MCP setup":
            assert f"w-{n:02d}-{p['analysis']}.svg" not in drawn, p["title"]

    _report(path, env, home, "html", tmp_path / "w.html")
    page = (tmp_path / "w.html").read_text(encoding="utf-8")
    body = page.split('<script type="application/json"', 1)[0]
    assert "None" not in body and "None%" not in body
    for i, p in enumerate(panels, 1):
        section = body.split(f'<section id="panel-{i}">', 1)[1].split("</section>", 1)[0]
        if p["analysis"] in EMPTY and p["title"] != "MCP setup":
            assert 'class="chart"' not in section, p["title"]
            assert 'class="summary"' in section, p["title"]
