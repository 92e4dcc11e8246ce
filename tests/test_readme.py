"""The README works as written: every `usertrack ...` line of its ```console blocks runs on the
small demo, in a fresh folder, and exits 0 (or the code its comment documents: "exits 9").

The commands are parsed from README.md, not copied here, so an edit to the README is tested as
it is. A line is skipped only by name, with the reason: ones that need live credentials.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from usertrack.cli import app

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

# Commands that cannot run without a live service, by name.
SKIP_COMMANDS = {
    "insight": "reads a saved insight from PostHog's API: needs POSTHOG_PERSONAL_API_KEY",
}
# A block that exports credentials first is about the user's own PostHog and Postgres.
_LIVE_EXPORT = re.compile(r"^export\s+(DATABASE_URL|POSTHOG_\w+)=")
# Files a command names that a newcomer would make from the shipped ones first.
SHIPPED = {
    "--segments": REPO / "segments.yaml",
    "--queries": REPO / "queries",
    "--failures": REPO / "failures.yaml",
    "--template": REPO / "usertrack" / "reports" / "templates" / "weekly.md.j2",
    "--plan": REPO / "tracking-plan.yaml",
}
# A line whose comment says "exits N" documents that exit code (e.g. a CI gate that fails).
_EXITS = re.compile(r"#.*\bexits (\d+)\b")
_SHELL_OPERATORS = {">", ">>", "2>", "|", "&&", ";"}
DEMO_USERS = "60"  # `demo --users 100000` takes minutes; the same command at a small size


@dataclass(frozen=True)
class ReadmeCommand:
    line: int
    text: str
    args: tuple[str, ...]
    skip: str | None
    exit_code: int = 0

    @property
    def id(self) -> str:
        return f"README.md:{self.line} {' '.join(self.args)}"


def readme_commands() -> list[ReadmeCommand]:
    commands: list[ReadmeCommand] = []
    block: list[tuple[int, str]] | None = None
    for number, raw in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if block is None:
            if line.startswith("```console"):
                block = []
            continue
        if line.startswith("```"):
            live = next((text for _, text in block if _LIVE_EXPORT.match(text)), None)
            for n, text in block:
                words = shlex.split(text, comments=True)
                # What the shell does with the output is not usertrack's: `> file`, `| head`.
                cut = [i for i, w in enumerate(words) if w in _SHELL_OPERATORS]
                words = words[: cut[0]] if cut else words
                if words[:2] == ["uv", "run"]:
                    words = words[2:]
                if not words or words[0] != "usertrack":
                    continue
                args = tuple(words[1:])
                skip = SKIP_COMMANDS.get(args[0]) if args else None
                if live is not None:
                    skip = f"after `{live.split('=')[0]}=...` in its block: needs live credentials"
                said = _EXITS.search(text)
                code = int(said.group(1)) if said else 0
                commands.append(ReadmeCommand(n, text, args, skip, code))
            block = None
            continue
        block.append((number, line))
    return commands


COMMANDS = readme_commands()


def test_the_readme_documents_every_command() -> None:
    """The parser found the commands, and every command of the CLI is shown at least once."""
    import typer.main

    group = typer.main.get_command(app)
    shown = {c.args[0] for c in COMMANDS if c.args}
    assert len(COMMANDS) >= 10
    assert set(group.commands) - shown == set()  # type: ignore[attr-defined]


def _prepare(args: tuple[str, ...], cwd: Path) -> list[str]:
    """The command as a newcomer runs it: their own copies of the files it names."""
    out = list(args)
    for i, word in enumerate(out[:-1]):
        shipped = SHIPPED.get(word)
        target = cwd / out[i + 1]
        if shipped is None or target.exists():
            continue
        if shipped.is_dir():
            shutil.copytree(shipped, target)
        else:
            shutil.copyfile(shipped, target)
    if out and out[0] == "demo" and "--users" in out:
        out[out.index("--users") + 1] = DEMO_USERS
    return out


def test_the_readme_lists_every_config_file_key() -> None:
    """Issue 19 item 11: the `[slack]` and `[capture]` sections were missing from the README."""
    from usertrack.config import CONFIG_KEYS

    row = next(
        ln for ln in README.read_text().splitlines() if ln.startswith("| `USERTRACK_CONFIG`")
    )
    for section, keys in CONFIG_KEYS.items():
        listed = re.search(rf"`\[{section}\]` \(([^)]*)\)", row)
        assert listed is not None, section
        assert set(re.findall(r"`(\w+)`", listed.group(1))) == set(keys), section


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_readme_command_runs_as_written(
    command: ReadmeCommand, demo_home: Path, tmp_path: Path
) -> None:
    if command.skip:
        pytest.skip(command.skip)
    cwd = tmp_path / "clone"
    cwd.mkdir()
    args = _prepare(command.args, cwd)
    # `demo --reset` would regenerate the session's shared demo: give it a home of its own.
    home = tmp_path / "home" if args and args[0] == "demo" else demo_home
    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(home))
    mp.chdir(cwd)
    try:
        result = CliRunner().invoke(app, args)
    finally:
        mp.undo()
    assert result.exit_code == command.exit_code, f"{command.text}\n{result.stderr}"
    if command.exit_code == 0:
        assert "error" not in result.stderr, result.stderr
