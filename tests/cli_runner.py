"""Run the CLI as a user would, through Typer's runner, in the repository, with given settings."""

from __future__ import annotations

from pathlib import Path

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
