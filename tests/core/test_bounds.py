"""Bounds on the work a file's text can make DuckDB do: a memory limit on
every connection and a time limit on every query of a query file or a rule, both settable.

Real parts: the demo's events store and embedded PostgreSQL, the CLI as a user runs it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb
import pytest

from tests.cli_runner import run
from usertrack.core.errors import EXIT_CONFIG, EXIT_LIMIT

REPO = Path(__file__).resolve().parents[2]


def _error(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("usertrack: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def _queries(tmp_path: Path) -> Path:
    queries = tmp_path / "queries"
    shutil.copytree(REPO / "queries", queries)
    return queries


def test_a_hogql_file_past_the_time_limit_is_stopped(demo_home: Path, tmp_path: Path) -> None:
    queries = _queries(tmp_path)
    path = queries / "posthog" / "slow.sql"
    path.write_text(
        "-- name: slow\n-- description: a cross join of the events with themselves, thrice\n"
        "-- returns: table\n"
        "SELECT count() AS n FROM events AS a, events AS b, events AS c\n"
    )
    started = time.monotonic()
    result = run(
        ["query", "posthog/slow", "--queries", str(queries), "-f", "json"],
        demo_home,
        USERTRACK_DUCKDB_TIMEOUT="1",
    )
    assert time.monotonic() - started < 20
    assert result.exit_code == EXIT_LIMIT, result.stdout + result.stderr
    assert _error(result.stderr) == (
        f"usertrack: error: posthog/slow ({path}): stopped after 1 s, the time limit of one"
        " DuckDB query (USERTRACK_DUCKDB_TIMEOUT, or [limits] duckdb_timeout_seconds in the"
        " config file)"
    )
    assert result.stdout == ""


def test_profile_sql_past_the_time_limit_is_stopped(demo_home: Path, tmp_path: Path) -> None:
    queries = _queries(tmp_path)
    path = queries / "join" / "profile.sql"
    text = path.read_text()
    slow = "(SELECT count(*) FROM joined a, joined b, joined c, joined d) AS n"
    path.write_text(text.replace("    in_neon\nFROM joined", f"    in_neon,\n{slow}\nFROM joined"))
    started = time.monotonic()
    result = run(
        ["segments", "--queries", str(queries), "-f", "json"],
        demo_home,
        USERTRACK_DUCKDB_TIMEOUT="1.5",
    )
    assert time.monotonic() - started < 30
    assert result.exit_code == EXIT_LIMIT, result.stdout + result.stderr
    assert _error(result.stderr).startswith(f"usertrack: error: {path}: stopped after 1.5 s")
    assert result.stdout == ""


def test_a_rule_past_the_time_limit_is_stopped(demo_home: Path, tmp_path: Path) -> None:
    rules = tmp_path / "segments.yaml"
    rules.write_text(
        (REPO / "segments.yaml").read_text()
        + "\n  - id: probe\n    name: Probe\n    action: Nothing\n"
        '    rule: "len(list_filter(range(200000000), lambda x: x % 7 = 1)) > 0"\n'
    )
    result = run(
        ["segments", "--segments", str(rules), "-f", "json"],
        demo_home,
        USERTRACK_DUCKDB_TIMEOUT="1",
    )
    assert result.exit_code == EXIT_LIMIT, result.stdout + result.stderr
    assert _error(result.stderr).startswith(
        f"usertrack: error: {rules}: the rules: stopped after 1 s"
    )


def test_the_time_limit_leaves_a_finished_query_and_the_connection_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from usertrack.checks import sandbox
    from usertrack.core.errors import QueryError

    monkeypatch.setenv("USERTRACK_DUCKDB_TIMEOUT", "0.3")
    con = sandbox.connect()
    try:
        with sandbox.time_limit(con, "fast"):
            assert con.execute("SELECT 42").fetchone() == (42,)
        time.sleep(0.5)  # the timer would have fired by now: it was cancelled
        assert con.execute("SELECT 43").fetchone() == (43,)
        with (
            pytest.raises(QueryError, match=r"^slow: stopped after 0\.3 s"),
            sandbox.time_limit(con, "slow"),
        ):
            con.execute("SELECT count(*) FROM range(100000000000)").fetchone()
        assert con.execute("SELECT 44").fetchone() == (44,)  # usable afterwards
        with pytest.raises(duckdb.Error), sandbox.time_limit(con, "bad"):
            con.execute("SELECT no_such_column")  # other errors pass through as they are
    finally:
        con.close()


def test_every_connection_has_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from usertrack.checks import sandbox

    def limit() -> str:
        con = sandbox.connect()
        try:
            row = con.execute("SELECT current_setting('memory_limit')").fetchone()
            return str(row[0]) if row else ""
        finally:
            con.close()

    monkeypatch.delenv("USERTRACK_DUCKDB_MEMORY", raising=False)
    assert limit() == "1.8 GiB"  # 2GB; DuckDB's own default was 80% of the machine's memory
    monkeypatch.setenv("USERTRACK_DUCKDB_MEMORY", "300MB")
    assert limit() == "286.1 MiB"
    con = sandbox.connect()
    try:
        # a list of 100 M numbers (800 MB) cannot spill: refused at the limit
        with pytest.raises(duckdb.Error, match=r"Out of Memory Error: .* MiB/286\.1 MiB used"):
            con.execute("SELECT len(list(i)) FROM range(100000000) t(i)").fetchone()
    finally:
        con.close()


def test_the_limits_come_from_the_config_file_and_bad_ones_are_named(
    demo_home: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[limits]\nduckdb_memory = "lots"\n')
    result = run(["segments"], demo_home, USERTRACK_CONFIG=str(config))
    assert result.exit_code == EXIT_CONFIG, result.stdout + result.stderr
    assert _error(result.stderr) == (
        f"usertrack: error: {config}:2 [limits] duckdb_memory = 'lots' is not an amount of"
        " memory DuckDB takes (such as 2GB or 512MB)"
    )
    for amount in ("99999999999TB", "0MB"):  # each was DuckDB's refusal at the store (exit 8)
        result = run(["segments"], demo_home, USERTRACK_DUCKDB_MEMORY=amount)
        assert result.exit_code == EXIT_CONFIG, result.stdout + result.stderr
        assert _error(result.stderr) == (
            f"usertrack: error: USERTRACK_DUCKDB_MEMORY = {amount!r} is not an amount of"
            " memory DuckDB takes (such as 2GB or 512MB)"
        )
    result = run(["segments"], demo_home, USERTRACK_DUCKDB_TIMEOUT="0")
    assert result.exit_code == EXIT_CONFIG
    assert "USERTRACK_DUCKDB_TIMEOUT = '0' is not a number of seconds above 0" in result.stderr


# --------------------------------------------------------------------------------------------
# `usertrack query -f json|csv|md` streams: memory for one batch, whatever the number of rows


def _big_query(tmp_path: Path, body: str, folder: str = "posthog") -> Path:
    queries = _queries(tmp_path)
    (queries / folder / "big.sql").write_text(
        "-- name: big\n-- description: many rows\n-- returns: table\n" + body + "\n"
    )
    return queries


BIG = {
    "posthog": "SELECT a.uuid AS a, b.event AS b FROM events AS a, events AS b LIMIT 100000",
    "neon": "SELECT g AS n, md5(g::text) AS h FROM generate_series(1, 100000) AS g",
}


@pytest.mark.parametrize(
    ("folder", "fmt"),
    [("posthog", "json"), ("posthog", "csv"), ("posthog", "md"), ("neon", "json")],
)
def test_query_output_is_streamed(demo_home: Path, tmp_path: Path, folder: str, fmt: str) -> None:
    """100,000 rows written with a few MB of Python memory: the rows were all fetched, then
    the whole document built in memory (10 M rows as JSON: 7.2 GB)."""
    import gc
    import tracemalloc

    from usertrack.core.config import load_settings
    from usertrack.rendering.export import render_result
    from usertrack.workspace import open_workspace

    queries = _big_query(tmp_path, BIG[folder], folder)
    out = tmp_path / f"big.{fmt}"
    gc.collect()
    gc.disable()  # as cli.program.main runs every command: cyclic garbage made per row would stay
    tracemalloc.start()
    try:
        args = ["query", f"{folder}/big", "--queries", str(queries), "-o", str(out)]
        result = run(args, demo_home)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    assert result.exit_code == 0, result.stderr
    assert peak < 15_000_000, f"peak {peak / 1e6:.1f} MB"
    # the same text as the whole result rendered at once
    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(demo_home))
    try:
        ws = open_workspace(
            load_settings(), queries_dir=queries, segments_path=REPO / "segments.yaml"
        )
        with ws:
            whole = ws.run_query(f"{folder}/big", ws.default_as_of())
    finally:
        mp.undo()
    assert len(whole.rows) == 100_000
    expected = render_result(whole, fmt, query=f"{folder}/big", title=f"{folder}/big")
    assert len(expected) > 1_000_000
    assert out.read_text(encoding="utf-8") == expected


def test_a_query_failing_midway_leaves_no_out_file(demo_home: Path, tmp_path: Path) -> None:
    """Rows had been written when the time limit stopped the query: --out is still whole or
    nothing (the old file kept, no temp file left)."""
    queries = _big_query(tmp_path, "SELECT a.uuid AS a, b.uuid AS b FROM events AS a, events AS b")
    out = tmp_path / "out" / "big.csv"
    out.parent.mkdir()
    out.write_text("the old file\n")
    result = run(
        ["query", "posthog/big", "--queries", str(queries), "-o", str(out)],
        demo_home,
        USERTRACK_DUCKDB_TIMEOUT="1",
    )
    assert result.exit_code == EXIT_LIMIT, result.stdout + result.stderr
    assert "stopped after 1 s" in _error(result.stderr)
    assert out.read_text() == "the old file\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["big.csv"]


def test_a_failures_when_past_the_time_limit_is_stopped(demo_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "failures.yaml"
    path.write_text(
        (REPO / "failures.yaml").read_text()
        + "\n  - name: 'Probe: slow'\n    category: Infrastructure\n    match: x\n"
        '    when: "len(list_filter(range(200000000), lambda x: x % 7 = 1)) > 0"\n'
    )
    result = run(
        ["failures", "--failures", str(path), "-f", "json"],
        demo_home,
        USERTRACK_DUCKDB_TIMEOUT="1",
    )
    assert result.exit_code == EXIT_LIMIT, result.stdout + result.stderr
    assert _error(result.stderr).startswith(
        f"usertrack: error: {path}: the rules: stopped after 1 s"
    )


# --------------------------------------------------------------------------------------------
# The process's own bounds (usertrack.core.bounds): what DuckDB's limits do not stop


# A small launcher runs the command and reports its peak RSS: the test runner's own peak would
# be counted in a child it starts itself (Linux keeps the high-water mark across fork and exec).
_MEASURED = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def _run_measured(args: list[str], env: dict[str, str]) -> tuple[int, str, float, int]:
    """`python ARGS` in a child process: its exit code, stderr, seconds and peak RSS in bytes."""
    import os
    import subprocess
    import sys

    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED, sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **env},
    )
    seconds = time.monotonic() - started
    return proc.returncode, proc.stderr, seconds, int(proc.stdout.split()[-1]) * 1024


A60 = "a" * 60
# Each replaceAll makes the text 60 times longer: 60**5 characters an event, computed per row
# (no literal says how big), which DuckDB's memory limit does not bound (it reached 19 GB).
HUGE_VALUE = (
    f"length(replaceAll(replaceAll(replaceAll(replaceAll(concat(event, '{A60}'), 'a', '{A60}'),"
    f" 'a', '{A60}'), 'a', '{A60}'), 'a', '{A60}')) > 0"
)


# The same huge value through each surface a user's text reaches the local engine by.
HUGE_RULE = (
    f"len(replace(replace(replace(CAST(run_count AS VARCHAR) || '{A60}', 'a', '{A60}'), 'a',"
    f" '{A60}'), 'a', '{A60}')) > 0"
)
SURFACES = ["where", "dashboard", "rule", "hogql"]


def _surface(surface: str, tmp_path: Path) -> tuple[list[str], str]:
    """The command line that sends the huge value through `surface`, and its error's start."""
    if surface == "where":
        return ["activity", "-f", "json", "--where", HUGE_VALUE], "posthog/activity_days"
    if surface == "dashboard":
        board = tmp_path / "probe.yaml"
        board.write_text(
            "title: probe\npanels:\n  - analysis: activity\n    title: Huge\n"
            f"    where: [{_yaml_text(HUGE_VALUE)}]\n"
        )
        out = tmp_path / "out"
        return ["report", str(board), "--out", str(out)], f"{board}:3: panel 'Huge'"
    if surface == "rule":
        rules = tmp_path / "segments.yaml"
        rules.write_text(
            (REPO / "segments.yaml").read_text()
            + "\n  - id: probe\n    name: Probe\n    action: Nothing\n"
            f"    rule: {_yaml_text(HUGE_RULE)}\n"
        )
        return ["segments", "--segments", str(rules), "-f", "json"], f"{rules}: the rules"
    hogql = f"SELECT count() AS n FROM events WHERE {HUGE_VALUE}"
    return ["query", "--hogql", hogql, "-f", "json"], "posthog/inline (--hogql)"


