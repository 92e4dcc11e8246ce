"""The console script's start: pandas is never imported, though pyarrow would import it (a fifth
of a second) the first time it is handed a list, only to ask whether that is a pandas object."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


# The console script's start, then psycopg imported: its version and its compiled part's are
# importlib.metadata's, which is never imported.
VERSIONS_AFTER_START = """
import sys
from usertrack import launch
launch.read_versions_directly()
launch.read_versions_directly()
assert sys.meta_path.count(launch.PackageVersions) == 1
import psycopg
import psycopg_binary
print(psycopg.__version__, psycopg_binary.__version__, psycopg.pq.__impl__)
print("importlib.metadata imported:", "importlib.metadata" in sys.modules)
"""


def test_psycopg_versions_are_read_without_importlib_metadata() -> None:
    pytest.importorskip("psycopg_binary")  # the compiled part whose version is served
    from importlib.metadata import version

    done = subprocess.run(
        [sys.executable, "-c", VERSIONS_AFTER_START], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    versions, imported = done.stdout.strip().splitlines()[-2:]
    assert versions == f"{version('psycopg')} {version('psycopg-binary')} binary"
    assert imported == "importlib.metadata imported: False"


def test_a_version_is_read_from_the_distribution_beside_the_package(tmp_path: Path) -> None:
    from usertrack.launch import PackageVersions, distribution_version

    package = tmp_path / "psycopg_binary"
    package.mkdir()
    info = tmp_path / "psycopg_binary-9.8.7.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: psycopg-binary\nVersion: 9.8.7\n\nVersion: 1.0\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        assert distribution_version("psycopg_binary", str(package)) == "9.8.7"
        spec = PackageVersions.find_spec("psycopg_binary.version", [str(package)])
        assert spec is not None and spec.name == "psycopg_binary.version"
        module = type(sys)("psycopg_binary.version")
        spec.loader.exec_module(module)
        assert module.__version__ == "9.8.7"
        # another package's module, or one without a package path: the usual import
        assert PackageVersions.find_spec("psycopg_binary.pq", [str(package)]) is None
        assert PackageVersions.find_spec("psycopg_binary.version", None) is None
        # two distributions of that name, or one elsewhere first on sys.path: the usual import
        (tmp_path / "psycopg_binary-9.8.8.dist-info").mkdir()
        assert distribution_version("psycopg_binary", str(package)) is None
        (tmp_path / "psycopg_binary-9.8.8.dist-info").rmdir()
        elsewhere = tmp_path / "elsewhere"
        (elsewhere / "psycopg_binary-1.0.dist-info").mkdir(parents=True)
        sys.path.insert(0, str(elsewhere))
        assert distribution_version("psycopg_binary", str(package)) is None
    finally:
        sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path))]


def test_the_console_script_reads_versions_directly_before_the_program() -> None:
    import inspect

    from usertrack import launch

    body = inspect.getsource(launch.main)
    assert body.index("read_versions_directly()") < body.index("from usertrack.cli import main")
