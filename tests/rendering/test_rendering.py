"""Renderers: data is never markup, nothing important is cut at 80 columns, one house style.

A hostile workspace (real embedded PostgreSQL, real local PostHog event store) holds people whose
emails, pathnames, error and exception messages are rich markup, Markdown links and images, HTML,
spreadsheet formulas, terminal escapes and very long text. Every renderer, in every format,
shows them as the text they are. The fixed demo checks that tables fit 80 and 200 columns.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from rich.console import Console

from tests import handmade
from tests.cli_runner import run
from usertrack.core import style
from usertrack.core.config import load_settings
from usertrack.engines.base import Result
from usertrack.engines.postgres.source import PostgresSource
from usertrack.queries.library import load_queries
from usertrack.rendering.changes_view import render_changes
from usertrack.rendering.export import render, render_result
from usertrack.rendering.terminal import render_changes as render_changes_table
from usertrack.rendering.terminal import (
    render_deep_dive,
    render_failures,
    render_result_table,
    render_segments,
    stdout_console,
)
from usertrack.reports.deepdive import deep_dive
from usertrack.reports.deepdive import to_json as deep_json
from usertrack.reports.deepdive import to_markdown as deep_md
from usertrack.reports.failures import failure_report, load_failure_rules
from usertrack.reports.failures_output import report_csv, report_json, report_markdown
from usertrack.reports.weekly import build_context, collect_weekly, render_weekly
from usertrack.segments.history import Snapshot, compare
from usertrack.segments.rules import load_segments
from usertrack.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
AS_OF = handmade.AS_OF

MARKUP_EMAIL = "mallory[/]@evil.io"  # rich: "closing tag '[/]' has nothing to close"
FORMULA_EMAIL = "=sum(1+2)@evil.io"
HTML_EMAIL = "<img src=x onerror=alert(1)>@evil.io"
IMAGE_EMAIL = "![i](https://evil.example/i.png)@evil.io"
LONG_EMAIL = "quite.a.long.firstname.lastname@subsidiary.bigcorporation.io"
LEFT_EMAIL = "+left@evil.io"  # only in the baseline: it "left"
LINK = "[link=https://evil.example]x[/link]"
OSC8 = "\x1b]8;;https://evil.example\x1b\\esc\x1b]8;;\x1b\\"  # a raw terminal hyperlink
RUN_ERROR = (
    f"{LINK} ![img](https://evil.example/i.png) <script>alert(1)</script> | =1+1 *bold* _em_"
    " `code`\nsecond line " + "very long " * 30
)
TOOL_ERROR = (
    '=HYPERLINK("https://evil.example") [bold red]boom[/] [link=https://evil.example]x[/link]'
)
PATHNAME = "/[b]x[/b]<img src=x>"
TEMPLATE = "[Docs](https://evil.example)"
BROWSER = "Chrome\x1b[2J\u202egpj.exe www.evil-login.example"  # clears a terminal, turns text
EMAILS = [MARKUP_EMAIL, FORMULA_EMAIL, HTML_EMAIL, IMAGE_EMAIL, LONG_EMAIL]


def _ts(days_before: float) -> datetime:
    return (AS_OF - timedelta(days=days_before)).replace(tzinfo=None)


def _neon_rows() -> list[tuple[str, tuple[object, ...]]]:
    users = [
        (1, MARKUP_EMAIL, -5, "active", _ts(1), _ts(60)),  # failing, power user; credits < 0
        (2, FORMULA_EMAIL, 100, None, _ts(20), _ts(30)),  # at risk
        (3, HTML_EMAIL, 100, None, _ts(20), _ts(31)),  # at risk
        (4, IMAGE_EMAIL, 100, "trialing", _ts(2), _ts(3)),  # high intent (an MCP click)
        (5, LONG_EMAIL, 100, None, _ts(20), _ts(40)),  # at risk
    ]
    stmts: list[tuple[str, tuple[object, ...]]] = []
    for u in users:
        stmts.append(("INSERT INTO wasp_user VALUES (%s, %s, %s, %s, %s, %s)", u))
        stmts.append(("INSERT INTO fastapi_user VALUES (%s, %s)", (u[0] + 100, u[0])))
    for i in range(8):
        stmts.append(
            (
                "INSERT INTO fastapi_run VALUES (%s, %s, %s, %s, %s)",
                (i + 1, 101, "failed", _ts(1 + i * 0.5), RUN_ERROR),
            )
        )
    for i in range(3):
        stmts.append(
            (
                "INSERT INTO fastapi_tool_executions VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (i + 1, "101", "hubspot_search_companies", "mcp", "[red]hubspot", "failed",
                 1200, "=cmd|' /C calc'!A0", TOOL_ERROR, _ts(2 + i)),
            )
        )  # fmt: skip
    return stmts


def _events() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []

    def ev(event: str, who: str, email: str, when: datetime, **props: object) -> None:
        rows.append(
            {
                "uuid": f"00000000-0000-0000-0000-{len(rows):012d}",
                "event": event,
                "distinct_id": who,
                "person_id": f"p-{who}",
                "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00"),
                "properties": {"$session_id": f"s-{who}", **props},
                "person_properties": {"email": email},
            }
        )

    ev("$pageview", "mallory", MARKUP_EMAIL, _ts(3),
       **{"$pathname": PATHNAME, "$browser": BROWSER})  # fmt: skip
    ev("$rageclick", "mallory", MARKUP_EMAIL, _ts(2.9), **{"$pathname": PATHNAME})
    ev("$exception", "mallory", MARKUP_EMAIL, _ts(2.8),
       **{"$pathname": PATHNAME, "$exception_message": f"{LINK} {OSC8}"})  # fmt: skip
    ev("$pageview", "img", IMAGE_EMAIL, _ts(2), **{"$pathname": "/mcp"})
    ev("mcp_connect_clicked", "img", IMAGE_EMAIL, _ts(1.9), template_name=TEMPLATE)
    return rows


@pytest.fixture(scope="module")
def hostile_sources(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """(DATABASE_URL, events export) of the hostile workspace."""
    uri = make_database(handmade.SCHEMA)
    with psycopg.connect(uri, autocommit=True) as conn:
        for sql, values in _neon_rows():
            conn.execute(sql.encode(), values)
    export = tmp_path_factory.mktemp("hostile") / "export.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in _events()), encoding="utf-8")
    return uri, export


@pytest.fixture(scope="module")
def hostile(
    hostile_sources: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workspace]:
    """The hostile workspace, opened once for the module: the renderers only read what it
    computed (`outputs`)."""
    from usertrack.engines.local.eventstore import import_events
    from usertrack.engines.local.source import LocalPostHogSource

    uri, export = hostile_sources
    store = tmp_path_factory.mktemp("hostile-store") / "events.duckdb"
    import_events(export, store)
    ws = Workspace(
        settings=load_settings(),
        library=load_queries(REPO / "queries"),
        rules=load_segments(REPO / "segments.yaml"),
        sources={
            "neon": PostgresSource(uri),
            "posthog": LocalPostHogSource(store, description="hostile events"),
        },
    )
    with ws:
        yield ws


@pytest.fixture(scope="module")
def outputs(hostile: Workspace) -> dict[str, Any]:
    """Every renderer's input, computed once by the library from the hostile workspace (the
    tests only render it)."""
    result = hostile.classify(AS_OF)
    rules = load_failure_rules(REPO / "failures.yaml")
    baseline = Snapshot(
        as_of=AS_OF - timedelta(days=7),
        members={LEFT_EMAIL: ("at_risk",), HTML_EMAIL: ("at_risk",)},
        source="computed",
    )
    return {
        "result": result,
        "changes": compare(baseline, Snapshot.of(result), result.segments),
        "failures": failure_report(hostile, rules, AS_OF, 30),
        "deep": deep_dive(hostile, MARKUP_EMAIL, AS_OF, rules),
        "pages": hostile.run_query("posthog/ux_pages", AS_OF),
        "runs": hostile.run_query("neon/failing_runs", AS_OF),
        "weekly": render_weekly(build_context(collect_weekly(hostile, AS_OF))),
    }


# --------------------------------------------------------------------------------------------
# Terminal

SGR = re.compile(r"\x1b\[[0-9;]*m")


def _terminal(width: int, draw: Callable[[Console], None]) -> tuple[str, str]:
    """(raw output of a colour terminal, the same without colour codes)."""
    buf = io.StringIO()
    console = Console(
        width=width, file=buf, force_terminal=True, color_system="truecolor", legacy_windows=False
    )
    draw(console)
    raw = buf.getvalue()
    return raw, SGR.sub("", raw)


def _terminal_views(out: dict[str, Any]) -> dict[str, Callable[[Console], None]]:
    return {
        "segments": lambda c: render_segments(c, out["result"]),
        "one segment": lambda c: render_segments(c, out["result"], "failing"),
        "query": lambda c: render_result_table(c, out["pages"], title=PATHNAME),
        "runs": lambda c: render_result_table(c, out["runs"], title="neon/failing_runs"),
        "changes": lambda c: render_changes_table(c, out["changes"]),
        "failures": lambda c: render_failures(c, out["failures"]),
        "deep dive": lambda c: render_deep_dive(c, out["deep"]),
    }


@pytest.mark.parametrize("width", [80, 200])
def test_terminal_shows_hostile_data_as_text(outputs: dict[str, Any], width: int) -> None:
    for name, draw in _terminal_views(outputs).items():
        raw, text = _terminal(width, draw)
        assert "\x1b]8;" not in raw, f"{name}: a terminal hyperlink came out of the data"
        assert "\x1b" not in text, f"{name}: a raw escape sequence reached the terminal"
        long_lines = [line for line in text.splitlines() if len(line) > width]
        assert not long_lines, f"{name} at {width}: {long_lines[0]!r}"
    _, segments = _terminal(width, _terminal_views(outputs)["segments"])
    for email in EMAILS:
        assert email in segments, email
    _, deep = _terminal(width, _terminal_views(outputs)["deep dive"])
    assert MARKUP_EMAIL in deep and "\\x1b]8;;https://evil.example" in deep
    _, failures = _terminal(width, _terminal_views(outputs)["failures"])
    assert "[red]hubspot" in failures or "Provider" in failures  # shown, or named as hidden


def test_terminal_hostile_values_keep_their_whole_text_at_200(outputs: dict[str, Any]) -> None:
    _, deep = _terminal(200, _terminal_views(outputs)["deep dive"])
    assert LINK in deep  # the exception message in the timeline, as text
    assert "[b]x[/b]<img src=x>" in deep
    _, pages = _terminal(200, _terminal_views(outputs)["query"])
    assert pages.splitlines()[0].strip() == PATHNAME  # a title is data too
    _, failures = _terminal(200, _terminal_views(outputs)["failures"])
    assert "[red]hubspot" in failures and "narrow terminal" not in failures
    _, runs = _terminal(200, _terminal_views(outputs)["runs"])
    assert "[link=https://evil.example]x[/link]" in runs


# --------------------------------------------------------------------------------------------
# CSV

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _assert_no_formula(name: str, text: str) -> None:
    for row in _csv_cells(text):
        for cell in row:
            assert not cell.startswith(FORMULA) or _number(cell), f"{name}: {cell!r}"


def test_csv_neutralises_formulas_but_keeps_numbers(outputs: dict[str, Any]) -> None:
    texts = {
        "segments": render(outputs["result"], "csv"),
        "query": render_result(outputs["runs"], "csv"),
        "changes": render_changes(outputs["changes"], "csv"),
        "failures": report_csv(outputs["failures"]),
    }
    for name, text in texts.items():
        _assert_no_formula(name, text)
    rows = list(csv.DictReader(io.StringIO(texts["segments"])))
    by_email = {r["email"]: r for r in rows}
    assert "'" + FORMULA_EMAIL in by_email
    assert by_email[MARKUP_EMAIL]["credits"] == "-5"  # a negative number stays a number
    changes = _csv_cells(texts["changes"])
    assert ["at_risk", "left", "'" + LEFT_EMAIL] in changes
    failures = list(csv.DictReader(io.StringIO(texts["failures"])))
    assert "'" + TOOL_ERROR in [r["example"] for r in failures]


# --------------------------------------------------------------------------------------------
# Markdown


def _md_tokens(text: str) -> list[Any]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    flat = []
    for token in md.parse(text):
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def _md_texts(text: str) -> str:
    """What a reader sees: the text of every paragraph, heading and cell, one per line."""
    from markdown_it import MarkdownIt

    seen = []
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        if token.type == "inline":
            kinds = ("text", "text_special", "code_inline")
            seen.append("".join(c.content for c in token.children or [] if c.type in kinds))
    return "\n".join(seen)


def _markdown(outputs: dict[str, Any]) -> dict[str, str]:
    return {
        "segments": render(outputs["result"], "md"),
        "one segment": render(outputs["result"], "md", "failing"),
        "query": render_result(outputs["pages"], "md", title=PATHNAME),
        "runs": render_result(outputs["runs"], "md", title="runs"),
        "changes": render_changes(outputs["changes"], "md"),
        "failures": report_markdown(outputs["failures"]),
        "deep dive": deep_md(outputs["deep"]),
        "weekly": outputs["weekly"],
    }


def _defanged(text: str) -> str:
    """What a reader of the Markdown sees of a value holding a URL."""
    return text.replace("://", "[:]//")


def test_markdown_never_turns_data_into_links_images_or_html(outputs: dict[str, Any]) -> None:
    for name, text in _markdown(outputs).items():
        kinds = {t.type for t in _md_tokens(text)}
        bad = kinds & {"link_open", "image", "html_inline", "html_block", "em_open"}
        assert not bad, f"{name}: {bad}"
        for table in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.M):
            lines = table.splitlines()
            widths = {len(re.findall(r"(?<!\\)\|", line)) for line in lines}
            assert len(widths) == 1, f"{name}: a value broke a table row: {lines}"
        # GitHub links a bare URL (GFM's extended autolinks): none may be left in data.
        assert not re.search(r"(?i)\b(?:https?|ftp)://|(?<![\w.+-])www\.\w", text), name
    texts = {name: _md_texts(text) for name, text in _markdown(outputs).items()}
    for email in EMAILS:
        assert _defanged(email) in texts["segments"], email
    assert MARKUP_EMAIL in texts["deep dive"] and _defanged(LINK) in texts["deep dive"]
    assert PATHNAME in texts["query"] and PATHNAME in texts["deep dive"]
    assert "<script>alert(N)</script> | =N+N *bold* _em_ `code`" in texts["runs"]  # N: digits
    assert _defanged(IMAGE_EMAIL) in texts["changes"]
    assert _defanged(TEMPLATE) in texts["segments"]
    assert MARKUP_EMAIL in texts["weekly"] and "Power users" in texts["weekly"]


def test_json_keeps_machine_values(outputs: dict[str, Any]) -> None:
    doc = json.loads(render(outputs["result"], "json"))
    users = {u["email"]: u for u in doc["users"]}
    assert users[MARKUP_EMAIL]["credits"] == -5
    assert users[FORMULA_EMAIL]["created_at"].endswith("Z")  # ISO 8601, untouched text
    deep = json.loads(deep_json(outputs["deep"]))
    assert any(LINK in (i["detail"] or "") for i in deep["timeline"])
    assert json.loads(report_json(outputs["failures"]))["totals"]["runs_failed"] == 8
    changes = json.loads(render_changes(outputs["changes"], "json"))
    left = {e for m in changes["segments"] for e in m["left"]}
    assert LEFT_EMAIL in left  # machine form: the value itself, no quote, no escaping
    runs = json.loads(render_result(outputs["runs"], "json"))
    assert runs["rows"][0][0].startswith(LINK)


def test_cli_on_a_hostile_workspace(hostile_sources: tuple[str, Path], tmp_path: Path) -> None:
    uri, export = hostile_sources
    env = {"DATABASE_URL": uri, "USERTRACK_EVENTS": str(export), "COLUMNS": "80"}
    table = run(["segments", "--as-of", "2026-11-16", "--no-save"], tmp_path, **env)
    assert table.exit_code == 0, table.stderr
    assert MARKUP_EMAIL in table.stdout and LONG_EMAIL in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())
    user = run(["user", MARKUP_EMAIL, "--as-of", "2026-11-16"], tmp_path, **env)
    assert user.exit_code == 0, user.stderr
    assert MARKUP_EMAIL in user.stdout and "\x1b" not in user.stdout
    as_csv = run(["segments", "--as-of", "2026-11-16", "-f", "csv", "--no-save"], tmp_path, **env)
    assert as_csv.exit_code == 0, as_csv.stderr
    _assert_no_formula("segments csv", as_csv.stdout)
    md = run(["failures", "--as-of", "2026-11-16", "-f", "md"], tmp_path, **env)
    assert md.exit_code == 0, md.stderr
    assert not {t.type for t in _md_tokens(md.stdout)} & {"link_open", "image", "html_inline"}
    # A property value in a breakdown, in every format a pipe or `cat` shows.
    for fmt in ("csv", "md", "table"):
        by = run(["funnel", "$pageview", "$rageclick", "--by", "$browser", "--as-of", "2026-11-16",
                  "-f", fmt], tmp_path, **env)  # fmt: skip
        assert by.exit_code == 0, by.stderr
        assert "\x1b" not in by.stdout and "\u202e" not in by.stdout, fmt
        seen = _md_texts(by.stdout) if fmt == "md" else by.stdout
        assert r"Chrome\x1b[2J\u202egpj.exe" in seen, fmt
        assert ("www.evil" in by.stdout) == (fmt != "md"), fmt


# --------------------------------------------------------------------------------------------
# 80 and 200 columns on the demo


@pytest.fixture(scope="module")
def demo(fixed_demo_home: Path) -> Iterator[dict[str, Any]]:
    from usertrack.core.config import resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(fixed_demo_home))
    mp.chdir(REPO)
    try:
        ws = open_workspace(
            load_settings(),
            queries_dir=resolve_queries_dir(None),
            segments_path=resolve_segments_file(None),
        )
        with ws:
            result = ws.classify(AS_OF)
            rules = load_failure_rules(REPO / "failures.yaml")
            failures = failure_report(ws, rules, AS_OF, 30)
            member = result.members("failing")[0]["email"]
            before = ws.classify(AS_OF - timedelta(days=7))
            yield {
                "result": result,
                "failures": failures,
                "deep": deep_dive(ws, member, AS_OF, rules),
                "tools": ws.run_query("neon/failing_tools", AS_OF),
                "changes": compare(Snapshot.of(before), Snapshot.of(result), result.segments),
            }
    finally:
        mp.undo()


def _cut(text: str) -> list[str]:
    """Table lines with an ellipsis: a value rich shortened."""
    return [line for line in text.splitlines() if "…" in line and line.startswith(("│", "┃"))]


@pytest.mark.parametrize("width", [80, 200])
def test_every_table_fits_and_keeps_key_values_whole(demo: dict[str, Any], width: int) -> None:
    views: dict[str, Callable[[Console], None]] = {
        "segments": lambda c: render_segments(c, demo["result"]),
        "members": lambda c: render_segments(c, demo["result"], "at_risk", 20),
        "query": lambda c: render_result_table(c, demo["tools"], title="neon/failing_tools"),
        "changes": lambda c: render_changes_table(c, demo["changes"]),
        "failures": lambda c: render_failures(c, demo["failures"]),
        "deep dive": lambda c: render_deep_dive(c, demo["deep"]),
    }
    out = {}
    for name, draw in views.items():
        _, text = _terminal(width, draw)
        assert all(len(line) <= width for line in text.splitlines()), name
        assert not _cut(text), f"{name} at {width}: {_cut(text)[0]}"
        out[name] = text
    result = demo["result"]
    for seg in result.segments:
        for user in result.members(seg.id, 5):
            assert user["email"] in out["segments"]
    for user in result.members("at_risk", 20):
        assert user["email"] in out["members"]
        assert style.moment(user["created_at"]) in out["members"]
    for row in demo["tools"].as_dicts():
        assert row["tool_name"] in out["query"]
    for c in demo["failures"].categories:
        assert c["category"] in out["failures"]  # "Infrastructure", not "Infrastructur"
    for r in demo["failures"].failing_tools[:15]:
        assert r["tool_name"] in out["failures"]
        assert style.day(r["last_failure"]) in out["failures"]
    for d in demo["failures"].trend:
        assert style.day(d["day"]) in out["failures"]
    for m in demo["changes"].segments:
        for email in m.entered[:5]:
            assert email in out["changes"]
    deep = demo["deep"]
    assert deep.email in out["deep dive"]
    for t in deep.tools:
        assert (
            t["tool_name"] in out["deep dive"] and style.pct(t["success_rate"]) in out["deep dive"]
        )
    for item in deep.timeline[-40:]:
        assert style.moment(item.at) in out["deep dive"]
    if width == 200:
        for name, text in out.items():
            assert "narrow terminal" not in text, name
    else:  # something had to give at 80: the caption says what
        assert "narrow terminal: " in out["failures"]


def test_too_narrow_even_for_the_key_columns_stacks_fields() -> None:
    email = "x" * 50 + "@" + "y" * 40 + ".io"
    result = Result(["email", "day", "runs"], [(email, date(2026, 11, 13), 1234)])
    _, text = _terminal(80, lambda c: render_result_table(c, result, title="wide"))
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "one field per line" in text and "2026-11-13" in text and "1,234" in text
    assert email in "".join(line.strip("│ ") for line in text.splitlines())  # folded, not cut


def test_a_table_narrower_than_its_title_keeps_the_title_whole() -> None:
    """One one-digit column under a three-word title: rich would fold the title to the
    table's width ("inlin" / "e SQL"); the table is as wide as its title instead."""
    result = Result(["x"], [(1,)])
    _, text = _terminal(80, lambda c: render_result_table(c, result, title="inline SQL query"))
    lines = text.splitlines()
    assert lines[0].strip() == "inline SQL query"
    assert lines[-1].strip() == "1 row"  # one row is not "1 rows"
    _, two = _terminal(80, lambda c: render_result_table(c, Result(["x"], [(1,), (2,)])))
    assert two.splitlines()[-1].strip() == "2 rows"


