"""DuckDB is a sandbox: rule files and query files cannot read or write files.

Each reproduction runs the CLI on the demo with the hostile file and checks three things: a clear
one-line error naming the file (and line) and the rule, the documented exit code, and no file
written. The last tests check the connection itself, for SQL that got past every check.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.cli_runner import run
from usertrack.core.errors import EXIT_QUERY, EXIT_QUERY_FILE, EXIT_USAGE, HogQLTranslationError
from usertrack.engines.hogql import translate

REPO = Path(__file__).resolve().parents[2]


def _segments_file(tmp_path: Path, rule: str, order: str = "run_count DESC") -> Path:
    text = (REPO / "segments.yaml").read_text()
    text += (
        "\n  - id: probe\n    name: Probe\n    action: Nothing\n"
        f"    rule: {_yaml(rule)}\n    order: {_yaml(order)}\n"
    )
    path = tmp_path / "segments.yaml"
    path.write_text(text)
    return path


def _yaml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _error(stderr: str) -> str:
    """The one error line (a notice such as "using the built-in demo" may precede it)."""
    errors = [line for line in stderr.splitlines() if line.startswith("usertrack: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.csv"
    path.write_text("token\nhunter2-secret-value\n")
    return path


def test_a_rule_cannot_read_a_local_file(demo_home: Path, tmp_path: Path, secret: Path) -> None:
    rule = f"(SELECT count(*) FROM read_csv('{secret}') WHERE token LIKE 'hunter2%') > 0"
    path = _segments_file(tmp_path, rule)
    result = run(["segments", "--segments", str(path), "--format", "json"], demo_home)
    assert result.exit_code == EXIT_USAGE, result.stdout + result.stderr
    line = _line_of(path, "- id: probe")
    assert _error(result.stderr).startswith(
        f"usertrack: error: {path}:{line}: segment 'probe': rule"
    )
    assert "subquery" in result.stderr
    assert result.stdout == ""
    assert "hunter2" not in result.stderr


# The rule is run as `SELECT (\n<rule>\n) AS m FROM ... LIMIT 0`: closing that parenthesis early,
# with comments to even out a count of parentheses, turned one rule into three statements.
def _copy_trick(target: Path, table: str) -> str:
    return (
        f"/* ( */ true) AS m FROM {table}; COPY (SELECT * FROM {table}) TO '{target}';"
        " SELECT (true /* ) */"
    )


@pytest.mark.parametrize("where", ["rule", "order"])
def test_a_comment_and_a_semicolon_cannot_copy_the_profile_to_disk(
    demo_home: Path, tmp_path: Path, where: str
) -> None:
    target = tmp_path / "x.csv"
    if where == "rule":
        path = _segments_file(tmp_path, _copy_trick(target, "profile"))
    else:
        order = f"email /* ( */ ; COPY (SELECT * FROM profile) TO '{target}'; SELECT 1 /* ) */"
        path = _segments_file(tmp_path, "run_count > 0", order=order)
    result = run(["segments", "--segments", str(path), "--format", "json"], demo_home)
    assert result.exit_code == EXIT_USAGE, result.stdout + result.stderr
    line = _line_of(path, "- id: probe")
    expected = f"usertrack: error: {path}:{line}: segment 'probe': {where}"
    assert _error(result.stderr).startswith(expected)
    assert "comment" in result.stderr
    assert result.stdout == ""
    assert not target.exists()


def test_a_semicolon_alone_cannot_copy_either(demo_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "y.csv"
    path = _segments_file(tmp_path, f"run_count > 0; COPY (SELECT * FROM profile) TO '{target}'")
    result = run(["segments", "--segments", str(path)], demo_home)
    assert result.exit_code == EXIT_USAGE
    assert f"{path}:{_line_of(path, '- id: probe')}: segment 'probe'" in result.stderr
    assert "';'" in result.stderr
    assert not target.exists()


def test_a_failures_when_cannot_copy_failures_to_disk(demo_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "f.csv"
    path = tmp_path / "failures.yaml"
    path.write_text(
        (REPO / "failures.yaml").read_text()
        + "\n  - name: 'Probe: copy'\n    category: Infrastructure\n    match: x\n"
        f'    when: "{_copy_trick(target, "failure")}"\n'
    )
    result = run(["failures", "--failures", str(path), "--format", "json"], demo_home)
    assert result.exit_code == EXIT_USAGE, result.stdout + result.stderr
    line = _line_of(path, "Probe: copy")
    assert _error(result.stderr).startswith(f"usertrack: error: {path}:{line}: rule 'Probe: copy':")
    assert result.stdout == ""
    assert not target.exists()


def test_a_failures_when_cannot_read_a_file(tmp_path: Path, secret: Path) -> None:
    from usertrack.reports.failures import RulesFileError, load_failure_rules

    path = tmp_path / "failures.yaml"
    path.write_text(
        "categories:\n  Infrastructure: Platform\nrules:\n"
        "  - name: 'Probe: read'\n    category: Infrastructure\n    match: x\n"
        f"    when: \"(SELECT count(*) FROM read_csv('{secret}')) > 0\"\n"
    )
    with pytest.raises(RulesFileError) as info:
        load_failure_rules(path)
    assert str(info.value).startswith(f"{path}:4: rule 'Probe: read': 'when'")
    assert "subquery" in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


def _query_dir(tmp_path: Path, body: str) -> Path:
    queries = tmp_path / "queries"
    shutil.copytree(REPO / "queries", queries)
    (queries / "posthog" / "x.sql").write_text(
        "-- name: x\n-- description: a hostile query file\n-- returns: table\n" + body + "\n"
    )
    return queries


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("COPY persons TO '{target}'", "only a SELECT query"),
        ("ATTACH '{target}' AS other", "only a SELECT query"),
        ("SELECT * FROM '{secret}'", "in table position"),
        ("SELECT * FROM events, '{secret}'", "in table position"),
        ("SELECT 1 FROM events e JOIN persons p ON e.person_id = p.id, '{secret}'", "position"),
        ("SELECT * FROM events WHERE event IN (FROM '{secret}')", "FROM-first"),
        ("SELECT * FROM read_csv('{secret}')", "not supported"),
        ("WITH read_csv AS (SELECT 1) SELECT * FROM read_csv('{secret}')", "table function"),
        ("SELECT event.md5() FROM events", "x.f()"),
        ('SELECT "md5"(event) FROM events', "x.f()"),
        ("SELECT 1 UNION ALL FROM '{secret}'", "must be followed by a SELECT"),
    ],
)
def test_a_hogql_query_file_cannot_touch_files(
    demo_home: Path, tmp_path: Path, secret: Path, body: str, fragment: str
) -> None:
    target = tmp_path / "out.csv"
    queries = _query_dir(tmp_path, body.format(target=target, secret=secret))
    result = run(["query", "posthog/x", "--queries", str(queries), "--format", "json"], demo_home)
    assert result.exit_code == EXIT_QUERY, result.stdout + result.stderr
    assert _error(result.stderr).startswith("usertrack: error: posthog/x (")
    assert str(queries / "posthog" / "x.sql") in result.stderr
    assert fragment in result.stderr
    assert "(line 4, column" in result.stderr  # the file's line: the header has three
    assert result.stdout == ""
    assert "hunter2" not in result.stderr
    assert not target.exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("SELECT pg_read_file('{secret}') AS x", "permission denied"),
        ("COPY (SELECT 1) TO PROGRAM 'touch {target}'", "permission denied"),
        ("COPY (SELECT 1) TO '{target}'", "permission denied"),
        ("SELECT usesuper AS x FROM pg_user WHERE usename = current_user", None),
    ],
)
def test_a_neon_query_file_on_the_demo_has_a_reader_role_only(
    demo_home: Path, tmp_path: Path, secret: Path, body: str, fragment: str | None
) -> None:
    """A query file in ./queries/neon/ ran on the demo as the cluster's superuser: it could read
    any file the server can (pg_read_file) or run a program (COPY ... TO PROGRAM)."""
    target = tmp_path / "pwned"
    queries = tmp_path / "queries"
    shutil.copytree(REPO / "queries", queries)
    (queries / "neon" / "x.sql").write_text(
        "-- name: x\n-- description: a hostile query file\n-- returns: table\n"
        + body.format(target=target, secret=secret)
        + "\n"
    )
    result = run(["query", "neon/x", "--queries", str(queries), "--format", "json"], demo_home)
    if fragment is None:  # who the queries run as: not a superuser
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["rows"] == [[False]]
        return
    assert result.exit_code == EXIT_QUERY, result.stdout + result.stderr
    assert fragment in _error(result.stderr).lower()
    assert "hunter2" not in result.stdout + result.stderr
    assert not target.exists()


def test_the_translator_refuses_statements_other_than_select() -> None:
    for sql in ("INSTALL httpfs", "SET enable_external_access = true", "PRAGMA version",
                "WITH a AS (SELECT 1) COPY a TO 'x.csv'", "CALL pragma_version()"):  # fmt: skip
        with pytest.raises(HogQLTranslationError, match="only a SELECT query"):
            translate(sql)
    # and still translates what it should
    assert translate("WITH a AS (SELECT event FROM events) SELECT * FROM a").sql
    assert translate("SELECT count() FROM events e, persons p WHERE e.person_id = p.id").sql


# --------------------------------------------------------------------------------------------
# The connection itself (defence in depth)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM '{secret}'",
        "COPY (SELECT 42 AS answer) TO '{target}'",
        "ATTACH '{target}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET TimeZone = 'Europe/Paris'",
    ],
)
def test_the_sandboxed_connection_refuses_files_extensions_and_settings(
    tmp_path: Path, secret: Path, sql: str
) -> None:
    from usertrack.checks import sandbox

    target = tmp_path / "written.csv"
    con = sandbox.connect()
    try:
        with pytest.raises(duckdb.Error):
            con.execute(sql.format(secret=secret, target=target)).fetchall()
        assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    finally:
        con.close()
    assert not target.exists()


def test_no_progress_bar_can_reach_stdout(tmp_path: Path) -> None:
    """DuckDB draws its progress bar on stdout, piped or not, past 2 s: a slow statement put it
    in front of `failures -f json`'s answer at 100,000 users. Off on every connection, its
    cursors and a file database alike, and locked."""
    from usertrack.checks import sandbox

    for path in (None, tmp_path / "db.duckdb"):
        con = sandbox.connect(path)
        try:
            for client in (con, con.cursor()):
                shown = client.execute("SELECT current_setting('enable_progress_bar')").fetchone()
                assert shown == (False,)
            with pytest.raises(duckdb.Error):
                con.execute("SET enable_progress_bar = true")
        finally:
            con.close()


def test_an_in_memory_database_gives_back_what_its_work_freed(tmp_path: Path) -> None:
    """An in-memory database (an analysis's facts, a dashboard panel's) has DuckDB's allocator
    give back what its work freed past IN_MEMORY_FLUSH, not keep 128 MiB of it for the next; a
    database file (the events store) keeps DuckDB's default."""
    from usertrack.checks import sandbox

    def threshold(con: duckdb.DuckDBPyConnection) -> Any:
        try:
            row = con.execute("SELECT current_setting('allocator_flush_threshold')").fetchone()
            return row[0] if row else None
        finally:
            con.close()

    default = threshold(duckdb.connect())
    assert threshold(sandbox.connect()) == sandbox.IN_MEMORY_FLUSH != default
    assert threshold(sandbox.connect(tmp_path / "db.duckdb")) == default


