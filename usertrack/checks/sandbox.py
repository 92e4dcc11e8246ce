"""DuckDB as a sandbox: the one way usertrack opens a DuckDB connection. The checks on the SQL
people write into rule and query files are usertrack.checks.sql_checks.

Rule files and query files are edited by people, and DuckDB can read and write any file the user
can (`read_csv`, `COPY ... TO`, `ATTACH`), load extensions and change its own settings. Two fences:

1. Every connection comes from `connect()`: external access off (no file, network or Python
   variable reached from SQL), no extension installed or loaded behind our back, the session
   time zone UTC, and then the configuration locked, so no SQL can undo any of it (DuckDB's
   "Securing DuckDB" page: enable_external_access, lock_configuration). DuckDB always lets SQL
   reach its temp directory, which is `.tmp` in the working folder by default (`<db>.tmp` for
   a database file): a cloned folder's `.tmp -> /` symlink made every file readable and
   writable. Each connection's temp directory is therefore a private one of usertrack's own
   (`_private_temp`: a 0700 folder of this process, which DuckDB spills into and removes at
   close), and no folder a working directory can plant is ever allowed. A database file named at
   connect time still opens (the path is given by usertrack, not by SQL), and Arrow tables or
   numpy arrays handed over with `con.register` still work. Python replacement scans (a bare
   variable name in SQL) do not: they reach Python state, which is external access.
   usertrack's own imports that must read files (an events export) name those files in
   `read_paths`, and nothing else becomes readable (those become writable too: DuckDB's
   allowed_paths is not read-only).
2. The SQL of a rule, an order, a `when` or a DuckDB query file passes usertrack.checks.sql_checks
   before it is ever run.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import math
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import duckdb

__all__ = ["connect", "scratch", "time_limit"]

# The bounds of every connection, settable in the environment or the user config file
# ([limits] duckdb_memory, duckdb_timeout_seconds): DuckDB's own default memory limit is 80% of
# the machine's memory and it has no statement timeout.
DEFAULT_MEMORY_LIMIT = "2GB"  # past it DuckDB spills to the private temp directory, or fails
DEFAULT_TIMEOUT_SECONDS = 300
MEMORY_VARIABLE = "USERTRACK_DUCKDB_MEMORY"
TIMEOUT_VARIABLE = "USERTRACK_DUCKDB_TIMEOUT"
_MEMORY_TEXT = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def memory_limit() -> str:
    """USERTRACK_DUCKDB_MEMORY (or [limits] duckdb_memory), default DEFAULT_MEMORY_LIMIT."""
    from usertrack.core.config import setting
    from usertrack.core.errors import ConfigError

    value, origin = setting(MEMORY_VARIABLE)
    if value is None:
        return DEFAULT_MEMORY_LIMIT
    from usertrack.core.bounds import memory_bytes

    if not _MEMORY_TEXT.match(value) or not 0 < memory_bytes(value) <= 1 << 50:  # 1 PiB
        raise ConfigError(
            f"{origin} = {value!r} is not an amount of memory DuckDB takes (such as 2GB or 512MB)"
        )
    return value


def timeout_seconds() -> float:
    """USERTRACK_DUCKDB_TIMEOUT (or [limits] duckdb_timeout_seconds): how long one DuckDB query
    of text from a file (a query file, a rule) may run; default DEFAULT_TIMEOUT_SECONDS."""
    from usertrack.core.config import setting
    from usertrack.core.errors import ConfigError

    value, origin = setting(TIMEOUT_VARIABLE)
    if value is None:
        return float(DEFAULT_TIMEOUT_SECONDS)
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise ConfigError(f"{origin} = {value!r} is not a number of seconds above 0")
    return seconds


@contextlib.contextmanager
def time_limit(con: duckdb.DuckDBPyConnection, what: str) -> Iterator[None]:
    """Interrupt what runs on `con` (a connection or cursor) in the block once it has run
    timeout_seconds(), and raise LimitError naming `what` and the limit: DuckDB has no
    statement timeout, so a timer thread calls con.interrupt(), as a cancelled command does
    (usertrack.engines.base.CancelToken). DuckDB looks at an interrupt only between chunks of
    rows: in a process bounded by usertrack.core.bounds, a query still running GRACE_SECONDS after
    it ends the process with the same line (bounds.stop_now). DuckDB out of memory in the
    block (its limit, or the process's bound) is a LimitError naming `what` too."""
    import duckdb

    from usertrack.core import bounds
    from usertrack.core.errors import LimitError

    seconds = timeout_seconds()
    lock = threading.Lock()
    state = {"done": False, "fired": False}
    stopped = (
        f"{what}: stopped after {seconds:g} s, the time limit of one DuckDB query"
        f" ({TIMEOUT_VARIABLE}, or [limits] duckdb_timeout_seconds in the config file)"
    )

    def stop_now() -> None:
        with lock:
            if state["done"]:
                return
        bounds.stop_now(stopped)

    # As long again as the limit, at most GRACE_SECONDS.
    grace = threading.Timer(min(bounds.GRACE_SECONDS, seconds), stop_now)
    grace.daemon = True

    def stop() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                con.interrupt()
                grace.start()

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    except duckdb.OutOfMemoryException:
        raise LimitError(
            f"{what}: stopped at the memory limit of {memory_limit()} ({MEMORY_VARIABLE}, or"
            " [limits] duckdb_memory in the config file)",
            data={},  # `what` names a query or a step, never a value
        ) from None
    except duckdb.Error:
        if state["fired"]:
            raise LimitError(stopped, data={}) from None
        raise
    finally:
        with lock:
            state["done"] = True
        timer.cancel()
        grace.cancel()


# Settings every connection starts with (connect-time config: they hold from the first statement).
_LOCKED_DOWN: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


# What DuckDB's allocator may keep of the memory an in-memory database's work freed, past which
# it gives the rest back once a task is done (its `allocator_flush_threshold`, 128 MiB by
# default). The analyses' facts databases (a live command's answers loaded into DuckDB, each of
# the weekly dashboard's panels) free their tables and joins at their end; kept for reuse, they
# stood under the next panel's: at 200,000 users the live dashboard peaked at 1,550 MB with the
# default, 1,466 MB with this (one run each). A database file (the events store, which the
# local engine reads) keeps DuckDB's default.
IN_MEMORY_FLUSH = "8MB"


# DuckDB's worker threads per database opened (None: DuckDB's default, one per core), set by
# `threads_each`. A database file keeps the count it was first opened with in this process:
# DuckDB refuses a second connection to an open file with another configuration.
_threads: int | None = None
_file_threads: dict[str, int | None] = {}


@contextlib.contextmanager
def threads_each(count: int) -> Iterator[None]:
    """Within: every database opened gets `count` worker threads of DuckDB's (a file already
    opened in this process keeps its own count). For work that runs its queries side by side on
    threads of its own (a dashboard's lanes): a pool of one per core for each database beside
    them only makes the threads take the cores from each other."""
    global _threads
    before, _threads = _threads, count
    try:
        yield
    finally:
        _threads = before


def connect(
    path: Path | str | None = None,
    *,
    read_only: bool = False,
    settings: Mapping[str, Any] | None = None,
    read_paths: Iterable[Path | str] = (),
    write_dirs: Iterable[Path | str] = (),
    reuse: bool = False,
) -> duckdb.DuckDBPyConnection:
    """A sandboxed DuckDB connection: in memory, or on the database file `path`.

    `reuse`: an in-memory connection the caller gives back with `release` (not `close`), which
    within `keep_connections` is emptied and handed out again by the next such `connect`.

    `settings` are applied before the configuration is locked (memory_limit,
    pandas_analyze_sample, ...): a later SET fails. `read_paths` (files) and `write_dirs`
    (folders) are the only places SQL on this connection may touch, and DuckDB lets it write
    as well as read both (its allowed_paths is not read-only: `COPY ... TO` a file of
    `read_paths` overwrites it); pass them only for usertrack's own SQL (importing an export,
    rendering the demo, an events store's feature times), never for text from a user's query
    or rule file.
    """
    import duckdb

    from usertrack.core import bounds

    bounds.limit_memory(memory_limit())  # the process's bound, where it is armed
    temp = _private_temp(path)
    config = {
        **_LOCKED_DOWN,
        "memory_limit": memory_limit(),
        **dict(settings or {}),
        "temp_directory": temp,
    }
    threads = (
        _threads if path is None else _file_threads.setdefault(os.path.realpath(path), _threads)
    )
    if threads is not None and "threads" not in config:
        config["threads"] = threads
    if path is None:
        config.setdefault("allocator_flush_threshold", IN_MEMORY_FLUSH)
    allowed_paths = _spellings(read_paths)
    allowed_dirs = _spellings(write_dirs)
    if allowed_paths or allowed_dirs:
        # DuckDB takes allowed_paths/allowed_directories only once the database runs, and only
        # while external access is on: open, allow, then switch access off before any other SQL.
        config["enable_external_access"] = True
    database = str(path) if path is not None else ":memory:"
    # An in-memory database reached by no file: one a command of this process gave back
    # (`release`), emptied, when keep_connections is on.
    spare_key = None
    if reuse and path is None and not read_only and not allowed_paths and not allowed_dirs:
        spare_key = tuple(sorted((k, str(v)) for k, v in config.items() if k != "temp_directory"))
        spare = _take_spare(spare_key)
        if spare is not None:
            return spare
    con = duckdb.connect(database, read_only=read_only, config=config)
    try:
        row = con.execute("SELECT current_setting('lock_configuration')").fetchone()
        if row and row[0]:
            # A second connection to a database file this process has open shares its instance
            # (DuckDB refuses one with another config), which connect() already locked: it
            # may read and write no more than the first.
            if allowed_paths or allowed_dirs:
                have = con.execute(
                    "SELECT current_setting('allowed_paths'),"
                    " current_setting('allowed_directories')"
                ).fetchone()
                if not have or not (
                    set(allowed_paths) <= set(have[0] or [])
                    and set(allowed_dirs) <= set(have[1] or [])
                ):
                    con.close()
                    raise RuntimeError(f"{database} is open already: no file can be allowed now")
            return con
        if allowed_paths or allowed_dirs:
            if allowed_paths:
                con.execute("SET allowed_paths = ?", [allowed_paths])
            if allowed_dirs:
                con.execute("SET allowed_directories = ?", [allowed_dirs])
            con.execute("SET enable_external_access = false")
        # TimeZone is an ICU setting (not accepted in the connect config; without ICU DuckDB
        # works in UTC anyway). GLOBAL, so that cursors and later connections to the same
        # database, which cannot change it once locked, see UTC too.
        with contextlib.suppress(duckdb.CatalogException):
            con.execute("SET GLOBAL TimeZone = 'UTC'")
        # DuckDB draws a progress bar on stdout, terminal or not, for any statement past 2 s:
        # it would land inside a json or csv answer. A connection setting (cursors inherit it),
        # not accepted in the connect config.
        con.execute("SET enable_progress_bar = false")
        con.execute("SET lock_configuration = true")
        if spare_key is not None and _spares is not None:
            _fresh[id(con)] = (spare_key, _state(con)[0], _forgotten_with(con))
    except BaseException:
        con.close()
        raise
    return con


# --------------------------------------------------------------------------------------------
# Connections kept for the next command of a long-running process (the MCP server): opening an
# in-memory database costs 10-15 ms of CPU (40-50 ms on a loaded machine, on the critical path
# of a warm `segments` call); emptying one a command is done with, 2-5 ms, done by the next
# `connect` (on the thread that opens the connection while the queries run), not by `release`
# (on the command's way to its answer).
#
# Only usertrack's own code creates anything on these connections (tables, views, registered
# Arrow tables): the SQL of rule and query files is one checked expression or SELECT. Macros
# are not looked for (listing them costs 12 ms, as much as a new database): the state compared
# is every other kind of catalog entry, and the database and schema in use.

_spares: dict[tuple[Any, ...], list[duckdb.DuckDBPyConnection]] | None = None
# id of each connection `connect(reuse=True)` opened while keeping: its key, its state when new
# and a weak reference to it (an id is unique only while its object lives; one never given back,
# `segments --changes`'s, goes with its last reference, as it did before).
_fresh: dict[int, tuple[tuple[Any, ...], tuple[Any, ...], weakref.ref[Any]]] = {}
_spares_lock = threading.Lock()
_MAX_SPARES = 2  # per kind of connection: a command holds one at a time

# What a connection given back must show exactly as when new, besides its tables and views
# (which emptying drops): the catalog's other entries, the database and schema in use; and, in
# the same query, the tables and views to drop (one query: each costs 0.3-1 ms).
_STATE_SQL = """
SELECT (
    SELECT list(row(kind, db, sch, name) ORDER BY kind, db, sch, name) FROM (
        SELECT 'sequence' AS kind, database_name AS db, schema_name AS sch, sequence_name AS name
            FROM duckdb_sequences()
        UNION ALL SELECT 'index', database_name, schema_name, index_name FROM duckdb_indexes()
        UNION ALL SELECT 'type', database_name, schema_name, type_name
            FROM duckdb_types() WHERE NOT internal
        UNION ALL SELECT 'schema', database_name, schema_name, '' FROM duckdb_schemas()
        UNION ALL SELECT 'database', database_name, '', '' FROM duckdb_databases()
        UNION ALL SELECT 'now', current_database(), current_schema(), current_setting('search_path')
    )
), (
    SELECT list(row(kind, db, sch, name, temporary) ORDER BY kind DESC) FROM (
        SELECT 'VIEW' AS kind, database_name AS db, schema_name AS sch, view_name AS name, temporary
            FROM duckdb_views() WHERE NOT internal
        UNION ALL SELECT 'TABLE', database_name, schema_name, table_name, temporary
            FROM duckdb_tables()
    )
)
"""


def _forgotten_with(con: duckdb.DuckDBPyConnection) -> weakref.ref[Any]:
    key = id(con)
    return weakref.ref(con, lambda _ref: _fresh.pop(key, None))


def _state(con: duckdb.DuckDBPyConnection) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """(the state compared, the tables and views: kind, database, schema, name, temporary)."""
    rows = con.execute(_STATE_SQL).fetchall()
    state, objects = rows[0] if rows else (None, None)
    return tuple(map(str, state or [])), [tuple(o) for o in objects or []]


@contextlib.contextmanager
def keep_connections(leave: Callable[[Any], None] | None = None) -> Iterator[None]:
    """Within: an in-memory connection opened with `connect(reuse=True)` and given back with
    `release` is handed out again by the next such `connect` with the same configuration,
    emptied first, instead of a new database. One that cannot be brought back to exactly its
    state when new (anything left in its catalog, another database or schema in use) is closed
    instead. All are closed on leaving, or handed to `leave` (memory alone: a process about to
    end frees it at once, usertrack.cli.program.leave_to_exit)."""
    global _spares
    with _spares_lock:
        _spares = {}
    try:
        yield
    finally:
        with _spares_lock:
            kept, _spares = _spares, None
            _fresh.clear()
        for cons in (kept or {}).values():
            for con in cons:
                with contextlib.suppress(Exception):
                    if leave is None:
                        con.close()
                    else:
                        leave(con)


def keeping() -> bool:
    """Whether connections given back are kept now (within keep_connections: the MCP server,
    a --by-segment run's groups)."""
    return _spares is not None


def _take_spare(key: tuple[Any, ...]) -> duckdb.DuckDBPyConnection | None:
    """A connection given back with this configuration, emptied; None when there is none."""
    while True:
        with _spares_lock:
            if _spares is None or not _spares.get(key):
                return None
            con = _spares[key].pop()
            new = _fresh[id(con)][1]
        if _emptied(con, new):
            return con
        with _spares_lock:
            _fresh.pop(id(con), None)
        with contextlib.suppress(Exception):
            con.close()


def release(con: duckdb.DuckDBPyConnection) -> None:
    """Done with `con` (from `connect`): kept for the next command within keep_connections (when
    opened with reuse=True), closed otherwise. A connection `hold` holds is released only when
    `let_go` lets go of it."""
    with _spares_lock:
        held = _held.get(id(con))
        if held is not None and held[0] is con:
            held[1] = True  # its command is done with it; its holder is not
            return
        known = _fresh.get(id(con)) if _spares is not None else None
        if (
            _spares is not None
            and known is not None
            and known[2]() is con
            and len(_spares.setdefault(known[0], [])) < _MAX_SPARES
        ):
            _spares[known[0]].append(con)
            return
        if known is not None and known[2]() is con:
            _fresh.pop(id(con), None)
    con.close()


# Connections held beyond the command that opened them (the MCP server's kept classifications,
# usertrack.segments.kept): id -> [the connection, whether its command released it].
_held: dict[int, list[Any]] = {}


def hold(con: duckdb.DuckDBPyConnection) -> None:
    """Keep `con` open and untouched after its command releases it, until `let_go`."""
    with _spares_lock:
        _held[id(con)] = [con, False]


def let_go(con: duckdb.DuckDBPyConnection) -> None:
    """No longer hold `con`: released now if its command released it already (given back to
    keep_connections, or closed), else by its command as usual."""
    with _spares_lock:
        held = _held.pop(id(con), None)
    if held is not None and held[0] is con and held[1]:
        release(con)


def _emptied(con: duckdb.DuckDBPyConnection, new: tuple[Any, ...]) -> bool:
    """Whether `con` is as it was when new once its tables, views and registered objects are
    dropped; dropped when so."""
    try:
        state, objects = _state(con)
        if state != new:
            return False
        drops = []
        for kind, db, schema, name, temporary in objects:
            if kind == "VIEW" and temporary:
                with contextlib.suppress(Exception):
                    con.unregister(name)  # con.register's (an Arrow table)
            drops.append(f"DROP {kind} IF EXISTS {_ident(db)}.{_ident(schema)}.{_ident(name)}")
        if drops:
            con.execute(";".join(drops))  # one call: 0.3 ms a statement otherwise
        return True
    except Exception:
        return False


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_T = TypeVar("_T")


def connect_while(work: Callable[[], _T], **options: Any) -> tuple[duckdb.DuckDBPyConnection, _T]:
    """`connect(**options)` on a thread of its own while `work()` runs on this one, and both
    answers: a command that waits for its database queries opens its DuckDB in that wait
    (0.01-0.02 s, paid by every warm call of the MCP server). When `work` fails, the
    connection is closed and the failure raised."""
    from concurrent.futures import ThreadPoolExecutor

    import duckdb  # noqa: F401  (imported on this thread: never on two at once)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usertrack-connect") as pool:
        opened = pool.submit(connect, **options)
        try:
            value = work()
        except BaseException:
            with contextlib.suppress(Exception):
                release(opened.result())
            raise
        return opened.result(), value


_temp_root: tuple[int, str] | None = None  # (pid, folder): a forked child makes its own
_temp_count = itertools.count(1)
_temp_lock = threading.Lock()


def _private_temp(database: Path | str | None) -> str:
    """A temp directory for a new connection: a name inside this process's private folder
    (mkdtemp: 0700, a random name no one else can plant), which DuckDB creates when it first
    spills and removes when the database closes. The folder goes at exit. A database file has
    one name (DuckDB opens a second connection to an open file only with the same config); an
    in-memory database a fresh one."""
    name = f"c{next(_temp_count)}"
    if database is not None:
        import hashlib

        name = "f" + hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:16]
    return os.path.join(private_folder(), name)


