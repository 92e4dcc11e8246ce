"""An inline `--sql` query on PostgreSQL's own parse tree, by an allowlist, with the demo
cluster's superuser as DATABASE_URL (the worst case: a superuser may read any file the server
can): no query reads a file, lists a folder, writes a catalog row, keeps a lock or changes a
setting the next query sees; on the CLI and through `usertrack mcp --allow-inline-queries`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.cli_runner import run
from tests.handmade import SCHEMA, write_events_jsonl
from usertrack.core.errors import EXIT_USAGE, UsageError
from usertrack.engines.inline import inline_query

READ_FILE = "SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''/etc/passwd''))')"
# What a superuser's query reached before: a file, a folder, a catalog row, a lock, a setting.
REACHING = [
    (READ_FILE, "ts_stat"),
    ("SELECT * FROM ts_stat($$SELECT to_tsvector(string_agg(f, ' ')) FROM pg_ls_dir('.') f$$)",
     "ts_stat"),
    ("SELECT ts_rewrite('a'::tsquery,"
     " 'SELECT ''a''::tsquery, to_tsquery(pg_read_file(''/etc/passwd''))')", "ts_rewrite"),
    ("SELECT query_to_xml('SELECT pg_read_file(''/etc/passwd'')', true, true, '')",
     "query_to_xml"),
    ("SELECT pg_replication_origin_create('usertrack_probe')", "pg_replication_origin_create"),
    ("SELECT set_config('search_path', 'nowhere', false)", "set_config"),
    ("SELECT pg_catalog.\"set_config\"('work_mem', '77MB', false)", "set_config"),
    ("SELECT pg_advisory_lock(4242)", "pg_advisory_lock"),
    ("WITH a AS (SELECT 1 AS x) SELECT * FROM a, LATERAL (SELECT pg_try_advisory_lock(4242)) l",
     "pg_try_advisory_lock"),
    ("SELECT dblink('dbname=postgres', 'SELECT 1')", "dblink"),
    ("SELECT lo_import('/etc/passwd')", "lo_import"),
    ("SELECT encode(lo_get(1), 'escape')", "lo_get"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        *[(sql, f"--sql calls {name}()") for sql, name in REACHING],
        ("SELECT pg_read_file('/etc/passwd')", "calls pg_read_file()"),
        ("SELECT PG_CATALOG.PG_READ_FILE('/etc/passwd')", "calls pg_read_file()"),
        ('SELECT "pg_catalog"."pg_ls_dir"(\'.\')', "calls pg_ls_dir()"),
        ("SELECT U&\"pg_\\006cs_dir\"('.')", "calls pg_ls_dir()"),
        ("SELECT * FROM pg_ls_dir('.') AS f", "calls pg_ls_dir()"),
        (
            "SELECT * FROM ROWS FROM (generate_series(1, 2), pg_ls_dir('.')) AS r",
            "calls pg_ls_dir()",
        ),
        (
            "SELECT (SELECT max(x) FROM (SELECT pg_stat_file('/etc') AS x) s)",
            "calls pg_stat_file()",
        ),
        ("SELECT 1 WHERE EXISTS (SELECT 1 ORDER BY pg_sleep(1))", "calls pg_sleep()"),
        ("SELECT count(*) FILTER (WHERE pg_notify('jobs', 'run') IS NULL)", "calls pg_notify()"),
        ("SELECT nextval('s')", "calls nextval()"),
        ("SELECT txid_current()", "calls txid_current()"),
        ("SELECT pg_current_xact_id()", "calls pg_current_xact_id()"),
        ("SELECT current_setting('data_directory', true)", "calls current_setting()"),
        ("SELECT setseed(0.5)", "calls setseed()"),
        ("SELECT public.lower('A')", "calls public.lower()"),
        (
            "SELECT lower('A') FROM t WHERE x = cursor_to_xml('c', 1, true, true, '')",
            "calls cursor_to_xml()",
        ),
        (
            "SELECT jsonb_path_query('{}', '$') FROM (VALUES (pg_terminate_backend(1))) v",
            "calls pg_terminate_backend()",
        ),
        ("SELECT 'pg_authid'::regclass", "casts to regclass"),
        ("SELECT CAST('x' AS pg_catalog.regproc)", "casts to regproc"),
        ("SELECT * FROM pg_authid", "reads pg_authid"),
        ("SELECT * FROM pg_catalog.pg_file_settings", "reads pg_file_settings"),
        ("SELECT query FROM pg_stat_activity", "reads pg_stat_activity"),
        ("SELECT * FROM pg_catalog.pg_config", "reads pg_config"),
        ("SELECT * FROM (SELECT * FROM pg_available_extensions) e", "reads pg_available"),
        ("WITH t AS (SELECT 1) SELECT * FROM t, pg_prepared_xacts", "reads pg_prepared_xacts"),
        ("SELECT * FROM pg_toast.pg_toast_1262", "reads pg_toast.pg_toast_1262"),
        ("SELECT 1 OPERATOR(public.+) 1", "the operator public.+"),
        ("SELECT xmlparse(document '<a/>')", "XmlExpr node"),
        ("SELECT * FROM t TABLESAMPLE system (10)", "RangeTableSample node"),
        ("SELECT $1", "holds $1"),
        ("SELECT * FROM t FOR SHARE", "writes (FOR SHARE"),
        ("SELECT * FROM t FOR NO KEY UPDATE", "writes (FOR NO KEY UPDATE"),
        ("WITH d AS (UPDATE t SET x = 1 RETURNING *) SELECT * FROM d", "writes (an UPDATE"),
        ("SELECT 1 INTO TEMP t", "writes (INTO"),
        ("EXPLAIN ANALYZE SELECT 1", "is an EXPLAIN statement"),
        ("SET work_mem = '1GB'", "is a SET statement"),
        ("SELECT 1; SELECT pg_sleep(1)", "more than one statement"),
        ("SELECT 'unterminated", "not valid PostgreSQL"),
    ],
)
def test_whatever_is_not_on_the_list_is_refused_by_name_in_one_line(sql: str, says: str) -> None:
    with pytest.raises(UsageError) as refused:
        inline_query(sql, "sql")
    message = str(refused.value)
    assert says in message and "\n" not in message and message.startswith("--sql ")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT lower(trim(both ' ' from email)) AS e, count(*) FROM wasp_user GROUP BY 1",
        "SELECT extract(epoch FROM now() - interval '1 day'), date_trunc('week', now()),"
        " substring('abc' from 2 for 1), position('b' in 'abc'), 'a' SIMILAR TO 'a%',"
        " now() AT TIME ZONE 'UTC', coalesce(null, 1), nullif(1, 2), greatest(1, 2)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3)"
        " SELECT i, row_number() OVER (ORDER BY i DESC), lag(i) OVER w FROM n WINDOW w AS"
        " (ORDER BY i)",
        "SELECT * FROM generate_series(1, 3) g, unnest(ARRAY[1, 2]) u,"
        " jsonb_each('{\"a\": 1}'::jsonb) j, json_to_record('{\"a\": 1}') AS r(a int)",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x), jsonb_agg(x ORDER BY x)"
        " FROM (VALUES (1), (2)) v(x)",
        "SELECT json_object('a': 1), JSON_VALUE(jsonb '{\"a\": 1}', '$.a'), x::numeric(10, 2)"
        " FROM (SELECT 1 AS x) s WHERE x IN (SELECT 1) AND x = ANY(ARRAY[1])",
        "TABLE wasp_user",
        "VALUES (1, 'a'), (2, 'b')",
        "SELECT x FROM t ORDER BY x USING OPERATOR(pg_catalog.<)",
        "SELECT c.relname, a.attname FROM pg_class c JOIN pg_catalog.pg_attribute a"
        " ON a.attrelid = c.oid JOIN pg_tables t ON t.tablename = c.relname",
        "SELECT * FROM information_schema.columns, public.pg_own_table",
    ],
)
def test_queries_that_compute_on_their_rows_pass(sql: str) -> None:
    assert inline_query(sql, "sql").sql == sql


def test_placeholders_become_postgres_parameters_and_nothing_else_changes() -> None:
    q = inline_query(
        "SELECT '%(as_of)s %' AS t, x%(n)s FROM t -- %(gone)s\n"
        " WHERE e ~ %(exclude_pattern)s AND at <= %(as_of)s AND e LIKE '%%'",
        "sql",
    )
    assert q.sql == (
        "SELECT '%(as_of)s %' AS t, x $1 FROM t -- %(gone)s\n"
        " WHERE e ~ $3 AND at <= $2 AND e LIKE '%%'"
    )
    assert [p.name for p in q.params] == ["n", "as_of", "exclude_pattern"]


# ------------------------------------------------------------------ on the demo's superuser


@pytest.fixture(scope="module")
def superuser(demo_home: Path) -> str:
    """The URI of the demo cluster's own superuser (usertrack's demo commands use a reader)."""
    from usertrack.demo.database import start_demo_postgres
    from usertrack.demo.layout import existing_demo

    demo = existing_demo(demo_home)
    assert demo is not None
    uri = start_demo_postgres(demo)
    with psycopg.connect(uri) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    assert row == (True,)
    return uri


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_events_jsonl(tmp_path_factory.mktemp("allowlist") / "events.jsonl")


def reached(uri: str) -> dict[str, Any]:
    """What the queries could have left behind, seen from a session of the test's own."""
    with psycopg.connect(uri, autocommit=True) as conn:
        origins = conn.execute("SELECT count(*) FROM pg_replication_origin").fetchone()
        objects = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
        lock = conn.execute("SELECT pg_try_advisory_lock(4242)").fetchone()
        conn.execute("SELECT pg_advisory_unlock_all()")
    return {"origins": origins, "large objects": objects, "lock free": lock}


