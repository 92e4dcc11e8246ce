"""feature_used's time spent as a table of its own beside an events store, built on first use.

feature_usage.sql sums each use's `duration` property (a JSON number; anything else is left
out). The store keeps the properties as compressed JSON text, and reading a number out of it
for every use in the range (600,000 at 100,000 users) cost `features` three quarters of its
CPU. So the local engine keeps, once per store, every feature_used event whose `duration` the
query counts: its row in `events` (DuckDB's rowid: a store is written whole and never changed,
so a row keeps its id), its timestamp and the value the query would read, worked out by the
query's own translated expressions, and on every row the key of the store it was read from
(usertrack.engines.local.storecache's: the file's stamp, DuckDB's version). The table is a Parquet
file beside the store (`side_of`), written whole and renamed into place by the demo's
generation once its store is in place (`build_beside`), else by the first command that finds it
missing or of another store (an imported export's; about 2 s of CPU at 100,000 users, what
reading the JSON costs that command anyway); the next ones read it in milliseconds. Every
connection to the store is allowed that one file, to read it and (DuckDB's allowed_paths has no
read-only kind) to write it, though only `build`'s connection of its own writes it: no user's
SQL reaches a file from the store's connection (the HogQL translator writes no table function
and no COPY), and the file is usertrack's own, 0600 in the store's folder
(usertrack.engines.local.eventstore.open_store). A store replaced under an open connection (the MCP
server) is counted from its JSON there: the table is of the file the store's name names.

feature_usage.sql as shipped (`SHORTCUT`, usertrack.engines.shortcut), by feature (`by` =
'feature': only feature_used events), with the property `duration`, then runs as `rewritten`
gives its translation: the same
statement, the events joined with that table by rowid (`--where`, `--who` and the exclusion
pattern still apply to the events as ever), its two duration expressions reading the table
instead of the JSON; a row of another store's table stops it with an error rather than join.
Any other text or values (`--event`, an edited file) runs as translated. On PostHog the file
runs as written: this is the local engine's alone.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.engines.shortcut import ANY_FILTER, Shortcut

if TYPE_CHECKING:
    import duckdb

PROPERTY = "duration"  # feature_usage.sql's {duration}, as shipped
RID = "usertrack_rid"
STORE = "usertrack_store"
SECONDS = "usertrack_seconds"
AT = "usertrack_at"
ALIAS = "usertrack_times"
# the parameters `rewritten` adds: the table's file, and the key of the store it is to be of
FILE_PARAM = "usertrack_times_file"
KEY_PARAM = "usertrack_times_key"

# The property's path, and the expressions of feature_usage.sql's `timed` and `seconds` over
# it, as the HogQL translator writes them (usertrack.engines.hogql).
_PATH = "('/' || replace(replace(CAST($duration AS VARCHAR), '~', '~0'), '/', '~1'))"
_TYPE_NAMES = (
    "MAP {'VARCHAR': 'String', 'BIGINT': 'Int64', 'UBIGINT': 'UInt64', 'DOUBLE': 'Double',"
    " 'BOOLEAN': 'Bool', 'ARRAY': 'Array', 'OBJECT': 'Object', 'NULL': 'Null'}"
)
_NUMBER = (
    f"coalesce({_TYPE_NAMES}[json_type(properties, {_PATH})], 'Null')"
    " IN ('Int64', 'UInt64', 'Double')"
)
_VALUE = (
    f"(CASE WHEN regexp_matches(CAST(json_extract(properties, {_PATH}) AS VARCHAR),"
    f" '^\\s|\\s$|_') THEN NULL ELSE TRY_CAST(json_extract(properties, {_PATH}) AS DOUBLE) END)"
)
TIMED = f"count(*) FILTER (WHERE {_NUMBER}) AS timed"
SPENT = f"sum((CASE WHEN {_NUMBER} THEN {_VALUE} ELSE 0 END)) AS seconds"
_FROM = "FROM events WHERE timestamp > CAST(CAST($since AS TIMESTAMPTZ) AS TIMESTAMP)"

# The table: each feature_used event whose property is a JSON number, the value the query's
# `seconds` takes from it (NULL where it takes none), in rowid (the store's timestamp) order.
# The property's JSON is read once per event: json_type of the extracted value is the type at
# the path, as the query's two readings of it are one.
_READ = f"json_extract(properties, {_PATH})"
BUILD_SQL = f"""
SELECT {RID}, {AT}, {_VALUE.replace(_READ, "value")} AS {SECONDS}, $key AS {STORE}
FROM (
    SELECT rowid AS {RID}, timestamp AS {AT}, {_READ} AS value
    FROM events
    WHERE event = 'feature_used'
)
WHERE {_NUMBER.replace(f"json_type(properties, {_PATH})", "json_type(value)")}
ORDER BY {RID}
""".replace("$duration", f"'{PROPERTY}'")


def _spaced(phrase: str) -> re.Pattern[str]:
    """`phrase` as a pattern that matches it with any whitespace where it has a space."""
    return re.compile(r"\s+".join(re.escape(part) for part in phrase.split(" ")))


def side_of(store: Path) -> Path:
    """Where the table of `store` is kept: beside it."""
    return Path(f"{store}.feature-times.parquet")


def key_of(store: Path, *, written: bool = False) -> str | None:
    """The key of `store` as it is now; None when its table is not to be kept (the store
    unreadable, or changed too recently to be told from a later change: storecache; but for a
    store the caller has just `written` whole and put in place itself)."""
    from usertrack.engines.local import storecache

    return storecache.key(store, BUILD_SQL, {}, written=written)


def build_beside(store: Path, settings: Mapping[str, Any] | None = None) -> bool:
    """The table of `store`, a store just written whole and put in place (the demo's), built
    now beside it: the first `features` then reads it as every later one does, rather than
    building it first (about 2 s of CPU at 100,000 users, three times a warm run's). False
    when it cannot be (that only costs the first `features` its build). `settings`: its
    connection's (a memory_limit: DuckDB otherwise keeps the store's blocks it read up to the
    process's bound, 700 MB at 100,000 users where 300 MB do)."""
    key = key_of(store, written=True)
    return key is not None and build(store, side_of(store), key, written=True, settings=settings)


def kept_key(cur: duckdb.DuckDBPyConnection, side: Path) -> str | None:
    """The key of the store the table at `side` was read from (kept in the file's key-value
    metadata, so a table with no rows has one too); None without a readable one."""
    import duckdb

    if not side.is_file():
        return None
    try:
        row = cur.execute(
            "SELECT value FROM parquet_kv_metadata($file) WHERE key = $name",
            {"file": str(side), "name": STORE},
        ).fetchone()
    except duckdb.Error:
        return None
    return None if row is None else bytes(row[0]).decode(errors="replace")


def rewritten(
    sql: str, values: dict[str, Any], side: Path, key: str
) -> tuple[str, dict[str, Any]] | None:
    """feature_usage.sql's translation `sql` (the file as shipped: `SHORTCUT`'s gate) reading
    the table at `side` (of the store of `key`) for its time spent, and the values it takes;
    None where the translation does not hold each of the phrases it replaces once."""
    lo = "CAST(CAST($since AS TIMESTAMPTZ) AS TIMESTAMP)"
    hi = "CAST(CAST($as_of AS TIMESTAMPTZ) AS TIMESTAMP)"
    mine = (
        f"CASE WHEN {STORE} = ${KEY_PARAM} THEN true ELSE error('the feature times beside the"
        " events store are of another store: run the command again') END"
    )
    joined = (
        f"FROM events LEFT JOIN (SELECT {RID}, {SECONDS} FROM read_parquet(${FILE_PARAM})"
        f" WHERE {AT} > {lo} AND {AT} <= {hi} AND {mine}) AS {ALIAS}"
        f" ON {ALIAS}.{RID} = events.rowid"
        " WHERE timestamp > CAST(CAST($since AS TIMESTAMPTZ) AS TIMESTAMP)"
    )
    # the text as translated, but for these three (a --where's literal keeps its spaces)
    out = sql
    for phrase, instead in (
        (TIMED, f"count({ALIAS}.{RID}) AS timed"),
        (
            SPENT,
            f"sum((CASE WHEN {ALIAS}.{RID} IS NULL THEN 0 ELSE {ALIAS}.{SECONDS} END)) AS seconds",
        ),
        (_FROM, joined),
    ):
        out, found = _spaced(phrase).subn(instead.replace("\\", "\\\\"), out, count=1)
        if found != 1 or _spaced(phrase).search(out) is not None:
            return None
    named = set(re.findall(r"\$(\w+)", out))
    bound = {k: v for k, v in values.items() if k in named}
    return out, {**bound, FILE_PARAM: str(side), KEY_PARAM: key}


def _timed_by_feature(values: Mapping[str, Any]) -> bool:
    """Whether feature_usage.sql is asked by feature, its time spent from `PROPERTY`."""
    return values.get("by") == "feature" and values.get("duration") == PROPERTY


# feature_usage.sql as shipped, by feature with the property `duration`, under any filter (the
# events' own, applied as ever): its time spent read from the table (`rewritten`).
SHORTCUT = Shortcut(
    "posthog/feature_usage",
    "091d58b7be19af55b0f0f9e3f3ad6f34d6bf572dd79f276a0373c89513e430cf",
    "feature_times",
    BUILD_SQL,
    filters=ANY_FILTER,
    when=_timed_by_feature,
)


def build(
    store: Path,
    side: Path,
    key: str,
    *,
    written: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> bool:
    """Write the table of `store` (its key: `key`) at `side`, whole, then renamed into place;
    False when it cannot be (that only costs speed: the JSON is read). Ctrl-C or a cancelled
    command stops it (KeyboardInterrupt, Cancelled) and nothing of it is left behind.
    `written`: the store was just written by the caller (key_of's); `settings`: the
    connection's (build_beside's)."""
    from usertrack.checks.sandbox import connect
    from usertrack.core.errors import Cancelled
    from usertrack.engines.base import check_cancelled, on_cancel

    folder = side.parent
    _remove_stale(side)
    tmp: Path | None = None
    fd: int | None = None
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{side.name}.", suffix=".tmp")
        tmp = Path(name)
        _hold(fd)  # a file being written: no other build takes it for a stale one
        # usertrack's own statement: the store (and its WAL, which DuckDB looks for) readable,
        # the folder writable, nothing else
        con = connect(read_paths=[store, f"{store}.wal"], write_dirs=[folder], settings=settings)
        try:
            if key_of(store, written=written) != key:  # another file at that name now
                return False
            con.execute("ATTACH $store AS usertrack_store (READ_ONLY)", {"store": str(store)})
            if key_of(store, written=written) != key:  # replaced while attached
                return False
            con.execute("USE usertrack_store")
            with on_cancel(con.interrupt):
                con.execute(
                    f"COPY ({BUILD_SQL}) TO $file (FORMAT parquet, KV_METADATA {{{STORE}: $key}})",
                    {"file": str(tmp), "key": key},
                )
        finally:
            con.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, side)
        tmp = None
        return True
    except Cancelled:
        raise
    except Exception as e:
        check_cancelled()  # stopped because the command was cancelled: say so
        if _interrupted(e):  # Ctrl-C on this thread, whatever DuckDB made of it
            raise KeyboardInterrupt from None
        return False  # a table that cannot be built only costs speed: the JSON is read
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if fd is not None:
            os.close(fd)


def _interrupted(e: Exception) -> bool:
    """Whether `e` is how a Ctrl-C surfaced in DuckDB (its interrupt, or Python's
    KeyboardInterrupt that it turned into `RuntimeError: Query interrupted`)."""
    import duckdb

    from usertrack.core import interrupts

    return (
        interrupts.happened()
        or isinstance(e, duckdb.InterruptException)
        or (type(e) is RuntimeError and str(e) == "Query interrupted")
    )


def _hold(fd: int) -> None:
    """Lock the file of `fd` for as long as it is open (the kernel drops the lock when the
    process ends, however it ends)."""
    with contextlib.suppress(ImportError, OSError):
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _remove_stale(side: Path) -> None:
    """Remove what builds of the table at `side` left half-written (a process ended during
    one): each such file no build holds any longer."""
    try:
        import fcntl
    except ImportError:  # no file locks to tell a running build's file by
        return
    for path in side.parent.glob(f".{glob.escape(side.name)}.*.tmp"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()
        except OSError:  # held: a build that runs now
            pass
        finally:
            os.close(fd)
