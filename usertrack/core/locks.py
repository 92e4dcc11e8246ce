"""One writer at a time per USERTRACK_HOME: an OS file lock around the commands that write outside
the machine (`alerts --notify`, `sync posthog --apply`).

A cron line that overlaps itself, or two terminals, must not send the same alert or the same sync
event twice. The lock is `flock(2)` on a file in the home: the kernel drops it when the process
ends, however it ends (`kill -9` included), so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from usertrack.core.errors import BusyError

__all__ = ["DEFAULT_WAIT_SECONDS", "exclusive"]

# How long a second run waits for the first before it gives up: long enough for a pass that is
# nearly done, short enough that a cron minute is not eaten by waiting.
DEFAULT_WAIT_SECONDS = 20.0


@contextlib.contextmanager
def exclusive(
    home: Path, name: str, *, what: str, wait: float = DEFAULT_WAIT_SECONDS
) -> Iterator[None]:
    """Hold `<home>/<name>.lock` for the block; wait up to `wait` seconds for another holder.

    `what` names the work in the error (`usertrack alerts --notify`): "another ... is running".
    """
    import fcntl

    path = home / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BusyError(
                        f"another {what} is running in {home} (waited {wait:g} s for {path.name})",
                        hint="let it finish; a lock is released when its process ends, "
                        "even on kill -9",
                    ) from None
                time.sleep(0.1)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
