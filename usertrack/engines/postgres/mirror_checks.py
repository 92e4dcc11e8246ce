"""What this process has checked of the local copies of the app's tables
(usertrack/engines/postgres/app_mirror.py): each table found equal to the database, in which
snapshot and for which windows, while the copy stays as the check left it. A dashboard asks the copy
several times in one run (the classification's runs and tool calls, the failure report, the
failing tools and runs, the alerts); a table found equal in the snapshot the database still
gives is not read again for a window within the ones it was checked for.

Why equal snapshots see the same rows: every write takes a transaction id, handed out in order;
a snapshot is the oldest transaction still running, the next id to be handed out and the ids
running in between. A transaction that wrote since would have moved the next id on, and one
that was running and has ended would have left the list.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usertrack.engines.postgres.source import PostgresSource

# The database's snapshot, as a check compares it: the server and its snapshot (the oldest
# transaction still running, the next id to be handed out, those running in between).
SNAPSHOT = (
    "(SELECT system_identifier FROM pg_control_system())::text"
    " || '/' || pg_current_snapshot()::text"
)
# How long a check of this process stands for (`AppMirror._unchecked`): a command's run, a few
# calls of the MCP server; a database restored meanwhile is not taken for the one checked.
CHECKED_FOR_S = 60.0


@dataclass
class Table:
    """A table found equal to the database: in which snapshot, for which windows ((a, b]
    each; none for a whole table), when (time.monotonic)."""

    snapshot: str
    windows: list[tuple[datetime, datetime]]
    at: float


@dataclass
class Checked:
    """The copy as this process left it (`AppMirror._state`) and its tables found equal."""

    state: tuple[str | None, ...]
    tables: dict[str, Table]


CHECKED: dict[Path, Checked] = {}
LOCK = threading.Lock()


def snapshot(source: PostgresSource) -> str:
    """The database's snapshot of now (`SNAPSHOT`), in one statement."""
    import psycopg

    with source.session() as conn, conn.transaction(), psycopg.ClientCursor(conn) as cur:
        cur.execute(f"SELECT {SNAPSHOT}")
        row = cur.fetchone()
    assert row is not None
    return str(row[0])


def within(windows: list[tuple[datetime, datetime]], since: datetime, as_of: datetime) -> bool:
    """Whether (since, as_of] lies within the union of `windows` ((a, b] each)."""
    reach = since
    for a, b in sorted(windows):
        if a <= reach < b:
            reach = b
    return as_of <= reach


def unchecked(
    path: Path,
    state: tuple[str | None, ...],
    source: PostgresSource,
    tables: list[tuple[str, bool]],
    since: datetime,
    as_of: datetime,
) -> set[str]:
    """The names of `tables` (name, whether timed) to check for (since, as_of] in the copy at
    `path` (now `state`): all but those found equal to the database in the snapshot it gives
    now (for a window holding this one) within CHECKED_FOR_S, the copy unchanged since."""
    names = {name for name, _ in tables}
    with LOCK:
        checked = CHECKED.get(path)
        if checked is None or checked.state != state:
            return names
        recent = time.monotonic() - CHECKED_FOR_S
        known = {
            name: checked.tables[name].snapshot for name, timed in tables
            if name in checked.tables and checked.tables[name].at >= recent
            and (not timed or within(checked.tables[name].windows, since, as_of))
        }  # fmt: skip
    if not known:
        return names
    now = snapshot(source)
    return {name for name in names if known.get(name) != now}


def note_checked(
    path: Path,
    was: tuple[str | None, ...],
    now: tuple[str | None, ...],
    snapshots: dict[str, str],
    since: datetime,
    as_of: datetime,
) -> None:
    """Keep what a check found: each table's snapshot and window (`snapshots`). The other
    tables found equal before still stand when the copy was as they left it (`was`): only
    this check changed it since, and only the tables it checked (the days it left out of a
    table's copy, long before its window, among them: each keeps this window alone)."""
    with LOCK:
        checked = CHECKED.get(path)
        kept = checked.tables if checked is not None and checked.state == was else {}
        at = time.monotonic()
        for name, seen in snapshots.items():
            kept[name] = Table(seen, [(since, as_of)], at)
        CHECKED[path] = Checked(now, kept)
