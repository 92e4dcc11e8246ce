"""usertrack: join PostHog behaviour with your app's Postgres per user, and segment users.

The library is importable without the CLI: load rules and queries, open a workspace, classify.

    from usertrack import load_settings, open_workspace
    ws = open_workspace(load_settings(), queries_dir=..., segments_path=...)
    result = ws.classify(as_of)
"""

from usertrack.config import Settings, load_settings
from usertrack.errors import UsertrackError
from usertrack.segments.rules import Classification, Segment, SegmentsFile, classify, load_segments
from usertrack.sources.queries import Query, QueryLibrary, load_queries
from usertrack.workspace import Workspace, open_workspace

__version__ = "0.1.0"

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
