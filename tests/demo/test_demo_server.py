"""The demo PostgreSQL outlives a command, stops itself when idle, and `demo stop` stops it now.

Commands run as real processes (not the in-process runner): what is under test is what is left
running after a process exits.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from usertrack.demo.generator import ensure_demo, stop_demo
from usertrack.demo.server import live_users, postmaster_pid, watchdog_pid

REPO = Path(__file__).resolve().parents[2]
ANCHOR = date(2026, 3, 2)  # the demos' (50 users): copies of one (conftest.copy_demo)


@pytest.fixture(scope="module")
def home(
    tmp_path_factory: pytest.TempPathFactory, demo_copy: Callable[..., Path]
) -> Iterator[Path]:
    home = demo_copy(tmp_path_factory.mktemp("srv"), 50, ANCHOR)
    stop_demo(home)  # each test starts from a stopped server
    yield home
    stop_demo(home)


@pytest.fixture(autouse=True)
def _stopped(home: Path) -> Iterator[None]:
    stop_demo(home)
    yield
    stop_demo(home)


def usertrack(
    home: Path,
    *args: str,
    idle: str | None = None,
    quiet: bool = True,
    extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USERTRACK_")}
    env.update(extra or {})
    env["USERTRACK_HOME"] = str(home)
    config = home / "config.toml"  # an empty user config: never the developer's own
    config.touch()
    env["USERTRACK_CONFIG"] = str(config)
    if idle is not None:
        env["USERTRACK_DEMO_IDLE"] = idle
    return subprocess.run(
        [sys.executable, "-m", "usertrack", *(["-q"] if quiet else []), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def pg_dir(home: Path) -> Path:
    return home / "demo" / "pg"


def wait_until(check: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_server_outlives_the_command_then_stops_itself_when_idle(home: Path) -> None:
    assert postmaster_pid(pg_dir(home)) is None
    proc = usertrack(home, "doctor", idle="1")
    assert proc.returncode == 0, proc.stderr
    server = postmaster_pid(pg_dir(home))
    watcher = watchdog_pid(home / "demo")
    assert server is not None, "the server stopped with the command"
    assert watcher is not None, "no watchdog watches the server"
    assert live_users(home / "demo") == []  # the command is gone and said so
    # Idle for 1 s: the watchdog (polling every 0.25 s) stops the server and exits.
    assert wait_until(lambda: postmaster_pid(pg_dir(home)) is None, 15)
    assert wait_until(lambda: watchdog_pid(home / "demo") is None, 5)


def test_a_second_command_reuses_the_running_server(home: Path) -> None:
    assert usertrack(home, "doctor").returncode == 0
    first = postmaster_pid(pg_dir(home))
    watcher = watchdog_pid(home / "demo")
    assert usertrack(home, "doctor").returncode == 0
    assert postmaster_pid(pg_dir(home)) == first
    assert watchdog_pid(home / "demo") == watcher  # one watchdog, not one per command


def test_the_first_command_of_a_new_home_leaves_the_server_running(tmp_path: Path) -> None:
    """The very first command, the one that generates the demo in an empty USERTRACK_HOME,
    leaves the server and its watchdog running too, so the next command starts nothing."""
    fresh = tmp_path / "fresh"
    fresh.mkdir()  # empty but for the test's empty config.toml
    try:
        proc = usertrack(fresh, "demo", "--users", "50")
        assert proc.returncode == 0, proc.stderr
        server = postmaster_pid(pg_dir(fresh))
        watcher = watchdog_pid(fresh / "demo")
        assert server is not None, "the first command left no server"
        assert watcher is not None, "no watchdog watches the server"
        assert live_users(fresh / "demo") == []
        proc = usertrack(fresh, "query", "neon/runs", "-f", "csv")
        assert proc.returncode == 0, proc.stderr
        assert postmaster_pid(pg_dir(fresh)) == server
        assert watchdog_pid(fresh / "demo") == watcher
    finally:
        stop_demo(fresh)


def test_a_home_whose_name_holds_a_percent_sign() -> None:
    """The server's URI names its socket's folder, USERTRACK_HOME's, percent-encoded: libpq
    decodes %XX in a URI, and /tmp/...%41 would be read as another folder, .../A (the demo
    could not be loaded, then not reached). Short, under /tmp: the socket stays in the home."""
    import shutil
    import tempfile

    fresh = Path(tempfile.mkdtemp(prefix="ut%41-", dir="/tmp"))
    try:
        proc = usertrack(fresh, "demo", "--users", "50")  # started, then loaded: pgserver's URI
        assert proc.returncode == 0, proc.stderr
        proc = usertrack(fresh, "query", "neon/runs", "-f", "csv")  # the running server's URI
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("email,")
        assert postmaster_pid(pg_dir(fresh)) is not None
    finally:
        stop_demo(fresh)
        shutil.rmtree(fresh, ignore_errors=True)


@pytest.mark.parametrize("name", ["ut with space-", "ut&x;y-"])
def test_a_home_whose_path_the_shell_would_split(name: str) -> None:
    """macOS's default USERTRACK_HOME (~/Library/Application Support/usertrack) holds a space,
    and pg_ctl starts the server through `sh -c` with pgserver's socket folder unquoted in its
    options: with the socket in the home the server never started. The socket goes to a folder
    of pgserver's runtime path instead (as for a socket path too long), and the server, which
    no command could find there again, stops with the last command: the demo is built, read,
    and read again by the next command."""
    import shutil
    import tempfile

    fresh = Path(tempfile.mkdtemp(prefix=name, dir="/tmp"))
    try:
        proc = usertrack(fresh, "demo", "--users", "50")
        assert proc.returncode == 0, proc.stderr
        for _ in range(2):  # the second command starts the server again
            proc = usertrack(fresh, "query", "neon/runs", "-f", "csv")
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.startswith("email,")
            assert wait_until(lambda: postmaster_pid(pg_dir(fresh)) is None, 10)
        assert not list(pg_dir(fresh).glob(".s.PGSQL.*"))  # its socket was never in the home
    finally:
        stop_demo(fresh)
        shutil.rmtree(fresh, ignore_errors=True)


def test_a_home_whose_path_the_shell_reads_even_quoted(tmp_path: Path) -> None:
    """`$`, a double quote, a backquote or a backslash in the data folder's path is read by the
    shell inside pg_ctl's quotes: one line naming the folder and the character, the
    configuration's exit code, and no demo generated there first."""
    fresh = tmp_path / "a$HOME"
    fresh.mkdir()
    # the app's tables, the events alone, or the demo itself
    for command in (("segments",), ("funnel",), ("demo", "--users", "100")):
        proc = usertrack(fresh, *command)
        assert proc.returncode == 4, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("usertrack: error")]
        assert lines == [
            f"usertrack: error: the demo's PostgreSQL cannot start in {pg_dir(fresh.resolve())}:"
            " its path holds '$', which pg_ctl's shell command line reads even quoted"
        ]
        assert "Traceback" not in proc.stderr
        assert not (fresh / "demo").exists()


