"""What a file parsed to, kept while the file is unchanged: for a process that runs many
commands (the MCP server), which otherwise reads the query library's files and parses the rule
files' YAML again for every call.

A value is kept per (kind, absolute path) with the file's stamp: device, inode, size, and the
times of its last change and modification in nanoseconds. Any edit, in place or by an editor
that writes a new file and renames it, changes the stamp, and the next call parses the file
again. One gap is closed as git closes it ("racy git"): the kernel stamps a file with a clock
that moves in ticks of a few milliseconds, so two edits of the same size within one tick, the
first read between them, would leave the same stamp. A file changed within the last
`_SETTLE_NS` is therefore parsed but not kept. Errors are never kept: a broken file raises at
every call until it is fixed. Only what is immutable, or never changed by its users, is kept.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

Stamp = tuple[int, int, int, int, int]

_SETTLE_NS = 2_000_000_000  # a file changed less than 2 s ago is not kept
_MAX = 512  # files kept in all (the shipped library has 51 queries and four rule files)
_kept: dict[tuple[str, str], tuple[Stamp, Any]] = {}
_lock = threading.Lock()


def stamp(path: Path | str) -> Stamp | None:
    """What changes when the file changes; None when it cannot be read (its loader says why)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def parsed(kind: str, path: Path, load: Callable[[Path], T]) -> T:
    """`load(path)`, or what it returned before for this file unchanged since."""
    now = stamp(path)
    if now is None:
        return load(path)  # missing or unreadable: the loader's own error names it
    key = (kind, os.path.abspath(path))
    with _lock:
        got = _kept.get(key)
    if got is not None and got[0] == now:
        return got[1]  # type: ignore[no-any-return]
    value = load(path)  # the stamp was taken before the read: an edit during it is seen next
    if time.time_ns() - max(now[3], now[4]) >= _SETTLE_NS:
        with _lock:
            if key not in _kept and len(_kept) >= _MAX:
                _kept.pop(next(iter(_kept)))
            _kept[key] = (now, value)
    return value


def forget() -> None:
    """Drop everything kept (tests)."""
    with _lock:
        _kept.clear()
