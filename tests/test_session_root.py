"""The test sessions' temporary roots (tests/conftest.py): each session's own, the ended
sessions' removed but the newest ones, whatever another session starting meanwhile does."""

from __future__ import annotations

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


def test_a_tests_folder_leaves_room_for_a_demo_servers_socket(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A demo home made in a test's folder (tests/test_demo_server.py) keeps its server's
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