def test_highlighting_never_colours_parts_of_the_data(demo: dict[str, Any]) -> None:
    raw, _ = _terminal(200, lambda c: render_failures(c, demo["failures"]))
    for d in demo["failures"].standout_days:
        assert d["why"] in raw  # no colour codes inside the numbers of the sentence
    buf = io.StringIO()
    console = stdout_console(file=buf, force_terminal=True, color_system="truecolor", width=80)
    console.print("2026-11-13 04:59 UTC, 1,234 users, 42.5%")
    assert "2026-11-13 04:59 UTC, 1,234 users, 42.5%" in buf.getvalue()


# --------------------------------------------------------------------------------------------
# The house style, one formatter at a time


@pytest.mark.parametrize(
    ("formatter", "value", "expected"),
    [
        (style.count, 1234567, "1,234,567"),
        (style.number, 1234.56, "1,234.6"),
        (style.number, -3, "-3"),
        (style.pct, 42.5, "42.5%"),
        (style.pct, None, "-"),
        (style.share, (1, 3), "33.3%"),
        (style.share, (1, 0), "-"),
        (style.signed, 3, "+3"),
        (style.signed, -1200, "-1,200"),
        (style.moment, datetime(2026, 11, 21, 4, 59, 30), "2026-11-21 04:59 UTC"),
        (
            style.moment,
            datetime(2026, 11, 21, 6, 59, tzinfo=timezone(timedelta(hours=1))),  # to UTC
            "2026-11-21 05:59 UTC",
        ),
        (style.day, date(2026, 11, 21), "2026-11-21"),
        (style.iso, datetime(2026, 11, 21, 4, 59, 30), "2026-11-21T04:59:30Z"),
        (style.human, None, ""),
        (style.human, True, "yes"),
        (style.human, 12345, "12,345"),
        (style.human, ["Gmail", "Slack"], "Gmail, Slack"),
        (style.human, datetime(2026, 11, 13, 9, 5), "2026-11-13 09:05 UTC"),
        (style.human, (12345, "template_id"), "12345"),  # an id is not a quantity
        (style.csv_cell, 1234567.25, "1234567.25"),  # every digit
        (style.human_header, "run_count", "Run count"),
        (style.human_header, "mcp_servers", "MCP servers"),
        (style.human_header, "in_posthog", "In PostHog"),
        (style.human_header, "in_neon", "In Neon"),
        (style.human_header, "avg ms", "Avg ms"),
        (style.machine_header, "Run count", "run_count"),
        (style.csv_cell, "=1+1", "'=1+1"),
        (style.csv_cell, "-x", "'-x"),
        (style.csv_cell, "@SUM(A1)", "'@SUM(A1)"),
        (style.csv_cell, "\tx", "'\tx"),
        (style.csv_cell, -5, "-5"),
        (style.csv_cell, -2.5, "-2.5"),
        (style.csv_cell, ["+a", "b"], "'+a;b"),
        (style.csv_cell, datetime(2026, 11, 21, 4, 59), "2026-11-21T04:59:00Z"),
        (style.csv_cell, "ann@x.io", "ann@x.io"),
        (style.md_text, "[a](https://e)", r"\[a\]\(https[:]//e\)"),
        (style.md_text, "see https://evil.example/phish", "see https[:]//evil.example/phish"),
        (style.md_text, "www.evil-login.example", "www[.]evil-login.example"),
        (style.md_text, "mailto:eve@evil.io", "mailto[:]eve@evil.io"),
        (style.md_text, "ann.www.x@corp.io", "ann.www.x@corp.io"),  # an email stays itself
        (style.md_text, "a\u202eb\u200bc", r"a\\u202eb\\u200bc"),
        (style.terminal_text, "gpj\u202e.exe\u2066", r"gpj\u202e.exe\u2066"),
        (style.csv_cell, "a\x1b[2Jb\u202e", r"a\x1b[2Jb\u202e"),
        (style.csv_cell, "two\nlines\tand a tab", "two\nlines\tand a tab"),  # csv quotes them
        (style.md_text, "![i](x)", r"\!\[i\]\(x\)"),
        (style.md_text, "<b>x</b>", r"\<b\>x\</b\>"),
        (style.md_text, "a|b\nc", r"a\|b c"),
        (style.md_text, "ann_lee@x.io", "ann_lee@x.io"),  # inside a word "_" is not emphasis
        (style.md_text, "_em_ *b* `c`", r"\_em\_ \*b\* \`c\`"),
        (style.md_code, "a `b` c", "``a `b` c``"),
        (style.md_text, "a\x1b]8;;u\x1b\\b\x07", r"a\\x1b\]8;;u\\x1b\\b\\x07"),
        (style.md_code, "a\x1b[2Jb", "`a\\x1b[2Jb`"),
        (style.terminal_text, "a\x1b[31mb\nc", "a\\x1b[31mb ⏎ c"),
        (style.terminal_text, "a\u2028b \u2029 c", "a ⏎ b ⏎ c"),  # Unicode's line breaks too
    ],
)
def test_house_style(formatter: Callable[..., str], value: Any, expected: str) -> None:
    got = formatter(*value) if isinstance(value, tuple) else formatter(value)
    assert got == expected


