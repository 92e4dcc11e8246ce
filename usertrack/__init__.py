"""usertrack: join PostHog behaviour with your app's Postgres per user, and segment users.

The library is importable without the CLI: load rules and queries, open a workspace, classify.

    from usertrack import load_settings, open_workspace
    ws = open_workspace(load_settings(), queries_dir=..., segments_path=...)
    result = ws.classify(as_of)

The names below are imported when first used, so that importing the package costs nothing: the
program (`usertrack.launch`) takes Ctrl-C over before anything heavy is loaded.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing the package imports nothing
if TYPE_CHECKING:
    from typing import Any

    from usertrack.config import Settings, load_settings
    from usertrack.errors import UsertrackError
    from usertrack.segments.rules import (
        Classification,
        Segment,
        SegmentsFile,
        classify,
        load_segments,
    )
    from usertrack.sources.queries import Query, QueryLibrary, load_queries
    from usertrack.workspace import Workspace, open_workspace

__version__ = "0.1.0"

_WHERE = {
    "Settings": "usertrack.config",
    "load_settings": "usertrack.config",
    "UsertrackError": "usertrack.errors",
    "Classification": "usertrack.segments.rules",
    "Segment": "usertrack.segments.rules",
    "SegmentsFile": "usertrack.segments.rules",
    "classify": "usertrack.segments.rules",
    "load_segments": "usertrack.segments.rules",
    "Query": "usertrack.sources.queries",
    "QueryLibrary": "usertrack.sources.queries",
    "load_queries": "usertrack.sources.queries",
    "Workspace": "usertrack.workspace",
    "open_workspace": "usertrack.workspace",
}

__all__ = [
    "Classification",
    "Query",
    "QueryLibrary",
    "Segment",
    "SegmentsFile",
    "Settings",
    "UsertrackError",
    "Workspace",
    "classify",
    "load_queries",
    "load_segments",
    "load_settings",
    "open_workspace",
]


def __getattr__(name: str) -> Any:
    from importlib import import_module

    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'usertrack' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
