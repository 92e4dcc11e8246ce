"""Hard bounds on the process that runs one command (the CLI, each call of the MCP server):
what DuckDB's own limits do not stop, the operating system and a watchdog do.

DuckDB's memory limit bounds its buffer manager, not every allocation: a function that makes
one huge value (a list of a billion numbers, a string replaced into gigabytes) allocates it
outside, and its interrupt is only looked at between chunks of rows, so the time limit's
interrupt (usertrack.checks.sandbox.time_limit) can wait minutes for a chunk to end. Two bounds that
hold whatever a query computes:

- Memory: once the command starts (usertrack.cli.program.handle_errors; else at the first
  DuckDB connection), the process's data size (Linux's RLIMIT_DATA: every private writable
  mapping, the heap, DuckDB's allocations and every thread's stack included) is limited to what
  it holds then plus DuckDB's memory limit plus HEADROOM for the interpreter's own work and the
  threads' stacks. Past it an allocation fails: DuckDB says "Out of Memory" (a LimitError naming
  the limit), libpq "out of memory for query result" and Python raises MemoryError, each one
  line and EXIT_LIMIT. Drawing charts
  (V8, which reserves address space it hardly touches) runs in a child process under bounds of
  its own (usertrack.dashboards.drawing); the demo's build runs outside the bound
  (`unbounded`), which is measured afresh after.
- Time: a query still running GRACE_SECONDS after its time limit interrupted it is not waited
  for: the process says so in one line and ends with EXIT_LIMIT (`stop_now`).

Both hold only where `arm` was called: the console script (one command, then the process ends)
and each worker process of the MCP server. A library user's process (and a test runner's) is
never limited or ended by usertrack. docs/trust.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

# The interpreter's own work beside DuckDB's, and the stacks its threads reserve: RLIMIT_DATA
# counts a thread's whole stack (8 MB where the system's stack limit is 8 MB) though it is
# hardly touched, each DuckDB database starts its own workers, and a dashboard's panels keep
# about ten open at once with the threads that run them (70 to 90 threads: 600 MB of stacks
# alone at 100,000 users). 2 GiB.
HEADROOM = 2 << 30
GRACE_SECONDS = 5.0  # after the interrupt, before the process ends

_state: dict[str, object] = {"armed": False, "allowance": None}
_lock = threading.Lock()
_on_stop: Callable[[str], None] | None = None


def arm(on_stop: Callable[[str], None] | None = None) -> None:
    """Bound this process from its first DuckDB connection on (`limit_memory`); `on_stop(line)`
    (default: the line on stderr and exit EXIT_LIMIT) ends it when a query outlives its
    interrupt. Cheap: nothing is read or imported until a connection opens."""
    global _on_stop
    _state["armed"] = True
    _on_stop = on_stop


def armed() -> bool:
    return bool(_state["armed"])


def memory_bytes(text: str) -> int:
    """Bytes of a DuckDB amount of memory ('2GB' is 2 * 1000**3, '2GiB' 2 * 1024**3)."""
    import re

    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)\s*$", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not an amount of memory: {text!r}")
    unit = m.group(2).upper()
    power = "BKMGT".index(unit[0]) if unit != "B" else 0
    base = 1024 if "I" in unit else 1000
    return int(float(m.group(1)) * base**power)


def _data_size() -> int | None:
    """This process's data size now (VmData), or None where the system does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _set_soft(limit: int | None) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if limit is None or limit >= 1 << 62 or (hard != resource.RLIM_INFINITY and limit > hard):
        limit = hard  # no bound, or one past what the system can be told: the hard limit
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def limit_memory(duckdb_memory: str) -> None:
    """Armed, and not yet bounded: limit the data size to now + `duckdb_memory` + HEADROOM
    (once per process: an MCP worker's bound holds across the calls it answers)."""
    if not _state["armed"] or _state["allowance"] is not None:
        return
    with _lock:
        if _state["allowance"] is not None:
            return
        try:
            allowance = memory_bytes(duckdb_memory) + HEADROOM
        except ValueError:
            return
        _state["allowance"] = allowance
        _rebase()


def _rebase() -> None:
    allowance = _state["allowance"]
    now = _data_size()
    if isinstance(allowance, int) and now is not None:
        _set_soft(now + allowance)


@contextlib.contextmanager
def unbounded() -> Iterator[None]:
    """usertrack's own work that reserves much more than it uses (the demo's build): the
    memory bound lifted within, then measured afresh from what the process holds after."""
    if _state["allowance"] is None:
        yield
        return
    with _lock:
        _set_soft(None)
    try:
        yield
    finally:
        with _lock:
            _rebase()


def stop_now(line: str) -> None:
    """A query outlived its interrupt: armed, end the process with `line` (the error, one line)
    and EXIT_LIMIT; else nothing (the caller waits for the query as before)."""
    if not _state["armed"]:
        return
    if _on_stop is not None:
        _on_stop(line)
    from usertrack.core.errors import EXIT_LIMIT

    with contextlib.suppress(OSError):
        os.write(2, f"usertrack: error: {line}\n".encode("utf-8", "replace"))
    os._exit(EXIT_LIMIT)


def exit_status(code: int) -> str:
    """How a child process ended, for a message: 'exit status 3' or 'signal SIGKILL'."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"exit status {code}"


def return_freed_memory() -> None:
    """Hand the pages of freed memory back to the system. glibc keeps freed blocks below its
    mmap threshold (which grows to 32 MiB as big arrays are freed) in its heaps for reuse, so the
    process would keep the high-water mark of a passing step (the demo's generation, a
    dashboard's answers read from PostHog's JSON) through the work that follows; malloc_trim
    gives back every whole free page. Elsewhere than glibc, nothing."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(name).malloc_trim(0)
