"""`usertrack doctor`: check the configuration and reach every source, with a fix for each failure.

Checks run in order and keep going after a failure, so one run shows everything that is wrong.
PostHog is asked a trivial HogQL query and its project's name, and validates every HogQL file of
the library without running it (usertrack.cli.querycheck); PostgreSQL is connected to, shown to
be read-only, and every query of queries/neon/ is EXPLAINed (bound parameters, nothing executed),
which proves that the tables and columns the query library needs exist. The role of
DATABASE_URL is judged too: a superuser, a role that can write a table the library reads, or a
member of the roles that read and write the server's files or run its programs gets a warning
with the SQL of a read-only role (the one docs/connecting.md recommends).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usertrack.core.clock import now_utc
from usertrack.core.config import Settings
from usertrack.core.errors import (
    EXIT_CONFIG,
    EXIT_CONNECTION,
    EXIT_QUERY,
    UsertrackError,
    first_line,
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    exit_code: int = 0
    warning: bool = False  # ok, but said plainly with its fix (a role that could do more)
    skipped: bool = False  # not run (what it needs is not configured): no tick, a '-'


def _fail(name: str, err: UsertrackError | Exception, fix: str, code: int | None = None) -> Check:
    exit_code = code if code is not None else getattr(err, "exit_code", EXIT_CONNECTION)
    hint = getattr(err, "hint", None)
    return Check(name, False, str(err), hint or fix, exit_code)


def run_checks(
    settings: Settings,
    *,
    queries_dir: Path,
    segments_path: Path,
    progress: Callable[[str], None] | None = None,
) -> list[Check]:
    from usertrack.queries.library import load_queries
    from usertrack.segments.rules import load_segments

    checks: list[Check] = []
    if settings.demo:
        checks.append(
            Check("configuration", True, "no source configured: the built-in demo workspace")
        )
    else:
        where = f" (with {settings.config_file})" if settings.config_file else ""
        checks.append(Check("configuration", True, f"live sources from the environment{where}"))

    try:
        spec = load_segments(segments_path)
        checks.append(
            Check("segments file", True, f"{segments_path}: {len(spec.segments)} segments")
        )
    except UsertrackError as e:
        checks.append(_fail("segments file", e, "fix the file named in the message"))
    try:
        library = load_queries(queries_dir)
        checks.append(Check("query library", True, f"{queries_dir}: {len(library)} query files"))
    except UsertrackError as e:
        checks.append(_fail("query library", e, "fix the query file named in the message"))
        return checks

    checks.extend(_act_checks())
    if settings.demo:
        checks.extend(_demo_checks(settings, library, progress))
        return checks
    checks.extend(_postgres_checks(settings, library, progress))
    checks.extend(_posthog_checks(settings, library, progress))
    return checks


def _act_checks() -> list[Check]:
    """alerts.yaml, and what `sync posthog --apply` needs: a phc_ project key, a capture host.
    Nothing is sent: the capture endpoint takes writes only, so it is checked for shape."""
    from usertrack.act.alerts import load_alert_rules
    from usertrack.core.config import resolve_alerts_file, setting
    from usertrack.core.errors import register_secret

    out: list[Check] = []
    path = resolve_alerts_file(None)
    try:
        rules = load_alert_rules(path)
        out.append(Check("alerts file", True, f"{path}: {len(rules.triggers)} triggers"))
    except UsertrackError as e:
        out.append(_fail("alerts file", e, "fix the file named in the message"))
    key, where = setting("POSTHOG_PROJECT_API_KEY")
    if not key:
        out.append(
            Check(
                "PostHog project key",
                True,
                "not checked: POSTHOG_PROJECT_API_KEY is not set, so `sync posthog` runs as a dry"
                " run only",
                skipped=True,
            )
        )
        return out
    register_secret(key)
    if not key.startswith("phc_"):
        out.append(
            Check(
                "PostHog project key",
                False,
                f"{where} does not start with phc_ (a personal phx_ key does not belong here)",
                "copy the Project API key from PostHog: Project settings > Project API key",
                EXIT_CONFIG,
            )
        )
    else:
        out.append(Check("PostHog project key", True, f"{where}: a phc_ project key"))
    from usertrack.act.sync import capture_host

    try:
        host, origin = capture_host()
        out.append(Check("capture host", True, f"{host} (from {origin})"))
    except UsertrackError as e:
        out.append(_fail("capture host", e, "set POSTHOG_CAPTURE_HOST", EXIT_CONFIG))
    return out


def _demo_checks(settings: Settings, library: Any, progress: Any) -> list[Check]:
    from usertrack.demo.generator import demo_reader_uri, ensure_demo
    from usertrack.engines.postgres.source import PostgresSource

    try:
        demo = ensure_demo(settings.home, progress=progress)
        uri = demo_reader_uri(demo)
    except UsertrackError as e:
        return [_fail("demo workspace", e, "run `usertrack demo --reset`")]
    out = [
        Check(
            "demo workspace",
            True,
            f"{demo.users:,} users, data up to {demo.anchor.isoformat()}, in {demo.root}",
        ),
        Check("HogQL files", True, NEEDS_LIVE_POSTHOG, skipped=True),
    ]
    source = PostgresSource(uri, description="demo PostgreSQL")
    try:
        out.append(role_check(source.connect(), library))
        out.extend(_explain_neon_queries(source, library))
    finally:
        source.close()
    return out


def _postgres_checks(settings: Settings, library: Any, progress: Any) -> list[Check]:
    from usertrack.engines.postgres.source import PostgresSource

    if not settings.database_url:
        return [
            Check(
                "PostgreSQL",
                False,
                "DATABASE_URL is not set",
                "export DATABASE_URL='postgresql://role:password@host/db?sslmode=require'",
                EXIT_CONFIG,
            )
        ]
    try:
        source = PostgresSource(
            settings.database_url, connect_attempts=settings.connect_attempts, progress=progress
        )
    except UsertrackError as e:
        return [_fail("PostgreSQL", e, "fix DATABASE_URL")]
    try:
        try:
            conn = source.connect()
            with conn.transaction():
                row = conn.execute("SHOW transaction_read_only").fetchone()
                version = conn.execute("SHOW server_version").fetchone()
        except UsertrackError as e:
            return [_fail("PostgreSQL", e, "check DATABASE_URL and that the database is up")]
        out = [
            Check(
                "PostgreSQL",
                True,
                f"connected to {source.description} (server {version[0] if version else '?'})",
            )
        ]
        if row and row[0] == "on":
            out.append(Check("read-only", True, "every transaction is BEGIN READ ONLY"))
        else:
            out.append(
                Check(
                    "read-only",
                    False,
                    "transactions are not read-only",
                    "report this: usertrack must never be able to write",
                    EXIT_CONNECTION,
                )
            )
        out.append(role_check(conn, library))
        out.extend(_explain_neon_queries(source, library))
        return out
    finally:
        source.close()


# The server's roles that let a query reach past the database: its files and its programs.
SERVER_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program")
# docs/connecting.md's tables, when no query file names one that exists.
SHIPPED_TABLES = ("wasp_user", "fastapi_user", "fastapi_run", "fastapi_tool_executions",
                  "fastapi_code_execution", "fastapi_deployment")  # fmt: skip


def role_check(conn: Any, library: Any) -> Check:
    """Whether DATABASE_URL's role can do more than read: a superuser (rolsuper), a member of
    SERVER_ROLES (pg_has_role), or one with INSERT, UPDATE or DELETE on a table the library's
    PostgreSQL queries read (has_table_privilege). A warning with the SQL of a read-only role."""
    import psycopg

    tables = read_tables(library)
    member = ", ".join(
        f"CASE WHEN to_regrole('{r}') IS NULL THEN false"
        f" ELSE pg_has_role(current_user, '{r}', 'MEMBER') END"
        for r in SERVER_ROLES
    )
    try:
        with conn.transaction():
            row = conn.execute(
                f"SELECT current_user, current_database(), rolsuper, {member}"
                " FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            found = conn.execute(
                "SELECT nsp, rel, has_table_privilege(c, 'INSERT, UPDATE, DELETE') FROM"
                " unnest(%s::text[], %s::text[]) AS t(nsp, rel),"
                " LATERAL to_regclass(coalesce(quote_ident(nsp) || '.', '') || quote_ident(rel)) c"
                " WHERE c IS NOT NULL",
                ([s for s, _ in tables], [n for _, n in tables]),
            ).fetchall()
    except psycopg.Error as e:
        return Check("role", True, f"not judged: {first_line(e)}", warning=True)
    if row is None:
        return Check("role", True, "not judged: the role is not in pg_roles", warning=True)
    role, database, superuser, *servers = row
    writable = [n if s is None else f"{s}.{n}" for s, n, can in found if can]
    problems = []
    if superuser:
        problems.append("is a superuser (it can read the server's files and run programs)")
    else:
        joined = [r for r, yes in zip(SERVER_ROLES, servers, strict=True) if yes]
        if joined:
            problems.append(f"is a member of {', '.join(joined)}")
        if writable:
            problems.append(f"can write {', '.join(writable[:6])}")
    shown = printable(role)
    if not problems:
        return Check("role", True, f"{shown} can read, not write, and reaches no server file")
    readable = [(s, n) for s, n, _ in found] or [(None, n) for n in SHIPPED_TABLES]
    return Check(
        "role",
        True,
        f"{shown} {' and '.join(problems)}: usertrack only reads, and needs a role that can"
        " do no more",
        "connect as a read-only role instead (docs/connecting.md), made as an administrator by:\n"
        + read_only_role_sql(conn, database, readable),
        warning=True,
    )


def read_only_role_sql(conn: Any, database: str, tables: list[tuple[str | None, str]]) -> str:
    """docs/connecting.md's SQL for a read-only role, for this database and these tables."""
    from psycopg import sql

    def name(*parts: str | None) -> str:
        return ".".join(sql.Identifier(p).as_string(conn) for p in parts if p is not None)

    schemas = sorted({s or "public" for s, _ in tables})
    return "\n".join(
        [
            "CREATE ROLE usertrack LOGIN PASSWORD '...';",
            f"GRANT CONNECT ON DATABASE {name(database)} TO usertrack;",
            f"GRANT USAGE ON SCHEMA {', '.join(name(s) for s in schemas)} TO usertrack;",
            f"GRANT SELECT ON {', '.join(name(s, n) for s, n in tables)} TO usertrack;",
            "ALTER ROLE usertrack SET default_transaction_read_only = on;",
        ]
    )