def test_the_sandboxed_connection_still_takes_arrow_and_numpy(tmp_path: Path) -> None:
    import numpy as np
    import pyarrow as pa

    from usertrack.checks import sandbox

    con = sandbox.connect(settings={"pandas_analyze_sample": 5})
    try:
        con.register("arrow_in", pa.table({"email": ["a@x.io", "b@x.io"], "n": [1, 2]}))
        column = np.empty(2, dtype=object)
        column[:] = ["a@x.io", None]
        con.register("numpy_in", {"email": column})
        rows = con.execute(
            "SELECT a.email, a.n, n.email IS NULL FROM arrow_in a"
            " LEFT JOIN numpy_in n USING (email) ORDER BY a.email"
        ).fetchall()
        assert rows == [("a@x.io", 1, False), ("b@x.io", 2, True)]
        assert con.execute("SELECT current_setting('pandas_analyze_sample')").fetchone() == (5,)
    finally:
        con.close()


def test_a_store_file_opens_and_an_import_reads_only_its_own_files(
    tmp_path: Path, secret: Path
) -> None:
    from usertrack.checks import sandbox

    export = tmp_path / "export.jsonl"
    export.write_text('{"event": "x", "timestamp": "2026-01-01T00:00:00Z"}\n')
    db = tmp_path / "store.duckdb"
    con = sandbox.connect(db, read_paths=[export])
    try:
        con.execute("CREATE TABLE t AS SELECT event FROM read_json(?)", [str(export)])
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            con.execute(f"SELECT * FROM read_csv('{secret}')")
    finally:
        con.close()
    con = sandbox.connect(db, read_only=True)
    try:
        assert con.execute("SELECT event FROM t").fetchall() == [("x",)]
        with pytest.raises(duckdb.Error):
            con.execute("SELECT * FROM read_json(?)", [str(export)])
    finally:
        con.close()


