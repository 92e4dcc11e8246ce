"""The engagement score's facts kept beside the events store (LocalPostHogSource.facts_into with
`keep`): `segments` reads them back while the store is unchanged, and an edited query file is
run as written, never answered from what the shipped one kept."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.cli_runner import run

ROOT = Path(__file__).resolve().parents[2]
AS_OF = ["--as-of", "2026-11-15T12:00:00"]


def _segments(home: Path, *args: str) -> tuple[str, dict[str, Any]]:
    done = run(["segments", *AS_OF, "-f", "json", "--no-save", *args], home=home)
    assert done.exit_code == 0, done.stderr
    return done.stdout, json.loads(done.stdout)


def _kept_persons(home: Path) -> list[Path]:
    """The kept tables of engagement_facts.sql's columns (the score's `persons`)."""
    from usertrack.engines.local import storecache

    found = []
    for path in sorted((home / "cache" / "store").glob("*.arrow")):
        table = storecache.load(path.parent, path.stem)
        if table is not None and "active_days" in table.column_names:
            found.append(path)
    return found


def _engagement(doc: dict[str, Any]) -> list[Any]:
    return [s.get("avg_engagement") for s in doc["segments"]]


def test_segments_reads_the_score_facts_it_kept_and_an_edited_file_runs_as_written(
    demo_copy: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.engines.local import storecache

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the copied store is a moment old
    home = demo_copy(tmp_path / "home", 300, date(2026, 11, 16))
    first, doc = _segments(home)
    assert any(value for value in _engagement(doc))
    kept = _kept_persons(home)
    assert len(kept) == 1
    assert _segments(home)[0] == first  # read back: the same answer, byte for byte
    assert _kept_persons(home) == kept

    # Every kept person's active days made 0: the figures the next run shows are the kept
    # table's, so it was read, not counted again.
    table = storecache.load(kept[0].parent, kept[0].stem)
    column = table.column_names.index("active_days")
    zero = pa.array([0] * table.num_rows, type=table.schema.field("active_days").type)
    storecache.save(kept[0].parent, kept[0].stem, table.set_column(column, "active_days", zero))
    assert pc.max(zero).as_py() == 0
    _, marked = _segments(home)
    assert _engagement(marked) != _engagement(doc)

    # The same file with a comment more is no longer the shipped one: it runs as written, on
    # the events, and answers as the shipped one counted, not as the marked table says.
    queries = tmp_path / "queries"
    shutil.copytree(ROOT / "queries", queries)
    facts = queries / "posthog" / "engagement_facts.sql"
    facts.write_text(facts.read_text(encoding="utf-8") + "-- edited\n", encoding="utf-8")
    edited, _ = _segments(home, "--queries", str(queries))
    assert edited == first
