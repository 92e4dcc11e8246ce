"""`usertrack demo` and `usertrack doctor`: the demo workspace, and the checks of a real one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from usertrack.cli.options import QueriesOpt, SegmentsOpt
from usertrack.cli.output import info, spinner
from usertrack.cli.program import app, handle_errors
from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from usertrack.core.config import Settings


@app.command()
def demo(
    action: Annotated[
        str | None,
        typer.Argument(
            help="`stop`: stop the demo PostgreSQL now (it otherwise stops itself after"
            " USERTRACK_DEMO_IDLE seconds unused, default 600).",
            show_default=False,
        ),
    ] = None,
    users: Annotated[
        int, typer.Option("--users", min=10, help="How many users to generate.")
    ] = 2000,
    reset: Annotated[
        bool, typer.Option("--reset", help="Regenerate even if the demo exists.")
    ] = False,
) -> None:
    """Generate the built-in demo workspace (PostgreSQL + PostHog events) under USERTRACK_HOME."""
    with handle_errors():
        from usertrack.core.config import load_settings
        from usertrack.demo.generator import ensure_demo, read_manifest

        settings = load_settings()
        if action is not None:
            _demo_action(action, settings.home)
            return
        existed = read_manifest(settings.home) is not None
        with spinner("preparing the demo workspace") as progress:
            # A size asked for: an interrupted generation of another is not resumed.
            ws = ensure_demo(
                settings.home, users=users, reset=reset or not existed, progress=progress
            )
            fresh = reset or not existed
            if ws.users != users:  # an existing demo of another size: regenerate at this one
                ws = ensure_demo(settings.home, users=users, reset=True, progress=progress)
                fresh = True
            if fresh:
                _first_churn(settings, progress)
        from usertrack.core.files import secure_home

        secure_home(settings.home)  # the demo server outlives this command: keep its home private
        verb = "generated" if fresh else "already there:"
        info(
            f"usertrack: demo {verb} {ws.users:,} users, data up to {ws.anchor.isoformat()},"
            f" in {ws.root}"
        )


def _first_churn(settings: Settings, progress: Callable[[str], None]) -> None:
    """The first `churn` of the new demo, on the shipped queries and rules: the local copy of
    the demo app's runs made, that churn's app facts kept in it, and its answer kept beside the
    events store (usertrack.analytics.churn.kept). The first `churn` then checks the copy and
    reads the answer as every later one does, where it would copy every run (three times a
    warm run's CPU at 100,000 users) and count the answer. Before it, the copy of every tool
    call that a dashboard's classification checks (usertrack.segments.profile_copy.prepare):
    the first dashboard checks it rather than making it."""
    from usertrack.analytics.churn.run import churn
    from usertrack.core.bounds import return_freed_memory
    from usertrack.core.shipped import shipped_path
    from usertrack.segments.profile_copy import prepare
    from usertrack.workspace import open_workspace

    if not settings.demo:  # the commands read a database of the user's: nothing of the demo's
        return
    ws = open_workspace(
        settings, queries_dir=shipped_path("queries"), segments_path=shipped_path("segments.yaml")
    )
    with ws:
        at = ws.default_as_of()
        # The copy first: a copy that changes moves its generation on, and the answer churn
        # keeps is the generation's.
        progress("copying the app's tool calls")
        prepare(ws, at)
        return_freed_memory()  # the copy's Arrow tables, before churn's frames
        progress("counting the first churn")
        churn(ws, at)


def _demo_action(action: str, home: Path) -> None:
    from usertrack.demo.generator import stop_demo

    if action != "stop":
        raise UsageError(f"demo {action!r}: unknown action (known: stop)")
    stopped = stop_demo(home)
    info(
        "usertrack: demo PostgreSQL stopped"
        if stopped
        else "usertrack: the demo PostgreSQL was not running"
    )


@app.command()
def doctor(
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
) -> None:
    """Check the configuration and reach every source; print the fix for anything wrong."""
    with handle_errors():
        from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
        from usertrack.doctor import exit_code, run_checks

        settings = load_settings()
        with spinner("checking") as progress:
            checks = run_checks(
                settings,
                queries_dir=resolve_queries_dir(queries_dir),
                segments_path=resolve_segments_file(segments_file),
                progress=progress,
            )
        for check in checks:
            mark = "!" if check.warning else "-" if check.skipped else "✓" if check.ok else "✗"
            typer.echo(f"{mark} {check.name}: {check.detail}")
            if (check.warning or not check.ok) and check.fix:
                typer.echo("  fix: " + check.fix.replace("\n", "\n    "))
        code = exit_code(checks)
        if code:
            raise typer.Exit(code)
