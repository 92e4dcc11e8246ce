"""Ctrl-C at any moment of a long command: exit 130, the one line "usertrack: interrupted" on
stderr, no traceback, no hang, nothing half-written.

A real SIGINT to a real `usertrack` process on the demo, at several moments of each long command:
while Python imports the program, while the sources run, while the answer is worked out and
written. Each moment is a share of the command's own uninterrupted run, so the test holds on a
fast or a loaded machine.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Ctrl-C as from a shell: SIGINT at its default (a non-interactive shell starts a background
# command with SIGINT ignored, which is how the test run itself may be started), then the
# program itself (same pid), as the console script runs it.
SHELL_LIKE = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
    " os.execv(sys.executable, [sys.executable, '-m', 'usertrack', *sys.argv[1:]])"
)
# The same, through the installed console script itself where there is one (what a user runs).
SCRIPT = Path(sys.executable).with_name("usertrack")
SCRIPT_LIKE = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
    " os.execv(sys.argv[1], sys.argv[1:])"
)
# Seconds an interrupted command may take to end: the program's own grace is 3 s.
ENDS_WITHIN = 12
# Moments: one while the program is still importing (this long after it has begun importing
# its commands), then shares of the full run.
EARLY = 0.02
SHARES = (0.25, 0.5, 0.8)

COMMANDS = {
    "funnel": ["funnel", "--by-segment", "-f", "json", "-o", "{out}/funnel.json"],
    "segments": ["segments", "--refresh", "-o", "{out}/segments.csv"],
    "trends": ["trends", "$pageview", "--by-segment", "-f", "json", "-o", "{out}/trends.json"],
    "report": ["report", "weekly", "--out", "{out}/weekly"],
}


def start(home: Path, args: list[str], *, script: bool = False) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USERTRACK_")}
    env["USERTRACK_HOME"] = str(home)
    env["USERTRACK_CONFIG"] = str(home / "config.toml")
    how = [SCRIPT_LIKE, str(SCRIPT)] if script and SCRIPT.exists() else [SHELL_LIKE, "-q"]
    return subprocess.Popen(
        [sys.executable, "-c", *how, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def program_runs(proc: subprocess.Popen[str]) -> None:
    """Wait until the program has begun importing its commands (the standard library's `typing`
    extension mapped: the interpreter's own start never loads it, the command line does, after
    usertrack.launch has taken Ctrl-C over). Before that, Python is still starting (its `site`
    module, the console script's first import), which is Python's to handle, not the program's."""
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if b"/_typing." in maps.read_bytes():
                return
        except OSError:
            return
        time.sleep(0.002)


def listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_ctrl_c_at_any_moment(command: str, demo_home: Path, tmp_path: Path) -> None:
    (demo_home / "config.toml").touch()
    full = tmp_path / "full"
    full.mkdir()
    began = time.monotonic()
    proc = start(demo_home, [a.format(out=full) for a in COMMANDS[command]])
    _, stderr = proc.communicate(timeout=120)
    took = time.monotonic() - began
    assert proc.returncode == 0, stderr
    said = set(stderr.splitlines())
    whole = listing(full)
    assert whole, "the command wrote nothing"

    for n, moment in enumerate([EARLY, *(share * took for share in SHARES)]):
        out = tmp_path / f"cut{n}"
        out.mkdir()
        proc = start(demo_home, [a.format(out=out) for a in COMMANDS[command]])
        try:
            if n == 0:
                program_runs(proc)
            time.sleep(moment)
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            _, stderr = proc.communicate(timeout=ENDS_WITHIN)
        finally:
            if proc.poll() is None:  # a hang: fail, but leave nothing running
                proc.kill()
                proc.communicate()
        where = f"{command} interrupted at {moment:.2f}s of {took:.2f}s"
        assert time.monotonic() - sent < ENDS_WITHIN, where
        written = listing(out)
        if proc.returncode == 0:  # it had finished: then all of it is there
            assert written.keys() == whole.keys(), where
            continue
        if proc.returncode == -signal.SIGINT:
            # Still in the interpreter's own start, before any of usertrack ran: Python dies of
            # the signal, which a shell reports as 130 too, and says nothing.
            assert stderr == "" and written == {}, where
            continue
        assert proc.returncode == 130, f"{where}: exit {proc.returncode}: {stderr}"
        # The one line, last; before it only what the full run says too (a warning about the
        # data): never a traceback, an "Exception ignored", an error the interrupt caused.
        # What the full run said, its folder named as this run's ("wrote FILE" once written).
        lines = stderr.replace(str(out), str(full)).splitlines()
        assert lines[-1:] == ["usertrack: interrupted"], f"{where}: {stderr}"
        assert set(lines[:-1]) <= said, f"{where}: {stderr}"
        # Nothing half-written: the output as a whole, or nothing of it (no empty folder).
        assert written == {} or written.keys() == whole.keys(), f"{where}: {written}"


# The fast loop: a cheap command interrupted many times, at the earliest moment the program can
# be seen running and at random moments of its run (a seeded draw, printed on failure).
LOOP_RUNS = 80
LOOP_SECONDS = 40  # ... or fewer runs where the machine is slow, but never under MIN_RUNS
MIN_RUNS = 20
LOOP_SEED = int(os.environ.get("USERTRACK_TEST_SEED", "0")) or random.randrange(1, 10**6)


def test_ctrl_c_in_a_fast_loop(demo_home: Path, tmp_path: Path) -> None:
    """`query neon/accounts -o FILE` through the console script, LOOP_RUNS times (as many as
    LOOP_SECONDS allow, at least MIN_RUNS): a third interrupted as soon as the program runs
    (within its first milliseconds), the others at a random moment up to a little past its
    full run. Every run: no hang, exit 130 with the one line (or 0 if it had finished), the
    file whole or absent."""
    (demo_home / "config.toml").touch()
    args = ["query", "neon/accounts", "-o", "{out}/accounts.csv"]
    full = tmp_path / "full"
    full.mkdir()
    # The run's length from the moment the program runs, as the cuts below count theirs (from
    # the process's start, Python's own start would count too), the shorter of two (the first
    # is the slower, its files not yet cached): else a third of the cuts came after the end,
    # runs that only finished, with no Ctrl-C at all.
    took = float("inf")
    for _ in range(2):
        proc = start(demo_home, [a.format(out=full) for a in args], script=True)
        program_runs(proc)
        began = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        took = min(took, time.monotonic() - began)
        assert proc.returncode == 0, stderr
    whole = (full / "accounts.csv").read_bytes()
    said = set(stderr.splitlines())
    draw = random.Random(LOOP_SEED)
    outcomes: dict[str, int] = {}
    loop_began = time.monotonic()
    n = 0
    while n < MIN_RUNS or (n < LOOP_RUNS and time.monotonic() - loop_began < LOOP_SECONDS):
        n += 1
        early = n % 3 == 1
        moment = draw.uniform(0, 0.005) if early else draw.uniform(0, 1.1 * took)
        out = tmp_path / f"cut{n}"
        out.mkdir()
        proc = start(demo_home, [a.format(out=out) for a in args], script=True)
        try:
            program_runs(proc)
            time.sleep(moment)
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            _, stderr = proc.communicate(timeout=ENDS_WITHIN)
        finally:
            if proc.poll() is None:  # a hang: fail, but leave nothing running
                proc.kill()
                proc.communicate()
        where = (
            f"run {n} (seed {LOOP_SEED}): Ctrl-C {moment:.3f}s after the program began"
            f" (a full run: {took:.2f}s)"
        )
        assert time.monotonic() - sent < ENDS_WITHIN, where
        written = list(out.iterdir())
        outcomes[str(proc.returncode)] = outcomes.get(str(proc.returncode), 0) + 1
        if proc.returncode == 0:
            assert (out / "accounts.csv").read_bytes() == whole, where
            continue
        assert proc.returncode == 130, f"{where}: exit {proc.returncode}: {stderr}"
        # What the full run said, its folder named as this run's ("wrote FILE" once written).
        lines = stderr.replace(str(out), str(full)).splitlines()
        assert lines[-1:] == ["usertrack: interrupted"], f"{where}: {stderr}"
        assert set(lines[:-1]) <= said, f"{where}: {stderr}"
        assert written == [] or (out / "accounts.csv").read_bytes() == whole, f"{where}"
    # The loop did interrupt the program, not only let it finish: most runs are cut.
    assert outcomes.get("130", 0) >= n // 2, outcomes


STUCK_IN_C = """
import ctypes, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from usertrack.core import interrupts
interrupts.GRACE_SECONDS = float(sys.argv[1])
interrupts.install()
interrupts.command_starts()
libc = ctypes.CDLL(None)
mutex = ctypes.create_string_buffer(64)  # zeroed: a default glibc mutex
libc.pthread_mutex_lock(mutex)
print("stuck", ctypes.addressof(mutex), flush=True)
libc.pthread_mutex_lock(mutex)  # waits for good, in C, and never runs a Python-level handler
"""


def in_c_wait(pid: int, mutex: int) -> None:
    """Until the process's main thread waits in the kernel on the mutex's own futex. The wait
    channel alone is not enough: taking the interpreter's lock waits on a futex too, and a
    Ctrl-C sent then is handled by Python before the C lock is reached."""
    syscall = Path(f"/proc/{pid}/task/{pid}/syscall")
    wchan = Path(f"/proc/{pid}/task/{pid}/wchan")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            fields = syscall.read_text().split()
        except OSError:
            fields = []
        if len(fields) > 1 and fields[0] != "running":
            if int(fields[1], 16) == mutex:  # futex(2)'s first argument: the lock's word
                return
        elif not fields:  # no syscall file here: fall back on the wait channel
            try:
                if "futex" in wchan.read_text():
                    time.sleep(0.2)
                    return
            except OSError:
                break
        time.sleep(0.01)
    time.sleep(0.5)  # neither can be read here: let it get there


@contextlib.contextmanager
def stuck_in_c(script: str, grace: float) -> Iterator[subprocess.Popen[str]]:
    """`script` run with `grace`, once its main thread waits in C on the mutex it printed
    ("stuck ADDRESS"); killed on the way out if it still runs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(grace)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        word, address = proc.stdout.readline().split()
        assert word == "stuck"
        in_c_wait(proc.pid, int(address))
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_ends_a_main_thread_stuck_in_c(presses: int) -> None:
    """The main thread held in C code that never returns (a lock a native library waits on):
    Python's handler cannot run there, but the watchdog hears the Ctrl-C itself, so the process
    ends with the one line and 130, after the grace or at once on a second Ctrl-C. One Ctrl-C
    waits out a grace of a second (the shipped one is 3 s: the same watchdog, a shorter wait);
    two are held to end within the shipped grace."""
    from usertrack.core.interrupts import GRACE_SECONDS

    grace = 1.0 if presses == 1 else GRACE_SECONDS
    with stuck_in_c(STUCK_IN_C, grace) as proc:
        sent = time.monotonic()
        for _ in range(presses):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=ENDS_WITHIN)
        took = time.monotonic() - sent
    assert proc.returncode == 130 and stderr == "usertrack: interrupted\n", stderr
    if presses == 2:
        assert took < grace, took
    else:
        assert took >= grace - 0.1, took


STUCK_WITH_WORK = """
import ctypes, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from usertrack.cli.program import cancelled_by_ctrl_c
from usertrack.core import interrupts
from usertrack.core.errors import Cancelled
from usertrack.engines.base import pause
from usertrack.engines.concurrency import Background

interrupts.GRACE_SECONDS = float(sys.argv[1])
interrupts.install()
interrupts.command_starts()


def wait():
    try:
        pause(60)  # a wait of the command's, on a thread of its own (a poll, a retry)
    except Cancelled:
        print("cancelled", flush=True)


libc = ctypes.CDLL(None)
mutex = ctypes.create_string_buffer(64)
with cancelled_by_ctrl_c():
    Background(wait)
    libc.pthread_mutex_lock(mutex)
    print("stuck", ctypes.addressof(mutex), flush=True)
    libc.pthread_mutex_lock(mutex)
"""


def test_ctrl_c_cancels_the_commands_work_while_the_main_thread_is_stuck_in_c() -> None:
    """The command's cancel token is cancelled the moment Ctrl-C arrives, by the watchdog, not
    when the main thread gets to raise the interrupt: the command's threads (a dashboard's
    bundles polled on PostHog, whose cancel deletes them there; a query on a lane of its own)
    stop at once even while the main thread is held in C code, well within the grace after
    which the process leaves."""
    grace = 6.0
    with stuck_in_c(STUCK_WITH_WORK, grace) as proc:
        assert proc.stdout is not None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline()
        cancelled_after = time.monotonic() - sent
        proc.send_signal(signal.SIGINT)  # a second one ends it now, not after the grace
        _, stderr = proc.communicate(timeout=ENDS_WITHIN)
    assert line == "cancelled\n", (line, stderr)
    assert cancelled_after < grace / 2, cancelled_after  # not at the process's end
    assert proc.returncode == 130 and stderr == "usertrack: interrupted\n", stderr


@pytest.mark.parametrize("as_program", [True, False])
def test_the_packages_first_line_takes_ctrl_c_only_in_the_program(
    as_program: bool, tmp_path: Path
) -> None:
    """The console script imports the package before usertrack.launch: from the package's first
    line a Ctrl-C ends the start with the one line and 130 (not Python's traceback of an
    import). Any other program that imports the package keeps Python's KeyboardInterrupt."""
    script = tmp_path / ("usertrack" if as_program else "my_tool")
    script.write_text(
        "import os, signal, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import usertrack\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "time.sleep(5)\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    if as_program:
        assert (proc.returncode, proc.stderr) == (130, "usertrack: interrupted\n")
    else:
        assert proc.returncode != 130 and "KeyboardInterrupt" in proc.stderr


@pytest.mark.parametrize("cut", ["probe", "temp file", "writing"])
def test_ctrl_c_inside_an_atomic_write_leaves_nothing(
    cut: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C as mkstemp has just made its file (the probe's, or the output's temp file), before
    it could return the name, or while rows are written: no file and no folder is left, in a
    folder that existed and in one the write created. (The fast loop met a probe file left.)"""
    import tempfile

    from usertrack.rendering.output import atomic_file

    real = tempfile.mkstemp

    def interrupted(*args: object, **kwargs: object) -> tuple[int, str]:
        made = real(*args, **kwargs)  # type: ignore[call-overload]
        probe = "probe" in str(kwargs.get("prefix"))
        if cut != "writing" and probe == (cut == "probe"):
            raise KeyboardInterrupt  # the file exists; its name never came back
        return made  # type: ignore[no-any-return]

    monkeypatch.setattr(tempfile, "mkstemp", interrupted)
    existing = tmp_path / "existing"
    existing.mkdir()
    for target in (existing / "out.csv", tmp_path / "new" / "deeper" / "out.csv"):
        with pytest.raises(KeyboardInterrupt), atomic_file(target) as fh:
            fh.write("a,b\n")
            if cut == "writing":
                raise KeyboardInterrupt
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")] == ["existing"]


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_ctrl_c_while_files_are_written_together_leaves_none_of_them(
    cut: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report and the charts beside it (rendering.output.write_together): Ctrl-C as the
    `cut`th file is written leaves none of the new ones, the old ones as they were, and no
    folder made for them; uncut, every one is in place."""
    import tempfile

    from usertrack.rendering.output import write_together

    real = tempfile.mkstemp
    made: list[str] = []

    def counted(*args: object, **kwargs: object) -> tuple[int, str]:
        if "probe" not in str(kwargs.get("prefix")):
            made.append(str(kwargs.get("prefix")))
            if len(made) == cut:
                raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[call-overload,no-any-return]

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "report.md").write_text("old report\n", encoding="utf-8")
    (existing / "report-01.svg").write_text("old chart\n", encoding="utf-8")
    for folder in (existing, tmp_path / "new" / "deeper"):
        files = {folder / n: f"new {n}\n" for n in ("report-01.svg", "report-02.svg", "report.md")}
        made.clear()
        monkeypatch.setattr(tempfile, "mkstemp", counted)
        with pytest.raises(KeyboardInterrupt):
            write_together(files)
        monkeypatch.setattr(tempfile, "mkstemp", real)
    left = {str(p.relative_to(tmp_path)): p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert left == {"existing/report.md": "old report\n", "existing/report-01.svg": "old chart\n"}
    assert [p.name for p in tmp_path.iterdir()] == ["existing"]
    write_together(files)  # the last folder's, uncut
    assert {p.name: p.read_text() for p in files} == {p.name: t for p, t in files.items()}


def test_a_refused_report_leaves_the_charts_beside_it(tmp_path: Path) -> None:
    """A report that differs from the one there is refused without --force, and the charts
    beside the one there are left as they were, not replaced by this run's."""
    from usertrack.core.errors import UsageError
    from usertrack.reports.weekly import write_report

    report = tmp_path / "2026-W47.md"
    chart = tmp_path / "2026-W47-01-funnel.svg"
    assert write_report(report, "first\n", beside={chart: "<svg>1</svg>"}) == "wrote"
    with pytest.raises(UsageError, match="add --force"):
        write_report(report, "second\n", beside={chart: "<svg>2</svg>"})
    assert (report.read_text(), chart.read_text()) == ("first\n", "<svg>1</svg>")
    chart.unlink()  # the same report again: its chart written where it went missing
    assert write_report(report, "first\n", beside={chart: "<svg>1</svg>"}) == "unchanged"
    assert chart.read_text() == "<svg>1</svg>"
    assert write_report(report, "second\n", force=True, beside={chart: "<svg>2</svg>"}) == (
        "replaced"
    )
    assert (report.read_text(), chart.read_text()) == ("second\n", "<svg>2</svg>")


HOLDING = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from usertrack.core import interrupts

from usertrack.cli.program import cancelled_by_ctrl_c
from usertrack.engines.base import current_token

interrupts.GRACE_SECONDS = 1.0  # the shipped 3 s: the same watchdog, a shorter wait
interrupts.install()
interrupts.command_starts()
try:
    with cancelled_by_ctrl_c(), interrupts.held():
        print("holding", flush=True)
        time.sleep(interrupts.GRACE_SECONDS + 1.5)
        print("done", "cancelled" if current_token().cancelled else "going on", flush=True)
except KeyboardInterrupt:
    print("raised after", flush=True)
"""


def test_a_block_that_holds_ctrl_c_is_not_cut_by_the_watchdog() -> None:
    """A Slack post and its record hold Ctrl-C until they are over (then raise it): the
    watchdog, which hears every Ctrl-C at once, leaves such a block alone past its grace."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDING], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=ENDS_WITHIN)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # nor does it cancel the command's work meanwhile: the block's steps all happen
    assert out == "done going on\nraised after\n" and proc.returncode == 0, (out, proc.returncode)
