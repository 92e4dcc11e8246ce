"""Where the files that ship with usertrack are: the query library, the rules, the docs.

Low in the layering (nothing of usertrack imported), so the sources can name the shipped library
without importing the configuration.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
# In a checkout (or an editable install) queries/ and segments.yaml sit beside the package;
# a built wheel carries copies under usertrack/_data (see pyproject's force-include).
_SHIPPED_DIRS = (PACKAGE_DIR.parent, PACKAGE_DIR / "_data")


def shipped_path(name: str) -> Path:
    """The copy of `queries` or `segments.yaml` that ships with usertrack."""
    for base in _SHIPPED_DIRS:
        candidate = base / name
        if candidate.exists():
            return candidate
    return _SHIPPED_DIRS[0] / name
