"""`funnel --by` as PostHog breaks a funnel down: several breakdowns (a value is their tuple),
distinct_id and person properties, the attributions and the limit with its Other, shown in every
format and the chart, from one declaration on the CLI, the MCP tool and a dashboard's panel.
The numbers PostHog asserts are in tests/posthog_cases/test_funnel_breakdown_cases.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import assert_usage_error, record, run_json, run_ok, write_export

AS_OF = "2026-03-10"
STEPS = ["signup", "buy"]


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    """Four persons: p1 Chrome on Mac OS X (converts), p2 Chrome on Windows (converts), p3
    Safari on Mac OS X (signs up only), p4 with no browser or os (converts); p1 signs up from
    two devices (distinct_ids d1a, d1b)."""
    mac, win = {"$browser": "Chrome", "$os": "Mac OS X"}, {"$browser": "Chrome", "$os": "Windows"}
    safari = {"$browser": "Safari", "$os": "Mac OS X"}
    rows = [
        record(1, "signup", _at(2, 10), "d1a", "p1", "p1@x.io", mac),
        record(2, "buy", _at(2, 11), "d1b", "p1", "p1@x.io", mac),
        record(3, "signup", _at(3, 10), "d2", "p2", "p2@x.io", win),
        record(4, "buy", _at(3, 12), "d2", "p2", "p2@x.io", win),
        record(5, "signup", _at(4, 10), "d3", "p3", "p3@x.io", safari),
        record(6, "signup", _at(5, 10), "d4", "p4", "p4@x.io"),
        record(7, "buy", _at(5, 10), "d4", "p4", "p4@x.io"),
    ]
    rows[5]["person_properties"]["plan"] = "pro"
    rows[6]["person_properties"]["plan"] = "pro"
    export = write_export(tmp_path / "events.jsonl", rows)
    return {"USERTRACK_EVENTS": str(export), "USERTRACK_HOME": str(tmp_path / "home"),
            "USERTRACK_CACHE_TTL": "0"}  # fmt: skip


RANGE = ["--since", "2026-03-01", "--until", "2026-03-09"]


def _by(doc: dict[str, Any]) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for b in doc["breakdown"]:
        value = tuple(b["value"]) if isinstance(b["value"], list) else b["value"]
        out[value] = [s["persons"] for s in b["steps"]]
    return out


def test_two_by_options_break_down_by_the_pair_not_the_last(env: dict[str, str]) -> None:
    """`--by $browser --by $os` once kept only $os; the value is now the pair."""
    doc = run_json("funnel", [*STEPS, *RANGE, "--by", "$browser", "--by", "$os"], as_of=AS_OF,
                   **env)  # fmt: skip
    assert doc["breakdown_property"] == ["$browser", "$os"]
    assert _by(doc) == {
        ("Chrome", "Mac OS X"): [1, 1],
        ("Chrome", "Windows"): [1, 1],
        ("", ""): [1, 1],
        ("Safari", "Mac OS X"): [1, 0],
    }


def test_the_pair_is_shown_in_every_format(env: dict[str, str]) -> None:
    args = [*STEPS, *RANGE, "--by", "$browser", "--by", "$os"]
    table = run_ok("funnel", [*args, "-f", "table"], as_of=AS_OF, **env).stdout
    assert "$browser / $os = Chrome / Mac OS X" in table
    assert "$browser / $os = (none) / (none)" in table
    md = run_ok("funnel", [*args, "-f", "md"], as_of=AS_OF, **env).stdout
    assert "## $browser / $os = Chrome / Windows" in md
    csv = run_ok("funnel", [*args, "-f", "csv"], as_of=AS_OF, **env).stdout
    assert "\nChrome / Mac OS X,1," in csv and "\nSafari / Mac OS X,2," in csv


def test_the_limit_puts_the_rest_in_other_everywhere(env: dict[str, str]) -> None:
    """--breakdown-limit 2 keeps two values in PostHog's order (the last step's count, then the
    one before's; a tie by the value): Mac OS X (2 entered), then '' before Windows; Windows
    is Other."""
    args = [*STEPS, *RANGE, "--by", "$os", "--breakdown-limit", "2"]
    doc = run_json("funnel", args, as_of=AS_OF, **env)
    assert [b["value"] for b in doc["breakdown"]] == ["Mac OS X", "", "Other"]
    assert doc["breakdown"][-1]["other"] is True
    assert "other" not in doc["breakdown"][0]
    assert _by(doc)["Other"] == [1, 1]  # p2 on Windows
    assert _by(doc)["Mac OS X"] == [2, 1]
    csv = run_ok("funnel", [*args, "-f", "csv"], as_of=AS_OF, **env).stdout
    assert "\nOther,1," in csv
    from usertrack.dashboards.charts import chart

    made = chart("funnel", doc)
    assert made is not None
    spec, alt = made
    assert {r["$os"] for r in spec["data"]["values"]} == {"(none)", "Mac OS X", "Other"}
    assert "Other: 1. signup 100% (1 person), 2. buy 100.0% (1 of 1; 20.7-100.0%)" in alt


def test_distinct_id_and_a_person_property(env: dict[str, str]) -> None:
    """`--by distinct_id` (PostHog's event metadata) and `--by person.properties.plan` (the
    person's property, which no event carries: once a typo warning and one empty value)."""
    doc = run_json("funnel", [*STEPS, *RANGE, "--by", "distinct_id"], as_of=AS_OF, **env)
    assert _by(doc) == {"d1a": [1, 1], "d2": [1, 1], "d3": [1, 0], "d4": [1, 1]}
    result = run_ok("funnel", [*STEPS, *RANGE, "--by", "person.properties.plan", "-f", "json"],
                    as_of=AS_OF, **env)  # fmt: skip
    assert _by(json.loads(result.stdout)) == {"": [3, 2], "pro": [1, 1]}
    assert "no property of these events" not in result.stderr


def test_last_touch_and_all_events(env: dict[str, str]) -> None:
    doc = run_json("funnel", [*STEPS, *RANGE, "--by", "distinct_id", "--breakdown-attribution",
                              "last_touch"], as_of=AS_OF, **env)  # fmt: skip
    assert _by(doc)["d1b"] == [1, 1] and "d1a" not in _by(doc)
    doc = run_json("funnel", [*STEPS, *RANGE, "--by", "distinct_id", "--breakdown-attribution",
                              "all_events"], as_of=AS_OF, **env)  # fmt: skip
    # p1's sign up was on one device, the buy on the other: neither value's funnel converts
    assert _by(doc)["d1a"] == [1, 0] and "d1b" not in _by(doc)


@pytest.mark.parametrize(
    ("more", "fragment"),
    [
        (["--by", "$os", "--breakdown-attribution", "middle"], "--breakdown-attribution 'middle'"),
        (["--by", "$os", "--breakdown-limit", "0"], "'--breakdown-limit': 0 is not in the range"),
        (["--by", "$os", "--breakdown-limit", "101"], "'--breakdown-limit': 101 is not in"),
        (["--by", "$os", "--breakdown-attribution", "step", "--breakdown-attribution-step", "3"],
         "--breakdown-attribution-step 3"),
        (["--by", "$os", "--breakdown-attribution", "step"], "--breakdown-attribution-step N"),
        (["--by", "$os", "--breakdown-attribution-step", "1"], "--breakdown-attribution step"),
        (["--breakdown-limit", "3"], "--breakdown-limit needs --by"),
        (["--by", "a", "--by", "b", "--by", "c", "--by", "d"], "at most 3 breakdowns"),
        (["--by", "$os", "--order", "any", "--breakdown-attribution", "step",
          "--breakdown-attribution-step", "1"], "--order any"),
    ],
)  # fmt: skip
def test_bad_breakdown_options_are_one_line_and_exit_2(
    env: dict[str, str], more: list[str], fragment: str
) -> None:
    assert_usage_error(["funnel", *STEPS, *RANGE, *more, "--as-of", AS_OF], fragment, **env)


def test_trends_refuses_a_second_by(env: dict[str, str]) -> None:
    """trends break down by one property: a second --by, once silently the only one, is
    refused."""
    assert_usage_error(["trends", "signup", "--by", "$browser", "--by", "$os", "--as-of", AS_OF],
                       "--by: trends break down by one property", **env)  # fmt: skip


def test_one_declaration_reaches_the_panel_and_the_mcp_tool(tmp_path: Path) -> None:
    from typer.main import get_command

    from usertrack.cli import app
    from usertrack.dashboards.compute import command_lines
    from usertrack.dashboards.spec import load
    from usertrack.mcp import server as mcp_server

    path = tmp_path / "board.yaml"
    path.write_text(
        "title: t\npanels:\n  - analysis: funnel\n    title: By device\n"
        "    by: [$browser, $os]\n    breakdown_attribution: step\n"
        "    breakdown_attribution_step: 2\n    breakdown_limit: 5\n",
        encoding="utf-8",
    )
    (line,) = command_lines(load(path), get_command(app))
    assert line == ["--by=$browser", "--by=$os", "--breakdown-attribution=step",
                    "--breakdown-attribution-step=2", "--breakdown-limit=5"]  # fmt: skip
    mcp_server.use_app(app)
    schema = mcp_server.tools(allow_act=False)["funnel"].schema["properties"]
    assert schema["by"]["type"] == "array"
    assert schema["breakdown_limit"]["type"] == "integer"
    assert schema["breakdown_attribution"]["type"] == "string"
