"""`usertrack mcp`: the read-only commands served over the Model Context Protocol."""

from __future__ import annotations

from typing import Annotated

import typer

from usertrack.cli.program import app, handle_errors


@app.command()
def mcp(
    allow_act: Annotated[
        bool,
        typer.Option(
            "--allow-act",
            help="Also serve alerts_notify and sync_posthog (each a dry run unless told to send).",
        ),
    ] = False,
) -> None:
    """Serve the read-only commands as Model Context Protocol tools over stdio (for an AI
    assistant: docs/mcp.md)."""
    with handle_errors():
        from usertrack.mcp_server import serve

        serve(app, allow_act=allow_act)
