"""The console script's start: pandas is never imported, though pyarrow would import it (a fifth
of a second) the first time it is handed a list, only to ask whether that is a pandas object."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The console script's start (launch.main calls it first), then pyarrow handed a list, a scalar
# and a dict of columns as the commands hand them, and a table read back.
AFTER_START = """
import sys
from usertrack import launch
launch.leave_pandas_out()
launch.leave_pandas_out()
assert sys.meta_path.count(launch.NoPandas) == 1
import pyarrow as pa
import pyarrow.compute as pc
numbers = pa.array([3, 1, 2])
assert pc.sum(numbers).as_py() == 6
assert pa.scalar(None, pa.int32()).as_py() is None
table = pa.table({"email": ["a@x.io", "b@x.io"], "n": [1, 2]})
assert table.column("n").to_pylist() == [1, 2]
print("pandas imported:", "pandas" in sys.modules)
"""


def test_the_console_script_leaves_pandas_unimported() -> None:
    pytest.importorskip("pandas")  # the test says something only where pandas is installed
    done = subprocess.run(
        [sys.executable, "-c", AFTER_START], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "pandas imported: False"


def test_a_pandas_import_in_the_program_is_one_clear_error() -> None:
    from usertrack.launch import NoPandas

    with pytest.raises(ModuleNotFoundError, match="pandas"):
        NoPandas.find_spec("pandas")
    assert NoPandas.find_spec("pandasql") is None
    assert NoPandas.find_spec("pyarrow") is None


def test_the_console_script_starts_by_leaving_pandas_out() -> None:
    import inspect

    from usertrack import launch

    body = inspect.getsource(launch.main)
    assert body.index("leave_pandas_out()") < body.index("from usertrack.cli import main")


def test_a_command_named_on_the_line_is_built_alone() -> None:
    """Typer builds a Click command for every command before it parses the line: the console
    script gives it the one named, and the whole program for anything else."""
    import typer.main
    from typer.testing import CliRunner

    from usertrack.cli import app
    from usertrack.cli.program import app_for

    every = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert len(every) > 20
    for line, alone in (
        (["funnel", "--who", "x"], "funnel"),
        (["-q", "-v", "--insecure", "report", "weekly"], "report"),
        (["sync", "posthog"], "sync"),
    ):
        group = typer.main.get_command(app_for(line))
        assert set(group.commands) == {alone}, line  # type: ignore[attr-defined]
        runner = CliRunner()
        help_alone = runner.invoke(app_for(line), [alone, "--help"])
        assert help_alone.exit_code == 0
        assert help_alone.output == runner.invoke(app, [alone, "--help"]).output
    for line in (["--help"], ["funel"], ["-qv", "funnel"], []):
        assert app_for(line) is app, line
    assert set(typer.main.get_command(app).commands) == every  # the program keeps them all


def test_a_dashboards_commands_are_built_alone() -> None:
    """A dashboard's panels check their options with their commands' own: only the commands
    they name are built, each the program's own, and a name no command has is left out."""
    import typer.main

    from usertrack.cli import app
    from usertrack.cli.program import app_of

    every = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    some = typer.main.get_command(app_of({"funnel", "retention", "alerts", "metrics"}))
    assert set(some.commands) == {"funnel", "retention", "alerts"}  # type: ignore[attr-defined]
    for name, command in some.commands.items():  # type: ignore[attr-defined]
        assert [p.name for p in command.params] == [p.name for p in every[name].params]
    assert set(typer.main.get_command(app).commands) == set(every)  # the program keeps them all


# The console script's start with the program replaced by one that prints what it finds: the
# environment variable's value, or which allocator pyarrow's buffers come from.
OPENBLAS_AT_START = """
import os
print(os.environ.get("OPENBLAS_NUM_THREADS"))
"""
ARROW_POOL_AT_START = """
import pyarrow as pa
print(pa.default_memory_pool().backend_name)
"""
CONSOLE_SCRIPT = """
import sys, types
program = types.ModuleType("usertrack.cli")
program.main = lambda: exec({body!r})
sys.modules["usertrack.cli"] = program
from usertrack import launch
launch.main()
"""


def _started(variable: str, given: str | None, body: str) -> str:
    """What `body` prints when the console script runs it as the program, with `variable` set
    to `given` beforehand (None: unset)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != variable}
    if given is not None:
        env[variable] = given
    done = subprocess.run(
        [sys.executable, "-c", CONSOLE_SCRIPT.format(body=body)], capture_output=True,
        text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("3", "3")])
def test_openblas_starts_one_thread_unless_the_user_set_their_own(
    given: str | None, seen: str
) -> None:
    """numpy (imported by pyarrow and DuckDB) starts OpenBLAS with a thread a core unless told
    otherwise before it loads: the console script says one, before anything is imported, and
    keeps a number the user set."""
    assert _started("OPENBLAS_NUM_THREADS", given, OPENBLAS_AT_START) == seen


@pytest.mark.parametrize(("given", "seen"), [(None, "system"), ("jemalloc", "jemalloc")])
def test_arrows_buffers_come_from_the_system_allocator_unless_the_user_set_one(
    given: str | None, seen: str
) -> None:
    """pyarrow's default allocator (mimalloc) asks the kernel for transparent huge pages, each
    found and zeroed whole at its first touch: the console script has Arrow use the C library's
    allocator instead, before pyarrow loads, and keeps one the user set."""
    assert _started("ARROW_DEFAULT_MEMORY_POOL", given, ARROW_POOL_AT_START) == seen
