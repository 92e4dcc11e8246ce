"""A hash of every module of usertrack as it reads now: part of the key of an answer kept
between commands (an alerts pass's figures, a `--persons` cell's people), so that another
version of the code never reads what this one kept."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


@functools.cache
def code_hash() -> str:
    """A hash of every module of usertrack as it reads now: another version, another key."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