def test_human_column_rules() -> None:
    assert style.human(25.0, "run_success_rate") == "25.0%"  # a *_rate column is a percentage
    assert style.human(57.5, "share") == "57.5%"  # and a share, as every Share column shows it
    assert style.human(datetime(2026, 11, 13, 9, 5), "first_seen") == "2026-11-13"  # a range day
    assert style.md_text(style.Markdown("**ours**")) == "**ours**"


def test_deep_dive_timeline_stays_a_table_at_80_columns(demo: dict[str, Any]) -> None:
    """The timeline of `usertrack user` at 80 columns: an event named like mcp_connect_clicked
    beside a failed tool call used to leave no room for the four key columns, and the whole
    timeline (40 events) came out one field per line, seven lines each. The detail is the
    column to leave out (the failure tables above carry the messages); the rest stays whole."""
    import dataclasses

    from usertrack.reports.deepdive import TimelineItem

    at = datetime(2026, 11, 10, 8, 38, tzinfo=UTC)
    items = [
        TimelineItem(at, "posthog", "mcp_connect_clicked", name="/integrations/github"),
        TimelineItem(
            at + timedelta(minutes=1), "neon", "tool call", "tool", "linkedin_get_profile",
            "failed", "AuthenticationError: LinkedIn API returned 401 Unauthorized",
        ),
        TimelineItem(at + timedelta(minutes=2), "neon", "code execution", None,
                     "Score inbound leads", "success", "score_leads.py, 1602 ms"),
        TimelineItem(at + timedelta(minutes=3), "neon", "run", "workflow", "run 19998",
                     "completed"),
    ]  # fmt: skip
    deep = dataclasses.replace(demo["deep"], timeline=items)
    _, text = _terminal(80, lambda c: render_deep_dive(c, deep))
    timeline = text.split("Timeline (PostHog events and Neon rows", 1)[1]
    assert "one field per line" not in timeline
    assert "┃ At " in timeline and "hidden: " in timeline
    for item in items:
        assert style.moment(item.at) in timeline and item.kind in timeline
    assert "failed" in timeline and all(len(line) <= 80 for line in timeline.splitlines())
    _, wide = _terminal(200, lambda c: render_deep_dive(c, deep))
    assert "AuthenticationError: LinkedIn API returned 401 Unauthorized" in wide


