"""Write docs/commands.md from the CLI's own help, so the command reference cannot drift.

    uv run python scripts/gen_commands.py           # rewrite docs/commands.md
    uv run python scripts/gen_commands.py --check   # exit 1 when the committed page differs

The page is every command's `--help`, as `usertrack COMMAND --help` prints it at 100 columns,
in the order the CLI lists them. tests/test_docs.py runs the check, so CI fails when an option
changes and the page was not regenerated.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer.main

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "docs" / "commands.md"
WIDTH = 100

HEADER = """\
# Commands

Every command's `--help`, as the CLI prints it. This page is generated from the CLI by
`uv run python scripts/gen_commands.py`; a test fails when it differs from what the CLI says.
Examples of each command in use are in [Recipes](recipes.md); what each figure means is in
[Metrics](metrics.md).

Global options go before the command (`usertrack -q segments`). `-h` is `--help` everywhere.
"""


def _walk(command: Any, parent: Any, path: list[str]) -> list[tuple[str, str]]:
    # typer carries its own copy of click: its command's own context class and settings.
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = command.context_class(command, info_name=path[-1], parent=parent, **settings)
    pages = [(" ".join(path), command.get_help(ctx).rstrip())]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                pages.extend(_walk(sub, ctx, [*path, name]))
    return pages


def render() -> str:
    from usertrack.cli import app

    root = typer.main.get_command(app)
    out = [HEADER]
    for name, text in _walk(root, None, ["usertrack"]):
        out.append(f"\n## `{name}`\n\n```text\n{text}\n```\n")
    return "".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(
                f"{PAGE.relative_to(REPO)} differs from the CLI's help: run "
                "`uv run python scripts/gen_commands.py` and commit it",
                file=sys.stderr,
            )
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
