"""The `usertrack` console script: Ctrl-C taken over (usertrack.interrupts) before anything
else is imported, then the program."""

from __future__ import annotations

# The C module itself: `signal` imports enum, 30 ms in which Ctrl-C would still be Python's.
import _signal
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def main() -> Any:
    # Until usertrack.interrupts is in place: Ctrl-C ends the start at once, in one line (the
    # package's first line did so already where the console script imported it).
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _starting)
    from usertrack import interrupts

    interrupts.install()
    from usertrack.cli import main as program

    return program()


def _starting(signum: int, frame: object) -> None:
    os.write(2, b"usertrack: interrupted\n")
    os._exit(130)