def test_shell_safe_paths() -> None:
    from usertrack.demo.database import shell_safe

    assert shell_safe(Path("/home/ana/.local/share/usertrack/demo/pg"))
    assert shell_safe(Path("/tmp/ut%41-x/demo/pg"))  # percent and dash: read as they are
    assert shell_safe(Path("/home/josé/.local/share/usertrack"))  # letters outside ASCII too
    for bad in ("/Users/ana/Library/Application Support/usertrack", "/tmp/a&b", "/tmp/a;b",
                "/tmp/a'b", "/tmp/a(b)", "/tmp/a*b", "/tmp/a\nb"):  # fmt: skip
        assert not shell_safe(Path(bad)), bad


def test_demo_stop_stops_it_now(home: Path) -> None:
    assert usertrack(home, "doctor").returncode == 0
    server = postmaster_pid(pg_dir(home))
    watcher = watchdog_pid(home / "demo")
    assert server is not None and watcher is not None
    proc = usertrack(home, "demo", "stop", quiet=False)
    assert proc.returncode == 0, proc.stderr
    assert "demo PostgreSQL stopped" in proc.stderr
    assert postmaster_pid(pg_dir(home)) is None
    assert wait_until(lambda: watchdog_pid(home / "demo") is None, 5)
    again = usertrack(home, "demo", "stop", quiet=False)
    assert again.returncode == 0
    assert "was not running" in again.stderr


def test_demo_unknown_action_is_a_usage_error(home: Path) -> None:
    proc = usertrack(home, "demo", "start")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "usertrack: error: demo 'start': unknown action (known: stop)"


