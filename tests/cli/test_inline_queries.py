"""`usertrack query --hogql TEXT` and `--sql TEXT`: one read-only SELECT, every safety a query
file has, the same JSON on the local engine and the tests' PostHog (paging past its row cap).

Worked out from tests/handmade.py, as of 2026-11-16 00:00 UTC:
- events: $pageview 10 (alice 2, bob 3, carol 1, ivan 1, anonymous 3), mcp_connect_clicked 5
  (alice 3, dave 1, ivan 1; grace's is after as_of), $rageclick 2, $exception 1.
- runs: completed 13 (bob 2, carol 10, heidi 1), failed 28 (bob 6, erin 20, heidi 2; heidi's 5
  after as_of are not counted).
- accounts whose email ends with @acme.io: alice and bob (2).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.handmade import SCHEMA, write_events_jsonl
from tests.posthog_server import live_env, serve
from usertrack.core.errors import EXIT_USAGE, UsageError
from usertrack.engines.inline import inline_query, sql_code

AS_OF = "2026-11-16"
EVENTS = (
    "SELECT event, count() AS n FROM events WHERE timestamp <= {as_of} GROUP BY event"
    " ORDER BY event"
)
EXPECTED_EVENTS = [["$exception", 1], ["$pageview", 10], ["$rageclick", 2],
                   ["mcp_connect_clicked", 5]]  # fmt: skip


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_events_jsonl(tmp_path_factory.mktemp("inline") / "events.jsonl")


def query(args: list[str], tmp_path: Path, **env: str) -> Any:
    result = run(["query", "--as-of", AS_OF, *args], tmp_path / "home", **env)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_hogql_gives_the_same_json_locally_and_on_posthog_paging_past_its_cap(
    export: Path, handmade_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.engines.posthog.transport import Transport

    defaults = dict(Transport.__init__.__kwdefaults__ or {})
    monkeypatch.setattr(Transport.__init__, "__kwdefaults__", {**defaults, "page_size": 2})
    local = query(["--hogql", EVENTS, "-f", "json"], tmp_path, USERTRACK_EVENTS=str(export))
    assert json.loads(local)["rows"] == EXPECTED_EVENTS
    # PostHog caps every answer at 2 rows here (50,000 on Cloud), a page is 2 rows: usertrack
    # pages past the cap.
    with serve(handmade_store, default_rows=2, max_rows=2) as fake:
        live = query(["--hogql", EVENTS, "-f", "json"], tmp_path, **live_env(fake))
        sent = [r for r in fake.requests if r["path"].endswith("/query/")]
    assert live == local
    assert len(sent) >= 2 and all(len(r["body"]["query"]["query"]) > len(EVENTS) for r in sent)


def test_posthog_receives_the_inline_text_printed_from_its_tree(
    export: Path, handmade_store: Path, tmp_path: Path
) -> None:
    """What PostHog receives is printed from PostHog's own parse tree of the text as typed
    (usertrack.engines.hogql.printer): its comments gone, its answer the same."""
    from usertrack.engines.hogql.parser import parse_select
    from usertrack.engines.hogql.printer import print_select, without_positions

    typed = (
        "SELECT event, -- the name\n count() AS n /* how many */ FROM events"
        " WHERE timestamp <= {as_of} -- as of the day\n GROUP BY event ORDER BY event"
    )
    local = query(["--hogql", typed, "-f", "json"], tmp_path, USERTRACK_EVENTS=str(export))
    with serve(handmade_store) as fake:
        live = query(["--hogql", typed, "-f", "json"], tmp_path, **live_env(fake))
        (sent,) = fake.query_texts()
    assert live == local and json.loads(live)["rows"] == EXPECTED_EVENTS
    assert "--" not in sent and "/*" not in sent and "the name" not in sent
    # the query itself or wrapped by the paging (SELECT * FROM (...) LIMIT n): printed either way
    printed = print_select(parse_select(typed))
    assert printed in sent
    assert without_positions(parse_select(printed)) == without_positions(parse_select(typed))


def test_hogql_placeholders_take_param_values_bound_not_pasted(
    export: Path, tmp_path: Path
) -> None:
    text = "SELECT count() AS n FROM events WHERE event = {name} AND timestamp <= {as_of}"
    out = query(["--hogql", text, "-p", "name=$rageclick", "-f", "csv"], tmp_path,
                USERTRACK_EVENTS=str(export))  # fmt: skip
    assert out.splitlines() == ["n", "2"]
    injected = query(["--hogql", text, "-p", "name=x' OR 1=1 OR event='y", "-f", "csv"],
                     tmp_path, USERTRACK_EVENTS=str(export))  # fmt: skip
    assert injected.splitlines() == ["n", "0"]


def test_sql_runs_read_only_with_its_placeholders_in_every_format(
    handmade_db: str, export: Path, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": handmade_db, "USERTRACK_EVENTS": str(export)}
    sql = (
        "SELECT run_state, count(*) AS n FROM fastapi_run WHERE created_at <= %(as_of)s"
        " GROUP BY run_state ORDER BY run_state"
    )
    doc = json.loads(query(["--sql", sql, "-f", "json"], tmp_path, **env))
    assert doc["rows"] == [["completed", 13], ["failed", 28]]
    assert query(["--sql", sql, "-f", "csv"], tmp_path, **env).splitlines()[1] == "completed,13"
    assert "| completed | 13 |" in query(["--sql", sql, "-f", "md"], tmp_path, **env)
    assert "completed" in query(["--sql", sql], tmp_path, **env)
    # No placeholder: a % is a literal one, as written.
    like = "SELECT count(*) AS n FROM wasp_user WHERE email LIKE '%@acme.io'"
    assert query(["--sql", like, "-f", "csv"], tmp_path, **env).splitlines() == ["n", "2"]
    one = "SELECT count(*) AS n FROM fastapi_run WHERE run_state = %(state)s"
    out = query(["--sql", one, "-p", "state=completed", "-f", "csv"], tmp_path, **env)
    assert out.splitlines() == ["n", "13"]  # every completed run, after as_of too


def test_a_function_that_writes_without_a_table_write_is_refused_by_name(
    make_database: Callable[[str], str], export: Path, tmp_path: Path
) -> None:
    """nextval() advances a sequence even in a read-only transaction's eyes: it is not on the
    list of functions an inline query may call."""
    db = make_database(SCHEMA + "CREATE SEQUENCE s;")
    result = run(["query", "--sql", "SELECT nextval('s') AS n"], tmp_path / "home",
                 DATABASE_URL=db, USERTRACK_EVENTS=str(export))  # fmt: skip
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert result.stderr.count("usertrack: error:") == 1
    assert "--sql calls nextval()" in result.stderr
    again = run(["query", "--sql", "SELECT last_value AS n FROM s", "-f", "csv"],
                tmp_path / "home", DATABASE_URL=db, USERTRACK_EVENTS=str(export))  # fmt: skip
    assert again.stdout.splitlines() == ["n", "1"]  # never advanced


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--sql", "DELETE FROM wasp_user"], "--sql is a DELETE statement, not a SELECT"),
        (["--sql", "UPDATE wasp_user SET credits = 0"], "--sql is an UPDATE statement, not a"),
        (["--sql", "INSERT INTO wasp_user DEFAULT VALUES"], "--sql is an INSERT statement, not"),
        (["--sql", "SELECT 1; DROP TABLE wasp_user"], "more than one statement"),
        (["--sql", "WITH x AS (DELETE FROM wasp_user RETURNING *) SELECT * FROM x"], "writes"),
        (["--sql", "SELECT * INTO copy FROM wasp_user"], "writes (INTO"),
        (["--sql", "SELECT * FROM wasp_user FOR UPDATE"], "writes (FOR UPDATE"),
        (["--sql", "SELECT pg_read_file('/proc/self/environ')"], "calls pg_read_file"),
        (["--sql", "SELECT pg_catalog.\"pg_read_file\"('/etc/passwd')"], "calls pg_read_file"),
        (["--sql", "SELECT U&\"pg_ls_dir\"('.')"], "calls pg_ls_dir()"),
        (["--sql", "SELECT query_to_xml('SELECT 1', true, true, '')"], "calls query_to_xml"),
        (["--sql", "SELECT lo_import('/etc/passwd')"], "calls lo_import"),
        (["--sql", "SELECT pg_sleep(30)"], "calls pg_sleep"),
        (["--sql", "SELECT pg_catalog.pg_advisory_lock(1)"], "calls pg_advisory_lock"),
        (["--sql", "SELECT pg_try_advisory_xact_lock(1)"], "calls pg_try_advisory_xact_lock"),
        (["--sql", "SELECT \"pg_notify\"('jobs', 'run')"], "calls pg_notify"),
        (["--sql", "SELECT pg_stat_reset()"], "calls pg_stat_reset"),
        (["--sql", "   "], "--sql is empty"),
        (["--sql", "SELECT 1 " + "x" * 20_001], "at most 20,000"),
        (["--hogql", "SELECT 1; SELECT 2"], "--hogql is not one HogQL SELECT"),
        (["--hogql", "DELETE FROM events"], "--hogql is not one HogQL SELECT"),
        (["--hogql", "SELECT 1", "--sql", "SELECT 1"], "give one"),
        (["posthog/event_names", "--sql", "SELECT 1"], "give one"),
        (["--sql", "SELECT %(x)s AS a", "-p", "y=1"], "no placeholder 'y'"),
        (["--sql", "SELECT %(x)s AS a"], "placeholder 'x' needs a value"),
    ],
)
def test_not_one_select_or_a_write_is_one_line_and_exit_2(
    args: list[str], says: str, tmp_path: Path
) -> None:
    result = run(["query", *args], tmp_path / "home")
    assert result.exit_code == EXIT_USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("usertrack: error:") and says in lines[0], result.stderr
    assert result.stderr.count("usertrack: error:") == 1 and result.stdout == ""


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT ';' AS a", "SELECT ' ' AS a"),
        ("SELECT $$;$$, $q$ ; $x$ $q$", "SELECT $$ $$, $q$       $q$"),
        ("SELECT E'\\';' AS a", "SELECT E'   ' AS a"),
        ("SELECT 1 /* a /* ; */ ; */ -- ;", "SELECT 1".ljust(31)),
        ('SELECT 1 AS "x;y"', 'SELECT 1 AS "   "'),
        ("SELECT a$b, 'it''s;'", "SELECT a$b, '      '"),
    ],
)
def test_statement_check_reads_strings_and_comments_as_postgres_does(sql: str, code: str) -> None:
    assert sql_code(sql) == code
    inline_query(sql, "sql")  # one statement each


def test_an_inline_query_is_one_of_its_folder() -> None:
    hogql = inline_query("SELECT count() FROM events WHERE event = {e};", "hogql")
    assert (hogql.folder, hogql.sql, [p.name for p in hogql.params]) == (
        "posthog", "SELECT count() FROM events WHERE event = {e}", ["e"]
    )  # fmt: skip
    sql = inline_query("SELECT 1 WHERE 'a' LIKE '%' ;", "sql")
    assert (sql.folder, sql.sql, sql.params) == ("neon", "SELECT 1 WHERE 'a' LIKE '%'", ())
    with pytest.raises(UsageError):
        inline_query("VACUUM", "sql")