def _yaml_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("surface", SURFACES)
def test_a_huge_value_stops_at_the_memory_bound(
    demo_home: Path, tmp_path: Path, surface: str
) -> None:
    """A value made per row, so that no literal says how big (DuckDB's own limit let it reach
    19 GB; a rule, 23 GB), stops at the process's bound in one line, nothing written."""
    argv, where = _surface(surface, tmp_path)
    code, stderr, seconds, peak = _run_measured(
        ["-m", "usertrack", "-q", *argv],
        {"USERTRACK_HOME": str(demo_home), "USERTRACK_DUCKDB_MEMORY": "300MB"},
    )
    assert code == EXIT_LIMIT, stderr
    error = _error(stderr)
    assert error.startswith(f"usertrack: error: {where}"), error
    assert error.endswith(
        "stopped at the memory limit of 300MB (USERTRACK_DUCKDB_MEMORY, or [limits]"
        " duckdb_memory in the config file)"
    )
    # DuckDB's 300 MB, the bound's 2 GiB for the rest, and the interpreter: its data before
    # the first connection (about 300 MB) and its libraries
    assert peak < 300e6 + (2 << 30) + 500e6, f"peak {peak / 1e6:.0f} MB"
    assert seconds < 60
    assert not (tmp_path / "out").exists()


