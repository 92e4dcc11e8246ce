"""What a command runs in: the workspace its flags name (settings, queries, rules, sources) and the
as-of moment checked against the data."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from usertrack.cli.output import info, spinner, warn
from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    from datetime import datetime

    from usertrack.core.config import Settings
    from usertrack.workspace import Workspace


def check_as_of(ws: Workspace, moment: datetime | None) -> None:
    """--as-of after the data: an error on the demo (its data ends at its anchor), else a
    warning (the newest rows may not have arrived; a future moment sees nothing new)."""
    from usertrack.core.clock import now_utc
    from usertrack.core.style import moment as shown

    if moment is None:
        return
    if ws.demo is not None:
        end = ws.default_as_of()
        if moment > end:
            raise UsageError(
                f"--as-of {shown(moment)} is after the end of the demo's data"
                f" ({shown(end)}); give an earlier moment, or regenerate the demo"
                " with `usertrack demo --reset`"
            )
    elif moment > now_utc():
        warn(f"--as-of {shown(moment)} is in the future: the data stops at now")
    # Before the data starts: every answer is empty; say why rather than show 0 users. Known
    # at no cost on a local events store (the demo, an export); PostHog is not asked.
    source = ws.sources.get("posthog")
    if source is not None:
        first = source.first_event()
        if first is not None and moment < first:
            warn(
                f"--as-of {shown(moment)} is before the data starts (its first event:"
                f" {shown(first)}): nothing had happened yet"
            )


def open_command_workspace(
    progress: Callable[[str], None],
    *,
    queries_dir: Path | None,
    segments_file: Path | None,
    refresh: bool = False,
    settings: Settings | None = None,
    database: bool = True,
) -> Workspace:
    """The workspace a command's flags name: settings, query library, rules, sources
    (`database=False`: PostHog only, for the commands that read nothing else)."""
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    return open_workspace(
        settings or load_settings(),
        queries_dir=resolve_queries_dir(queries_dir),
        segments_path=resolve_segments_file(segments_file),
        progress=progress,
        notice=info,
        warn=warn,
        refresh=refresh,
        database=database,
    )


@contextlib.contextmanager
def command_workspace(
    moment: datetime | None,
    *,
    queries_dir: Path | None,
    segments_file: Path | None,
    refresh: bool = False,
    status: str = "loading queries",
    database: bool = True,
) -> Iterator[tuple[Workspace, datetime, Callable[[str], None]]]:
    """The command's workspace open under a spinner saying `status`, --as-of checked against
    its data, the moment to answer at (--as-of, else the data's default) and the progress
    callback."""
    with spinner(status) as progress:
        ws = open_command_workspace(progress, queries_dir=queries_dir,
                                    segments_file=segments_file, refresh=refresh,
                                    database=database)  # fmt: skip
        with ws:
            check_as_of(ws, moment)
            yield ws, moment or ws.default_as_of(), progress


@contextlib.contextmanager
def events_workspace(
    as_of: str | None,
    *,
    queries_dir: Path | None,
    segments_file: Path | None,
    refresh: bool,
    status: str = "loading queries",
) -> Iterator[tuple[Workspace, datetime, Callable[[str], None]]]:
    """command_workspace on the events only (PostHog: demo, events export or live API), for a
    command that reads nothing else (the analytics, the tracking plan's audit and draft)."""
    from usertrack.core.clock import parse_as_of

    moment = parse_as_of(as_of) if as_of else None
    with command_workspace(moment, queries_dir=queries_dir, segments_file=segments_file,
                           refresh=refresh, status=status, database=False) as opened:  # fmt: skip
        yield opened