def read_tables(library: Any) -> list[tuple[str | None, str]]:
    """The tables (schema or None, name) the library's PostgreSQL queries read, as PostgreSQL's
    parser reads them (their WITH names left out); a file it cannot parse adds none."""
    from pglast import ast, parse_sql

    from usertrack.engines.postgres.sqlcheck import placeholder_names, positional

    found: set[tuple[str | None, str]] = set()
    for query in library.in_folder("neon"):
        try:
            stmts = parse_sql(positional(query.sql, placeholder_names(query.sql)))
        except Exception:  # a template or a syntax only the command completes
            continue
        named: set[tuple[str | None, str]] = set()
        ctes: set[str] = set()
        stack: list[Any] = list(stmts)
        while stack:
            node = stack.pop()
            if isinstance(node, tuple):
                stack.extend(node)
            elif isinstance(node, ast.Node):
                if isinstance(node, ast.RangeVar):
                    named.add((node.schemaname, node.relname or ""))
                elif isinstance(node, ast.CommonTableExpr):
                    ctes.add(node.ctename or "")
                stack.extend(getattr(node, a) for a in node)
        found |= {(s, n) for s, n in named if s is not None or n not in ctes}
    return sorted(found, key=lambda t: (t[0] or "", t[1]))


def printable(text: str) -> str:
    """A name from the server as one line of plain characters."""
    return "".join(c if c.isprintable() else "?" for c in text)[:80]


