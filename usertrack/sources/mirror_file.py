"""The file of a local copy of the app's tables (usertrack/sources/app_mirror.py): whether
DuckDB refused it as busy or as damaged, and a damaged one replaced by an empty copy.

The copy is a cache of the app's database: a file DuckDB cannot read (cut short by a full
disk or a killed process, a block overwritten) is made again rather than left to the query
files until `cache clear`.
"""

from __future__ import annotations

from pathlib import Path


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
