"""What the analytics tests (funnel, retention, sessions, paths, activity, features) share.

Each of those files builds its own events by hand, writes them as an events export and runs one
command over it: locally, through the live HTTP path against a PostHog-compatible server, and
with bad input. The scaffolding for that lives here; the events and the figures worked out from
them stay in each test file. `assert_imports_no_terminal_libraries` also serves the layering
checks of test_layering and test_tracking_plan.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from typer.testing import Result

from tests.cli_runner import run
from tests.posthog_server import FakePostHog, live_env, serve
from usertrack.core.errors import EXIT_USAGE


def record(n: int, event: str, when: datetime, distinct_id: str, person_id: str, email: str,
           props: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """One event of an events export, the n-th (its uuid), as PostHog exports it."""
    return {
        "uuid": f"00000000-0000-0000-0000-{n:012d}",
        "event": event,
        "distinct_id": distinct_id,
        "person_id": person_id,
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "properties": props or {},
        "person_properties": {"email": email},
    }


def write_export(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write `records` as an events export (JSON lines) at `path`, for USERTRACK_EVENTS."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def run_ok(command: str, args: list[str], *, as_of: str, **env: str) -> Result:
    """`usertrack COMMAND ARGS --as-of AS_OF`, which must succeed."""
    result = run([command, *args, "--as-of", as_of], home=None, **env)
    assert result.exit_code == 0, result.stderr
    return result


def run_json(command: str, args: list[str], *, as_of: str, **env: str) -> dict[str, Any]:
    """The JSON document of `usertrack COMMAND ARGS --as-of AS_OF -f json`."""
    result = run_ok(command, [*args, "-f", "json"], as_of=as_of, **env)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


# The stores served so far in this test session (each pytest-xdist worker its own), by the
# digest of their export's bytes: a test serving the same events as an earlier one is served
# the same store, which ClickHouse then holds already (posthog_server.clickhouse_for loads each
# store once). The served stores are only read.
_SERVED: dict[str, Path] = {}


def served_store(export: Path, folder: Path) -> Path:
    """The events store of `export` for a tests' PostHog to serve: imported into `folder`, or
    the one imported earlier in the session from an export of the same bytes."""
    from usertrack.engines.local.eventstore import import_events

    key = hashlib.sha256(export.read_bytes()).hexdigest() if export.is_file() else None
    store = _SERVED.get(key) if key is not None else None
    if store is not None and store.exists():
        return store
    store = folder / "served.duckdb"
    import_events(export, store)
    if key is not None:
        _SERVED[key] = store
    return store


@contextmanager
def live_posthog(export: Path, tmp_path: Path) -> Iterator[tuple[FakePostHog, dict[str, str]]]:
    """A PostHog-compatible server over the events of `export`, and the settings that make the
    CLI query it over HTTP (with the cache off, so every run asks the server)."""
    with serve(served_store(export, tmp_path), project_id=4242) as fake:
        yield fake, live_env(fake, USERTRACK_CACHE_TTL="0")


def assert_usage_error(argv: list[str], fragment: str, **env: str) -> None:
    """`usertrack ARGV` exits with the usage code and one `usertrack: error:` line naming
    `fragment`."""
    result = run(argv, home=None, **env)
    assert result.exit_code == EXIT_USAGE
    lines = [x for x in result.stderr.splitlines() if x.startswith("usertrack: error:")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def assert_imports_no_terminal_libraries(*modules: str) -> None:
    """Importing `modules` in a fresh interpreter loads none of rich, typer or click."""
    code = (
        f"import sys, {', '.join(modules)};"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'typer', 'click'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@contextmanager
def handmade_workspace(database: str, tmp_path: Path) -> Iterator[Any]:
    """A workspace on the app's `database`, its events one $pageview of a@x.io (2026-11-16)."""
    from datetime import UTC

    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    events = write_export(
        tmp_path / "events.jsonl",
        [record(1, "$pageview", datetime(2026, 11, 16, 10, tzinfo=UTC), "pa", "pa", "a@x.io", {})],
    )
    settings = load_settings(
        {
            "USERTRACK_HOME": str(tmp_path / "home"),
            "USERTRACK_EVENTS": str(events),
            "USERTRACK_CONFIG": "",
            "DATABASE_URL": database,
            "USERTRACK_CACHE_TTL": "0",
        }
    )
    with open_workspace(
        settings, queries_dir=resolve_queries_dir(None), segments_path=resolve_segments_file(None)
    ) as ws:
        yield ws
