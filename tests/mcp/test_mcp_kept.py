"""What the MCP server keeps between calls to answer a warm call quickly, run in this process as
the server runs each call (mcp_server.call within workspace.keep_open): everyone's
classification kept for `user`, the per-user results loaded as Arrow, the failures categorized
while the trend's query runs. Each answer is compared with the CLI's own JSON; the queries a
call runs are counted by wrapping the real sources' `run`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import REPO, run
from tests.mcp.test_mcp import unwrapped
from usertrack.engines.base import Result

PROFILE_QUERIES = {
    "neon/accounts",
    "neon/runs",
    "neon/tool_calls",
    "posthog/activity",
    "posthog/mcp_clicks",
    "posthog/ux_issues",
}


@pytest.fixture
def server(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The tools as the server serves them, its keeping on, and the ids of the queries run."""
    from usertrack.cli import app
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.mcp import server as mcp_server
    from usertrack.workspace import keep_open

    monkeypatch.setenv("USERTRACK_HOME", str(demo_home))
    monkeypatch.chdir(REPO)
    ran: list[str] = []
    for source in (PostgresSource, LocalPostHogSource):
        real = source.run

        def counted(self: Any, query: Any, *args: Any, _real: Any = real, **kw: Any) -> Any:
            ran.append(query.id)
            return _real(self, query, *args, **kw)

        monkeypatch.setattr(source, "run", counted)
    mcp_server.use_app(app)
    mcp_server._memo.clear()
    with keep_open():
        yield {"tools": mcp_server.tools(), "ran": ran}
    mcp_server._memo.clear()


def call(server: dict[str, Any], name: str, **arguments: Any) -> str:
    from usertrack.mcp import server as mcp_server

    # A file argument is one the server was started with (no tool takes one).
    files = {k: str(arguments.pop(k)) for k in list(arguments) if k.endswith(("_file", "_dir"))}
    server["ran"].clear()
    mcp_server.started_with.update(files)
    try:
        (answer,) = mcp_server.call(server["tools"][name], {**arguments, "max_items": 0})
    finally:
        mcp_server.started_with.clear()
    return unwrapped(answer)


