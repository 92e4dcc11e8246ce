"""`usertrack tools` on a hand-made database whose every figure is worked out below.

As of 2026-06-10 00:00, window 7 days: (2026-06-03 00:00, 2026-06-10 00:00].
Accounts: ann@x.io (credits 10: segment `spender`, fastapi 101), Bob@x.io (credits 100: no
segment, fastapi 102, its email with another case), z@datagen.dev (internal, fastapi 103).

Tool calls (name, type, provider, status, ms, when):
- ann: web_search default/datagen success 100 (06-09 10:00); web_search failed 300 TimeoutError
  (06-09 11:00); gmail_send mcp/gmail success 200 (06-08); gmail_send failed 400 AuthError with
  a stranger's markup (06-05); web_search success 999 at exactly 06-03 00:00 (the window's open
  end: out); web_search success after as_of (out).
- bob: web_search success 500 (06-09); gmail_send failed 600 AuthError, same message (06-09);
  slack_post mcp/slack success, no duration (06-06); enrich custom/custom success 1000 (06-07).
- internal: web_search failed (06-09): never counted.

Worked out: 8 calls, 2 users, 4 tools, average (100+300+200+400+500+600+1000)/7 = 442.86 -> 443
ms (the call without a duration left out), 5 successes, 3 failures, success rate 62.5.
Types: mcp 4 calls (50.0 %), default 3 (37.5 %), custom 1 (12.5 %): 4/3 = 1.33 MCP calls per
built-in call. gmail_send and web_search both 3 calls: gmail_send first (byte order). gmail_send:
average 400, p90 of (200, 400, 600) interpolated = 400 + 0.8 * 200 = 560; web_search: p90 of
(100, 300, 500) = 460. Agents, code executions (c.py: two short runs and a 300 s timeout, whose
average is above its p90) and deployments: see their tests.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.analytics_helpers import record, write_export
from tests.cli_runner import run
from tests.handmade import SCHEMA
from usertrack.core.errors import EXIT_USAGE

AS_OF = "2026-06-10"
STRANGER = "<script>alert(1)</script> | [x](http://evil.example) 401"

SEGMENTS = """\
segments:
  - id: spender
    name: Spenders
    action: Upsell
    rule: credits < 50
"""

ROWS = """
INSERT INTO wasp_user VALUES (1, 'ann@x.io', 10, 'active', '2026-06-01', '2026-05-01');
INSERT INTO wasp_user VALUES (2, 'Bob@x.io', 100, NULL, '2026-06-01', '2026-05-02');
INSERT INTO wasp_user VALUES (3, 'z@datagen.dev', 100, NULL, '2026-06-01', '2026-05-03');
INSERT INTO fastapi_user VALUES (101, 1), (102, 2), (103, 3);
INSERT INTO fastapi_tool_executions VALUES
 (1, '101', 'web_search', 'default', 'datagen', 'success', 100, NULL, NULL, '2026-06-09 10:00'),
 (2, '101', 'web_search', 'default', 'datagen', 'failed', 300, 'TimeoutError', 'timed out',
  '2026-06-09 11:00'),
 (3, '101', 'gmail_send', 'mcp', 'gmail', 'success', 200, NULL, NULL, '2026-06-08 10:00'),
 (4, '101', 'gmail_send', 'mcp', 'gmail', 'failed', 400, 'AuthError', %(stranger)s,
  '2026-06-05 10:00'),
 (5, '101', 'web_search', 'default', 'datagen', 'success', 999, NULL, NULL, '2026-06-03 00:00'),
 (6, '101', 'web_search', 'default', 'datagen', 'success', 999, NULL, NULL, '2026-06-10 00:00:01'),
 (7, '102', 'web_search', 'default', 'datagen', 'success', 500, NULL, NULL, '2026-06-09 12:00'),
 (8, '102', 'gmail_send', 'mcp', 'gmail', 'failed', 600, 'AuthError', %(stranger)s,
  '2026-06-09 13:00'),
 (9, '102', 'slack_post', 'mcp', 'slack', 'success', NULL, NULL, NULL, '2026-06-06 10:00'),
 (10, '102', 'enrich', 'custom', 'custom', 'success', 1000, NULL, NULL, '2026-06-07 10:00'),
 (11, '103', 'web_search', 'default', 'datagen', 'failed', 5, 'X', 'internal', '2026-06-09 10:00');