def test_cursors_and_second_connections_to_a_store_stay_utc_and_locked(tmp_path: Path) -> None:
    from usertrack.checks import sandbox

    db = tmp_path / "store.duckdb"
    sandbox.connect(db).close()
    first = sandbox.connect(db, read_only=True)
    second = sandbox.connect(db, read_only=True)  # the same database instance, already locked
    try:
        # "UTC" as set, not the process's own zone (which DuckDB would name Etc/UTC here)
        for con in (first, first.cursor(), second, second.cursor()):
            assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
            with pytest.raises(duckdb.Error):
                con.execute("SET enable_external_access = true")
    finally:
        first.close()
        second.close()


def test_the_profile_connection_is_sandboxed_and_utc(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from usertrack.core.config import load_settings
    from usertrack.workspace import open_workspace

    monkeypatch.setenv("USERTRACK_HOME", str(demo_home))
    ws = open_workspace(
        load_settings(), queries_dir=REPO / "queries", segments_path=REPO / "segments.yaml"
    )
    with ws:
        run_ = ws.profiles(ws.default_as_of())
        try:
            con = run_.con
            assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
            target = tmp_path / "profile.csv"
            with pytest.raises(duckdb.Error):
                con.execute(f"COPY profile TO '{target}'")
            assert not target.exists()
        finally:
            run_.close()


# --------------------------------------------------------------------------------------------
# A cloned folder with `.tmp -> /` (DuckDB always allows its temp directory, `.tmp` by default)
# and a hostile queries/join/profile.sql


@pytest.fixture
def cloned(tmp_path: Path) -> Path:
    """A working folder as an attacker would ship it: queries/ and two symlinks to /."""
    folder = tmp_path / "clone"
    folder.mkdir()
    shutil.copytree(REPO / "queries", folder / "queries")
    (folder / ".tmp").symlink_to("/")
    (folder / "root").symlink_to("/")
    return folder


def _run_in(folder: Path, args: list[str], home: Path) -> Any:
    from typer.testing import CliRunner

    from usertrack.cli import app

    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(home))
    mp.chdir(folder)  # ./queries/ is picked up from here, and `.tmp` is relative to it
    try:
        return CliRunner().invoke(app, args)
    finally:
        mp.undo()


