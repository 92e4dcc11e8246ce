"""Ctrl-C for the `usertrack` program: exit 130, one line on stderr, never a traceback, never a
hang, whenever it comes.

Python's own KeyboardInterrupt can land anywhere: inside an import (a traceback, or a module
lock left held that the source threads then wait on for good), inside DuckDB (which turns it
into `RuntimeError: Query interrupted`), in a cleanup that only prints "Exception ignored".
So the program takes SIGINT over (`install`, before it imports anything heavy):

- while it starts (importing, parsing options) nothing has been written: it leaves at once;
- while a command runs, the first Ctrl-C is remembered (`happened`) and raised as
  KeyboardInterrupt, so the command stops its sources, removes what it had begun to write and
  ends; whatever error the interrupt then surfaces as, the outcome is the interrupt's;
- if the command has not ended `GRACE_SECONDS` later (a thread stuck on a lock, a cleanup that
  waits), or on a second Ctrl-C, the process leaves at once. A watchdog thread sees each
  Ctrl-C the moment it arrives (the signal's wakeup descriptor, written by Python's C-level
  handler), so this holds even while the main thread is held in C code that never returns to
  run a Python-level handler;
- once the command has ended (its output written, the process on its way out), a Ctrl-C leaves
  at once too: nothing is left to stop.

Before the program's first line runs, Python itself is starting (about 10-20 ms): a Ctrl-C
then is Python's to handle.

Only the program installs this; the library, the MCP server and tests that run commands in
process keep Python's usual KeyboardInterrupt. This module imports nothing of usertrack and only
the standard library's lightest modules: it runs before anything else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

EXIT_INTERRUPTED = 130
# How long a command has, after Ctrl-C, to stop its sources and remove what it had begun.
GRACE_SECONDS = 3.0
MESSAGE = b"usertrack: interrupted\n"

_installed = False
_running = False
_interrupted = False
_announce = [True]  # popped by the one that says it (pop is atomic under the GIL)
_wake: tuple[int, int] | None = None  # the watchdog's pipe
_wakeup_set = False  # whether the pipe is the signals' wakeup descriptor (written in C)
_on_interrupt: list[Callable[[], object]] = []  # called by the watchdog at the first Ctrl-C


def install() -> None:
    """Take SIGINT over for this process. Left alone when SIGINT is ignored (a background job
    of a non-interactive shell) or already someone else's (but the start's own, set by the
    package's first line or the launcher)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    handler = signal.getsignal(signal.SIGINT)
    if handler is not signal.default_int_handler and getattr(handler, "__module__", "") not in (
        "usertrack",
        "usertrack.launch",
    ):
        return
    signal.signal(signal.SIGINT, _on_sigint)
    _installed = True


def command_starts() -> None:
    """From here an interrupt is raised in the command, which then has GRACE_SECONDS to end."""
    global _running, _wake, _wakeup_set
    if not _installed or _running:
        return
    _wake = os.pipe()
    os.set_blocking(_wake[1], False)  # a signal handler must never wait on a full pipe
    try:
        # Python's C-level handler writes each caught signal's number here at once, whatever
        # the main thread is doing.
        signal.set_wakeup_fd(_wake[1], warn_on_full_buffer=False)
        _wakeup_set = True
    except ValueError:  # not the main thread after all: _on_sigint writes it
        _wakeup_set = False
    watchdog = threading.Thread(
        target=_watch, args=(_wake[0],), name="usertrack-interrupt", daemon=True
    )
    watchdog.start()
    # An error a thread or a finalizer meets because the command is being interrupted is part
    # of the interrupt, not something to print.
    previous_unraisable = sys.unraisablehook
    previous_thread_hook = threading.excepthook

    def unraisable(args: object) -> None:
        if not _interrupted:
            previous_unraisable(args)  # type: ignore[arg-type]

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if not _interrupted:
            previous_thread_hook(args)

    sys.unraisablehook = unraisable
    threading.excepthook = thread_hook
    _running = True


def command_ends() -> None:
    """The command has ended (its output written): from here a Ctrl-C leaves at once, instead
    of surfacing as KeyboardInterrupt in the exit's own steps."""
    global _running
    _running = False


