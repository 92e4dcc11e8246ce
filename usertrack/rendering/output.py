"""Writing output files: whole or not at all, checked before any query runs.

`--out PATH` is probed first (`prepare_out`): its folders are created and a temp file is made
beside it, then both removed again (an output never written leaves no empty folder), so a
read-only folder, a path under a regular file or a folder given as a file fails in a second
with `cannot write PATH: reason` instead of after minutes of queries. `--out -` is stdout. The
file is then written to a temp file, fsynced and renamed over the target (`write_atomic`), its
folders created then; through a symlink the link's target is replaced, so the link survives.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO, cast

from usertrack.core import interrupts, pseudonyms
from usertrack.core.errors import UsageError

STDOUT = "-"


class OutputError(UsageError):
    """An output path that cannot be written; exit 2 like any bad option."""


def is_stdout(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDOUT


def format_for_path(path: Path) -> str | None:
    return {
        ".json": "json",
        ".csv": "csv",
        ".md": "md",
        ".markdown": "md",
        ".html": "html",
        ".htm": "html",
        ".svg": "svg",
        ".png": "png",
    }.get(path.suffix.lower())


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _target(path: Path) -> Path:
    """The file really written: a symlink's final target, so the link itself is kept."""
    path = path.expanduser()
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _missing_folders(folder: Path, shown: Path) -> list[Path]:
    """The folders up to `folder` that do not exist yet, deepest first."""
    missing: list[Path] = []
    for above in (folder, *folder.parents):  # a file where a folder should be: say which
        if above.exists():
            if not above.is_dir():
                raise OutputError(f"cannot write {shown}: {above} is a file, not a folder")
            break
        missing.append(above)
    return missing


def _ours(pid_prefix: str) -> str:
    """The start of the name of a temp file of this process (see `_remove_ours`)."""
    return f"{pid_prefix}{os.getpid()}."


def _remove_ours(folder: Path, prefix: str) -> None:
    """Remove this process's temp files named `prefix...` in `folder`: also one that mkstemp
    created just as Ctrl-C cut it short, before it could say its name."""
    import glob

    for leftover in folder.glob(glob.escape(prefix) + "*"):
        leftover.unlink(missing_ok=True)


def _probe_folder(folder: Path, shown: Path, missing: list[Path] | None = None) -> list[Path]:
    """Create `folder` (and its parents) and prove a file can be created in it; return the
    folders it created, deepest first. Interrupted anywhere, it leaves neither."""
    if missing is None:
        missing = _missing_folders(folder, shown)
    prefix = _ours(".usertrack-probe.")
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot write {shown}: {_reason(e)}") from None
        if not folder.is_dir():
            raise OutputError(f"cannot write {shown}: {folder} is not a folder")
        try:
            fd, probe = tempfile.mkstemp(prefix=prefix, dir=folder)
        except OSError as e:
            raise OutputError(f"cannot write {shown}: {_reason(e)}") from None
        os.close(fd)
        Path(probe).unlink(missing_ok=True)
    except BaseException:
        if folder.is_dir():
            _remove_ours(folder, prefix)
        _remove_folders(missing)
        raise
    return missing


def _remove_folders(created: list[Path]) -> None:
    """Remove the folders a probe or a write created (deepest first), as long as they are
    empty: an output that is not written leaves no empty folder behind."""
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


def prepare_out(path: Path) -> Path:
    """Check that `path` can be written; return the path to write. The folders it needs are
    created for the check and removed again: they are made when the file is written."""
    target, created = _prepare(path)
    _remove_folders(created)
    return target


def _prepare(path: Path) -> tuple[Path, list[Path]]:
    target = _target(path)
    if target.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder (give a file name)")
    created = _probe_folder(target.parent if str(target.parent) else Path("."), path)
    return target, created


def prepare_out_dir(folder: Path) -> Path:
    """Check that files can be written into `folder`; return it. A missing folder is created
    for the check and removed again: it is made when a file is written into it."""
    folder = folder.expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputError(
            f"cannot write {folder}: not a folder (--out takes the folder to write into)"
        )
    _remove_folders(_probe_folder(folder, folder))
    return folder