def test_a_query_that_outlives_its_interrupt_ends_the_process(tmp_path: Path) -> None:
    """DuckDB looks at an interrupt only between chunks of rows: a query still running as long
    again after its time limit ends the process in one line (a sleep stands for the chunk)."""
    script = (
        "import time\n"
        "from usertrack.checks import sandbox\n"
        "from usertrack.core import bounds\n"
        "bounds.arm()\n"
        "con = sandbox.connect()\n"
        "with sandbox.time_limit(con, 'probe'):\n"
        "    time.sleep(60)\n"
    )
    code, stderr, seconds, _peak = _run_measured(
        ["-c", script], {"USERTRACK_DUCKDB_TIMEOUT": "0.5", "USERTRACK_HOME": str(tmp_path)}
    )
    assert code == EXIT_LIMIT, stderr
    assert stderr == (
        "usertrack: error: probe: stopped after 0.5 s, the time limit of one DuckDB query"
        " (USERTRACK_DUCKDB_TIMEOUT, or [limits] duckdb_timeout_seconds in the config file)\n"
    )
    assert seconds < 10


def test_a_postgresql_row_past_the_memory_bound_stops_in_one_line(demo_home: Path) -> None:
    """The bound holds from the command's start, not only from its first DuckDB connection: an
    inline SELECT of a 900 MB text (PostgreSQL makes it; usertrack would hold it several times
    over) stops in one line (it ran to 4.4 GB)."""
    code, stderr, _seconds, peak = _run_measured(
        ["-m", "usertrack", "-q", "query", "--sql", "SELECT repeat('x', 900000000) AS s"],
        {"USERTRACK_HOME": str(demo_home), "USERTRACK_DUCKDB_MEMORY": "300MB"},
    )
    assert code == EXIT_LIMIT, stderr
    assert _error(stderr) == (
        "usertrack: error: query neon/inline (--sql): stopped at the memory bound: its rows"
        " outgrew DuckDB's 300MB (USERTRACK_DUCKDB_MEMORY) and 2 GiB for the rest"
    )
    assert peak < 300e6 + (2 << 30) + 500e6, f"peak {peak / 1e6:.0f} MB"