def _explain_neon_queries(source: Any, library: Any) -> list[Check]:
    """EXPLAIN every neon query: fails, naming the table or column, if the schema lacks it."""
    import psycopg

    from usertrack.queries.library import resolve_params
    from usertrack.segments.account_key import (
        AccountKey,
        check_key,
        uses_account_key,
        with_account_key,
    )
    from usertrack.segments.profiles import exclude_pattern

    conn = source.connect()
    missing = []
    queries = library.in_folder("neon")
    as_of = now_utc()
    key = AccountKey.configured()
    for query in queries:
        if uses_account_key(query):
            try:
                check_key(conn, key)
            except UsertrackError:
                continue  # no accounts in this database: `usertrack accounts` names what exists
            query = with_account_key(query, key, conn)
        given = {"as_of": as_of, "exclude_pattern": exclude_pattern([]), "email": "x@example.com"}
        try:
            values = resolve_params(query, given, now_value=as_of)
        except UsertrackError:
            continue  # a parameter only the command knows: checked when that command runs
        sql = query.sql.rstrip().rstrip(";").encode()
        try:
            with conn.transaction():
                conn.execute(b"EXPLAIN " + sql, values)
        except psycopg.Error as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            missing.append(f"{query.id}: {first}")
    if missing:
        return [
            Check(
                "schema",
                False,
                "; ".join(missing),
                "the shipped query library reads these tables (wasp_user, fastapi_user,"
                " fastapi_run, fastapi_tool_executions, ...); adapt the named query files",
                EXIT_QUERY,
            )
        ]
    return [Check("schema", True, f"all {len(queries)} neon queries plan against the database")]