def test_a_killed_server_is_started_again(home: Path) -> None:
    assert usertrack(home, "doctor").returncode == 0
    server = postmaster_pid(pg_dir(home))
    assert server is not None
    os.kill(server, signal.SIGKILL)
    assert wait_until(lambda: postmaster_pid(pg_dir(home)) is None, 10)
    proc = usertrack(home, "doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    again = postmaster_pid(pg_dir(home))
    assert again is not None and again != server


def test_idle_zero_leaves_nothing_running(home: Path) -> None:
    proc = usertrack(home, "doctor", idle="0")
    assert proc.returncode == 0, proc.stderr
    assert postmaster_pid(pg_dir(home)) is None
    assert watchdog_pid(home / "demo") is None


def test_a_command_ends_with_its_status_its_whole_answer_and_no_in_use_mark(home: Path) -> None:
    # A command ends without Python's teardown (cli.program._exit_without_teardown): what an
    # exit owes is still done, the exit handlers (here the in-use mark's removal) and the flushed
    # output.
    in_use = home / "demo" / "in-use"
    found = usertrack(home, "user", "jane.doe@acme.io", "--format", "json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["email"] == "jane.doe@acme.io"  # all of it, parsed
    assert list(in_use.iterdir()) == []
    missing = usertrack(home, "user", "nobody@nowhere.io")
    assert missing.returncode == 3  # NotFoundError's exit code
    assert "usertrack: error: no user 'nobody@nowhere.io'" in missing.stderr
    assert list(in_use.iterdir()) == []


def test_a_bad_idle_setting_is_named(home: Path) -> None:
    proc = usertrack(home, "segments", idle="ten")
    assert proc.returncode == 4  # configuration
    assert "USERTRACK_DEMO_IDLE='ten': not a whole number of seconds" in proc.stderr
    assert postmaster_pid(pg_dir(home)) is None


def test_socket_and_data_stay_in_the_private_home(home: Path) -> None:
    assert usertrack(home, "doctor").returncode == 0
    lines = (pg_dir(home) / "postmaster.pid").read_text().split("\n")
    socket_dir = Path(lines[4])
    assert socket_dir == pg_dir(home).resolve()
    socket = socket_dir / ".s.PGSQL.5432"
    assert stat.S_ISSOCK(socket.stat().st_mode)
    assert stat.S_IMODE(socket.stat().st_mode) == 0o700
    # No TCP: the server was started with an empty listen address (pgserver's `-h ""`).
    conf = (pg_dir(home) / "postmaster.opts").read_text()
    assert '"-h" ""' in conf
    # The home and the demo folder: nobody else may list or read them (as root, pgserver's user
    # may traverse them to its data directory, and nothing more).
    for folder in (home, home / "demo"):
        assert stat.S_IMODE(folder.stat().st_mode) & 0o066 == 0


def test_reset_stops_the_server_first(
    home: Path, tmp_path: Path, demo_copy: Callable[..., Path]
) -> None:
    own = tmp_path / "reset-home"
    demo_copy(own, 50, ANCHOR)
    try:
        assert usertrack(own, "doctor").returncode == 0
        before = postmaster_pid(pg_dir(own))
        assert before is not None
        proc = usertrack(own, "demo", "--users", "60", "--reset")
        assert proc.returncode == 0, proc.stderr
        assert wait_until(lambda: not _alive(before), 5), "the old server was never stopped"
        assert usertrack(own, "doctor").returncode == 0  # the new data is served
    finally:
        stop_demo(own)
    assert postmaster_pid(pg_dir(own)) is None


def _alive(pid: int) -> bool:
    """Running: a zombie (exited, not yet reaped by init) does not count."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _removed(path: Path) -> bool:
    """Delete `path`; True while some of it is still there (a live server wrote into it)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    return path.exists()


def test_a_server_whose_home_was_deleted_is_stopped(
    tmp_path: Path, demo_copy: Callable[..., Path]
) -> None:
    own = tmp_path / "gone-home"
    demo_copy(own, 50, ANCHOR)
    stop_demo(own)
    # Idle for 24 s, the watchdog polls every 6 s: the home is gone long before the server
    # could be idle that long, so what stops it is the watchdog's check of a deleted home.
    assert usertrack(own, "doctor", idle="24").returncode == 0
    server = postmaster_pid(pg_dir(own))
    watcher = watchdog_pid(own / "demo")
    assert server is not None and watcher is not None
    # The running server may write a WAL file while the tree goes: delete until nothing is left.
    assert wait_until(lambda: not _removed(own), 10), "the home could not be deleted"
    # Within 20 s: a poll or three when busy, and before PostgreSQL notices its missing
    # postmaster.pid by itself (it checks once a minute from its start), so the watchdog's
    # stop is what this waits for.
    assert wait_until(lambda: not _alive(server), 20), "an unreachable server was left running"
    assert wait_until(lambda: not _alive(watcher), 15)


SECRETS = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/NotForPostgres",
    "POSTHOG_PROJECT_API_KEY": "phc_NotForPostgres0123456789",
    "SOME_SERVICE_TOKEN": "tok-NotForPostgres",
    "PGPASSWORD": "NotForPostgres",
}


def _environ(pid: int) -> str:
    return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_the_server_and_watchdog_inherit_no_secret(home: Path) -> None:
    """The demo's PostgreSQL (as root: pgserver's own user) and the watchdog
    inherited SLACK_WEBHOOK_URL and POSTHOG_PROJECT_API_KEY from the command that started them."""
    proc = usertrack(home, "segments", "--no-save", idle="600", extra=SECRETS)
    assert proc.returncode == 0, proc.stderr
    server = postmaster_pid(pg_dir(home))
    assert server is not None
    assert wait_until(lambda: watchdog_pid(home / "demo") is not None, 5)
    watchdog = watchdog_pid(home / "demo")
    assert watchdog is not None
    for pid, known in ((server, "PGDATA="), (watchdog, "PATH=")):
        environ = _environ(pid)
        assert known in environ  # the environment was read
        for name, value in SECRETS.items():
            assert name not in environ and value not in environ, (pid, name)


def test_pgserver_starts_with_path_and_locale_but_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While pgserver starts the server it runs `useradd` (as root, for its own user) and pg_ctl
    by name: PATH must survive the cleaning. It once emptied the whole environment, so a machine
    without pgserver's user could not start the demo at all."""
    from usertrack.demo.server import clean_environment

    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2@db/x")
    before = dict(os.environ)
    with clean_environment():
        inside = dict(os.environ)
    assert inside["PATH"] == before["PATH"] and inside["TZ"] == "UTC"
    assert "DATABASE_URL" not in inside
    assert dict(os.environ) == before


def test_a_server_that_fails_to_start_is_one_line_and_the_logs_path(home: Path) -> None:
    """A server failure printed ~40 lines of server log (pgserver's own log
    record and the whole message); it is one line, with the log's path as the hint."""
    conf = pg_dir(home) / "postgresql.conf"
    before = conf.read_bytes()
    try:
        conf.write_bytes(before + b"\nno_such_setting_at_all = on\n")
        proc = usertrack(home, "segments", idle="600")
        assert proc.returncode == 5, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 2, proc.stderr
        assert lines[0].startswith("usertrack: error: could not start the demo PostgreSQL in ")
        assert lines[1] == f"usertrack: hint: its log is {pg_dir(home) / 'log'}; " + (
            "`usertrack demo --reset` rebuilds the demo"
        )
    finally:
        conf.write_bytes(before)
    assert usertrack(home, "doctor").returncode == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="runs as root")
