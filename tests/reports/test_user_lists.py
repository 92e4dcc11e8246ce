"""The lists across users (`tools --by-user`, `--executions`, `--custom`, `failures --runs`).

On the demo, every figure is computed again here by a direct SQL query of its PostgreSQL (the
role that may only read it), written apart from the shipped query files. On a hand-made database,
what the demo does not hold: a stranger's markup in a description and an error, the list cut
at --limit, --segment and --who, bad input.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.analytics_helpers import record, write_export
from tests.cli_runner import run
from tests.handmade import SCHEMA
from usertrack.core.errors import EXIT_USAGE


def _ok(args: list[str], home: Path, **env: str) -> str:
    result = run(args, home, **env)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _moment(text: str) -> datetime:
    """A JSON moment ("2026-11-27T00:00:00Z") as the database's timestamps (naive UTC)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def demo_db(demo_home: Path) -> str:
    from usertrack.demo.database import demo_reader_uri
    from usertrack.demo.layout import existing_demo

    demo = existing_demo(demo_home)
    assert demo is not None
    return demo_reader_uri(demo)


def _sql(uri: str, sql: str, **values: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(uri) as conn:
        return conn.execute(sql, values).fetchall()


# Each user's tool calls, worked out per user in Python from the raw rows (no GROUP BY).
_CALLS = """
SELECT lower(btrim(w.email)), t.tool_name, t.status, t.execution_duration_ms, t.created_at
FROM fastapi_tool_executions t
JOIN fastapi_user f ON t.user_id = f.id::text
JOIN wasp_user w ON w.id = f.wasp_user_id
WHERE t.created_at > %(since)s AND t.created_at <= %(as_of)s
  AND lower(btrim(w.email)) NOT LIKE '%%@datagen.dev'
"""


def test_by_user_on_the_demo_is_each_users_calls(demo_home: Path, demo_db: str) -> None:
    doc = json.loads(_ok(["tools", "--by-user", "-n", "1000", "-f", "json"], demo_home))
    assert doc["list"] == "by_user" and doc["more"] is False
    since, as_of = _moment(doc["since"]), _moment(doc["as_of"])
    users: dict[str, dict[str, Any]] = {}
    for email, tool, status, ms, at in _sql(demo_db, _CALLS, since=since, as_of=as_of):
        u = users.setdefault(email, {"calls": 0, "tools": set(), "ok": 0, "failed": 0,
                                     "ms": [], "at": []})  # fmt: skip
        u["calls"] += 1
        u["tools"].add(tool)
        u["ok"] += status == "success"
        u["failed"] += status == "failed"
        if ms is not None:
            u["ms"].append(ms)
        u["at"].append(at)
    assert len(users) > 10
    assert {r["email"] for r in doc["rows"]} == set(users)
    for row in doc["rows"]:
        u = users[row["email"]]
        assert (row["calls"], row["tools"], row["successes"], row["failures"]) == (
            u["calls"], len(u["tools"]), u["ok"], u["failed"]
        )  # fmt: skip
        assert row["first_use"] == _iso(min(u["at"])) and row["last_use"] == _iso(max(u["at"]))
        if u["ms"]:
            assert abs(row["avg_ms"] - sum(u["ms"]) / len(u["ms"])) <= 0.5
    calls = [r["calls"] for r in doc["rows"]]
    assert calls == sorted(calls, reverse=True)


def test_the_lists_one_by_one_on_the_demo(demo_home: Path, demo_db: str) -> None:
    """The executions, the custom tools and the failed runs: the newest rows, as the database
    holds them, each with its user's email."""
    cases = [
        (["tools", "--executions"], "SELECT c.created_at, lower(btrim(w.email)), c.name,"
         " c.status, c.execution_time_ms FROM fastapi_code_execution c", "c",
         ["executed_at", "email", "name", "status", "execution_time_ms"]),
        (["tools", "--custom"], "SELECT d.created_at, lower(btrim(w.email)), d.name,"
         " d.description, length(d.final_code) FROM fastapi_deployment d", "d",
         ["created_at", "email", "name", "description", "code_chars"]),
        (["failures", "--runs"], "SELECT r.created_at, lower(btrim(w.email)), r.id,"
         " substr(coalesce(r.run_error_log, ''), 1, 200) FROM fastapi_run r", "r",
         ["failed_at", "email", "run_id", "error"]),
    ]  # fmt: skip
    for args, select, alias, columns in cases:
        doc = json.loads(_ok([*args, "-n", "7", "-f", "json"], demo_home))
        where = " AND r.run_state = 'failed'" if alias == "r" else ""
        rows = _sql(
            demo_db,
            f"{select} JOIN fastapi_user f ON f.id = {alias}.user_id"
            " JOIN wasp_user w ON w.id = f.wasp_user_id"
            f" WHERE {alias}.created_at > %(since)s AND {alias}.created_at <= %(as_of)s{where}"
            " AND lower(btrim(w.email)) NOT LIKE '%%@datagen.dev'"
            f" ORDER BY {alias}.created_at DESC, {alias}.id DESC",
            since=_moment(doc["since"]),
            as_of=_moment(doc["as_of"]),
        )
        assert len(rows) > 7, args
        assert doc["more"] is True and doc["limit"] == 7
        got = [[r[c] for c in columns] for r in doc["rows"]]
        want = [[_iso(row[0]), *row[1:]] for row in rows[:7]]
        assert got == want, args
        errors = [r["error"] for r in doc["rows"]] if alias == "r" else []
        assert all(len(e) <= 200 for e in errors)


def test_every_format_on_the_demo_and_anonymized(demo_home: Path, demo_db: str) -> None:
    for args in (["tools", "--by-user"], ["tools", "--executions"], ["tools", "--custom"],
                 ["failures", "--runs"]):  # fmt: skip
        doc = json.loads(_ok([*args, "-n", "3", "-f", "json"], demo_home))
        first = doc["rows"][0]["email"]
        table = _ok([*args, "-n", "3", "-f", "table"], demo_home)
        assert first in table and "usertrack user EMAIL" in table and "raise --limit" in table
        md = _ok([*args, "-n", "3", "-f", "md"], demo_home)
        assert first in md and md.count("\n| ") == 1 + 3
        rows = list(csv.DictReader(io.StringIO(_ok([*args, "-n", "3", "-f", "csv"], demo_home))))
        assert [r["email"] for r in rows] == [r["email"] for r in doc["rows"]]
        hidden = _ok(["--anonymize", *args, "-n", "3", "-f", "md"], demo_home)
        assert first not in hidden and "@" not in hidden and "person-" in hidden


# ------------------------------------------------------------------- a hand-made database

AS_OF = "2026-06-10"
STRANGER = "<script>alert(1)</script> | [x](http://evil.example) **bold**"

ROWS = """
INSERT INTO wasp_user VALUES (1, 'ann@x.io', 10, 'active', '2026-06-01', '2026-05-01');
INSERT INTO wasp_user VALUES (2, 'Bob@x.io', 100, NULL, '2026-06-01', '2026-05-02');
INSERT INTO wasp_user VALUES (3, 'z@datagen.dev', 100, NULL, '2026-06-01', '2026-05-03');
INSERT INTO fastapi_user VALUES (101, 1), (102, 2), (103, 3);
INSERT INTO fastapi_run VALUES
 (1, 101, 'failed', '2026-06-09 10:00', %(long)s),
 (2, 102, 'failed', '2026-06-08 10:00', %(stranger)s),
 (3, 102, 'completed', '2026-06-08 11:00', NULL),
 (4, 102, 'failed', '2026-06-01 10:00', 'before the window'),
 (5, 103, 'failed', '2026-06-09 10:00', 'internal');
INSERT INTO fastapi_deployment VALUES
 (1, 101, 'enrich', %(stranger)s, 'abcd', '2026-06-05 10:00'),
 (2, 102, 'score', NULL, 'ab', '2026-06-08 10:00'),
 (3, 103, 'internal', 'd', 'x', '2026-06-08 10:00');
INSERT INTO fastapi_code_execution VALUES
 (1, 101, 'A', 'a.py', 'success', 100, '2026-06-09 10:00'),
 (2, 102, 'B', 'b.py', 'error', 300, '2026-06-08 10:00');
"""

SEGMENTS = """\
segments:
  - id: spender
    name: Spenders
    action: Upsell
    rule: credits < 50
"""


@pytest.fixture(scope="module")
def env(make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    uri = make_database(SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        for statement in ROWS.split(";\n"):
            if statement.strip():
                conn.execute(statement.encode(), {"stranger": STRANGER, "long": "E" * 300})
    folder = tmp_path_factory.mktemp("lists")
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


def _run(env: Any, *args: str) -> Any:
    folder, variables = env
    return run([*args, "--as-of", AS_OF, "--days", "7"], folder / "home", **variables)


def _json(env: Any, *args: str) -> Any:
    result = _run(env, *args, "-f", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_failed_runs_newest_first_cut_to_200_characters(env: Any) -> None:
    doc = _json(env, "failures", "--runs")
    assert [(r["email"], r["run_id"]) for r in doc["rows"]] == [
        ("ann@x.io", 1), ("bob@x.io", 2)
    ]  # fmt: skip
    assert doc["rows"][0]["error"] == "E" * 200 and doc["rows"][1]["error"] == STRANGER
    assert doc["more"] is False


def test_a_list_cut_at_the_limit_says_so_and_one_just_full_does_not(env: Any) -> None:
    cut = _json(env, "failures", "--runs", "-n", "1")
    assert (len(cut["rows"]), cut["more"]) == (1, True)
    assert _json(env, "failures", "--runs", "-n", "2")["more"] is False
    result = _run(env, "failures", "--runs", "-n", "1", "-f", "csv")
    assert "raise --limit" in result.stderr and result.stdout.count("\n") == 2
    assert "raise --limit" not in _run(env, "failures", "--runs", "-n", "2", "-f", "md").stdout


def test_a_strangers_text_is_never_markup(env: Any) -> None:
    for args in (("failures", "--runs"), ("tools", "--custom")):
        md = _run(env, *args, "-f", "md").stdout
        assert "<script>" not in md and "](http" not in md and "**bold**" not in md
        assert r"\<script\>alert\(1\)\</script\> \| \[x\]" in md
        table = _run(env, *args, "-f", "table").stdout
        assert "<script>alert(1)</script>" in table  # shown as the text it is
        rows = list(csv.DictReader(io.StringIO(_run(env, *args, "-f", "csv").stdout)))
        assert STRANGER in [r.get("error") or r.get("description") for r in rows]


def test_segment_and_who_keep_their_users(env: Any) -> None:
    custom = _json(env, "tools", "--custom")
    assert [(r["email"], r["name"], r["code_chars"]) for r in custom["rows"]] == [
        ("bob@x.io", "score", 2), ("ann@x.io", "enrich", 4)
    ]  # fmt: skip
    spender = _json(env, "tools", "--custom", "--segment", "spender", "--no-save")
    assert [r["email"] for r in spender["rows"]] == ["ann@x.io"]
    assert spender["segment"] == "spender"
    who = _json(env, "tools", "--executions", "--who", "credits > 50")
    assert [(r["email"], r["script_name"]) for r in who["rows"]] == [("bob@x.io", "b.py")]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["tools", "--by-user", "--custom"], "--by-user and --custom do not go together"),
        (["tools", "--tool", "x", "--executions"], "--tool and --executions do not go together"),
        (["failures", "--runs", "-n", "0"], "--limit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(env: Any, args: list[str], says: str) -> None:
    result = _run(env, *args)
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert says in result.stderr
    assert result.stderr.count("error:") == 1 and result.stdout == ""


def test_the_mcp_tools_answer_the_lists_as_the_cli(demo_home: Path) -> None:
    """The options are the tools' arguments: every list, and the overview, answer the
    command's own JSON."""
    from tests.mcp.test_mcp import text, with_client

    cases = [
        ("tools", {"by_user": True, "limit": 4}, ["tools", "--by-user", "-n", "4"]),
        ("tools", {"executions": True, "limit": 4}, ["tools", "--executions", "-n", "4"]),
        ("tools", {"custom": True, "days": 60}, ["tools", "--custom", "-d", "60"]),
        ("failures", {"runs": True, "limit": 4}, ["failures", "--runs", "-n", "4"]),
        ("failures", {"js_errors": True}, ["failures", "--js-errors"]),
        ("tools", {"mcp_clicks": True, "limit": 3}, ["tools", "--mcp-clicks", "-n", "3"]),
        ("sessions", {"pages": True, "top": 3}, ["sessions", "--pages", "--top", "3"]),
        ("segments", {"overview": True}, ["segments", "--overview"]),
    ]

    async def body(client: Any) -> Any:
        listed = await client.list_tools()
        answers = [
            await client.call_tool(name, {**arguments, "max_items": 0})
            for name, arguments, _ in cases
        ]
        return listed, answers

    listed, answers = with_client(demo_home, body)
    schemas = {t.name: t.input_schema["properties"] for t in listed.tools}
    assert {"by_user", "executions", "custom"} <= set(schemas["tools"])
    assert {"runs", "js_errors"} <= set(schemas["failures"])
    assert "pages" in schemas["sessions"] and "overview" in schemas["segments"]
    for (_, _, cli), answer in zip(cases, answers, strict=True):
        assert not answer.is_error, text(answer)
        want = json.loads(_ok([*cli, "-f", "json"], demo_home))
        assert json.loads(text(answer)[0]) == want
        assert want.get("rows") or want.get("users")


def test_a_list_is_a_dashboard_query_panel_drawn_as_a_table(env: Any) -> None:
    """A list's query file as a `query` panel: its rows a table in Markdown and HTML, the
    stranger's error escaped text in both."""
    folder, variables = env
    spec = folder / "review.yaml"
    spec.write_text(
        "title: review\nperiod: week\npanels:\n"
        "  - analysis: query\n    title: Failed runs\n"
        "    query_id: neon/failed_run_list\n    param: [days=30, limit=5]\n"
    )
    written = {}
    for fmt in ("md", "html"):
        out = folder / f"review.{fmt}"
        result = run(["report", str(spec), "--as-of", AS_OF, "--out", str(out)], folder / "home",
                     **variables)  # fmt: skip
        assert result.exit_code == 0, result.stderr
        written[fmt] = out.read_text()
    md = written["md"]
    assert "| Failed at | Email | Run ID | Error |" in md
    assert md.count("| bob@x.io | 2 |") == 1 and md.count("| ann@x.io | 1 |") == 1
    assert "<script>" not in md and r"\<script\>alert\(1\)\</script\>" in md
    page = written["html"]
    assert "<th>Run ID</th>" in page and "<td>bob@x.io</td>" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_users_overview_on_the_demo(demo_home: Path, demo_db: str) -> None:
    doc = json.loads(_ok(["segments", "--overview", "-f", "json"], demo_home))
    as_of = _moment(doc["as_of"])
    accounts = [
        (created, credits)
        for email, created, credits in _sql(
            demo_db, "SELECT lower(btrim(email)), created_at, credits FROM wasp_user"
        )
        if not email.endswith("@datagen.dev") and created <= as_of
    ]
    week = as_of.timestamp() - 7 * 86400
    assert doc["users"] == len(accounts) > 0
    assert doc["new_users"] == sum(c.timestamp() > week for c, _ in accounts) > 0
    assert doc["users_using_credits"] == sum(k < 100 for _, k in accounts) > 0
    average = Decimal(sum(k for _, k in accounts)) / len(accounts)  # numeric: half away
    assert doc["avg_credits"] == float(average.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    table = _ok(["segments", "--overview"], demo_home)
    assert "New in the last 7 days" in table and f"{doc['users']:,}" in table
    result = run(["segments", "--overview", "--changes"], demo_home)
    assert result.exit_code == EXIT_USAGE and "do not go together" in result.stderr


# ------------------------------------------------ PostHog's lists, on a hand-made events export


def _day(d: int, h: int = 10) -> datetime:
    return datetime(2026, 6, d, h, tzinfo=UTC)


# (event, day, person, email, properties). Window (06-03, 06-10]; z@datagen.dev is internal,
# "px" anonymous (no email), 06-01 is before the window.
WEB = [
    ("$pageview", 8, "pa", "ann@x.io", {"$pathname": "/home"}),
    ("$pageview", 8, "pa", "ann@x.io", {"$pathname": "/home"}),
    ("$pageview", 9, "pa", "ann@x.io", {"$pathname": "/pricing"}),
    ("$pageview", 9, "pb", "bob@x.io", {"$pathname": "/home"}),
    ("$pageview", 9, "px", "", {"$pathname": "/home"}),
    ("$pageview", 9, "pz", "z@datagen.dev", {"$pathname": "/home"}),
    ("$pageview", 1, "pa", "ann@x.io", {"$pathname": "/old"}),
    ("mcp_connect_clicked", 5, "pa", "ann@x.io",
     {"template_name": "Gmail", "$referring_domain": "google.com"}),
    ("mcp_connect_clicked", 7, "pa", "ann@x.io", {"template_name": "Slack"}),
    ("mcp_connect_clicked", 9, "pa", "ann@x.io",
     {"template_name": "Gmail", "$referring_domain": ""}),
    ("mcp_connect_clicked", 8, "pb", "bob@x.io",
     {"template_name": "Notion", "$referring_domain": "news.ycombinator.com"}),
    ("mcp_connect_clicked", 8, "px", "", {"template_name": "Gmail"}),
    ("$exception", 6, "pa", "ann@x.io",
     {"$exception_type": "TypeError", "$exception_message": STRANGER, "$pathname": "/home"}),
    ("$exception", 9, "pa", "ann@x.io",
     {"$exception_type": "TypeError", "$exception_message": STRANGER, "$pathname": "/home"}),
    ("$exception", 8, "pb", "bob@x.io",
     {"$exception_type": "TypeError", "$exception_message": STRANGER, "$pathname": "/pricing"}),
    ("$exception", 7, "px", "",
     {"$exception_type": "ChunkLoadError", "$exception_message": "Loading chunk 1 failed."}),
]  # fmt: skip


@pytest.fixture(scope="module", params=["local", "live"])
def web(request: pytest.FixtureRequest, env: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The events above, on the local engine (an events export) or live (the tests' PostHog,
    ClickHouse behind it), with the hand-made database beside them."""
    from tests.analytics_helpers import live_posthog

    folder = tmp_path_factory.mktemp(f"web-{request.param}")
    export = write_export(
        folder / "events.jsonl",
        [record(i, e, _day(d), p, p, m, props) for i, (e, d, p, m, props) in enumerate(WEB, 1)],
    )
    variables = {k: v for k, v in env[1].items() if k != "USERTRACK_EVENTS"}
    if request.param == "local":
        yield folder, {**variables, "USERTRACK_EVENTS": str(export)}
        return
    with live_posthog(export, folder) as (_fake, live):
        yield folder, {**variables, **live}


def test_pages_mcp_clicks_and_js_errors_worked_out(web: Any) -> None:
    pages = _json(web, "sessions", "--pages")
    assert [(r["page"], r["views"], r["visitors"]) for r in pages["rows"]] == [
        ("/home", 4, 3), ("/pricing", 1, 1)
    ]  # fmt: skip
    clicks = _json(web, "tools", "--mcp-clicks")
    assert [(r["email"], r["clicks"], r["mcp_servers"], r["referrers"], r["first_click"],
             r["last_click"]) for r in clicks["rows"]] == [
        ("ann@x.io", 3, ["Gmail", "Slack"], ["$direct", "google.com"], "2026-06-05T10:00:00Z",
         "2026-06-09T10:00:00Z"),
        ("bob@x.io", 1, ["Notion"], ["news.ycombinator.com"], "2026-06-08T10:00:00Z",
         "2026-06-08T10:00:00Z"),
    ]  # fmt: skip
    errors = _json(web, "failures", "--js-errors")
    assert [(r["error_type"], r["message"], r["occurrences"], r["persons"], r["pages"])
            for r in errors["rows"]] == [
        ("TypeError", STRANGER, 3, 2, ["/home", "/pricing"]),
        ("ChunkLoadError", "Loading chunk 1 failed.", 1, 1, ["(unknown)"]),
    ]  # fmt: skip
    assert (errors["rows"][0]["first_seen"], errors["rows"][0]["last_seen"]) == (
        "2026-06-06T10:00:00Z", "2026-06-09T10:00:00Z"
    )  # fmt: skip
    cut = _json(web, "sessions", "--pages", "--top", "1")
    assert (len(cut["rows"]), cut["more"]) == (1, True)
    assert "raise --top" in _run(web, "sessions", "--pages", "--top", "1", "-f", "md").stdout
    assert _json(web, "failures", "--js-errors", "-n", "2")["more"] is False
    kept = _json(web, "tools", "--mcp-clicks", "--segment", "spender", "--no-save")
    assert [r["email"] for r in kept["rows"]] == ["ann@x.io"]
    md = _run(web, "failures", "--js-errors", "-f", "md").stdout
    assert "<script>" not in md and r"\<script\>alert\(1\)\</script\>" in md
    assert "usertrack user EMAIL" not in md  # no person in it to open
