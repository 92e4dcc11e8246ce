"""Answers that depend on nothing but an events store's file, kept on disk between commands.

`--by-segment`'s persons (segment_persons.sql from the store's per-person tables: every
identified person and their email) cost a fresh process a cold read of the store's person_days,
a quarter of a second of CPU at 5 M events, for an answer that changes only when the store does.
The first command keeps that answer as an Arrow IPC file under `<USERTRACK_HOME>/cache/store/`;
the next ones read the file (a few milliseconds, memory-mapped). A group's per-person facts
(`--who`, `--segment`, `--by-segment` on retention: usertrack.queries.person_filter) are
everyone's rows, then the group's kept: everyone's are kept here the same way. So are a
`--persons` cell's per-user answers of the events (LocalPostHogSource.run_kept), its emails among
their values.

A kept answer is found only under a key of everything it depends on: the store's stamp (device,
inode, size, change and modification times in nanoseconds: usertrack.core.filecache), that of its
write-ahead log (or its absence), the statement's text and its bound values, and DuckDB's
version. usertrack writes a store whole and renames it into place (a new inode), so a rebuilt or
re-imported store is a new key; an edit in place changes its size or times. A process that
keeps a connection open (the MCP server) reads the file it opened even once another is renamed
into place (as does every connection it opens to that name meanwhile: DuckDB shares one
database per name): its answers are kept and read only under that file's stamp, and not at all
while the name names another file (LocalPostHogSource counts them on the file it has open:
`opened`). As filecache does, a store changed within the last `SETTLE_NS` is read but its
answer not kept (two writes within one tick of the kernel's clock could leave the same stamp).
Nothing of the app's database (which has no stamp) is kept here unless checked: `churn`'s answer
(usertrack.analytics.churn.kept) is read back only while a digest of the app's facts, read
again by each command, is the one it was counted from. A file that cannot be
read is treated as absent; one that cannot be written costs only speed. The `KEEP` files
written or read last are kept, the others removed.

The files hold your users' emails: 0600 in a 0700 folder, as the history's.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from usertrack.core.filecache import Stamp, stamp

T = TypeVar("T")

SETTLE_NS = 2_000_000_000  # a store changed less than 2 s ago: its answers are not kept
KEEP = 16  # answers kept in all (two an --as-of: the persons, 6 MB at 100,000, and their groups)
SUFFIX = ".arrow"
TEXT_SUFFIX = ".json"  # usertrack's own small answers, kept as text: read without pyarrow
NAMES = 64  # the names a source remembers the file of (`named`)
# the stamp of the file each store name's open database reads, and the connections to it
_open: dict[str, tuple[Stamp | None, int]] = {}
_open_lock = threading.Lock()


def folder_of(home: Path) -> Path:
    """Where a USERTRACK_HOME keeps its stores' answers."""
    return home / "cache" / "store"


def key(
    store: Path,
    sql: str,
    values: Mapping[str, Any],
    at: Stamp | None = None,
    *,
    written: bool = False,
) -> str | None:
    """The name an answer of `sql` with `values` on `store` is kept under; None when it is not
    to be kept (the store unreadable, or changed too recently to be told from a later change).
    `at`: the stamp of the file a connection opened under that name: None too when the name
    names another file now (a store replaced under an open connection, which reads the old).
    `written`: the caller has just written the store whole and put it in place itself (the
    demo's generation), so its stamp is its last one however recent: the same key the next
    commands find once SETTLE_NS has passed."""
    now = stamp(store)
    if at is not None and now != at:
        return None
    if now is None or (not written and time.time_ns() - max(now[3], now[4]) < SETTLE_NS):
        return None
    wal = stamp(f"{store}.wal")
    bound = sorted((k, repr(v)) for k, v in values.items())
    text = repr((now, wal, sql, bound, _duckdb_version()))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


@functools.cache
def _duckdb_version() -> str:
    """The installed DuckDB's version, read without importing it (0.1 s of CPU that a kept
    answer read back, as `--persons`' cell before its profiles' queries start, need not wait
    for)."""
    from importlib.metadata import version

    return version("duckdb")


def opened(store: Path, connect: Callable[[Path], T]) -> tuple[T, Stamp | None]:
    """`connect(store)`'s connection to it and the stamp of the file it reads; None when that
    is not known (the file replaced while it opened: nothing is kept). DuckDB shares one
    database among a process's connections to one name: one opened while another source's is
    open reads the file that one opened, whatever the name names now. Give it back with
    `closed`."""
    name = os.path.abspath(store)
    with _open_lock:
        before = stamp(store)
        con = connect(store)
        at, count = _open.get(name, (None, 0))
        if count == 0:
            at = before if before is not None and stamp(store) == before else None
        _open[name] = (at, count + 1)
    return con, at


def closed(store: Path, con: Any) -> None:
    """Close `con`, a connection of `opened`."""
    name = os.path.abspath(store)
    with _open_lock:
        con.close()
        at, count = _open.pop(name, (None, 1))
        if count > 1:
            _open[name] = (at, count - 1)


def named(
    names: dict[str, Stamp], store: Path, what: str, values: Mapping[str, Any], at: Stamp | None
) -> str | None:
    """`key` of `what` with `values` on `store` as the file of stamp `at` (a connection's, or
    the store's now when none is open), remembered in `names` with `at` for `keeps`."""
    name = None if at is None else key(store, what, values, at=at)
    if name is not None:
        names.pop(name, None)
        names[name] = at  # type: ignore[assignment]
        while len(names) > NAMES:
            names.pop(next(iter(names)))
    return name


def keeps(names: dict[str, Stamp], store: Path, name: str, at: Stamp | None) -> bool:
    """Whether an answer of the file of stamp `at` may be kept under `name`: made (`named`)
    for that file, which is still the store's. `at`: that of the file a connection reads, or,
    with none open, the store's now (an answer of other kept answers, whose names were made
    before it, as `name` was: a store replaced since leaves `at` another stamp than `name`'s)."""
    return at is not None and names.get(name) == at and stamp(store) == at


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


def load_text(folder: Path, name: str) -> str | None:
    """The text kept under `name` (`save` of a str), or None (never kept, or unreadable)."""
    path = folder / f"{name}{TEXT_SUFFIX}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    with contextlib.suppress(OSError):  # read now: the last of the kept to be removed
        os.utime(path)
    return text


def save(folder: Path, name: str, table: Any) -> None:
    """Keep `table` (an Arrow table, or a text: `load_text` reads it) under `name` (written
    whole, then renamed into place), and only the KEEP answers written or read last."""
    from usertrack.core.files import private_dir

    tmp: str | None = None
    try:
        private_dir(folder.parent)
        private_dir(folder)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")  # 0600
        if isinstance(table, str):
            with os.fdopen(fd, "w", encoding="utf-8") as text:
                text.write(table)
        else:
            import pyarrow as pa

            with os.fdopen(fd, "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
                writer.write_table(table)
        os.replace(tmp, folder / f"{name}{TEXT_SUFFIX if isinstance(table, str) else SUFFIX}")
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
    for entry in (*folder.glob(f"*{SUFFIX}"), *folder.glob(f"*{TEXT_SUFFIX}")):
        with contextlib.suppress(OSError):
            kept.append((entry.stat().st_mtime_ns, entry))
    kept.sort(reverse=True)
    for _, entry in kept[KEEP:]:
        with contextlib.suppress(OSError):
            entry.unlink()