INSERT INTO wasp_agentexecution VALUES
 (1, 7, 1, 'completed', 'p', 'r', 1000, '2026-06-09 10:00', '2026-06-09 10:00:01'),
 (2, 8, 1, 'completed', 'p', 'r', 3000, '2026-06-08 10:00', '2026-06-08 10:00:03'),
 (3, 7, 1, 'failed', 'p', 'r', 2000, '2026-06-07 10:00', '2026-06-07 10:00:02'),
 (4, 7, 1, 'running', 'p', NULL, NULL, '2026-06-09 23:00', NULL),
 (5, 7, 1, 'completed', 'p', 'r', 9000, '2026-06-01 10:00', '2026-06-01 10:00:09'),
 (6, 9, 2, 'completed', 'p', 'r', 5000, '2026-06-06 10:00', '2026-06-06 10:00:05'),
 (7, 9, 3, 'failed', 'p', 'r', 5, '2026-06-06 10:00', '2026-06-06 10:00:01');
INSERT INTO fastapi_code_execution VALUES
 (1, 101, 'A', 'a.py', 'success', 100, '2026-06-09 10:00'),
 (2, 101, 'A', 'a.py', 'error', 300, '2026-06-08 10:00'),
 (3, 101, 'B', 'b.py', 'timeout', 50, '2026-06-07 10:00'),
 (4, 102, 'A', 'a.py', 'success', 200, '2026-06-06 10:00'),
 (5, 102, 'A', 'a.py', 'success', 200, '2026-05-06 10:00'),
 (6, 102, 'C', 'c.py', 'success', 100, '2026-06-08 10:00'),
 (7, 102, 'C', 'c.py', 'success', 200, '2026-06-08 11:00'),
 (8, 102, 'C', 'c.py', 'timeout', 300000, '2026-06-08 12:00');
INSERT INTO fastapi_deployment VALUES
 (1, 101, 'enrich', 'd', 'abcd', '2026-06-05 10:00'),
 (2, 102, 'enrich', 'd', 'ab', '2026-06-08 10:00'),
 (3, 101, 'score', 'd', 'x', '2026-06-01 10:00');