def test_as_root_no_command_changes_the_homes_modes(
    tmp_path: Path, demo_copy: Callable[..., Path]
) -> None:
    """As root, `alerts --notify` (its outbox) made USERTRACK_HOME 0700 from
    0711; pgserver's user could no longer reach its data, and `demo stop` dumped pg_ctl's
    "Permission denied" and the next command ~40 lines of server log. The modes are
    secure_home's alone; the demo's own files are 0600."""
    from usertrack.act.slack import Outbox

    own = tmp_path / "root-home"
    demo_copy(own, 50, ANCHOR)
    stop_demo(own)  # started by a command, as a user's would be
    try:
        assert usertrack(own, "doctor", idle="600").returncode == 0
        modes = {p: stat.S_IMODE(p.stat().st_mode) for p in (own, own / "demo")}
        assert set(modes.values()) == {0o711}, modes
        for name in ("events.duckdb", "manifest.json"):  # your users' data, and what it is
            assert stat.S_IMODE((own / "demo" / name).stat().st_mode) == 0o600, name
        Outbox.open(own).save()  # what `alerts --notify` writes
        assert usertrack(own, "alerts", "--save", "-f", "json").returncode == 0
        assert usertrack(own, "sync", "posthog").returncode == 0
        assert {p: stat.S_IMODE(p.stat().st_mode) for p in modes} == modes
        stop = usertrack(own, "demo", "stop", quiet=False)
        assert stop.returncode == 0 and "pg_ctl" not in stop.stderr, stop.stderr
        assert postmaster_pid(pg_dir(own)) is None
        again = usertrack(own, "doctor")
        assert again.returncode == 0, again.stderr
    finally:
        stop_demo(own)


def test_the_read_only_role_is_checked_once_per_demo(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command connects as the superuser to make or check the read-only role only when the
    demo is new to it: a new generation (its manifest) is checked again."""
    import psycopg

    from usertrack.demo.database import DEMO_READER, READER_READY, demo_reader_uri

    demo = ensure_demo(home)
    (demo.root / READER_READY).unlink(missing_ok=True)
    admin: list[str] = []
    connect = psycopg.connect

    def counted(dsn: str, *args: object, **kwargs: object) -> object:
        if f"{DEMO_READER}@" not in dsn:
            admin.append(dsn)
        return connect(dsn, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(psycopg, "connect", counted)
    uri = demo_reader_uri(demo)
    assert f"{DEMO_READER}@" in uri and len(admin) == 1
    assert demo_reader_uri(demo) == uri and len(admin) == 1  # the mark: no connection
    with psycopg.connect(uri) as conn:  # and the role reads
        assert conn.execute("SELECT count(*) FROM wasp_user").fetchone()[0] > 0  # type: ignore[index]
    manifest = demo.root / "manifest.json"
    renewed = manifest.with_suffix(".new")
    renewed.write_text(manifest.read_text())
    os.replace(renewed, manifest)  # as a generation writes it
    assert demo_reader_uri(demo) == uri and len(admin) == 2