def test_error_hints_show_data_as_text(handmade_db: str, tmp_path: Path) -> None:
    """An unknown email's hint names the closest known ones, and those come from PostHog: an
    escape sequence in one reached stderr raw. Every error and hint line is terminal-safe."""
    hostile = "eve\x1b]8;;https://evil.example\x1b\\@evil.io"
    record = {
        "uuid": "00000000-0000-0000-0000-000000000001",
        "event": "$pageview",
        "distinct_id": "d-eve",
        "person_id": "p-eve",
        "timestamp": "2026-11-10T10:00:00Z",
        "properties": {"$pathname": "/"},
        "person_properties": {"email": hostile},
    }
    export = tmp_path / "events.jsonl"
    export.write_text(json.dumps(record) + "\n", encoding="utf-8")
    env = {"DATABASE_URL": handmade_db, "USERTRACK_EVENTS": str(export)}
    typed = hostile.replace("\x1b", "")  # a near miss: the hint names the hostile one
    result = run(["user", typed, "--as-of", "2026-11-16"], tmp_path / "home", **env)
    assert result.exit_code == 3, result.stderr  # not found
    assert "\x1b" not in result.stderr
    assert "usertrack: hint: did you mean eve\\x1b]8;;https://evil.example" in result.stderr


@pytest.mark.parametrize(
    "value",
    [" " * 200_000 + "x", "a." * 100_000, "www." * 50_000, "ab+" * 70_000, " \n" * 100_000],
)
def test_escaping_a_strangers_value_is_linear(value: str) -> None:
    """A value of 16,000 spaces took 3 s in md_text (and 8,000 "a." pairs 8 s): a regex rescanned
    the run from each position. Values come from anyone with the project's public token."""
    import time

    from usertrack.act.slack import value as slack_value

    started = time.process_time()
    for formatter in (style.md_text, style.terminal_text, style.csv_cell, slack_value):
        formatter(value)
    assert time.process_time() - started < 2.0


