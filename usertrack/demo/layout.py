"""A demo's place under USERTRACK_HOME and what one generation produced (`DemoData`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 8  # 2: audit, alert and failure-spike stories; 3: the store's prop_feature;
# 4: the store's person_hours; 5: the store's session_spans, path_steps; 6: organization_member;
# 7: the store's session tables pick among events at one moment by uuid; 8: its feature_flags

Progress = Callable[[str], None]


@dataclass
class DemoWorkspace:
    root: Path
    pg_dir: Path
    events_path: Path
    anchor: date
    users: int


@dataclass
class DemoData:
    """Everything one generation produced, as numpy columns (strings dictionary-encoded).

    ``frames`` maps a frame name to its columns (equal-length numpy arrays); ``sql`` maps each
    PostgreSQL table and ``"events"`` to the DuckDB SELECT that turns the frames, registered as
    ``demo_<frame>`` (the events by `store.events_select`), into the final rows. ``stories``
    counts the users of each story (see the docstring of `usertrack.demo.generator`).
    """

    users: int
    anchor: date
    seed: int
    frames: dict[str, dict[str, np.ndarray]]
    sql: dict[str, str]
    stories: dict[str, int] = field(default_factory=dict)

    def row_counts(self) -> dict[str, int]:
        sizes = {name: len(next(iter(cols.values()))) for name, cols in self.frames.items()}
        return {
            "wasp_user": sizes["acc"],
            "fastapi_user": sizes["fu"],
            "fastapi_run": sizes["run"],
            "fastapi_tool_executions": sizes["tool"],
            "fastapi_code_execution": sizes["code"],
            "fastapi_deployment": sizes["dep"],
            "wasp_agentexecution": sizes["agent"],
            "organization_member": sizes["org_member"],
            "events": sizes["ev"],
        }


def demo_root(home: Path) -> Path:
    return home / "demo"


def demo_pg_dir(root: Path) -> Path:
    """The demo's PostgreSQL data folder under the demo's root."""
    return root / "pg"


def demo_workspace(root: Path, anchor: date, users: int) -> DemoWorkspace:
    return DemoWorkspace(
        root=root,
        pg_dir=demo_pg_dir(root),
        events_path=root / "events.duckdb",
        anchor=anchor,
        users=users,
    )


def read_manifest(home: Path) -> dict[str, Any] | None:
    """The manifest of a complete demo under home, or None when there is none (or it is stale)."""
    root = demo_root(home)
    try:
        manifest = json.loads((root / "manifest.json").read_text())
        if manifest.get("schema_version") != SCHEMA_VERSION:
            return None
        ws = demo_workspace(root, date.fromisoformat(manifest["anchor"]), int(manifest["users"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (ws.pg_dir / "PG_VERSION").exists() or not ws.events_path.exists():
        return None
    return manifest


def outdated_size(home: Path) -> int | None:
    """The users of a demo under home made by another version of usertrack (rebuilt), if any."""
    try:
        manifest = json.loads((demo_root(home) / "manifest.json").read_text())
        if manifest.get("schema_version") == SCHEMA_VERSION:
            return None
        return int(manifest["users"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def existing_demo(home: Path) -> DemoWorkspace | None:
    """The complete demo under home, or None (none, or one of another schema: rebuilt)."""
    manifest = read_manifest(home)
    if manifest is None:
        return None
    return demo_workspace(
        demo_root(home), date.fromisoformat(manifest["anchor"]), manifest["users"]
    )
