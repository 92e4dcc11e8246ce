"""The MCP server's worker processes: each tool call runs its command in one of them, under the
bounds of a command's process (usertrack.core.bounds), so that a call that is slow, or that a
query makes huge, neither blocks the next call nor takes the server down with it.

A worker is forked from a clean, single-threaded process that imported the CLI once
(multiprocessing's forkserver), keeps its sources open between calls as the server did
(usertrack.workspace.keep_open) and answers one call at a time over a pipe. The server keeps
up to MAX_WORKERS of them: a call takes an idle one or starts one. One that outlives
`call_seconds()` is killed, its call answered with one line; one that ended (its memory
bound, a query that outlived its interrupt) is replaced by the next call. docs/mcp.md.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from usertrack.checks import sandbox
from usertrack.mcp.answers import Told

MAX_WORKERS = 3  # calls answered at once; a further call waits for one of them
_IDLE_KEPT = 2  # idle workers kept warm


def call_seconds() -> float:
    """How long one call may run before its worker is killed: twice the time limit of one
    DuckDB query, and 30 s more (a call runs several queries, each within that limit)."""
    from usertrack.checks.sandbox import timeout_seconds

    return 2 * timeout_seconds() + 30


# exit code, stdout, stderr, and the error as the assistant is told it (usertrack.mcp.answers)
Result = tuple[int, str, str, Told | None]


def _own(line: str) -> Told:
    """One line of usertrack's own, which quotes no data."""
    return Told(f"usertrack: error: {line}")


_numbers = itertools.count(1)


class _Worker:
    def __init__(self, ctx: Any, target: Callable[..., None], files: dict[str, str]) -> None:
        # The worker spills into a folder inside the server's own, which this process removes:
        # a worker is killed, so its own exit handlers never run.
        self.temp = os.path.join(sandbox.private_folder(), f"worker{next(_numbers)}")
        os.mkdir(self.temp, 0o700)
        parent, child = ctx.Pipe()
        self.conn = parent
        self.process = ctx.Process(
            target=_worker_main, args=(target, child, files, self.temp), daemon=True
        )
        self.process.start()
        child.close()

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()
        shutil.rmtree(self.temp, ignore_errors=True)


def _worker_main(target: Callable[..., None], conn: Any, files: dict[str, str], temp: str) -> None:
    sandbox.use_private_folder(temp)
    target(conn, files)


class Workers:
    """The server's worker processes (`target(conn, files)` is the worker's main: the
    CLI's, which calls `serve_calls`)."""

    def __init__(self, target: Callable[..., None], files: dict[str, str]) -> None:
        import multiprocessing

        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None
        self.ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            self.ctx.set_forkserver_preload([target.__module__])
        self.target = target
        self.files = dict(files)
        self.idle: list[_Worker] = []
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(MAX_WORKERS)
        self.closed = False

    def _take(self) -> _Worker:
        with self.lock:
            while self.idle:
                worker = self.idle.pop()
                if worker.process.is_alive():
                    return worker
                worker.kill()
        return _Worker(self.ctx, self.target, self.files)

    def _give_back(self, worker: _Worker) -> None:
        with self.lock:
            if not self.closed and len(self.idle) < _IDLE_KEPT and worker.process.is_alive():
                self.idle.append(worker)
                return
        worker.kill()

    def warm(self) -> None:
        """Start one worker ahead of the first call."""
        with contextlib.suppress(Exception):
            self._give_back(_Worker(self.ctx, self.target, self.files))

    def run(self, argv: list[str], quiet: bool) -> Result:
        """`usertrack ARGV` in a worker: its exit code, stdout and stderr."""
        from usertrack.core.errors import EXIT_INTERNAL, EXIT_LIMIT

        with self.slots:
            worker = self._take()
            limit = call_seconds()
            try:
                worker.conn.send((argv, quiet))
                deadline = time.monotonic() + limit
                while not worker.conn.poll(min(1.0, max(0.0, deadline - time.monotonic()))):
                    if time.monotonic() >= deadline:
                        worker.kill()
                        line = (
                            f"the call stopped after {limit:g} s, the time limit of one tool"
                            " call (twice USERTRACK_DUCKDB_TIMEOUT, and 30 s)"
                        )
                        return EXIT_LIMIT, "", f"usertrack: error: {line}\n", _own(line)
                received = worker.conn.recv()
            except (EOFError, OSError):
                worker.process.join(5)
                code = worker.process.exitcode
                worker.kill()
                how = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
                line = f"the call's process ended ({how}) without an answer"
                return EXIT_INTERNAL, "", f"usertrack: error: {line}\n", _own(line)
            code, out, err, told, *ending = received
            if ending:  # a query outlived its interrupt: the worker ends itself
                worker.kill()
            else:
                self._give_back(worker)
            return code, out, err, told

    def close(self) -> None:
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.kill()


def serve_calls(
    conn: Any, setup: Callable[[], None], run: Callable[[list[str], bool], Result]
) -> None:
    """A worker process's main: bounded as a command's process is (usertrack.core.bounds), `setup()`
    (the server's files and app), the sources kept open; answers each (argv, quiet) received
    with run(argv, quiet), a Result, until the pipe closes, and with (code, stdout, stderr,
    told, "ending") when a query outlived its interrupt and the process ends."""
    import signal

    # The server's stdin and stdout are the MCP stream: nothing of a worker's may reach them.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    send_lock = threading.Lock()

    def stop(line: str) -> None:
        from usertrack.core.errors import EXIT_LIMIT

        with send_lock, contextlib.suppress(Exception):
            conn.send((EXIT_LIMIT, "", f"usertrack: error: {line}\n", _own(line), "ending"))
        os._exit(EXIT_LIMIT)

    from usertrack.core import bounds
    from usertrack.core.config import register_known_secrets
    from usertrack.workspace import keep_open

    bounds.arm(on_stop=stop)
    register_known_secrets()
    setup()
    with keep_open():
        while True:
            try:
                argv, quiet = conn.recv()
            except (EOFError, OSError):
                return
            result = run(argv, quiet)
            with send_lock:
                conn.send(result)
