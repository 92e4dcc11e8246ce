"""usertrack: join PostHog behaviour with your app's Postgres per user, and segment users.

The library is importable without the CLI: load rules and queries, open a workspace, classify.

    from usertrack import load_settings, open_workspace
    ws = open_workspace(load_settings(), queries_dir=..., segments_path=...)
    result = ws.classify(as_of)

The names below are imported when first used, so that importing the package costs nothing: the
program (`usertrack.launch`) takes Ctrl-C over before anything heavy is loaded.
"""

import os as _os
import sys as _sys

# The first line of usertrack that runs in the `usertrack` console script (it imports
# usertrack.launch, and so this package, first): from here, until usertrack.launch and then
# usertrack.core.interrupts take over, Ctrl-C ends the start at once in one line, never with
# Python's traceback of an import. Anything else that imports the package is left alone.
if (
    _sys.argv
    and _os.path.basename(_sys.argv[0]) == "usertrack"
    and _os.path.basename(getattr(_sys.modules.get("__main__"), "__file__", None) or "")
    == "usertrack"
):
    import _signal

    def _starting(signum: int, frame: object) -> None:
        _os.write(2, b"usertrack: interrupted\n")
        _os._exit(130)

    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _starting)

TYPE_CHECKING = False  # not typing's: importing the package imports nothing
if TYPE_CHECKING:
    from typing import Any

    from usertrack.core.config import Settings, load_settings
    from usertrack.core.errors import UsertrackError
    from usertrack.queries.library import Query, QueryLibrary, load_queries
    from usertrack.segments.rules import (
        Classification,
        Segment,
        SegmentsFile,
        classify,
        load_segments,
    )
    from usertrack.workspace import Workspace, open_workspace

__version__ = "0.1.0"

_WHERE = {
    "Settings": "usertrack.core.config",
    "load_settings": "usertrack.core.config",
    "UsertrackError": "usertrack.core.errors",
    "Classification": "usertrack.segments.rules",
    "Segment": "usertrack.segments.rules",
    "SegmentsFile": "usertrack.segments.rules",
    "classify": "usertrack.segments.rules",
    "load_segments": "usertrack.segments.rules",
    "Query": "usertrack.queries.library",
    "QueryLibrary": "usertrack.queries.library",
    "load_queries": "usertrack.queries.library",
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


def __getattr__(name: str) -> "Any":
    from importlib import import_module

    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'usertrack' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
