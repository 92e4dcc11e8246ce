"""The hand-made workspace of the segment tests (test_by_segment, test_cuts, test_who,
test_scope): an app database of three accounts, the rules `spender` (credits < 50) before
`trial` (credits < 100), and each file's own events, whose every person's segment is known
(each file's docstring says who is in which)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.analytics_helpers import write_export

AS_OF = "2026-06-04T12:00:00"
RANGE = ["--since", "2026-06-01", "--until", "2026-06-03"]
GROUPS = ["spender", "trial", "no segment", "no account"]

SEGMENTS = """\
segments:
  - id: spender
    name: Spenders
    action: Upsell
    rule: credits < 50
  - id: trial
    name: Trial users
    action: Convert
    rule: credits < 100
"""


def accounts_database(make_database: Callable[[str], str], accounts: str) -> str:
    """A fresh app database (tests/handmade.py's tables) holding the `accounts` rows."""
    from tests.handmade import SCHEMA

    return make_database(SCHEMA + accounts)


def segmented_env(folder: Path, database: str, records: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The settings of a run on `database`, the rules above and `records` as an events export,
    written into `folder` (the test's own)."""
    rules = folder / "segments.yaml"
    rules.write_text(SEGMENTS)
    export = write_export(folder / "events.jsonl", list(records))
    return {"USERTRACK_EVENTS": str(export), "DATABASE_URL": database,
            "USERTRACK_SEGMENTS": str(rules)}  # fmt: skip
