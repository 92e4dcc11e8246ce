"""`usertrack mcp`: the read-only commands served over the Model Context Protocol."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from usertrack.cli.act import AlertsOpt
from usertrack.cli.audit import PlanOpt
from usertrack.cli.options import QueriesOpt, SegmentsOpt
from usertrack.cli.program import app, handle_errors
from usertrack.cli.reports import FailuresOpt, TemplateOpt
from usertrack.core import pseudonyms


@app.command()
def mcp(
    allow_act: Annotated[
        bool,
        typer.Option(
            "--allow-act",
            help="Also serve alerts_notify and sync_posthog (each a dry run unless told to send).",
        ),
    ] = False,
    allow_inline_queries: Annotated[
        bool,
        typer.Option(
            "--allow-inline-queries",
            help="Let the query tool run an inline SELECT (hogql, sql), read-only under the"
            " bounds; without it, only the queries of the library, by id.",
        ),
    ] = False,
    segments_file: SegmentsOpt = None,
    queries_dir: QueriesOpt = None,
    failures_file: FailuresOpt = None,
    alerts_file: AlertsOpt = None,
    plan_file: PlanOpt = None,
    template: TemplateOpt = None,
    anonymize: Annotated[
        bool,
        typer.Option(
            "--anonymize",
            help="Every answer shows each person as a stable pseudonym instead of their email or"
            " name (docs/privacy.md); the user tool finds a person by it.",
        ),
    ] = False,
) -> None:
    """Serve the read-only commands as Model Context Protocol tools over stdio (for an AI
    assistant: docs/mcp.md). The files given here (or the environment's, or the defaults) are
    the ones every tool uses: no tool argument names a file or a folder (docs/trust.md)."""
    with handle_errors():
        import gc

        from usertrack.mcp.server import serve

        # The server runs for as long as the assistant does: the cyclic collector, off for a
        # one-shot command (usertrack.cli.program.main), is back on so cycles do not pile up.
        gc.enable()
        was_set = "USERTRACK_ANONYMIZE" in os.environ
        if anonymize or pseudonyms.active():
            # The worker processes that run the calls read it (usertrack.core.config), and
            # every answer is anonymized as it is made (usertrack.mcp.server.call).
            os.environ["USERTRACK_ANONYMIZE"] = "1"
            pseudonyms.set_active(True)
            pseudonyms.pseudonym("")  # the key, read or made before the first call
        if isinstance(sys.stdout, pseudonyms.Anonymized):
            sys.stdout = sys.stdout.inner  # the protocol's own stream: its bytes are JSON-RPC

        files: dict[str, Path | None] = {
            "segments_file": segments_file,
            "queries_dir": queries_dir,
            "failures_file": failures_file,
            "alerts_file": alerts_file,
            "plan_file": plan_file,
            "template": template,
        }
        chosen = {name: str(path.resolve()) for name, path in files.items() if path is not None}
        try:
            serve(
                app,
                allow_act=allow_act,
                files=chosen,
                worker=mcp_worker,
                allow_inline=allow_inline_queries,
            )
        finally:
            if not was_set:  # a process that runs more (the tests) as it was
                os.environ.pop("USERTRACK_ANONYMIZE", None)
                pseudonyms.set_active(False)


def mcp_worker(conn: Any, files: dict[str, str]) -> None:
    """The main of the MCP server's worker processes: the commands of this CLI's `app`, with
    the files the server was started with."""
    from usertrack.mcp import server as mcp_server
    from usertrack.mcp.workers import serve_calls

    def setup() -> None:
        mcp_server.started_with.clear()
        mcp_server.started_with.update(files)
        mcp_server.use_app(app)

    serve_calls(conn, setup, lambda argv, quiet: mcp_server.run_command(argv, quiet=quiet))
