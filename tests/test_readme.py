"""The README and the documentation pages work as written: every `usertrack ...` line of their
```console blocks runs on the small demo, in a fresh folder, and exits 0 (or the code its comment
documents: "exits 9"); every number of their JSON examples is one the command gives on the demo.

The commands are parsed from the pages, not copied here, so an edit to a page is tested as it is.
A line is skipped only by name, with the reason: ones that need live credentials.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from usertrack.cli import app

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
# Every page a user reads: the README and the documentation site's pages (the generated command
# reference holds help text, no examples).
PAGES = [README, *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "commands.md")]

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
    page: str
    line: int
    text: str
    args: tuple[str, ...]
    skip: str | None
    exit_code: int = 0

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line} {' '.join(self.args)}"


def readme_commands() -> list[ReadmeCommand]:
    return [c for page in PAGES for c in page_commands(page)]


def page_commands(page: Path) -> list[ReadmeCommand]:
    name = str(page.relative_to(REPO))
    commands: list[ReadmeCommand] = []
    block: list[tuple[int, str]] | None = None
    for number, raw in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
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
                commands.append(ReadmeCommand(name, n, text, args, skip, code))
            block = None
            continue
        block.append((number, line))
    return commands


COMMANDS = readme_commands()


def test_the_readme_documents_every_command() -> None:
    """The parser found the commands, and every command of the CLI is shown at least once, in
    the README itself for the five questions' commands."""
    import typer.main

    group = typer.main.get_command(app)
    shown = {c.args[0] for c in COMMANDS if c.args}
    assert len(COMMANDS) >= 10
    assert set(group.commands) - shown == set()  # type: ignore[attr-defined]
    in_readme = {c.args[0] for c in COMMANDS if c.args and c.page == "README.md"}
    assert {"segments", "user", "funnel", "retention", "failures", "tracking-plan"} <= in_readme


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


# The pages' JSON examples are the default demo's (2,000 users) as of its day, run by these
# commands; the block is told by a key only its command writes. The `segments` example (its
# users are made up: ana@acme.io) shows the shape only.
EXAMPLES_AS_OF = "2026-11-22"
EXAMPLE_COMMANDS = {
    '"coverage"': ["tracking-plan"],
    '"window_seconds"': ["funnel", "--by", "$browser"],
    '"cohorts"': ["retention"],
    '"buckets"': ["sessions"],
    '"total_sequences"': ["paths"],
    '"stickiness"': ["activity"],
    '"by": "feature"': ["features"],
    '"mcp_vs_builtin"': ["tools"],
    '"pii": {"findings"': ["tracking-plan"],
}


@pytest.fixture(scope="module")
def readme_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from datetime import date

    from usertrack.demo.generator import ensure_demo, stop_demo

    home = tmp_path_factory.mktemp("readme-demo")
    ensure_demo(home, users=2000, anchor=date.fromisoformat(EXAMPLES_AS_OF))
    yield home
    stop_demo(home)


def _numbers(doc: Any, out: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every (key, number or null) of a JSON document, at any depth."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(value, (dict, list)):
                _numbers(value, out)
            elif value is None or isinstance(value, (int, float)):
                out.add((key, json.dumps(value)))
    elif isinstance(doc, list):
        for value in doc:
            _numbers(value, out)
    return out


def test_the_json_examples_are_the_demos_numbers(readme_demo: Path) -> None:
    """Numbers in the documentation went stale (exit /dashboard 1797 where the demo gives 1795,
    30m+ 686 for 690, total_sequences 8590 for 8592). Every number of every example of every
    page (`"key": 123`, elisions aside) is one the command's JSON has today."""
    blocks = [
        block
        for page in PAGES
        for block in re.findall(r"```json\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    ]
    checked = 0
    for block in blocks:
        command = next((c for key, c in EXAMPLE_COMMANDS.items() if key in block), None)
        if command is None and '"mcpServers"' in block:  # an MCP client's configuration
            json.loads(block)  # as pasted: valid JSON
            continue
        if command is None:
            assert '"ana@acme.io"' in block, f"a JSON example of no known command:\n{block}"
            continue
        mp = pytest.MonkeyPatch()
        mp.setenv("USERTRACK_HOME", str(readme_demo))
        mp.chdir(REPO)
        try:
            result = CliRunner().invoke(
                app, ["-q", *command, "--as-of", EXAMPLES_AS_OF, "-f", "json"]
            )
        finally:
            mp.undo()
        assert result.exit_code == 0, result.stderr
        real = _numbers(json.loads(result.stdout), set())
        shown = set(re.findall(r'"(\w+)": (-?\d+(?:\.\d+)?|null)\b', block))
        stale = sorted(shown - real)
        assert not stale, f"usertrack {' '.join(command)}: numbers not in its JSON: {stale}"
        checked += 1
    assert checked == len(EXAMPLE_COMMANDS)


def test_the_docs_list_every_config_file_key() -> None:
    """The `[slack]` and `[capture]` sections were once missing from the documentation."""
    from usertrack.core.config import CONFIG_KEYS

    page = REPO / "docs" / "connecting.md"
    row = next(ln for ln in page.read_text().splitlines() if ln.startswith("| `USERTRACK_CONFIG`"))
    for section, keys in CONFIG_KEYS.items():
        listed = re.search(rf"`\[{section}\]` \(([^)]*)\)", row)
        assert listed is not None, section
        assert set(re.findall(r"`(\w+)`", listed.group(1))) == set(keys), section


# What each command line gave, by its words: a line the pages show more than once (`usertrack
# segments`, `usertrack doctor`, ...) is run once and its result read for each of its places.
_RAN: dict[tuple[str, ...], Result] = {}


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_readme_command_runs_as_written(
    command: ReadmeCommand, demo_home: Path, tmp_path: Path
) -> None:
    if command.skip:
        pytest.skip(command.skip)
    result = _RAN.get(command.args)
    if result is None:
        result = _RAN[command.args] = _run_as_written(command, demo_home, tmp_path)
    assert result.exit_code == command.exit_code, f"{command.text}\n{result.stderr}"
    if command.exit_code == 0:
        assert "error" not in result.stderr, result.stderr


def _run_as_written(command: ReadmeCommand, demo_home: Path, tmp_path: Path) -> Result:
    """`command` run as a newcomer runs it, in a fresh folder of its own."""
    cwd = tmp_path / "clone"
    cwd.mkdir()
    args = _prepare(command.args, cwd)
    # `demo --reset` would regenerate the session's shared demo: give it a home of its own.
    home = tmp_path / "home" if args and args[0] == "demo" else demo_home
    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(home))
    mp.chdir(cwd)
    try:
        return CliRunner().invoke(app, args)
    finally:
        mp.undo()