def test_the_demo_build_is_not_held_to_a_questions_memory_bound(tmp_path: Path) -> None:
    """The memory bound is for questions; building the demo is usertrack's own work sized by
    --users. With a bound far below what a build takes (16 MB beside 50 MB of headroom), the
    build still finishes, and the bound holds again afterwards."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from usertrack.core import bounds\n"
        "from usertrack.demo.generator import ensure_demo, stop_demo\n"
        "bounds.HEADROOM = 50 << 20\n"
        "bounds.arm()\n"
        "bounds.limit_memory('16MB')\n"
        "home = Path(sys.argv[1])\n"
        "try:\n"
        "    ensure_demo(home, users=200)\n"
        "finally:\n"
        "    stop_demo(home)\n"
        "try:\n"
        "    bytearray(200 << 20)\n"
        "except MemoryError:\n"
        "    print('bounded again', file=sys.stderr)\n"
    )
    home = tmp_path / "home"
    code, stderr, _seconds, _peak = _run_measured(["-c", script, str(home)], {})
    assert code == 0, stderr
    assert (home / "demo" / "manifest.json").exists()
    assert "bounded again" in stderr


def test_the_bound_leaves_room_for_the_stacks_of_many_databases_threads(tmp_path: Path) -> None:
    """RLIMIT_DATA counts each thread's whole stack, touched or not, and each DuckDB database
    starts its own workers: the weekly dashboard at 100,000 users keeps about ten open with the
    threads that run its panels (70 to 90 threads) and stopped at a bound that left 1 GiB for
    the rest. Twenty databases open at once, each with its workers, fit under the bound."""
    script = (
        "from usertrack.checks import sandbox\n"
        "from usertrack.core import bounds\n"
        "bounds.arm()\n"
        "bounds.limit_memory('300MB')\n"
        "kept = []\n"
        "for _ in range(20):\n"
        "    con = sandbox.connect()\n"
        "    con.execute('SELECT count(*) FROM range(1000000)').fetchall()\n"
        "    kept.append(con)\n"
    )
    code, stderr, _seconds, _peak = _run_measured(
        ["-c", script], {"USERTRACK_HOME": str(tmp_path), "USERTRACK_DUCKDB_MEMORY": "300MB"}
    )
    assert code == 0, stderr


# A rule whose constant part is costly: DuckDB folds constants while it binds the text, so the
# check that binds a rule before anything runs does the whole work.
_COSTLY = "len(list_filter(range(200000000), lambda x: x % 7 = 1)) > 0"


def test_binding_a_rule_is_held_to_the_time_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from usertrack.checks import sandbox
    from usertrack.core.errors import LimitError
    from usertrack.segments.rules import check_rules, load_segments

    monkeypatch.setenv("USERTRACK_DUCKDB_TIMEOUT", "0.5")
    rules = tmp_path / "segments.yaml"
    rules.write_text(
        f'segments:\n  - id: probe\n    name: Probe\n    action: Nothing\n    rule: "{_COSTLY}"\n'
    )
    con = sandbox.connect()
    try:
        con.execute("CREATE TABLE profile AS SELECT 'a@x.io' AS email, 3 AS run_count")
        with pytest.raises(LimitError, match=rf"^{rules}: the rules: stopped after 0\.5 s"):
            check_rules(load_segments(rules), con, datetime(2026, 11, 1, tzinfo=UTC))
    finally:
        con.close()


def test_binding_a_failures_when_is_held_to_the_time_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from usertrack.core.errors import LimitError
    from usertrack.reports.failures import load_failure_rules

    monkeypatch.setenv("USERTRACK_DUCKDB_TIMEOUT", "0.5")
    path = tmp_path / "failures.yaml"
    path.write_text(
        "categories: {Infrastructure: Platform}\nrules:\n"
        "  - name: 'Probe: slow'\n    category: Infrastructure\n    match: x\n"
        f'    when: "{_COSTLY}"\n'
    )
    with pytest.raises(LimitError, match=rf"^{path}: the rules: stopped after 0\.5 s"):
        load_failure_rules(path)


@pytest.mark.parametrize(
    ("rule", "stopped"),
    [
        (_COSTLY, "segments.yaml:4: account segment 'probe': the rule:"),  # bound before it runs
        # a column in it: nothing to fold, the classification itself is stopped
        (_COSTLY.replace("(200000000)", "(200000000 + runs * 0)"), "the account segments:"),
    ],
)
def test_an_account_segment_is_held_to_the_time_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rule: str, stopped: str
) -> None:
    from usertrack.core.errors import LimitError
    from usertrack.segments.account_rules import segments_of_columns
    from usertrack.segments.rules import load_segments

    monkeypatch.setenv("USERTRACK_DUCKDB_TIMEOUT", "0.5")
    rules = tmp_path / "segments.yaml"
    rules.write_text(
        "segments:\n  - {id: everyone, name: Everyone, action: Nothing, rule: 'true'}\n"
        "account_segments:\n  - id: probe\n    name: Probe\n"
        f'    rule: "{rule}"\n    action: Nothing\n'
    )
    with pytest.raises(LimitError, match=r"stopped after 0\.5 s") as raised:
        segments_of_columns(load_segments(rules), ["runs"], [[1, 2]], 2)
    assert stopped in str(raised.value)
