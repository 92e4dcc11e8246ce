"""usertrack.engines.local.storecache: an answer kept under the stamp of the store it came from."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from usertrack.engines.local import storecache

VALUES = {"as_of": "2026-06-04 12:00:00"}


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    path = tmp_path / "events.duckdb"
    path.write_bytes(b"a store")
    old = 1_700_000_000_000_000_000
    os.utime(path, ns=(old, old))  # its ctime is now: settled only with the rule switched off
    return path


def test_a_store_changed_within_the_settling_time_is_not_kept(store: Path) -> None:
    assert storecache.key(store, "SELECT 1", VALUES) is None


def test_the_key_changes_with_the_store_its_log_the_statement_and_the_values(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storecache, "SETTLE_NS", 0)
    first = storecache.key(store, "SELECT 1", VALUES)
    assert first is not None and first == storecache.key(store, "SELECT 1", VALUES)
    assert storecache.key(store, "SELECT 2", VALUES) != first
    assert storecache.key(store, "SELECT 1", {"as_of": "2026-06-05 12:00:00"}) != first
    Path(f"{store}.wal").write_bytes(b"")
    assert storecache.key(store, "SELECT 1", VALUES) != first
    Path(f"{store}.wal").unlink()
    # the same bytes written again and renamed into place, as usertrack writes a store
    copy = store.with_name("new.duckdb")
    shutil.copy2(store, copy)
    os.replace(copy, store)
    assert storecache.key(store, "SELECT 1", VALUES) != first
    assert storecache.key(store.with_name("missing.duckdb"), "SELECT 1", VALUES) is None


def test_kept_tables_read_back_the_newest_kept_and_damage_is_a_miss(tmp_path: Path) -> None:
    folder = storecache.folder_of(tmp_path)
    table = pa.table({"person_id": ["p1", "p2"], "email": ["a@x.io", None]})
    for n in range(storecache.KEEP + 2):
        storecache.save(folder, f"k{n}", table)
        os.utime(folder / f"k{n}.arrow", ns=(n * 10**9, n * 10**9))
    storecache.save(folder, "last", table)
    assert storecache.load(folder, "last") == table
    assert len(list(folder.glob("*.arrow"))) == storecache.KEEP
    assert storecache.load(folder, "k0") is None  # the oldest removed
    assert not list(folder.glob("*.tmp"))
    (folder / "last.arrow").write_bytes(b"not arrow")
    assert storecache.load(folder, "last") is None


def test_an_answer_read_is_kept_over_those_written_after_it(tmp_path: Path) -> None:
    folder = storecache.folder_of(tmp_path)
    table = pa.table({"person_id": ["p1"], "email": ["a@x.io"]})
    storecache.save(folder, "used", table)
    os.utime(folder / "used.arrow", ns=(10**9, 10**9))  # written long ago
    assert storecache.load(folder, "used") == table  # and read now
    for n in range(storecache.KEEP):
        storecache.save(folder, f"k{n}", table)
        os.utime(folder / f"k{n}.arrow", ns=((n + 2) * 10**9, (n + 2) * 10**9))
    assert storecache.load(folder, "used") == table
    assert storecache.load(folder, "k0") is None  # the least recently used removed


def test_cache_clear_removes_the_kept_answers_too(tmp_path: Path) -> None:
    from usertrack.engines import cache

    storecache.save(storecache.folder_of(tmp_path), "kept", pa.table({"email": ["a@x.io"]}))
    storecache.save(storecache.folder_of(tmp_path), "figures", '{"figures": [1.5]}')
    assert storecache.load_text(storecache.folder_of(tmp_path), "figures") == '{"figures": [1.5]}'
    (cache.cache_dir(tmp_path) / "live.pickle").write_bytes(b"a live result")
    assert cache.clear(tmp_path) == 3
    assert not list(storecache.folder_of(tmp_path).iterdir())
    assert not list(cache.cache_dir(tmp_path).glob("*.pickle"))


def test_a_source_reads_back_the_arrow_table_or_the_text_it_kept(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LocalPostHogSource keeps Arrow tables (the --by-segment persons' groups) and texts (the
    alerts' figures) for its store: each is read back as it was kept, not missed."""
    from usertrack.engines.local.source import LocalPostHogSource

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)
    local = LocalPostHogSource(store, kept_in=tmp_path / "kept")
    try:
        table = pa.table({"person_id": ["p1"], "usertrack_group": [0]})
        found = local.kept("numbers", VALUES)
        assert found is not None and found[1] is None
        local.keep(found[0], table)
        again = local.kept("numbers", VALUES)
        assert again is not None and again[1] is not None and again[1].equals(table)
        found = local.kept("figures", VALUES, text=True)
        assert found is not None and found[1] is None
        text = '{"figures": [1.5], "notes": []}'
        local.keep(found[0], text)
        assert local.kept("figures", VALUES, text=True) == (found[0], text)
    finally:
        local.close()
