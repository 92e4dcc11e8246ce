"""The app tables' copy kept open through a dashboard's run (mirror_file.held_open): every
opening in the block shares one DuckDB instance of the file, which goes when the block ends, and
a copy found damaged meanwhile is still replaced."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest


def _other_configuration(path: Path) -> None:
    """A connection to `path` with another configuration than the copy's (DuckDB refuses it
    while this process has the file open)."""
    duckdb.connect(str(path), config={"memory_limit": "123MB"}).close()


def test_a_copy_opened_in_the_block_stays_open_until_it_ends(tmp_path: Path) -> None:
    from usertrack.engines.postgres.app_mirror import AppMirror
    from usertrack.engines.postgres.mirror_file import held_open

    path = tmp_path / "copy.duckdb"
    with held_open():
        AppMirror(path).close()
        with pytest.raises(duckdb.Error):
            _other_configuration(path)  # still open in this process
        with AppMirror(path) as again:
            assert again.meta("made")  # the same copy, opened again
    _other_configuration(path)  # let go when the block ended
    AppMirror(path).close()
    _other_configuration(path)  # outside the block: closed with its command


def test_a_copy_found_damaged_in_the_block_is_replaced(tmp_path: Path) -> None:
    from usertrack.engines.postgres.app_mirror import AppMirror
    from usertrack.engines.postgres.mirror_file import held_open

    path = tmp_path / "copy.duckdb"
    with held_open():
        mirror = AppMirror(path)
        made = mirror.meta("made")
        mirror.damaged = True  # as a read that met an unreadable block sets it
        mirror.close()
        with AppMirror(path) as fresh:
            assert fresh.meta("made") != made  # an empty copy in its place, made again
