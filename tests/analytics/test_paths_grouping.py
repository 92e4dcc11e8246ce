"""Paths' grouping of path columns: packed into one integer in stages when the columns do not
fit in 62 bits (--steps 20), with the same order and counts as a sort of the lists.

The expected figures are worked out here from the rows each test builds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.analytics.test_paths import AS_OF, D_, RANGE, RECORDS, A, B, C, E
from tests.analytics_helpers import run_json, write_export
from usertrack.analytics.paths.run import grouped, in_time_order


def test_columns_wider_than_62_bits_are_packed_in_stages() -> None:
    big = 2**40  # three columns spanning 2**41, 2**41 and 8 values: 85 bits, two stages
    rows = [(5, big, 1), (-1, 0, 7), (5, big, 1), (5, 0, 1), (-big, big, 0), (5, big, 0)]
    keys = [np.array(column, dtype=np.int64) for column in zip(*rows, strict=True)]
    columns, counts = grouped(keys)
    found = list(zip(*(c.tolist() for c in columns), counts.tolist(), strict=True))
    # in order of the first column, then the second, then the third; (5, big, 1) twice
    assert found == [
        (-big, big, 0, 1),
        (-1, 0, 7, 1),
        (5, 0, 1, 1),
        (5, big, 0, 1),
        (5, big, 1, 2),
    ]


def ordered_rows(person: list[int], t: list[int], code: list[int]) -> list[tuple[int, ...]]:
    arrays = (np.array(person, np.int32), np.array(t, np.int64), np.array(code, np.int32))
    return list(zip(*(a.tolist() for a in in_time_order(*arrays)), strict=True))


def test_events_in_person_then_time_then_node_order() -> None:
    # person 1's two events at t=50 tie and go by node (2 before 4); the lone events (-1)
    # come first; equal rows (1, 50, 4) twice stay two rows
    person = [1, 0, 1, -1, 1, 0, 1, -1]
    t = [50, 70, 50, 90, 10, 20, 50, 5]
    code = [4, 0, 2, 1, 3, 3, 4, 0]
    assert ordered_rows(person, t, code) == [
        (-1, 5, 0),
        (-1, 90, 1),
        (0, 20, 3),
        (0, 70, 0),
        (1, 10, 3),
        (1, 50, 2),
        (1, 50, 4),
        (1, 50, 4),
    ]
    assert ordered_rows([], [], []) == []


def test_keys_wider_than_63_bits_are_ordered_on_three_columns() -> None:
    # 2**31 persons x 2**20 distinct times x 2**20 codes do not fit in one int64: np.lexsort
    big = 2**31 - 2
    person = [big, 0, big, 0] + [5] * (2**20 - 4)
    t = list(range(2**20))
    t[0], t[2] = 9, 9  # person big's two events tie and go by node
    code = [2**20 - 1, 3, 0, 3] + [1] * (2**20 - 4)
    rows = ordered_rows(person, t, code)
    assert rows[:2] == [(0, 1, 3), (0, 3, 3)]
    assert rows[-2:] == [(big, 9, 0), (big, 9, 2**20 - 1)]


def test_an_empty_grouping() -> None:
    columns, counts = grouped([np.zeros(0, dtype=np.int32)] * 3)
    assert [len(c) for c in columns] == [0, 0, 0] and len(counts) == 0


def test_twenty_steps_through_the_cli(tmp_path: Path) -> None:
    export = write_export(tmp_path / "events.jsonl", RECORDS)
    doc = run_json("paths", [*RANGE, "--steps", "20"], as_of=AS_OF, USERTRACK_EVENTS=str(export))
    # nine nodes and the end mark are ten values a step: 10**20 does not fit in 62 bits.
    # Every sequence whole, once each: ties in the order of their nodes ("/" < "/app" < ...
    # < "create" < "signup"), a path before its own continuation (A before C)
    assert [p["nodes"] for p in doc["paths"]] == [A, C, B, D_, E]
    assert {p["count"] for p in doc["paths"]} == {1}
    # PostHog's positional edges (source, target, step of the source, count), C's to /billing
    # at step 5 too: E's /x -> /y at steps 1 and 3 is two edges; ties by source key, then
    # target key, as texts ("1_/app" < "1_/pricing" < "1_/x" < "2_/" ...)
    assert [(e["source"], e["target"], e["step"], e["count"]) for e in doc["edges"]] == [
        ("/", "signup", 1, 2),
        ("signup", "/app", 2, 2),
        ("/app", "create", 3, 2),
        ("/app", "create", 1, 1),
        ("/pricing", "/", 1, 1),
        ("/x", "/y", 1, 1),
        ("/", "signup", 2, 1),
        ("/y", "/x", 2, 1),
        ("/x", "/y", 3, 1),
        ("create", "/settings", 4, 1),
        ("/settings", "/billing", 5, 1),
    ]
