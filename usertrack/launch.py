"""The `usertrack` console script: Ctrl-C taken over (usertrack.interrupts) before anything
else is imported, then the program."""

from __future__ import annotations

# The C module itself: `signal` imports enum, 30 ms in which Ctrl-C would still be Python's.
import _signal
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def main() -> Any:
    # Until usertrack.interrupts is in place: Ctrl-C ends the start at once, in one line (the
    # package's first line did so already where the console script imported it).
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _starting)
    from usertrack import interrupts

    interrupts.install()
    leave_pandas_out()
    read_versions_directly()
    from usertrack.cli import main as program

    return program()


def _starting(signum: int, frame: object) -> None:
    os.write(2, b"usertrack: interrupted\n")
    os._exit(130)


def leave_pandas_out() -> None:
    """NoPandas first on `sys.meta_path`, once."""
    import sys

    if NoPandas not in sys.meta_path:
        sys.meta_path.insert(0, NoPandas)  # type: ignore[arg-type]


class NoPandas:
    """A finder that says pandas is not installed, first on the console script's `sys.meta_path`.
    usertrack never uses pandas (it is no dependency of usertrack, though another package may
    install it), but pyarrow imports it, a fifth of a second, the first time it is handed a list,
    a scalar or a dict of columns, only to ask whether that is a pandas object; DuckDB looks for
    it only where it is imported already."""

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> Any:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def read_versions_directly() -> None:
    """PackageVersions first on `sys.meta_path`, once."""
    import sys

    if PackageVersions not in sys.meta_path:
        sys.meta_path.insert(0, PackageVersions)  # type: ignore[arg-type]


# The modules PackageVersions serves, each with the distribution whose version it holds (the
# name as its wheel's metadata folder spells it).
VERSION_MODULES = {"psycopg.version": "psycopg", "psycopg_binary.version": "psycopg_binary"}


class PackageVersions:
    """A finder for the version modules of psycopg and its compiled part (psycopg-binary) alone,
    first on the console script's `sys.meta_path`. Each package imports its own at once, for
    one value, the distribution's version, read with importlib.metadata, whose import (email's
    parser, zipfile, csv) is a fifth of psycopg's and needed by nothing else usertrack runs.
    The module served holds the same value, read from the same file: the `Version:` of the
    METADATA of the first distribution of that name on `sys.path`, as importlib.metadata finds
    it. Where that distribution is not a plain `.dist-info` folder beside the imported package,
    or holds no version, the module is imported as it is."""

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> Any:
        distribution = VERSION_MODULES.get(name)
        if distribution is None or not path:
            return None
        version = distribution_version(distribution, str(next(iter(path))))
        if version is None:
            return None
        from importlib.machinery import ModuleSpec

        loader: Any = _VersionLoader(version)
        return ModuleSpec(name, loader, origin=f"{distribution}'s METADATA")


class _VersionLoader:
    def __init__(self, version: str) -> None:
        self.version = version

    def create_module(self, spec: Any) -> None:
        return None  # the default module

    def exec_module(self, module: Any) -> None:
        module.__version__ = self.version


def distribution_version(distribution: str, package_dir: str) -> str | None:
    """The `Version:` of the first `distribution`'s METADATA on `sys.path`, when it is the one
    `.dist-info` folder of that name beside `package_dir` (the imported package); else None."""
    import sys

    site = os.path.abspath(os.path.dirname(package_dir))
    for entry in sys.path:
        folder = os.path.abspath(entry or os.curdir)
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found = [n for n in names if _project(n) == distribution]
        if not found:
            continue
        if folder != site or len(found) != 1 or not found[0].endswith(".dist-info"):
            return None
        return _metadata_version(os.path.join(folder, found[0], "METADATA"))
    return None


def _project(name: str) -> str | None:
    """The distribution a folder entry holds the metadata of (a .dist-info or .egg-info folder),
    its name normalized as importlib.metadata compares it; None for any other entry."""
    lowered = name.lower()
    if not lowered.endswith((".dist-info", ".egg-info")):
        return None
    return lowered.rsplit(".", 1)[0].split("-", 1)[0].replace("-", "_").replace(".", "_")


def _metadata_version(path: str) -> str | None:
    """The `Version:` header of a METADATA file (its headers end at the first blank line)."""
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    return None
                key, _, value = line.partition(":")
                if key.strip().lower() == "version":
                    return value.strip() or None
    except (OSError, UnicodeDecodeError):
        return None
    return None
