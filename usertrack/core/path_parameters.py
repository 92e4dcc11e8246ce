"""Which of a command's parameters name a file or a folder: never an MCP tool's argument nor a
dashboard panel's option.

An assistant (or a stranger's text it read) could otherwise have the MCP server read
/proc/self/environ as a template, or run SQL from a folder of its choosing; a dashboard file from
a cloned folder could write where it likes. The rule files, queries, template and plan are the
ones the server or the command was started with (`usertrack mcp --segments ...`, the
environment, the config file). The commands' options are declared in usertrack.cli.options;
the MCP server (usertrack.mcp.server) and a dashboard's panels (usertrack.dashboards.spec) read
them through this rule, which asks a parameter only its Click type and its name.
"""

from __future__ import annotations

from typing import Any

PATH_NAMES = frozenset(
    {"template", "queries_dir", "segments_file", "failures_file", "alerts_file", "plan_file"}
    | {"out", "path", "file", "dir", "folder", "directory", "output"}
)
PATH_SUFFIXES = ("_file", "_dir", "_path", "_folder", "_directory", "_template")


def names_a_path(param: Any) -> bool:
    """Whether a command's parameter could name a file or a folder: by its Click type (a path
    or a file) or by its name."""
    kind = getattr(param, "type", None)
    type_name = type(kind).__name__
    if type_name in ("TyperPath", "Path", "File") or "path" in type_name.lower():
        return True
    name = str(getattr(param, "name", "") or "")
    return name in PATH_NAMES or name.endswith(PATH_SUFFIXES)
