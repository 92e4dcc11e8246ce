"""The `usertrack` console script: Ctrl-C taken over (usertrack.core.interrupts) before anything
else is imported, then the program."""

from __future__ import annotations

# The C module itself: `signal` imports enum, 30 ms in which Ctrl-C would still be Python's.
import _signal
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def main() -> Any:
    # Until usertrack.core.interrupts is in place: Ctrl-C ends the start at once, in one line (the
    # package's first line did so already where the console script imported it).
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _starting)
    # The program's main turns the cyclic collector off for the command (usertrack.cli.program);
    # off from here, the imports before it (Typer, the commands' modules) run without it too.
    import gc

    gc.disable()
    # numpy (pyarrow's and DuckDB's import of it) starts OpenBLAS with a thread a core, which
    # spin while numpy loads: 0.07 s of CPU a command here. usertrack does no linear algebra.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Arrow's buffers (PostgreSQL's rows parsed from COPY, results handed between DuckDB
    # connections) from the C library's allocator rather than pyarrow's default, mimalloc, which
    # asks the kernel for transparent huge pages: each first touch of one has the kernel find and
    # zero 2 MiB (about 30 such faults a `segments` run at 100,000 users, 0.3-0.5 s of system
    # CPU on a busy machine).
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    from usertrack.core import interrupts

    interrupts.install()
    leave_pandas_out()
    from usertrack.cli import main as program

    return program()


def _starting(signum: int, frame: object) -> None:
    os.write(2, b"usertrack: interrupted\n")
    os._exit(130)


def leave_pandas_out() -> None:
    """NoPandas first on `sys.meta_path`, once."""
    import sys

    if NoPandas not in sys.meta_path:
        sys.meta_path.insert(0, NoPandas)  # type: ignore[arg-type]


class NoPandas:
    """A finder that says pandas is not installed, first on the console script's `sys.meta_path`.
    usertrack never uses pandas (it is no dependency of usertrack, though another package may
    install it), but pyarrow imports it, a fifth of a second, the first time it is handed a list,
    a scalar or a dict of columns, only to ask whether that is a pandas object; DuckDB looks for
    it only where it is imported already."""

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> Any:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
