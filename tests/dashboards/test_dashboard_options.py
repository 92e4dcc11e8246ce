"""The options a dashboard panel takes: an allowlist of its command's options (what the analysis
computes, over which people and days), never one that names a file or a folder, writes or sends.
A refused option is one line naming the dashboard's file and line, exit 2, before anything opens;
every shipped and documented dashboard still loads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.core.path_parameters import names_a_path
from usertrack.dashboards.compute import command_lines
from usertrack.dashboards.spec import ANALYSES, PANEL_OPTIONS, SHIPPED, load, panel_params

REPO = Path(__file__).resolve().parents[2]
# Options that send or say where to: never a panel's, whatever the allowlist says.
SENDERS = {"notify", "app_url", "watch", "every", "reset_outbox", "apply", "webhook", "url"}


def _root() -> Any:
    from typer.main import get_command

    from usertrack.cli import app

    return get_command(app)


def _documented() -> list[tuple[str, str]]:
    """Every dashboard of the docs and the README: their ```yaml blocks that hold panels."""
    found = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for i, block in enumerate(re.findall(r"```ya?ml\n(.*?)```", text, re.S)):
            if re.search(r"^panels:", block, re.M):
                found.append((f"{page.name}#{i}", block))
    return found


def test_every_shipped_and_documented_dashboard_loads(tmp_path: Path) -> None:
    root = _root()
    boards = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(SHIPPED.glob("*.yaml"))]
    documented = _documented()
    assert documented and boards  # the docs' example and the weekly dashboard at least
    for name, text in [*boards, *documented]:
        path = tmp_path / "board.yaml"
        path.write_text(text, encoding="utf-8")
        board = load(path)
        lines = command_lines(board, root)
        assert len(lines) == len(board.panels), name
        given = {k.replace("-", "_") for p in board.panels for k in p.options}
        assert given <= PANEL_OPTIONS, (name, given - PANEL_OPTIONS)


def test_no_panel_option_names_a_file_or_sends() -> None:
    root = _root()
    offered: set[str] = set()
    for analysis in ANALYSES:
        command = root.commands.get(analysis)
        if command is None:  # metrics: the weekly report's, no command
            continue
        for name, param in panel_params(command).items():
            assert not names_a_path(param), (analysis, name)
            assert name not in SENDERS, (analysis, name)
            offered.add(name)
    assert offered == PANEL_OPTIONS  # no name in the allowlist that no panel can take


def _export(tmp_path: Path) -> Path:
    record = {
        "uuid": "00000000-0000-0000-0000-000000000001",
        "event": "$pageview",
        "distinct_id": "d-1",
        "person_id": "p-1",
        "timestamp": "2026-11-10T10:00:00Z",
        "properties": {"$pathname": "/"},
        "person_properties": {"email": "ann@example.com"},
    }
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("analysis", "option", "value"),
    [
        ("failures", "failures_file", "/etc/hostname"),
        ("alerts", "alerts_file", "alerts.yaml"),
        ("funnel", "out", "stolen.json"),
        ("trends", "fmt", "csv"),
        ("alerts", "notify", "slack"),
        ("alerts", "app_url", "https://evil.example"),
        ("query", "sql", "SELECT 1"),
        ("segments", "segments_file", "segments.yaml"),
    ],
)
def test_a_panel_option_that_writes_sends_or_names_a_file_is_refused(
    analysis: str, option: str, value: str, tmp_path: Path
) -> None:
    board = tmp_path / "mine.yaml"
    extra = "    events: [$pageview]\n" if analysis == "trends" else ""
    board.write_text(
        f"title: t\npanels:\n  - analysis: {analysis}\n    title: P\n{extra}"
        f"    {option}: {json.dumps(value)}\n",
        encoding="utf-8",
    )
    line = 6 if extra else 5
    out = tmp_path / "out"
    result = run(
        ["report", str(board), "-f", "json", "--out", str(out / "r.json")],
        tmp_path / "home",
        USERTRACK_EVENTS=str(_export(tmp_path)),
    )
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        f"usertrack: error: {board}:{line}: panel 'P': option {option!r} is not taken by a"
        " dashboard panel"
    ), result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_a_retention_panel_takes_cumulative_and_min_occurrences(tmp_path: Path) -> None:
    """retention's --cumulative and --min-occurrences reach a panel (and the MCP tool) from
    their one declaration on the command."""
    from usertrack.cli import app
    from usertrack.mcp import server as mcp_server

    path = tmp_path / "board.yaml"
    path.write_text(
        "title: t\npanels:\n  - analysis: retention\n    title: Rolling\n"
        "    cumulative: true\n    min_occurrences: 2\n",
        encoding="utf-8",
    )
    (line,) = command_lines(load(path), _root())
    assert line == ["--cumulative", "--min-occurrences=2"]
    mcp_server.use_app(app)
    schema = mcp_server.tools(allow_act=False)["retention"].schema["properties"]
    assert schema["cumulative"]["type"] == "boolean"
    assert schema["min_occurrences"]["type"] == "integer"


def test_a_trends_panel_takes_a_formula(tmp_path: Path) -> None:
    """trends' --formula, and an EVENT@MATH among the events, reach a panel and the MCP tool
    from their one declaration on the command."""
    from usertrack.cli import app
    from usertrack.mcp import server as mcp_server

    path = tmp_path / "board.yaml"
    path.write_text(
        "title: t\npanels:\n  - analysis: trends\n    title: Per person\n"
        "    events: [$pageview, $pageview@dau]\n    formula: A/B\n",
        encoding="utf-8",
    )
    (line,) = command_lines(load(path), _root())
    assert line == ["--formula=A/B", "--", "$pageview", "$pageview@dau"]
    mcp_server.use_app(app)
    schema = mcp_server.tools(allow_act=False)["trends"].schema["properties"]
    assert schema["formula"]["type"] == "string"


def test_a_paths_panel_takes_a_type(tmp_path: Path) -> None:
    """paths' --type reaches a panel and the MCP tool from its one declaration."""
    from usertrack.cli import app
    from usertrack.mcp import server as mcp_server

    path = tmp_path / "board.yaml"
    path.write_text(
        "title: t\npanels:\n  - analysis: paths\n    title: Screens\n    types: screen\n",
        encoding="utf-8",
    )
    (line,) = command_lines(load(path), _root())
    assert line == ["--type=screen"]
    mcp_server.use_app(app)
    schema = mcp_server.tools(allow_act=False)["paths"].schema["properties"]
    assert schema["types"]["type"] == "string"


def test_retention_and_activity_panels_take_week_start(tmp_path: Path) -> None:
    """--week-start, declared once (usertrack/cli/options.py), reaches a retention and an
    activity panel and both MCP tools; activity's --stickiness-interval its panel and tool."""
    from usertrack.cli import app
    from usertrack.mcp import server as mcp_server

    path = tmp_path / "board.yaml"
    path.write_text(
        "title: t\npanels:\n  - analysis: retention\n    title: Sunday weeks\n"
        "    week_start: sunday\n  - analysis: activity\n    title: Lifecycle\n"
        "    week_start: sunday\n    stickiness_interval: week\n",
        encoding="utf-8",
    )
    retention, activity = command_lines(load(path), _root())
    assert retention == ["--week-start=sunday"]
    assert sorted(activity) == ["--stickiness-interval=week", "--week-start=sunday"]
    mcp_server.use_app(app)
    tools = mcp_server.tools(allow_act=False)
    for name in ("retention", "activity"):
        assert tools[name].schema["properties"]["week_start"]["type"] == "string"
    assert tools["activity"].schema["properties"]["stickiness_interval"]["type"] == "string"
