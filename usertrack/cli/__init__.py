"""The `usertrack` command line: one module of commands per capability, over the library.

Parses options, calls the library, renders; nothing else lives here. Importing this package
registers every command on `app`, in the order of these imports: the order `--help` lists them.
"""

# isort: off
from usertrack.cli import segments  # noqa: F401  (segments)
from usertrack.cli import workspace  # noqa: F401  (demo, doctor)
from usertrack.cli import queries  # noqa: F401  (query, insight, cache)
from usertrack.cli import reports  # noqa: F401  (report weekly, failures, user)
from usertrack.cli import audit  # noqa: F401  (tracking-plan)
from usertrack.cli import analytics  # noqa: F401  (funnel … paths)
from usertrack.cli import act  # noqa: F401  (alerts, sync)
from usertrack.cli import serve  # noqa: F401  (mcp)
# isort: on

from usertrack.cli.program import app, handle_errors, main

__all__ = ["app", "handle_errors", "main"]