def cli_json(home: Path, *args: str) -> str:
    result = run([*args], home=home)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_user_reads_everyones_classification_kept_by_segments(
    server: dict[str, Any], demo_home: Path, tmp_path: Path
) -> None:
    """After `segments`, `user` runs only the person's own queries (the profile's six are not
    run again) and answers exactly as the CLI; a moment not classified before, or rules
    edited since, are classified afresh (their answers the CLI's)."""
    everyone = json.loads(call(server, "segments"))
    emails = [u["email"] for u in everyone["users"] if u["segments"]][:3]
    for email in emails:
        answer = call(server, "user", email=email)
        assert not PROFILE_QUERIES & set(server["ran"]), server["ran"]
        assert answer == cli_json(demo_home, "user", email, "-f", "json")
    # Spelled otherwise: the same person, as the CLI finds them.
    shouted = f"  {emails[0].upper()} "
    assert call(server, "user", email=shouted) == cli_json(demo_home, "user", shouted, "-f", "json")

    # Another moment: nothing kept for it, so the person's profile is computed for it.
    past = call(server, "user", email=emails[0], as_of="2026-11-01")
    assert set(server["ran"]) >= PROFILE_QUERIES
    assert past == cli_json(demo_home, "user", emails[0], "--as-of", "2026-11-01", "-f", "json")

    # The demo's data written again (its event store's time changed): nothing kept is used.
    import os

    store = demo_home / "demo" / "events.duckdb"
    st = store.stat()
    try:
        os.utime(store, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        again = call(server, "user", email=emails[1])
        assert set(server["ran"]) >= PROFILE_QUERIES
        assert again == cli_json(demo_home, "user", emails[1], "-f", "json")
    finally:
        os.utime(store, ns=(st.st_atime_ns, st.st_mtime_ns))

    # Rules edited after `segments`: the kept classification is not theirs.
    rules = tmp_path / "segments.yaml"
    rules.write_text((REPO / "segments.yaml").read_text())
    call(server, "segments", segments_file=str(rules))
    first = everyone["users"][0]
    email, primary = first["email"], first["primary"] or "failing"
    seg = next(s for s in everyone["segments"] if s["id"] == primary)
    text = rules.read_text()
    rules.write_text(text.replace(f"name: {seg['name']}", "name: Renamed for the test"))
    edited = call(server, "user", email=email, segments_file=str(rules))
    assert set(server["ran"]) >= PROFILE_QUERIES
    cli = cli_json(demo_home, "user", email, "--segments", str(rules), "-f", "json")
    assert edited == cli


def test_rules_that_read_other_rows_are_not_answered_from_the_kept_classification(
    server: dict[str, Any], demo_home: Path, tmp_path: Path
) -> None:
    """A rule with a window (the whole base's average) gives one person alone another answer
    than everyone together: `user` then computes the person's profile as the CLI does."""
    from usertrack.segments.kept import row_by_row

    rules = tmp_path / "segments.yaml"
    text = (REPO / "segments.yaml").read_text()
    assert "rule: " in text
    windowed = "rule: run_count > avg(run_count) OVER () AND "
    # The first person segment's rule (account segments come before them in the file).
    head, persons = text.split("\nsegments:\n", 1)
    rules.write_text(head + "\nsegments:\n" + persons.replace("rule: ", windowed, 1))
    assert not row_by_row("run_count > avg(run_count) OVER () AND run_count > 1")
    assert not row_by_row("run_count > (SELECT 1)")
    assert row_by_row("run_count > 5 AND list_contains(mcp_servers, 'Notion')")
    assert not row_by_row("SELECT email, count(*) FROM joined GROUP BY email", "joined")
    assert row_by_row("SELECT email, run_count + 1 AS n FROM joined WHERE in_neon", "joined")

    everyone = json.loads(call(server, "segments", segments_file=str(rules)))
    email = everyone["users"][0]["email"]
    answer = call(server, "user", email=email, segments_file=str(rules))
    assert set(server["ran"]) >= PROFILE_QUERIES
    assert answer == cli_json(demo_home, "user", email, "--segments", str(rules), "-f", "json")


def test_segments_loads_its_results_as_arrow_in_the_server(
    server: dict[str, Any], demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the server, the per-user results of more than a few rows reach DuckDB as Arrow
    tables; the answer is the CLI's (which loads them as rows)."""
    from usertrack.segments import profiles

    loaded: list[bool] = []
    real = profiles.load_result

    def load(con: Any, query: Any, result: Result, **kw: Any) -> str:
        name = real(con, query, result, **kw)
        loaded.append(result.arrow is not None or kw.get("typed", False))
        return name

    monkeypatch.setattr(profiles, "load_result", load)
    answer = call(server, "segments", as_of="2026-11-10")
    assert len(loaded) == len(PROFILE_QUERIES) and all(loaded)
    cli = ["segments", "--as-of", "2026-11-10", "-f", "json", "--no-save"]
    assert answer == cli_json(demo_home, *cli)


def test_failures_are_categorized_while_the_trend_query_runs(
    server: dict[str, Any], demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failures' categorization starts as soon as their query answers: the trend's query
    is held until it has started (on the code before, categorization waited for both). The
    query files run here: the local copy of the app's tables answers both at once."""
    from usertrack.reports import failures

    monkeypatch.setenv("USERTRACK_APP_MIRROR", "0")
    from usertrack.engines.postgres.source import PostgresSource

    started = threading.Event()
    real_categorize = failures.categorize

    def categorize(*args: Any, **kw: Any) -> int:
        started.set()
        return real_categorize(*args, **kw)

    monkeypatch.setattr(failures, "categorize", categorize)
    counted = PostgresSource.run
    seen: list[bool] = []

    def run_query(self: Any, query: Any, *args: Any, **kw: Any) -> Any:
        if query.id == "neon/failure_trend":
            seen.append(started.wait(timeout=10))
        return counted(self, query, *args, **kw)

    monkeypatch.setattr(PostgresSource, "run", run_query)
    answer = call(server, "failures", days=21)
    assert seen == [True]
    assert answer == cli_json(demo_home, "failures", "--days", "21", "-f", "json")


def test_a_long_list_is_cut_without_parsing_what_is_left_out(
    server: dict[str, Any], demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`segments` cut to max_items: the answer and the note are those of cutting the CLI's
    whole JSON, and no text as long as the whole answer is parsed to make them."""
    from usertrack.mcp import answers as mcp_answers
    from usertrack.mcp import server as mcp_server

    whole = cli_json(demo_home, "segments", "-f", "json", "--no-save")
    expected, notes = mcp_answers.limited(json.loads(whole), 7)
    assert notes[0].startswith("users: 7 of ")
    parsed: list[int] = []
    real = json.loads

    def loads(text: Any, *args: Any, **kw: Any) -> Any:
        parsed.append(len(text))
        return real(text, *args, **kw)

    monkeypatch.setattr(json, "loads", loads)
    answer, note = mcp_server.call(server["tools"]["segments"], {"max_items": 7})
    assert unwrapped(answer) == json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    assert note.startswith(f"Lists cut to max_items=7: {'; '.join(notes[:10])}")
    assert parsed and max(parsed) < len(whole) / 10


def test_a_rules_file_edited_between_calls_is_read_again(
    server: dict[str, Any], demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server keeps failures.yaml parsed while it is unchanged (usertrack.core.filecache): kept
    across calls, and an edit that keeps the file's size and modification time is seen at the
    next call, whose answer is the CLI's with the edited file."""
    import os
    import shutil
    import time

    from usertrack.core import filecache
    from usertrack.reports import failures

    monkeypatch.setattr(filecache, "_SETTLE_NS", 50_000_000)
    rules = tmp_path / "failures.yaml"
    shutil.copy(REPO / "failures.yaml", rules)
    os.utime(rules, ns=(10**18, 10**18))
    time.sleep(0.08)
    parsed: list[Path] = []
    real = failures._load_failure_rules

    def load(path: Path) -> Any:
        parsed.append(path)
        return real(path)

    monkeypatch.setattr(failures, "_load_failure_rules", load)
    first = call(server, "failures", days=9, failures_file=str(rules))
    call(server, "failures", days=10, failures_file=str(rules))
    assert len(parsed) == 1  # the second call read the kept rules
    size = rules.stat().st_size
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace('"Infrastructure: ', '"Infrastructurx: '), encoding="utf-8")
    os.utime(rules, ns=(10**18, 10**18))
    assert rules.stat().st_size == size
    answer = call(server, "failures", days=9, failures_file=str(rules))
    assert len(parsed) == 2 and answer != first and "Infrastructurx: " in answer
    cli = ["failures", "--days", "9", "--failures", str(rules), "-f", "json"]
    assert answer == cli_json(demo_home, *cli)
