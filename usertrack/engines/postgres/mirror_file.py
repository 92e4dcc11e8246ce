"""The file of a local copy of the app's tables (usertrack/engines/postgres/app_mirror.py): whether
DuckDB refused it as busy or as damaged, a damaged one replaced by an empty copy, and the copy
kept open through a dashboard's run (`held_open`).

The copy is a cache of the app's database: a file DuckDB cannot read (cut short by a full
disk or a killed process, a block overwritten) is made again rather than left to the query
files until `cache clear`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# While held_open runs: each copy opened, one more connection to it kept open (by path).
_held: dict[str, Any] | None = None
_held_lock = threading.Lock()


@contextmanager
def held_open() -> Iterator[None]:
    """Within: each copy opened in this process stays open until the block ends, so that
    DuckDB's instance of the file (its catalog, the blocks it has read) serves every opening.
    A dashboard opens the copy for each panel that reads it (the classification, the key
    metrics, the failing tools and runs, the failure report, the alerts): opened afresh, each
    reads the file's catalog again (0.02 to 0.04 s of CPU at 100,000 users) and each query its
    blocks. Another command meanwhile finds the copy busy and asks the database, as while any
    command has it open."""
    global _held
    with _held_lock:
        if _held is not None:  # held by an enclosing block already
            outer = True
        else:
            outer, _held = False, {}
    if outer:
        yield
        return
    try:
        yield
    finally:
        with _held_lock:
            held, _held = _held or {}, None
        for con in held.values():
            con.close()


def hold(path: Path, limit: str) -> None:
    """Keep the copy at `path` (just opened, with DuckDB's memory limit `limit`) open while
    held_open runs; nothing outside it."""
    import duckdb

    with _held_lock:
        if _held is None or str(path) in _held:
            return
        try:
            _held[str(path)] = duckdb.connect(str(path), config={"memory_limit": limit})
        except duckdb.Error:
            return  # not kept: each opening reads the file as before


def let_go(path: Path) -> None:
    """The copy at `path` no longer kept open (before its file is replaced)."""
    with _held_lock:
        con = _held.pop(str(path), None) if _held is not None else None
    if con is not None:
        con.close()


def damage_seen(error: Exception) -> bool:
    """Whether `error` is DuckDB's for a copy file it cannot read (a block cut short, or its
    checksum wrong): a caller that meets it reading the copy sets AppMirror.damaged."""
    text = str(error)
    return any(
        sign in text
        for sign in ("Corrupt database file", "Could not read enough bytes", "not a valid DuckDB")
    )


def busy(error: Exception) -> bool:
    """Whether DuckDB refused to open the copy because it is open elsewhere (another process
    holds its lock, or this one with another configuration), not because the file is damaged."""
    import duckdb

    text = str(error)
    return (
        isinstance(error, duckdb.ConnectionException)
        or "Conflicting lock" in text
        or "Could not set lock" in text
    )


def replace_damaged(path: Path, limit: str) -> None:
    """Put an empty copy in place of the damaged file at `path` (one DuckDB cannot open or
    read): made aside, then renamed over it, so no command ever opens half a file, and the
    one made aside is removed whatever stops this (`cache clear` removes one a killed process
    left). Another command that has already put a new copy there keeps it."""
    import os
    import uuid

    import duckdb

    let_go(path)  # DuckDB's instance of the damaged file goes with its last connection
    try:
        damaged = path.stat()
    except FileNotFoundError:
        damaged = None
    fresh = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    wal = Path(f"{fresh}.wal")
    try:
        duckdb.connect(str(fresh), config={"memory_limit": limit}).close()
        if damaged is not None:
            now = path.stat()
            if (now.st_ino, now.st_mtime_ns, now.st_size) != (
                damaged.st_ino,
                damaged.st_mtime_ns,
                damaged.st_size,
            ):
                return  # replaced meanwhile
        # the damaged file's log would be replayed into the new one
        Path(f"{path}.wal").unlink(missing_ok=True)
        os.replace(fresh, path)
    except (OSError, duckdb.Error):
        return  # the next open fails as before: the files answer
    finally:
        fresh.unlink(missing_ok=True)
        wal.unlink(missing_ok=True)