def _hostile_profile(folder: Path, select_extra: str, after: str = "") -> tuple[Path, int]:
    path = folder / "queries" / "join" / "profile.sql"
    text = path.read_text()
    assert "    in_neon\nFROM joined" in text
    text = text.replace(
        "    in_neon\nFROM joined", f"    in_neon,\n{select_extra}\nFROM joined{after}"
    )
    path.write_text(text)
    return path, _line_of(path, select_extra.splitlines()[0])


def test_profile_sql_cannot_read_a_file_through_a_tmp_symlink(
    demo_home: Path, cloned: Path, secret: Path
) -> None:
    extra = f"(SELECT content FROM read_text('.tmp{secret}')) AS leak"
    path, line = _hostile_profile(cloned, extra)
    result = _run_in(cloned, ["segments", "-f", "json"], demo_home)
    assert result.exit_code == EXIT_QUERY_FILE, result.stdout + result.stderr
    assert _error(result.stderr) == (
        f"usertrack: error: {path}:{line}: read_text() is a table function; a query file reads"
        " only the tables usertrack gives it (joined)"
    )
    assert result.stdout == ""
    assert "hunter2" not in result.stdout + result.stderr


def test_profile_sql_cannot_write_a_file_with_a_second_statement(
    demo_home: Path, cloned: Path, tmp_path: Path
) -> None:
    target = tmp_path / "bashrc"
    after = f";\nCOPY (SELECT 'echo pwned') TO '.tmp{target}';\nSELECT 1 AS x"
    path, line = _hostile_profile(cloned, "1 AS one", after)
    result = _run_in(cloned, ["segments", "-f", "json"], demo_home)
    assert result.exit_code == EXIT_QUERY_FILE, result.stdout + result.stderr
    semicolon = _line_of(path, "FROM joined;")
    assert _error(result.stderr).startswith(f"usertrack: error: {path}:{semicolon}: ';' ends")
    assert "second statement" in result.stderr
    assert result.stdout == ""
    assert not target.exists()
    assert line  # the extra column itself is fine


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT content FROM read_text('{link}/{secret}')",
        "SELECT * FROM read_csv('{link}/{secret}')",
        "SELECT * FROM glob('{link}/*')",
        "COPY (SELECT 'echo pwned') TO '{link}/{target}'",
    ],
)
@pytest.mark.parametrize("link", [".tmp", "root"])
def test_no_connection_reaches_a_file_through_a_symlinked_temp_folder(
    cloned: Path, secret: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sql: str, link: str
) -> None:
    """Past every check (defence in depth): DuckDB's temp directory is usertrack's private one,
    never `.tmp` of the working folder, so nothing is allowed there (DuckDB 2.0 always allowed
    its temp directory, even with external access off)."""
    from usertrack.checks import sandbox

    target = tmp_path / "pwned"
    monkeypatch.chdir(cloned)
    db = tmp_path / "store.duckdb"
    for con in (sandbox.connect(), sandbox.connect(db)):
        try:
            (temp,) = con.execute("SELECT current_setting('temp_directory')").fetchone() or ("",)
            assert Path(temp).parent.name.startswith("usertrack-duckdb-")
            allowed = con.execute("SELECT current_setting('allowed_directories')").fetchone()
            assert allowed == ([temp.rstrip("/") + "/"],)
            text = sql.format(link=link, secret=str(secret).lstrip("/"), target=target)
            with pytest.raises(duckdb.Error, match="disabled by configuration"):
                con.execute(text).fetchall()
        finally:
            con.close()
    assert not target.exists()