def test_no_inline_query_reaches_past_the_tables_on_the_cli(
    superuser: str, export: Path, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": superuser, "USERTRACK_EVENTS": str(export)}
    before = reached(superuser)
    assert before["lock free"] == (True,)
    for sql, name in REACHING:
        result = run(["query", "--sql", sql, "-f", "json"], tmp_path / "home", **env)
        assert result.exit_code == EXIT_USAGE, (sql, result.stdout, result.stderr)
        assert f"--sql calls {name}()" in result.stderr and result.stdout == ""
        assert "root:" not in result.stdout + result.stderr
    assert reached(superuser) == before
    # what only computes on the tables' rows runs, its text as written (a % is a literal one)
    like = "SELECT count(*) AS n FROM wasp_user WHERE email LIKE %(p)s OR email LIKE '%@%'"
    ok = run(["query", "--sql", like, "-p", "p=%@%", "-f", "json"], tmp_path / "home", **env)
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["rows"][0][0] > 0
    empty = run(["query", "--sql", "SELECT 1 AS a WHERE false", "-f", "json"],
                tmp_path / "home", **env)  # fmt: skip
    assert json.loads(empty.stdout)["columns"] == ["a"] and json.loads(empty.stdout)["rows"] == []


def test_a_session_change_that_slipped_the_check_dies_with_its_query(
    make_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: were a function that locks or sets something ever on the list, its
    query's session would still end with it (a connection of its own, rolled back, reset)."""
    from usertrack.engines.postgres import sqlcheck
    from usertrack.engines.postgres.source import PostgresSource
    from usertrack.queries.library import Query

    db = make_database(SCHEMA)
    monkeypatch.setattr(sqlcheck, "check_sql", lambda text, option, params: None)
    slipped = inline_query(
        "SELECT pg_advisory_lock(4243) AS a, set_config('work_mem', '77MB', false) AS b,"
        " set_config('search_path', 'nowhere', false) AS c, pg_advisory_xact_lock(4244) AS d",
        "sql",
    )
    settings = Query(
        name="settings",
        folder="neon",
        path=Path("settings.sql"),
        sql="SELECT current_setting('work_mem') AS w, current_setting('search_path') AS p,"
        " (SELECT count(*) FROM wasp_user) AS n",
        description="settings",
        returns="table",
    )
    source = PostgresSource(db, made_here=True)
    try:
        default = source.run(settings, {}).rows
        assert source.run(slipped, {}).rows == [("", "77MB", "nowhere", "")]
        assert source.run(settings, {}).rows == default
        with psycopg.connect(db, autocommit=True) as other:
            free = other.execute(
                "SELECT pg_try_advisory_lock(4243), pg_try_advisory_lock(4244)"
            ).fetchone()
            assert free == (True, True)
            held = other.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid <> pg_backend_pid()"
            ).fetchone()
            assert held == (0,)
    finally:
        source.close()


def test_no_inline_query_reaches_past_the_tables_through_mcp(
    superuser: str, export: Path, tmp_path: Path
) -> None:
    from tests.mcp.test_mcp import text, with_client

    async def body(client: Any) -> Any:
        answers = []
        for sql, _ in REACHING:
            answers.append(await client.call_tool("query", {"sql": sql}))
        answers.append(await client.call_tool("query", {"query_id": "neon/runs"}))
        answers.append(
            await client.call_tool("query", {"sql": "SELECT count(*) AS n FROM wasp_user"})
        )
        return answers

    home = tmp_path / "home"
    home.mkdir()
    before = reached(superuser)
    *refused, runs, count = with_client(
        home, body, "--allow-inline-queries", DATABASE_URL=superuser,
        USERTRACK_EVENTS=str(export),
    )  # fmt: skip
    for (sql, name), answer in zip(REACHING, refused, strict=True):
        said = text(answer)[0]
        assert f"--sql calls {name}()" in said and said.endswith("(exit code 2)"), (sql, said)
        assert "root:" not in said
    assert reached(superuser) == before
    assert "rows" in text(runs)[0], text(runs)
    assert json.loads(text(count)[0])["rows"][0][0] > 0


# ------------------------------------------------------------------ doctor judges the role


def test_doctor_flags_the_superuser_with_the_sql_of_a_read_only_role_and_passes_the_reader(
    superuser: str, demo_home: Path, export: Path, tmp_path: Path
) -> None:
    from usertrack.demo.database import demo_reader_uri
    from usertrack.demo.layout import existing_demo

    env = {"USERTRACK_EVENTS": str(export)}
    flagged = run(["doctor"], tmp_path / "home", DATABASE_URL=superuser, **env)
    assert flagged.exit_code == 0, flagged.stdout + flagged.stderr
    (line,) = [x for x in flagged.stdout.splitlines() if x.startswith("! role:")]
    assert "is a superuser" in line
    fix = flagged.stdout.split(line, 1)[1]
    assert "CREATE ROLE usertrack LOGIN" in fix and "default_transaction_read_only = on" in fix
    assert "GRANT SELECT ON" in fix and "wasp_user" in fix and "fastapi_run" in fix
    demo = existing_demo(demo_home)
    assert demo is not None
    reader = demo_reader_uri(demo)  # the role the demo's own commands use
    passed = run(["doctor"], tmp_path / "home", DATABASE_URL=reader, **env)
    assert passed.exit_code == 0, passed.stdout + passed.stderr
    assert "✓ role: usertrack_reader can read, not write" in passed.stdout
    assert not [x for x in passed.stdout.splitlines() if x.startswith(("!", "✗"))]


def test_doctor_names_a_role_that_can_write_a_table_or_read_the_servers_files(
    make_database: Callable[[str], str], pg_server: str
) -> None:
    import os

    from usertrack.core.config import resolve_queries_dir
    from usertrack.doctor import role_check
    from usertrack.queries.library import load_queries

    db = make_database(SCHEMA)
    role = f"writer_{os.getpid()}"
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        admin.execute(f"GRANT UPDATE ON fastapi_run TO {role}")
        admin.execute(f"GRANT pg_read_server_files TO {role}")
    library = load_queries(resolve_queries_dir(None))
    try:
        with psycopg.connect(db.replace("postgres:@", f"{role}:@", 1)) as conn:
            check = role_check(conn, library)
    finally:
        with psycopg.connect(db, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
    assert check.warning and "superuser" not in check.detail
    assert "is a member of pg_read_server_files" in check.detail
    assert "can write fastapi_run" in check.detail and "wasp_user" not in check.detail
    assert check.fix is not None and "GRANT SELECT ON " in check.fix