NEEDS_LIVE_POSTHOG = (
    "not checked: checking the query files against PostHog needs a live PostHog"
    " (POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY)"
)


def hogql_files_check(source: Any, library: Any, progress: Any = None) -> Check:
    """Every HogQL file of the library validated by PostHog (usertrack.cli.querycheck)."""
    from usertrack.cli.querycheck import check_query_files, checked_files

    files = checked_files(library)
    try:
        refusals = check_query_files(source, files, progress=progress)
    except UsertrackError as e:
        return _fail("HogQL files", e, "run `usertrack query --check` once PostHog answers")
    if not refusals:
        return Check("HogQL files", True, f"PostHog accepts all {len(files)} HogQL query files")
    return Check(
        "HogQL files",
        False,
        f"PostHog refuses {len(refusals)} of {len(files)} HogQL query files: "
        + "; ".join(r.line() for r in refusals),
        "rewrite each named file as PostHog's message says (docs/query-files.md, 'Checking"
        " query files against PostHog'); `usertrack query --check ID` checks one again",
        EXIT_QUERY,
    )


def _posthog_checks(settings: Settings, library: Any, progress: Any) -> list[Check]:
    if settings.events_path is not None:
        from usertrack.engines.local.eventstore import open_store
        from usertrack.workspace import import_events_export

        try:
            store, stats = import_events_export(settings)
            con = open_store(store)
            try:
                count = con.execute("SELECT count(*) FROM events").fetchone()
            finally:
                con.close()
            return [
                Check(
                    "PostHog events export",
                    True,
                    f"{settings.events_path}: {count[0] if count else 0} events"
                    f" ({stats.summary()})",
                ),
                Check("HogQL files", True, NEEDS_LIVE_POSTHOG, skipped=True),
            ]
        except UsertrackError as e:
            return [_fail("PostHog events export", e, "point USERTRACK_EVENTS at a PostHog export")]
    missing = settings.missing_posthog
    if missing:
        return [
            Check(
                "PostHog",
                False,
                f"{' and '.join(missing)} not set",
                "set POSTHOG_PROJECT_ID and POSTHOG_PERSONAL_API_KEY (a personal API key with"
                " scope query:read), or USERTRACK_EVENTS to an events export",
                EXIT_CONFIG,
            )
        ]
    assert settings.posthog_api_key is not None and settings.posthog_project_id is not None
    from usertrack.engines.posthog import PostHogHTTPSource
    from usertrack.queries.library import Query

    try:
        source = PostHogHTTPSource(
            settings.posthog_api_key,
            settings.posthog_project_id,
            settings.posthog_host,
            progress=progress,
        )
    except UsertrackError as e:
        return [_fail("PostHog", e, "check POSTHOG_HOST and POSTHOG_PROJECT_ID")]
    try:
        try:
            project = source.project()
        except UsertrackError as e:
            return [_fail("PostHog", e, "check POSTHOG_HOST, POSTHOG_PROJECT_ID and the key")]
        name = project.get("name", "")
        tz = project.get("timezone") or "UTC"
        zone = (
            f"timezone {tz}"
            if tz == "UTC"
            else f"timezone {tz}; usertrack asks for UTC days and weeks"
        )
        out = [Check("PostHog", True, f"{source.description}: project {name!r} ({zone})")]
        probe = Query(
            name="doctor",
            folder="posthog",
            path=Path("<doctor>"),
            sql="SELECT count() AS events FROM events WHERE timestamp > now() - INTERVAL 1 DAY",
            description="doctor probe",
            returns="table",
        )
        try:
            result = source.run(probe, {})
            events = result.rows[0][0] if result.rows else 0
            out.append(
                Check("HogQL query", True, f"query:read works ({events} events in the last day)")
            )
        except UsertrackError as e:
            out.append(_fail("HogQL query", e, "give the personal API key the query:read scope"))
            return out
        out.append(hogql_files_check(source, library, progress))
        return out
    finally:
        source.close()


def exit_code(checks: list[Check]) -> int:
    """0 when every check passed; else the exit code of the first failure."""
    for check in checks:
        if not check.ok:
            return check.exit_code or EXIT_CONNECTION
    return 0
