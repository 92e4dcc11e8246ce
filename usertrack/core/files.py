"""The modes of USERTRACK_HOME's files and folders: owner-only, set in one place.

The lowest layer of usertrack beside `errors`: the workspace, the demo, the cache, the history and
the act/ state files all create their folders and files through these, and it imports nothing of
usertrack, so any module can use it without reaching up.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) readable by the owner only (0700). An existing folder
    is left as it is: the modes of USERTRACK_HOME's folders are `secure_home`'s alone, so no
    command undoes what the demo server needs (run as root, its own user must traverse them)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """Create `path` if missing, owner-only (0600); make an existing file 0600."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    if stat.S_IMODE(path.stat().st_mode) != 0o600:
        os.chmod(path, 0o600)
    return path


def secure_home(home: Path) -> None:
    """The one function that sets the modes of USERTRACK_HOME: its folders owner-only (0700), and
    its files, and the demo's, readable by the owner only (0600; the history, its SQLite journals,
    the demo's events store). Run as root with a demo, the home and `demo/` keep 0711: the demo's
    PostgreSQL runs as pgserver's own system user, which must traverse them to its data directory
    (never read or list them). Folders and files of another owner (that data directory) are left
    as they are."""
    pg_user = hasattr(os, "geteuid") and os.geteuid() == 0 and (home / "demo").is_dir()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(home, 0o066 if pg_user else 0o077)
    for child in home.iterdir():
        if child.is_symlink():
            continue
        if child.is_dir():
            _tighten(child, 0o066 if pg_user and child.name == "demo" else 0o077)
            if child.name == "demo":
                for item in child.iterdir():
                    if item.is_file() and not item.is_symlink():
                        _tighten(item, 0o077)
        elif child.is_file():
            _tighten(child, 0o077)


def _tighten(path: Path, strip: int) -> None:
    """Take the `strip` bits off `path`'s mode; a path of another owner stays as it is."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & strip and path.stat().st_uid == os.geteuid():
        with contextlib.suppress(PermissionError):
            os.chmod(path, mode & ~strip)