def test_80_columns_wrap_under_their_own_text(demo_home: Path) -> None:
    """At 80 columns the sessions caption wrapped at its narrow table's width
    (a line of "UTC" alone) and tracking-plan's bullets wrapped to the margin."""
    sessions = run(["sessions", "--as-of", "2026-11-16"], demo_home, COLUMNS="80")
    assert sessions.exit_code == 0, sessions.stderr
    first = sessions.stdout.splitlines()[0]
    assert first.startswith("Sessions from ") and first.rstrip().endswith("(UTC)")
    plan = run(["tracking-plan", "--as-of", "2026-11-16"], demo_home, COLUMNS="80")
    assert plan.exit_code == 0, plan.stderr
    lines = plan.stdout.splitlines()
    start = lines.index("To fix") + 1
    end = next(i for i, ln in enumerate(lines) if ln.startswith("Planned events"))
    bullets = lines[start:end]
    assert len(bullets) > sum(ln.startswith("  • ") for ln in bullets) > 0  # some wrapped
    assert all(ln.startswith(("  • ", "    ")) and len(ln) <= 80 for ln in bullets), bullets


def _json_tree(rng: Any, depth: int) -> Any:
    """A random document of what analyses hand json_text: plain values, the ones jsonable
    changes (timestamps, dates, Decimal, NaN), nested lists, tuples and objects, keys of any
    type, and strings holding what the fast encoder splits on (newlines, brackets, NUL)."""
    import decimal
    import enum

    class Level(enum.IntEnum):
        HIGH = 3

    leaves = [
        None, True, False, 0, -5, 2**70, 1.5, -0.0, 1e300, float("nan"), float("inf"), 3.0,
        "", 'a\nb\t"\\', "é漢\u2028\x00\x1f", "}{][,\n    ", "\x00usertrack-nested\x000",
        datetime(2026, 1, 2, 3, 4, 5),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        date(2026, 1, 1), decimal.Decimal("1.25"), Level.HIGH,
    ]  # fmt: skip
    kind = rng.random()
    if depth > 4 or kind < 0.4:
        return rng.choice(leaves)
    if kind < 0.7:
        items = [_json_tree(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
        return items if rng.random() < 0.8 else tuple(items)
    keys = ["a", "b", "é", "x\ny", 1, True, None, 2.5, "\x00usertrack-nested\x000"]
    return {rng.choice(keys): _json_tree(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def test_json_text_is_the_indented_dump_byte_for_byte() -> None:
    """json_text writes with json's C encoder what json.dumps(indent=2) writes with its
    pure-Python one: the same text for any document, a marker-like string included."""
    import random

    from usertrack.rendering.export import json_text, jsonable

    rng = random.Random(20261125)
    docs = [_json_tree(rng, 0) for _ in range(3000)]
    docs.append({"persons": [{"email": "a@x.io", "servers": ["Slack"], "n": 1}] * 3, "e": []})
    for _ in range(1000):  # people: objects of the same keys, written column by column
        keys = rng.sample(["email", "at", "é", "x\ny", "\x00usertrack-nested\x000"], 3)
        people = [{k: _json_tree(rng, 3) for k in keys} for _ in range(rng.randrange(2, 6))]
        if rng.random() < 0.2:  # one of other keys: written object by object
            people.append({"email": None})
        docs.append({"persons": people})
    column_kinds = [  # columns of one kind each, with and without nulls (each kind's own path)
        ["a", 'é"\n', None], ["b", "\x00"], [1, -2, 2**70], [3, None], [True, False, None],
        [1.5, float("nan"), 2, None], [-0.0, 1e300],
        [datetime(2026, 1, 2, 3, 4, 5), None, datetime(2026, 1, 2, tzinfo=UTC)],
        [["Slack", "Gmail"], [], None], [{"k": [1]}, {}], [None, None],
    ]  # fmt: skip
    for _ in range(200):
        chosen = rng.sample(column_kinds, 4)
        rows = rng.randrange(2, 5)
        keys = ["email", "at %s", "n", "é"]
        docs.append({"persons": [{k: rng.choice(c) for k, c in zip(keys, chosen, strict=True)}
                                 for _ in range(rows)]})  # fmt: skip
    for doc in docs:
        assert json_text(doc) == json.dumps(jsonable(doc), indent=2, ensure_ascii=False) + "\n"