def private_folder() -> str:
    """This process's private temp folder (made on first use, removed at exit)."""
    global _temp_root
    with _temp_lock:
        if _temp_root is None or _temp_root[0] != os.getpid():
            folder = tempfile.mkdtemp(prefix="usertrack-duckdb-")
            _temp_root = (os.getpid(), folder)
            atexit.register(_remove_temp_root, os.getpid(), folder)
        return _temp_root[1]


def use_private_folder(folder: str) -> None:
    """Spill into FOLDER, which another process made and removes: a process that ends without
    its exit handlers (the MCP server's workers are killed, or end with os._exit) would leave
    a folder of its own behind in the system's temp folder on every start."""
    global _temp_root
    with _temp_lock:
        _temp_root = (os.getpid(), folder)


def _remove_temp_root(pid: int, folder: str) -> None:
    if os.getpid() == pid:  # not a forked child's exit: the folder is its parent's
        shutil.rmtree(folder, ignore_errors=True)


_scratch_database: duckdb.DuckDBPyConnection | None = None
_scratch_lock = threading.Lock()


def scratch() -> duckdb.DuckDBPyConnection:
    """A new connection to this process's scratch database (in memory, sandboxed as `connect`'s),
    for checking rule text: opening a database costs 10-15 ms, a connection to an open one
    nothing. The caller closes it. Create only TEMP tables on it, which are this connection's
    own: any other table would be seen by every connection to the scratch database."""
    global _scratch_database
    with _scratch_lock:
        if _scratch_database is None:
            _scratch_database = connect()
        return _scratch_database.cursor()


def _spellings(paths: Iterable[Path | str]) -> list[str]:
    """Each path as given and resolved: DuckDB compares the text SQL names with these."""
    out: list[str] = []
    for p in paths:
        for text in (str(p), str(Path(p).resolve())):
            if text not in out:
                out.append(text)
    return out
