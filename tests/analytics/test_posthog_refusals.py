"""PostHog's insight options usertrack does not offer (docs/analytics.md, "PostHog options not
offered"), typed as a PostHog user would: each refused with one line naming PostHog's option
and usertrack's nearest equivalent, exit 2, nothing on stdout; an ordinary typo still gets
Click's "No such option"; the MCP server explains the same names the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.mcp.test_mcp import raw_text, with_client
from usertrack.core.errors import EXIT_USAGE
from usertrack.core.posthog_options import refusal

GROUP = "PostHog's aggregation by group (aggregation_group_type_index) is not offered"
HOGQL = "PostHog's aggregation by a HogQL expression (funnelAggregateByHogQL) is not offered"
TIMEZONE = "PostHog's project timezone is not offered; every analysis works in UTC"
PATH = "PostHog's HogQL expression as a path node (pathsHogQLExpression) is not offered"


@pytest.mark.parametrize(
    ("argv", "said", "nearest"),
    [
        (["funnel", "a", "b", "--timezone", "Europe/Paris"], TIMEZONE, "(docs: analytics.md)"),
        (["retention", "--timezone=Europe/Paris"], TIMEZONE, "UTC"),
        (["trends", "x", "--tz", "UTC"], TIMEZONE, "UTC"),
        (["funnel", "a", "b", "--aggregation-group-type-index", "0"], GROUP, "--by-account"),
        (["retention", "--aggregation_group_type_index", "0"], GROUP, "--by-account"),
        (["funnel", "a", "b", "--aggregate-by-group", "0"], GROUP, "--by-account"),
        (["funnel", "a", "b", "--aggregate-by-hogql", "person_id"], HOGQL, "--by-account"),
        (["funnel", "a", "b", "--funnelAggregateByHogQL", "x"], HOGQL, "persons"),
        (["paths", "--path-hogql", "x"], PATH, "--type page|screen|custom"),
        (["paths", "--paths-hogql-expression", "x"], PATH, "--where"),
        (["paths", "--pathsHogQLExpression", "x"], PATH, "--where"),
    ],
)
def test_each_refused_with_one_line_and_exit_2(
    tmp_path: Path, argv: list[str], said: str, nearest: str
) -> None:
    result = run(argv, home=tmp_path)
    assert result.exit_code == EXIT_USAGE
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    option = next(a for a in argv if a.startswith("--")).split("=")[0]
    assert line.startswith(f"usertrack: error: {argv[0]}: {option}: {said}"), line
    assert nearest in line and line.endswith("(docs: analytics.md)")


def test_an_ordinary_typo_still_gets_clicks_message(tmp_path: Path) -> None:
    result = run(["funnel", "a", "b", "--timezon", "UTC"], home=tmp_path)
    assert result.exit_code == EXIT_USAGE and result.stdout == ""
    assert result.stderr.splitlines()[0] == "usertrack: error: funnel: No such option: --timezon"
    result = run(["trends", "x", "--top-n", "3"], home=tmp_path)
    assert "No such option: --top-n" in result.stderr and "PostHog" not in result.stderr


def test_the_table_matches_a_name_however_spelled() -> None:
    for name in ("timezone", "--TimeZone", "time_zone", "aggregationGroupTypeIndex"):
        assert refusal(name) is not None, name
    for name in ("--time", "--by-account", "--where", "zone", "--hogql"):
        assert refusal(name) is None, name


def test_the_mcp_server_explains_the_same_names(demo_home: Path) -> None:
    async def body(client: Any) -> Any:
        return [
            await client.call_tool("funnel", {"steps": ["a", "b"], "timezone": "Europe/Paris"}),
            await client.call_tool("paths", {"paths_hogql_expression": "x"}),
            await client.call_tool("segments", {"format": "csv"}),
        ]

    timezone, path, other = with_client(demo_home, body)
    assert timezone.is_error and path.is_error and other.is_error
    assert raw_text(timezone)[0] == (
        f"funnel: argument 'timezone': {TIMEZONE} (docs: analytics.md)"
    )
    assert raw_text(path)[0].startswith(f"paths: argument 'paths_hogql_expression': {PATH}")
    assert raw_text(other)[0].startswith("segments: unknown argument 'format'")