def test_a_connection_spills_into_its_private_temp_folder_and_removes_it() -> None:
    from usertrack.checks import sandbox

    con = sandbox.connect(settings={"memory_limit": "64MB", "threads": 1})
    try:
        (temp,) = con.execute("SELECT current_setting('temp_directory')").fetchone() or ("",)
        rows = con.execute(
            "SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS m FROM range(3000000) t(i) ORDER BY m)"
        ).fetchone()
        assert rows == (3_000_000,)
        assert Path(temp).parent.stat().st_mode & 0o077 == 0  # private: 0700
    finally:
        con.close()
    assert not Path(temp).exists()


def _catalog(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        "SELECT 'table', table_name FROM duckdb_tables()"
        " UNION ALL SELECT 'view', view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()


def test_a_connection_given_back_is_emptied_and_handed_out_again_while_kept() -> None:
    """The MCP server's warm calls: an in-memory database costs 10-15 ms to open, so a
    connection a command gives back (`release`) serves the next one, with nothing of the first
    command left in it: no table, view or registered object, the same sandbox."""
    import pyarrow as pa

    from usertrack.checks import sandbox

    settings = {"pandas_analyze_sample": 7}
    with sandbox.keep_connections():
        first = sandbox.connect(settings=settings, reuse=True)
        assert _catalog(first) == []
        first.register("_incoming", pa.table({"email": ["a@x.io"]}))
        first.execute("CREATE TABLE profile AS SELECT * FROM _incoming")
        first.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS n")
        first.execute("CREATE VIEW joined AS SELECT * FROM profile")
        sandbox.release(first)
        other = sandbox.connect(settings={"pandas_analyze_sample": 8}, reuse=True)
        again = sandbox.connect(settings=settings, reuse=True)
        assert again is first and other is not first
        assert _catalog(again) == []
        with pytest.raises(duckdb.CatalogException):
            again.execute("SELECT * FROM _incoming")
        assert again.execute("SELECT current_setting('pandas_analyze_sample')").fetchone() == (7,)
        assert again.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
        with pytest.raises(duckdb.Error, match="configuration"):
            again.execute("SET enable_external_access = true")
        sandbox.release(again)
        sandbox.release(other)
        # Without reuse=True, or a database file: never from the spares.
        plain = sandbox.connect(settings=settings)
        assert plain is not first
        plain.close()
    # Leaving closes the spares.
    with pytest.raises(duckdb.ConnectionException):
        first.execute("SELECT 1")


def test_a_connection_not_back_to_new_is_closed_not_kept() -> None:
    """A schema created or another database in use is nothing emptying drops: the next
    `connect` closes such a connection and opens a new one."""
    from usertrack.checks import sandbox

    with sandbox.keep_connections():
        for statements in (
            ["CREATE SCHEMA elsewhere"],
            ["CREATE SEQUENCE ids"],
            ["ATTACH ':memory:' AS other", "USE other"],
        ):
            con = sandbox.connect(reuse=True)
            for statement in statements:
                con.execute(statement)
            sandbox.release(con)
            fresh = sandbox.connect(reuse=True)
            assert fresh is not con
            with pytest.raises(duckdb.ConnectionException):
                con.execute("SELECT 1")
            assert fresh.execute("SELECT current_database(), current_schema()").fetchall() == [
                ("memory", "main")
            ]
            sandbox.release(fresh)


def test_a_connection_never_given_back_is_not_held_by_the_keeping() -> None:
    """`segments --changes` never gives its classification's connection back: it must go with
    its last reference (with its tables), not live on in the server for its whole run."""
    import gc
    import weakref

    from usertrack.checks import sandbox

    with sandbox.keep_connections():
        con = sandbox.connect(reuse=True)
        con.execute("CREATE TABLE big AS SELECT range AS n FROM range(1000)")
        gone = weakref.ref(con)
        del con
        gc.collect()
        assert gone() is None
        assert sandbox._fresh == {}


def test_outside_keep_connections_release_closes() -> None:
    from usertrack.checks import sandbox

    con = sandbox.connect(reuse=True)
    sandbox.release(con)
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")
    with sandbox.keep_connections():
        assert sandbox.connect(reuse=True) is not con


# --------------------------------------------------------------------------------------------
# Reading a rule with DuckDB's parser


def test_expression_columns_in_order_of_appearance() -> None:
    from usertrack.checks import sql_checks

    rule = "in_neon AND created_at < as_of - INTERVAL 7 DAY AND run_count = 0 AND in_neon"
    assert sql_checks.expression_columns(rule) == ["in_neon", "created_at", "as_of", "run_count"]
    # words in strings, function names and lambda parameters are not columns
    rule = "lower(plan) = 'run_count' AND len(list_filter(mcp_servers, lambda s: s <> plan)) > 0"
    assert sql_checks.expression_columns(rule) == ["plan", "mcp_servers"]
    assert sql_checks.expression_columns("p.credits < 50") == ["credits"]


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("a > 1) OR (b", "syntax error"),
        ("a, b", "2 expressions"),
        ("a AS b", "alias"),
        ("a FROM profile", "FROM"),
        ("a WHERE b", "WHERE"),
        ("* ", "'*'"),
        ("a > $x", "parameter"),
        ("a > 1 -- c", "comment"),
        ("EXISTS (SELECT 1)", "subquery"),
        ("a > 1 UNION SELECT 2", "no UNION"),
    ],
)
def test_check_expression_refuses_anything_but_one_expression(expr: str, fragment: str) -> None:
    from usertrack.checks import sql_checks

    with pytest.raises(sql_checks.UnsafeSQLError, match="rule") as info:
        sql_checks.check_expression(expr)
    assert fragment in str(info.value)


