"""Rule files and query files parsed once while unchanged (usertrack.core.filecache), as the MCP
server loads them for every call: an unchanged file is not read again, a changed one is parsed
at the next load, even when its size and modification time are put back as they were."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import REPO
from usertrack.core import filecache
from usertrack.core.errors import QueryFileError
from usertrack.queries.library import load_queries
from usertrack.reports.failures import RulesFileError, load_failure_rules
from usertrack.segments.rules import load_segments

OLD_NS = 1_700_000_000 * 10**9  # a modification time long past
SETTLE_S = 0.05  # in these tests, a file unchanged for 50 ms has settled (2 s in usertrack)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[None]:
    if "just_now" not in request.node.name:
        monkeypatch.setattr(filecache, "_SETTLE_NS", int(SETTLE_S * 1e9))
    filecache.forget()
    yield
    filecache.forget()


def settle() -> None:
    """Past the settling time, and so past the kernel's clock tick of the last change."""
    time.sleep(SETTLE_S * 1.5)


def rewrite(path: Path, old: str, new: str, *, times_ns: tuple[int, int] | None) -> None:
    """Replace `old` by `new` (the same length) in place, then put the times back if given."""
    text = path.read_text(encoding="utf-8")
    assert old in text and len(old) == len(new)
    size = path.stat().st_size
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    if times_ns is not None:
        os.utime(path, ns=times_ns)
    assert path.stat().st_size == size


def settled_copy(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    os.utime(target, ns=(OLD_NS, OLD_NS))
    settle()
    return target


def test_an_unchanged_rules_file_is_parsed_once(tmp_path: Path) -> None:
    path = settled_copy(REPO / "failures.yaml", tmp_path / "failures.yaml")
    first = load_failure_rules(path)
    assert load_failure_rules(path) is first
    segments = settled_copy(REPO / "segments.yaml", tmp_path / "segments.yaml")
    assert load_segments(segments) is load_segments(segments)


def test_a_changed_rules_file_is_seen_at_the_next_load(tmp_path: Path) -> None:
    """Same size, same modification time put back: its change time still differs."""
    path = settled_copy(REPO / "failures.yaml", tmp_path / "failures.yaml")
    name = load_failure_rules(path).rules[0].name
    changed = "X" + name[1:]
    rewrite(path, f'"{name}"', f'"{changed}"', times_ns=(OLD_NS, OLD_NS))
    assert load_failure_rules(path).rules[0].name == changed


def test_a_file_replaced_by_another_is_seen(tmp_path: Path) -> None:
    """An editor that writes a new file and renames it over the old one: another inode."""
    path = settled_copy(REPO / "failures.yaml", tmp_path / "failures.yaml")
    name = load_failure_rules(path).rules[0].name
    new = tmp_path / "new.yaml"
    shutil.copy(path, new)
    rewrite(new, f'"{name}"', f'"Y{name[1:]}"', times_ns=(OLD_NS, OLD_NS))
    os.replace(new, path)
    assert load_failure_rules(path).rules[0].name == f"Y{name[1:]}"


def test_a_file_changed_just_now_is_not_kept(tmp_path: Path) -> None:
    """Within the clock's tick a second edit of the same size could keep the stamp: a file
    changed less than two seconds ago is parsed at every load."""
    path = tmp_path / "failures.yaml"
    shutil.copy(REPO / "failures.yaml", path)
    first = load_failure_rules(path)
    assert load_failure_rules(path) is not first
    name = first.rules[0].name
    times = (path.stat().st_atime_ns, path.stat().st_mtime_ns)
    rewrite(path, f'"{name}"', f'"Z{name[1:]}"', times_ns=times)
    assert load_failure_rules(path).rules[0].name == f"Z{name[1:]}"


def test_a_broken_file_fails_at_every_load_until_fixed(tmp_path: Path) -> None:
    path = settled_copy(REPO / "failures.yaml", tmp_path / "failures.yaml")
    good = path.read_text(encoding="utf-8")
    path.write_text("rules: [\n", encoding="utf-8")
    os.utime(path, ns=(OLD_NS, OLD_NS))
    settle()
    for _ in range(2):
        with pytest.raises(RulesFileError, match="not valid YAML"):
            load_failure_rules(path)
    path.write_text(good, encoding="utf-8")
    os.utime(path, ns=(OLD_NS, OLD_NS))
    assert load_failure_rules(path).rules
    settle()
    assert load_failure_rules(path) is load_failure_rules(path)
    path.unlink()
    with pytest.raises(RulesFileError, match="not found"):
        load_failure_rules(path)


def test_the_query_library_sees_an_edited_added_and_removed_file(tmp_path: Path) -> None:
    root = tmp_path / "queries"
    shutil.copytree(REPO / "queries", root)
    for path in root.rglob("*"):
        os.utime(path, ns=(OLD_NS, OLD_NS))
    settle()
    first = load_queries(root)
    again = load_queries(root)
    assert all(again.queries[q] is first.queries[q] for q in first.queries)

    failures = root / "neon" / "failures.sql"
    rewrite(failures, "-- description: Every", "-- description: EVERY", times_ns=(OLD_NS, OLD_NS))
    assert load_queries(root).get("neon/failures").description.startswith("EVERY failure")

    extra = root / "neon" / "extra.sql"
    shutil.copy(failures, extra)
    extra.write_text(
        failures.read_text(encoding="utf-8").replace("name: failures", "name: extra"), "utf-8"
    )
    assert "neon/extra" in load_queries(root).queries
    extra.unlink()
    assert "neon/extra" not in load_queries(root).queries

    failures.write_text("SELECT 1\n", encoding="utf-8")
    os.utime(failures, ns=(OLD_NS, OLD_NS))
    with pytest.raises(QueryFileError, match="missing header"):
        load_queries(root)