@contextlib.contextmanager
def when_interrupted(callback: Callable[[], object]) -> Iterator[None]:
    """Within the block, call `callback` the moment the command's first Ctrl-C arrives, on the
    watchdog's thread, before the grace begins: the command's cancel token, so that its queries
    are cancelled on their servers and its threads stop waiting even while the main thread is
    held in C code and cannot yet raise the interrupt. Not during a block that holds Ctrl-C
    (`held`): that block raises it when it is over."""
    _on_interrupt.append(callback)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            _on_interrupt.remove(callback)


def happened() -> bool:
    """Whether Ctrl-C was pressed during this process's command."""
    return _interrupted


def announce() -> None:
    """Say "usertrack: interrupted" on stderr: once per process in the program, whoever calls
    it (the command, or the watchdog that ends it)."""
    stream = sys.stderr
    if _installed:
        try:
            _announce.pop()
        except IndexError:
            return
        # The process's own stderr: a command run inside another (a dashboard's panels) has
        # its stderr captured, and the one line must not be lost in there.
        stream = sys.__stderr__ or sys.stderr
    try:
        stream.write(MESSAGE.decode())
        stream.flush()
    except Exception:  # a closed stderr: nowhere to say it
        pass


def leave() -> None:
    """End the process now: the one line, status 130, no cleanup that could wait. Written on
    the descriptor itself: sys.stderr's lock may be held by the thread this one cuts short."""
    try:
        _announce.pop()
        os.write(2, MESSAGE)
    except (IndexError, OSError):
        pass
    os._exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold Ctrl-C until the block is over, then raise it: for steps that must all happen or
    none (a Slack message posted and its record; a report and the charts beside it put in
    place). A second Ctrl-C meanwhile is held too, the block being short. Main thread only;
    elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _interrupted
    if not _running or _interrupted:
        # Starting up (nothing written yet), or a second Ctrl-C: now.
        leave()
    _interrupted = True
    if _wake is not None and not _wakeup_is_ours(_wake[1]):
        # The C-level handler did not write it (the descriptor is not, or no longer, ours).
        try:
            os.write(_wake[1], bytes([signal.SIGINT]))
        except OSError:
            leave()
    if _importing(frame):
        # Raised inside a module's import, the interrupt can abort the process: an extension
        # built with nanobind (DuckDB's) treats an error in its initialisation as fatal. The
        # watchdog ends the command after its grace instead.
        return
    raise KeyboardInterrupt


def _importing(frame: FrameType | None) -> bool:
    """Whether the interrupted code runs inside an import (importlib's frames below it)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _wakeup_is_ours(fd: int) -> bool:
    """Whether the signals' wakeup descriptor was `fd` (and is again: someone else's, such as
    an event loop's, is replaced, the process being on its way out)."""
    return _wakeup_set and signal.set_wakeup_fd(fd, warn_on_full_buffer=False) == fd


def _watch(fd: int) -> None:
    """The watchdog thread: started before any interrupt (a signal handler must not start a
    thread: the one it interrupted may hold threading's own locks), it waits for a Ctrl-C, then
    gives the command its grace and ends the process if it still runs, or at once on a second
    Ctrl-C. It reads the signals' numbers as they arrive (other caught signals are skipped)."""
    import select

    deadline: float | None = None
    seen = 0
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            ready, _, _ = select.select([fd], [], [], wait)
            data = os.read(fd, 64) if ready else b""
        except OSError:
            return
        if not ready:  # the grace is over
            leave()
        if signal.getsignal(signal.SIGINT) is not _on_sigint:
            # A block that holds Ctrl-C until it is over (a Slack post and its record) has its
            # own handler and raises the interrupt itself when it ends: not counted here.
            continue
        seen += data.count(signal.SIGINT)
        if seen >= 2:
            leave()
        if seen and deadline is None:
            deadline = time.monotonic() + GRACE_SECONDS
            for callback in list(_on_interrupt):
                with contextlib.suppress(Exception):  # best effort: the grace ends it anyway
                    callback()