def _umask() -> int:
    # os.umask can only be read by setting it; restore at once (the CLI is single-threaded here).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str, *, overwrite: bool = True, mode: int | None = None) -> None:
    """Write a whole file or nothing: a temp file beside it, fsynced, then renamed over it.

    mkstemp creates the temp file 0600; the result gets `mode` (usertrack's own state files:
    0600, never wider for an instant), else the mode an ordinary new file would (0666 minus the
    umask), or keeps the mode of the file it replaces. With overwrite=False the
    temp file is hard-linked into place instead, which fails if `path` exists (even if it
    appeared meanwhile): FileExistsError.
    """
    with atomic_file(path, overwrite=overwrite, mode=mode) as fh:
        fh.write(text)


@contextmanager
def atomic_file(
    path: Path,
    *,
    overwrite: bool = True,
    mode: int | None = None,
    staged: list[tuple[str, Path]] | None = None,
) -> Iterator[TextIO]:
    """write_atomic for a file written piece by piece: the block writes into a temp file
    beside `path`, which takes `path`'s place only when the block ends without an error (a
    failure halfway leaves `path` as it was, and no temp file). An output of the user's (no
    `mode`: not one of usertrack's own state files) shows people as pseudonyms with
    --anonymize (usertrack.core.pseudonyms). With `staged`, the temp file is left written and
    (temp file, path) added to it: the caller puts it in place (`write_together`)."""
    target = _target(path)
    if target.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder (give a file name)")
    folder = target.parent if str(target.parent) else Path(".")
    created = _missing_folders(folder, path)
    # Every side effect from here is undone on any way out, Ctrl-C included, wherever it lands:
    # the temp file is found by its name (this process's), even before mkstemp returned it.
    prefix = _ours(f".{target.name}.")
    shows_people = mode is None and pseudonyms.active()
    try:
        _probe_folder(folder, path, created)
        if mode is None:
            try:
                mode = target.stat().st_mode & 0o7777
            except OSError:
                mode = 0o666 & ~_umask()
        try:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
        except OSError as e:
            raise OutputError(f"cannot write {path}: {_reason(e)}") from None
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if shows_people:
                shown = pseudonyms.Anonymized(fh)
                yield cast(TextIO, shown)
                shown.flush()
            else:
                yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if staged is not None:
            staged.append((tmp, target))
        elif overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            finally:
                os.unlink(tmp)
    except (FileExistsError, OutputError):
        _undo(folder, prefix, created)
        raise
    except OSError as e:
        _undo(folder, prefix, created)
        raise OutputError(f"cannot write {path}: {_reason(e)}") from None
    except BaseException:
        _undo(folder, prefix, created)
        raise


def write_together(files: Mapping[Path, str]) -> None:
    """Several files written whole, all of them or none: each into a temp file beside it first
    (as `write_atomic`); then, every one written, all put in place with Ctrl-C held until the
    last (usertrack.core.interrupts.held): a report and the charts beside it are never some new
    and some old, nor some there without the others. A failure or Ctrl-C before that leaves
    nothing of them, nor a folder made for them."""
    staged: list[tuple[str, Path]] = []
    created: list[Path] = []  # folders none of the files had yet: removed again on failure
    try:
        for path, text in files.items():
            target = _target(path)
            folder = target.parent if str(target.parent) else Path(".")
            created += [f for f in _missing_folders(folder, path) if f not in created]
            with atomic_file(path, staged=staged) as fh:
                fh.write(text)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        _remove_folders(sorted(created, key=lambda f: len(f.parts), reverse=True))
        raise
    with interrupts.held():
        for tmp, target in staged:
            os.replace(tmp, target)


def _undo(folder: Path, prefix: str, created: list[Path]) -> None:
    if folder.is_dir():
        _remove_ours(folder, prefix)
    _remove_folders(created)
