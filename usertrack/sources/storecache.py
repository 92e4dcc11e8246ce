"""Answers that depend on nothing but an events store's file, kept on disk between commands.

`--by-segment`'s persons (segment_persons.sql from the store's per-person tables: every
identified person and their email) cost a fresh process a cold read of the store's person_days,
a quarter of a second of CPU at 5 M events, for an answer that changes only when the store does.
The first command keeps that answer as an Arrow IPC file under `<USERTRACK_HOME>/cache/store/`;
the next ones read the file (a few milliseconds, memory-mapped). A group's per-person facts
(`--who`, `--segment`, `--by-segment` on retention: usertrack.sources.person_filter) are
everyone's rows, then the group's kept: everyone's are kept here the same way. So are a
`--persons` cell's per-user answers of the events (LocalPostHogSource.run_kept), its emails among
their values.

A kept answer is found only under a key of everything it depends on: the store's stamp (device,
inode, size, change and modification times in nanoseconds: usertrack.filecache), that of its
write-ahead log (or its absence), the statement's text and its bound values, and DuckDB's
version. usertrack writes a store whole and renames it into place (a new inode), so a rebuilt or
re-imported store is a new key; an edit in place changes its size or times. As filecache does, a
store changed within the last `SETTLE_NS` is read but its answer not kept (two writes within
one tick of the kernel's clock could leave the same stamp). Nothing of the app's database (which
has no stamp) is ever kept here. A file that cannot be read is treated as absent; one that
cannot be written costs only speed. The `KEEP` files written or read last are kept, the others
removed.

The files hold your users' emails: 0600 in a 0700 folder, as the history's.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from usertrack.filecache import stamp

SETTLE_NS = 2_000_000_000  # a store changed less than 2 s ago: its answers are not kept
KEEP = 16  # answers kept in all (two an --as-of: the persons, 6 MB at 100,000, and their groups)
SUFFIX = ".arrow"


def folder_of(home: Path) -> Path:
    """Where a USERTRACK_HOME keeps its stores' answers."""
    return home / "cache" / "store"


def key(store: Path, sql: str, values: Mapping[str, Any]) -> str | None:
    """The name an answer of `sql` with `values` on `store` is kept under; None when it is not
    to be kept (the store unreadable, or changed too recently to be told from a later change)."""
    import duckdb

    now = stamp(store)
    if now is None or time.time_ns() - max(now[3], now[4]) < SETTLE_NS:
        return None
    wal = stamp(f"{store}.wal")
    bound = sorted((k, repr(v)) for k, v in values.items())
    text = repr((now, wal, sql, bound, duckdb.__version__))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def load(folder: Path, name: str) -> Any | None:
    """The Arrow table kept under `name`, or None (never kept, or unreadable)."""
    path = folder / f"{name}{SUFFIX}"
    try:
        import pyarrow as pa

        # not closed here: the table's buffers are the map's, which they keep open
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    except Exception:  # missing, damaged or unreadable: not kept (pyarrow's errors are many)
        return None
    with contextlib.suppress(OSError):  # read now: the last of the kept to be removed
        os.utime(path)
    return table


def save(folder: Path, name: str, table: Any) -> None:
    """Keep `table` under `name` (written whole, then renamed into place), and only the
    KEEP answers written or read last."""
    from usertrack.files import private_dir

    tmp: str | None = None
    try:
        import pyarrow as pa

        private_dir(folder.parent)
        private_dir(folder)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")  # 0600
        with os.fdopen(fd, "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, folder / f"{name}{SUFFIX}")
        tmp = None
        _prune(folder)
    except Exception:
        pass  # a cache that cannot be written only costs speed
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _prune(folder: Path) -> None:
    kept = []
    for entry in folder.glob(f"*{SUFFIX}"):
        with contextlib.suppress(OSError):
            kept.append((entry.stat().st_mtime_ns, entry))
    kept.sort(reverse=True)
    for _, entry in kept[KEEP:]:
        with contextlib.suppress(OSError):
            entry.unlink()