def test_text_before_a_refused_token_may_be_any_unicode() -> None:
    """DuckDB places tokens by UTF-8 byte: the check reads the byte there and names the
    character as people count them, whatever non-ASCII text comes first."""
    from usertrack.checks import sql_checks

    assert sql_checks.check_expression("note = 'é😀' OR credits < 50")
    for text, token in (("note = 'é😀' OR x = 1; y", ";"), ("note = 'ß' -- c", "--")):
        at = text.index(token) + 1
        with pytest.raises(sql_checks.UnsafeSQLError, match=f"at character {at}\\)"):
            sql_checks.check_expression(text)


def test_check_order_takes_directions_and_null_order() -> None:
    from usertrack.checks import sql_checks

    terms = sql_checks.check_order("rage_clicks + exceptions DESC, created_at ASC NULLS LAST")
    assert [t["type"] for t in terms] == ["DESCENDING", "ASCENDING"]
    for bad in ("ALL", "a LIMIT 1", "(SELECT 1)", "a; SELECT 1"):
        with pytest.raises(sql_checks.UnsafeSQLError, match="order"):
            sql_checks.check_order(bad)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT email FROM joined; SELECT 2", "second statement"),
        ("SELECT email FROM joined;\n-- a comment after the end is fine\n", None),
        ("COPY joined TO 'x.csv'", "only a SELECT runs here"),
        ("SELECT * FROM 'secret.csv'", "reads 'secret.csv'"),
        ("SELECT * FROM main.joined", "reads 'main.joined'"),
        ("SELECT * FROM query_table('joined')", "query_table() is a table function"),
        ("SHOW TABLES", "DESCRIBE, SHOW and SUMMARIZE are not allowed"),
        ("SELECT * FROM (SUMMARIZE joined)", "DESCRIBE, SHOW and SUMMARIZE are not allowed"),
        ("SELECT email, (SELECT 1 FROM read_blob('x')) FROM joined", "read_blob()"),
        ("WITH j AS (SELECT * FROM joined) SELECT * FROM j UNION ALL SELECT * FROM joined", None),
        ("SELECT email FROM joined WHERE email IN (SELECT email FROM joined)", None),
    ],
)
def test_check_query_takes_one_select_over_its_tables(sql: str, fragment: str | None) -> None:
    from usertrack.checks import sql_checks

    if fragment is None:
        assert sql_checks.check_query(sql, ["joined"]).startswith(sql.split(";")[0])
        return
    with pytest.raises(sql_checks.UnsafeSQLError) as info:
        sql_checks.check_query(sql, ["joined"], first_line=7)
    assert str(info.value).startswith("7: ")
    assert fragment in str(info.value)