"""


@pytest.fixture(scope="module")
def env(make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    uri = make_database(SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        for statement in ROWS.split(";\n"):
            if statement.strip():
                conn.execute(statement.encode(), {"stranger": STRANGER})
    folder = tmp_path_factory.mktemp("tools")
    rules = folder / "segments.yaml"
    rules.write_text(SEGMENTS)
    export = write_export(
        folder / "events.jsonl",
        [record(1, "$pageview", datetime(2026, 6, 8, 10, tzinfo=UTC), "pa", "pa", "ann@x.io", {})],
    )
    return folder, {
        "USERTRACK_EVENTS": str(export),
        "DATABASE_URL": uri,
        "USERTRACK_SEGMENTS": str(rules),
    }


def tools(env: Any, *args: str, fmt: str = "json") -> Any:
    folder, variables = env
    result = run(
        ["tools", "--as-of", AS_OF, "--days", "7", "-f", fmt, *args],
        folder / "home",
        **variables,
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout) if fmt == "json" else result.stdout


def test_overview_types_and_ratio_are_the_worked_out_ones(env: Any) -> None:
    doc = tools(env)
    assert doc["overview"] == {
        "calls": 8, "users": 2, "tools": 4, "avg_ms": 443, "successes": 5, "failures": 3,
        "success_rate": 62.5,
    }  # fmt: skip
    types = {r["tool_type"]: (r["calls"], r["share"], r["users"], r["success_rate"])
             for r in doc["tool_types"]}  # fmt: skip
    assert types == {
        "mcp": (4, 50.0, 2, 50.0), "default": (3, 37.5, 2, 66.7), "custom": (1, 12.5, 1, 100.0)
    }  # fmt: skip
    assert [r["tool_type"] for r in doc["tool_types"]] == ["mcp", "default", "custom"]
    assert doc["mcp_vs_builtin"] == {"mcp_calls": 4, "builtin_calls": 3, "mcp_per_builtin": 1.33}


def test_top_tools_and_providers(env: Any) -> None:
    doc = tools(env)
    top = {r["tool_name"]: r for r in doc["top_tools"]}
    assert [r["tool_name"] for r in doc["top_tools"]] == [
        "gmail_send", "web_search", "enrich", "slack_post"
    ]  # fmt: skip
    gmail = top["gmail_send"]
    assert (gmail["calls"], gmail["users"], gmail["successes"], gmail["failures"]) == (3, 2, 1, 2)
    assert (gmail["success_rate"], gmail["avg_ms"], gmail["p90_ms"]) == (33.3, 400, 560)
    assert gmail["affected_users"] == 2
    assert (gmail["first_failure"], gmail["last_failure"]) == (
        "2026-06-05T10:00:00Z", "2026-06-09T13:00:00Z"
    )  # fmt: skip
    web = top["web_search"]
    assert (web["avg_ms"], web["p90_ms"], web["affected_users"], web["providers"]) == (
        300, 460, 1, "datagen"
    )  # fmt: skip
    assert (top["slack_post"]["avg_ms"], top["slack_post"]["p90_ms"]) == (None, None)
    providers = [(r["tool_provider"], r["calls"], r["tools"], r["users"], r["success_rate"],
                  r["avg_ms"]) for r in doc["providers"]]  # fmt: skip
    assert providers == [("gmail", 3, 1, 2, 33.3, 400), ("slack", 1, 1, 1, 100.0, None)]


def test_daily_trend_covers_every_day_of_the_window(env: Any) -> None:
    trend = tools(env)["trend"]
    assert [r["day"] for r in trend] == [f"2026-06-{d:02d}" for d in range(3, 10)]
    by_day = {r["day"][-2:]: (r["calls"], r["successes"], r["failures"], r["users"]) for r in trend}
    assert by_day == {
        "03": (0, 0, 0, 0), "04": (0, 0, 0, 0), "05": (1, 0, 1, 1), "06": (1, 1, 0, 1),
        "07": (1, 1, 0, 1), "08": (1, 1, 0, 1), "09": (4, 2, 2, 2),
    }  # fmt: skip


def test_agents_code_executions_and_custom_tools(env: Any) -> None:
    doc = tools(env)
    # Started in the window: ann's 1-4, bob's 6 (5 is before it, 7 is internal).
    agents = [(r["status"], r["runs"], r["share"], r["users"], r["agents"], r["avg_ms"],
               r["p90_ms"]) for r in doc["agents"]]  # fmt: skip
    assert agents == [
        ("completed", 3, 60.0, 2, 3, 3000, 4600),  # p90 of 1000, 3000, 5000
        ("failed", 1, 20.0, 1, 1, 2000, 2000),
        ("running", 1, 20.0, 1, 1, None, None),
    ]
    assert doc["agents"][2]["last_completed"] is None
    code = [(r["script_name"], r["runs"], r["users"], r["successes"], r["failures"],
             r["success_rate"], r["avg_ms"], r["p90_ms"])
            for r in doc["code_executions"]]  # fmt: skip
    assert code == [
        ("a.py", 3, 2, 2, 1, 66.7, 200, 280),
        ("c.py", 3, 1, 2, 1, 66.7, 100100, 240040),  # p90: 200 + 0.8 * (300000 - 200)
        ("b.py", 1, 1, 0, 1, 0.0, 50, 50),
    ]
    # the median beside the average: c.py's one run stopped at a 300 s timeout pulls its
    # average above its p90; the median is its typical run's
    medians = {r["script_name"]: r["median_ms"] for r in doc["code_executions"]}
    assert medians == {"a.py": 200, "c.py": 200, "b.py": 50}
    md = tools(env, fmt="md")
    assert "| Avg ms | Median ms | P90 ms |" in md and "| 100,100 | 200 | 240,040 |" in md
    assert doc["custom_tools"] == [
        {"name": "enrich", "deployments": 2, "users": 2, "code_chars": 3,
         "last_created": "2026-06-08T10:00:00Z"}
    ]  # fmt: skip


def test_one_tool_errors_users_and_trend(env: Any) -> None:
    doc = tools(env, "--tool", "gmail_send")
    assert doc["tool"] == "gmail_send"
    assert (doc["summary"]["calls"], doc["summary"]["affected_users"]) == (3, 2)
    assert doc["errors"] == [
        {"error_type": "AuthError", "error_preview": STRANGER, "occurrences": 2, "users": 2,
         "first_seen": "2026-06-05T10:00:00Z", "last_seen": "2026-06-09T13:00:00Z"}
    ]  # fmt: skip
    assert [r["failures"] for r in doc["trend"]] == [0, 0, 1, 0, 0, 0, 1]


def test_a_strangers_error_message_is_text_in_every_format(env: Any) -> None:
    md = tools(env, "--tool", "gmail_send", fmt="md")
    assert "<script>" not in md and "](http" not in md
    assert r"\<script\>alert\(1\)\</script\> \| \[x\]" in md
    table = tools(env, "--tool", "gmail_send", fmt="table")
    assert "AuthError" in table
    rows = list(csv.DictReader(io.StringIO(tools(env, "--tool", "gmail_send", fmt="csv"))))
    assert rows[0]["error_preview"] == STRANGER and rows[0]["occurrences"] == "2"


def test_a_share_is_a_percentage_to_humans_and_a_number_to_machines(env: Any) -> None:
    """The types' and the agents' share as every table shows a share: "50.0%" (as `sessions`
    shows its lengths' and pages' shares); json and csv keep the number 50.0."""
    md = tools(env, fmt="md")
    assert "| mcp | 4 | 50.0% | 2 |" in md and "| completed | 3 | 60.0% | 2 |" in md
    table = tools(env, fmt="table")
    assert "37.5%" in table and "20.0%" in table
    assert tools(env)["tool_types"][0]["share"] == 50.0


def test_csv_is_the_top_tools(env: Any) -> None:
    rows = list(csv.DictReader(io.StringIO(tools(env, fmt="csv"))))
    assert [r["tool_name"] for r in rows] == ["gmail_send", "web_search", "enrich", "slack_post"]
    assert tools(env, "--limit", "1")["top_tools"][0]["tool_name"] == "gmail_send"


def test_segment_keeps_its_users_only(env: Any) -> None:
    spender = tools(env, "--segment", "spender", "--no-save")
    assert spender["segment"] == "spender"
    assert (spender["overview"]["calls"], spender["overview"]["users"]) == (4, 1)
    assert [r["status"] for r in spender["agents"]] == ["completed", "failed", "running"]
    rest = tools(env, "--segment", "no segment", "--no-save")
    assert (rest["overview"]["calls"], rest["overview"]["users"]) == (4, 1)
    assert tools(env, "--segment", "no account", "--no-save")["overview"]["calls"] == 0


def test_who_keeps_the_users_its_expression_selects(env: Any) -> None:
    doc = tools(env, "--who", "credits < 50")
    assert doc["who"] == "credits < 50"
    assert (doc["overview"]["calls"], doc["overview"]["users"]) == (4, 1)
    assert [r["tool_name"] for r in doc["top_tools"]] == ["gmail_send", "web_search"]
    assert tools(env, "--who", "credits > 1000")["overview"]["calls"] == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--tool", "gmail_snd"], "did you mean 'gmail_send'"),
        (["--tool", " "], "--tool is empty"),
        (["--segment", "spendr"], "did you mean 'spender'"),
        (["--limit", "0"], "--limit"),
        (["--who", "credts < 50"], "did you mean 'credits'"),
        (["--who", "1; select 1"], "--who"),
        (["--who", "credits < 50", "--segment", "spender"], "do not go together"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(env: Any, args: list[str], says: str) -> None:
    folder, variables = env
    result = run(["tools", "--as-of", AS_OF, *args], folder / "home", **variables)
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert says in result.stderr
    assert result.stderr.count("error:") == 1 and result.stdout == ""


def test_the_demo_answers_in_every_format(demo_home: Path) -> None:
    for fmt in ("table", "json", "csv", "md"):
        result = run(["tools", "-f", fmt], demo_home)
        assert result.exit_code == 0, result.stderr
    doc = json.loads(run(["tools", "-f", "json"], demo_home).stdout)
    assert doc["overview"]["calls"] == sum(r["calls"] for r in doc["tool_types"]) > 0
    assert doc["overview"]["calls"] == sum(r["calls"] for r in doc["trend"])
