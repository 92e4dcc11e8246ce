"""The test sessions' temporary roots (tests/conftest.py): each session's own, the ended
sessions' removed but the newest ones, whatever another session starting meanwhile does."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import pytest

from tests import conftest

# No process has this id (above Linux's largest pid_max): a session that has ended.
ENDED_PID = 2**22 + 1


def test_ended_sessions_are_removed_but_the_newest_even_as_another_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    parent = tmp_path / f"usertrack-tests-{os.getuid()}"
    parent.mkdir()
    ended = []
    for k in range(conftest.KEEP_SESSIONS + 2):
        folder = parent / f"{ENDED_PID}-{k}"
        folder.mkdir()
        os.utime(folder, (time.time() - 100 + k, time.time() - 100 + k))
        ended.append(folder)
    # listed, then removed by another session starting meanwhile (as if): its stat fails
    (parent / f"{ENDED_PID}-gone").symlink_to(tmp_path / "removed")
    live = parent / f"{os.getpid()}-0"
    live.mkdir()
    root = conftest._session_root()
    assert root is not None
    assert root.parent == parent and root.is_dir() and root.name == str(os.getpid())
    kept = {p.name for p in parent.iterdir() if p.is_dir()}
    newest = {f.name for f in ended[-conftest.KEEP_SESSIONS :]}
    assert kept == newest | {live.name, root.name}


def test_parses_are_kept_for_the_next_sessions_under_the_parsers_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostHog's parses outlive a session, beside the sessions' roots: read again only under
    the hogql-parser version that made them, each read keeping it, and one unread for
    PARSES_KEPT_DAYS removed as a session starts; a session's cleanup leaves the folder."""
    from importlib.metadata import version

    from tests import hogql_printer

    folder = conftest._kept_parses(tmp_path)
    assert folder == tmp_path / f"hogql-parses-{version('hogql-parser')}"
    monkeypatch.setenv(hogql_printer.SHARED_PARSES, str(folder))
    read, unread = "SELECT 1 AS kept_parse_read", "SELECT 1 AS kept_parse_unread"
    for text in (read, unread):
        hogql_printer._parsed(text)
    hogql_printer._parsed.cache_clear()  # as the next session starts
    weeks_ago = time.time() - (conftest.PARSES_KEPT_DAYS + 1) * 86_400
    for kept in folder.iterdir():
        os.utime(kept, (weeks_ago, weeks_ago))
    hogql_printer._parsed(read)  # a test of this session sends it: read, so kept
    assert conftest._kept_parses(tmp_path) == folder
    names = {p.name for p in folder.iterdir()}
    assert hashlib.sha256(read.encode()).hexdigest() in names
    assert hashlib.sha256(unread.encode()).hexdigest() not in names
    # a session starting beside it leaves it
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    parent = tmp_path / f"usertrack-tests-{os.getuid()}"
    parent.mkdir()
    beside = conftest._kept_parses(parent)
    assert conftest._session_root() is not None and beside.is_dir()


def test_a_tests_folder_leaves_room_for_a_demo_servers_socket(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A demo home made in a test's folder (tests/demo/test_demo_server.py) keeps its server's
    socket in it only while the socket's path fits sun_path (108 bytes with its NUL): longer,
    pgserver puts it in a shared folder and the server cannot outlive the command. The
    session's root is short enough for the longest test folder name pytest makes."""
    if getattr(conftest, "SESSION_ROOT", "") is None:
        pytest.skip("the developer chose the temporary folder")
    name = "t" * 30 + "0"  # pytest cuts a test's name to 30 characters, then numbers it
    home = tmp_path_factory.getbasetemp() / name / "fresh"
    assert len(os.fsencode(home / "demo" / "pg" / ".s.PGSQL.5432")) < 108


def test_a_shared_folder_others_may_write_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another local user could make the shared folder first, or a link in its place: then the
    session keeps pytest's own default, which checks its folder likewise."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    parent = tmp_path / f"usertrack-tests-{os.getuid()}"
    parent.mkdir()
    parent.chmod(0o777)
    assert conftest._session_root() is None
    parent.rmdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    parent.symlink_to(elsewhere)
    assert conftest._session_root() is None
    parent.unlink()
    assert conftest._session_root() is not None


def _probe(tmp_path: Path, *options: str) -> list[list[str]]:
    """Run PROBE in a pytest of its own, with the repository's conftest as a plugin and its
    temporary folders in `tmp_path`: where each test of it ran (worker, basetemp, root)."""
    import subprocess
    import sys

    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "test_probe.py").write_text(PROBE)
    out = tmp_path / "seen.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "USERTRACK_"))}
    env |= {"PROBE_OUT": str(out), "TMPDIR": str(tmp_path / "tmp")}
    env["PYTHONPATH"] = str(conftest.REPO)
    (tmp_path / "tmp").mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(tmp_path / "probe"),
         "-p", "tests.conftest", "-p", "no:cacheprovider", "-q", *options, "probe/test_probe.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return sorted(line.split() for line in out.read_text().splitlines())


PROBE = """
import os

from tests import conftest


def test_probe(tmp_path_factory):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "in-process")
    line = f"{worker} {tmp_path_factory.getbasetemp()} {conftest.SESSION_ROOT}\\n"
    with open(os.environ["PROBE_OUT"], "a") as out:
        out.write(line)
"""


def test_each_xdist_worker_has_a_short_folder_of_its_own_in_the_sessions_root(
    tmp_path: Path,
) -> None:
    """pytest-xdist workers (the suite's default) each start their own PostgreSQL and demos:
    each in a folder of its own, named by the worker alone, in the session's root (not
    xdist's longer popen-gwN), so a demo's socket fits there too."""
    # --dist each: the one probe runs on every worker
    seen = _probe(tmp_path, "-n", "2", "--dist", "each")
    assert [worker for worker, _, _ in seen] == ["gw0", "gw1"]
    parent = tmp_path / "tmp" / f"usertrack-tests-{os.getuid()}"
    # the controller's session root, named by its pid, beside the parses kept between sessions
    (root,) = [p for p in parent.iterdir() if p.name.isdigit()]
    assert {p.name for p in parent.iterdir()} == {root.name, conftest._kept_parses(parent).name}
    for worker, basetemp, session_root in seen:
        assert basetemp == session_root == str(root / worker)


def test_tests_of_one_file_run_in_process_with_no_workers(tmp_path: Path) -> None:
    """`-n auto` (the default) with one file named, as a developer runs it: every test of a
    file goes to one worker (--dist loadfile), so none is started; the tests run at once."""
    ((worker, basetemp, session_root),) = _probe(tmp_path, "-n", "auto", "--dist", "loadfile")
    assert worker == "in-process"
    parent = tmp_path / "tmp" / f"usertrack-tests-{os.getuid()}"
    (root,) = [p for p in parent.iterdir() if p.name.isdigit()]
    assert basetemp == session_root == str(root)
