"""Computing a dashboard's panels in this process: each analysis panel runs its command's own code
with `--format json` (the command line built from the panel's checked options), the sources kept
open between panels (`usertrack.workspace.keep_open`), so the event store and the database are
opened once and the facts the analyses share are read once. Nothing runs in a subprocess."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from usertrack.dashboards.spec import Dashboard, Panel, check_panel, period_options
from usertrack.errors import UsageError, UsertrackError


class PanelError(UsertrackError):
    """A panel's command failed: its own message, prefixed with the panel's file:line."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


@dataclass
class Period:
    label: str  # 2026-W46, or 2026-11-01..2026-11-30
    start: str  # ISO moments, (start, end]
    end: str
    days: int


def command_lines(dashboard: Dashboard, root: Any) -> list[list[str] | None]:
    """Every panel's checked command line (None for `metrics`): a bad panel fails here, before
    anything is computed or written."""
    lines: list[list[str] | None] = []
    for panel in dashboard.panels:
        if panel.analysis == "metrics":
            if panel.options:
                key, (_v, line) = next(iter(panel.options.items()))
                raise UsageError(
                    f"{dashboard.path}:{line}: panel {panel.title!r}: option {key!r}: the key"
                    " metrics take no options"
                )
            lines.append(None)
            continue
        command = root.commands.get(panel.analysis)
        if command is None:  # an analysis this build does not have
            raise UsageError(
                f"{dashboard.path}:{panel.line}: panel {panel.title!r}: no command"
                f" `usertrack {panel.analysis}` in this version"
            )
        lines.append(check_panel(dashboard.path, panel, command))
    return lines


def run_command(root: Any, argv: list[str]) -> tuple[int, str, str]:
    """`usertrack --quiet ARGV` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            root.main(args=["--quiet", *argv], prog_name="usertrack", standalone_mode=True)
        except SystemExit as e:
            code = e.code
    status = code if isinstance(code, int) else (0 if code is None else 1)
    return status, out.getvalue(), err.getvalue()


def run_panel(
    dashboard: Dashboard, panel: Panel, root: Any, line: list[str], period: Period, compare: bool
) -> dict[str, Any]:
    command = root.commands[panel.analysis]
    extra = period_options(command, panel, period.days, period.end, compare)
    if "--" in line:
        cut = line.index("--")
        argv = [panel.analysis, *line[:cut], *extra, *line[cut:]]
    else:
        argv = [panel.analysis, *line, *extra]
    code, out, err = run_command(root, argv)
    if code != 0:
        said = [x for x in err.splitlines() if x.startswith("usertrack: error:")]
        text = said[0].removeprefix("usertrack: error: ") if said else f"exit {code}"
        raise PanelError(f"{dashboard.path}:{panel.line}: panel {panel.title!r}: {text}", code)
    return json.loads(out)


def compute(
    dashboard: Dashboard,
    root: Any,
    lines: list[list[str] | None],
    period: Period,
    *,
    compare: bool,
    metrics: Callable[[], dict[str, Any]],
    progress: Callable[[str], None] = lambda _t: None,
) -> list[dict[str, Any]]:
    """Every panel's data: {analysis, title, note, data}, in the file's order."""
    panels = []
    for panel, line in zip(dashboard.panels, lines, strict=True):
        progress(f"panel {panel.title}")
        data = (
            metrics() if line is None else run_panel(dashboard, panel, root, line, period, compare)
        )
        panels.append(
            {"analysis": panel.analysis, "title": panel.title, "note": panel.note, "data": data}
        )
    return panels
