"""Run the CLI as a user would, through Typer's runner, in the repository, with given settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from usertrack.cli import app

REPO = Path(__file__).resolve().parent.parent


def run(args: list[str], home: Path | None = None, **env: str) -> Result:
    """`usertrack ARGS` with USERTRACK_HOME=home (when given) and the environment `env`."""
    mp = pytest.MonkeyPatch()
    if home is not None:
        mp.setenv("USERTRACK_HOME", str(home))
    for key, value in env.items():
        mp.setenv(key, value)
    mp.chdir(REPO)
    try:
        return CliRunner().invoke(app, args)
    finally:
        mp.undo()


def run_json(home: Path, *args: str) -> dict[str, Any]:
    """`usertrack -q ARGS -f json` with USERTRACK_HOME=home, which must succeed: its answer."""
    result = run(["-q", *args, "-f", "json"], home=home)
    assert result.exit_code == 0, (args, result.stderr)
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def run_board(home: Path, board: Path, *args: str, text: str | None = None) -> dict[str, Any]:
    """`usertrack -q report BOARD -f json --out - ARGS` with USERTRACK_HOME=home, which must
    succeed: the dashboard's answer (its "panels", its period). `text`, when given, is first
    written to BOARD."""
    if text is not None:
        board.write_text(text, encoding="utf-8")
    return run_json(home, "report", str(board), "--out", "-", *args)


def board_refused(home: Path, board: Path) -> str:
    """`usertrack -q report BOARD -f json --out -`, which must be refused as a usage error
    (exit 2) before anything is written: its stderr."""
    result = run(["-q", "report", str(board), "-f", "json", "--out", "-"], home=home)
    assert result.exit_code == 2 and result.stdout == "", (result.exit_code, result.stdout)
    return result.stderr


def query_listing(folder: Path) -> dict[str, list[str]]:
    """`usertrack query --list --queries FOLDER`: each query id with the lines listed under it
    (its parameters, its shortcut), read from the command's own output."""
    result = CliRunner().invoke(app, ["query", "--list", "--queries", str(folder)])
    assert result.exit_code == 0, result.stderr
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for line in result.stdout.splitlines():
        if not line.startswith(" "):
            current = out.setdefault(line.split()[0], [])
        else:
            current.append(line.strip())
    return out


def all_have_open(path: Path, pids: list[int]) -> bool:
    """Whether every process of `pids` has `path` open (Linux's /proc/PID/fd): with a lock
    file, that each has come to the lock, the one holding it or waiting for it."""
    import os

    target = os.path.realpath(path)
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        try:
            names = os.listdir(fds)
        except OSError:
            return False
        opened = False
        for name in names:
            try:
                opened = os.readlink(fds / name) == target
            except OSError:
                continue
            if opened:
                break
        if not opened:
            return False
    return True