def test_a_query_file_with_any_unicode_before_its_end_is_checked() -> None:
    """DuckDB places tokens and parse-tree nodes by UTF-8 byte: a query file (a person's
    queries/join/profile.sql) with non-ASCII text before its trailing `;` is returned without
    it, and a refused part is named by its own line, whatever text comes first."""
    from usertrack.checks import sql_checks

    for sql in ("SELECT 'é' AS a FROM joined;", "SELECT a, -- ok — café\n b FROM joined;\n",
                "SELECT 'é😀' AS a FROM joined;\n-- the end\n"):  # fmt: skip
        assert sql_checks.check_query(sql, ["joined"]) == sql[: sql.rindex(";")]
    second = "SELECT 'é😀' AS a FROM joined;\n\nSELECT 2"
    with pytest.raises(sql_checks.UnsafeSQLError, match=r"^1: ';' ends the SELECT"):
        sql_checks.check_query(second, ["joined"])
    far = "-- " + "é" * 30 + "\nSELECT 1 AS a FROM joined, read_text('x')" + "\n" * 40
    with pytest.raises(sql_checks.UnsafeSQLError, match=r"^2: read_text"):
        sql_checks.check_query(far, ["joined"])


def test_connect_while_opens_the_connection_beside_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command waiting for its database queries (user, failures) opens its DuckDB in that
    wait, on another thread; a failing wait closes it and raises."""
    import threading

    from usertrack.checks import sandbox

    opened: list[tuple[str, duckdb.DuckDBPyConnection]] = []
    real = sandbox.connect

    def spy(**options: Any) -> duckdb.DuckDBPyConnection:
        con = real(**options)
        opened.append((threading.current_thread().name, con))
        return con

    monkeypatch.setattr(sandbox, "connect", spy)
    con, value = sandbox.connect_while(lambda: threading.current_thread().name)
    assert value == threading.current_thread().name
    assert opened[0][0] != value and opened[0][1] is con
    assert con.execute("SELECT current_setting('lock_configuration')").fetchone() == (True,)

    def fails() -> None:
        raise ValueError("the queries failed")

    with pytest.raises(ValueError, match="the queries failed"):
        sandbox.connect_while(fails)
    with pytest.raises(duckdb.ConnectionException):
        opened[1][1].execute("SELECT 1")  # closed


def test_a_query_text_is_checked_once_and_a_refused_one_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """join/profile.sql is checked by every classification: a process that classifies again
    (the MCP server) parses a text that passed once; a refused text is refused every time."""
    from usertrack.checks import sandbox, sql_checks

    parsed: list[str] = []
    real = sql_checks._serialize
    monkeypatch.setattr(
        sql_checks, "_serialize", lambda sql, con: (parsed.append(sql), real(sql, con))[1]
    )
    con = sandbox.scratch()  # (without one, _serialize opens one and calls itself again)
    good = "SELECT email, count(*) AS n FROM joined GROUP BY email -- a profile"
    assert sql_checks.check_query(good, ["joined"], con) == good
    assert sql_checks.check_query(good, ["joined"], con) == good
    assert parsed == [good]
    with pytest.raises(sql_checks.UnsafeSQLError, match="reads 'joined'"):
        sql_checks.check_query(good, ["other"], con)  # other tables: checked afresh
    bad = "SELECT * FROM read_text('/etc/passwd')"
    for _ in range(2):
        with pytest.raises(sql_checks.UnsafeSQLError):
            sql_checks.check_query(bad, ["joined"], con)
    assert parsed == [good, good, bad, bad]


def test_a_held_connection_is_given_back_only_when_let_go() -> None:
    """The MCP server keeps a classification's DuckDB for `user` (usertrack.segments.kept): its
    command's `release` leaves it open and untouched, not emptied for the next command, until
    the keeper lets go of it; then it goes back to the spares as any other."""
    from usertrack.checks import sandbox

    with sandbox.keep_connections():
        held = sandbox.connect(reuse=True)
        held.execute("CREATE TABLE classified AS SELECT 'a@x.io' AS email")
        sandbox.hold(held)
        sandbox.release(held)  # the command is done with it
        other = sandbox.connect(reuse=True)
        assert other is not held
        assert held.execute("SELECT email FROM classified").fetchone() == ("a@x.io",)
        sandbox.release(other)
        sandbox.let_go(held)
        first, second = sandbox.connect(reuse=True), sandbox.connect(reuse=True)
        assert held in (first, second)  # given back, and emptied
        assert _catalog(held) == []
        # Let go before its command released it: its command's release gives it back.
        sandbox.hold(first)
        sandbox.let_go(first)
        sandbox.release(first)
        assert sandbox.connect(reuse=True) is first


def test_a_store_opens_twice_in_one_process_but_no_wider_the_second_time(
    tmp_path: Path, secret: Path
) -> None:
    """A second connection to a store a process has open (store_info from an import while the
    MCP server's source has it open) shares the first's database: it opens when it asks for no
    more file access than the first, and is refused a file the first was not allowed."""
    from tests.edge_events import write_raw_events
    from usertrack.checks import sandbox
    from usertrack.engines.local.eventstore import open_store, store_info

    store = tmp_path / "events.duckdb"
    write_raw_events(store, [("u1", "x", "d1", "p1", "2026-01-01 00:00:00", "{}", "{}")])
    facts = store_info(store)
    assert facts
    first = open_store(store)
    try:
        second = open_store(store)
        try:
            assert second.execute("SELECT count(*) FROM events").fetchone() == (1,)
        finally:
            second.close()
        assert store_info(store) == facts
        with pytest.raises(RuntimeError, match="open already"):
            sandbox.connect(store, read_only=True, read_paths=[secret])
        assert first.execute("SELECT count(*) FROM events").fetchone() == (1,)
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            first.execute(f"SELECT * FROM read_csv('{secret}')")
    finally:
        first.close()
