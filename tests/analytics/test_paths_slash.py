"""A pageview's node without one trailing slash, as PostHog's paths insight names it.

PostHog's paths runner names a pageview's node replaceRegexpAll($current_url, '(.)/$', '\\1')
(posthog/hogql_queries/insights/paths_query_runner.py, `construct_event_hogql`): `/pricing/`
and `/pricing` are one node, `/` stays `/`, a custom event's name is kept as it is; and it
matches a start or end point without one trailing slash (`paths_per_person_query`). The cases
are PostHog's own, with their events, points and asserted edges: `test_paths_start` from
posthog/hogql_queries/insights/test/test_paths_query_runner.py (commit
d96a6558d9c6ac7eec551547b3f16a8a94e5c8d3) and `test_end` from test_paths_query_runner_ee.py
(commit 2506df87718170757426e5b47fabcdd32c06d555). Each runs on the local engine and through
the tests' PostHog (ClickHouse behind HTTP), which must give the same JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.analytics_helpers import live_posthog, record, run_json, write_export

AS_OF = "2021-05-08"
RANGE = ["--since", "2021-05-01", "--until", "2021-05-07"]
PV = "$pageview"

# test_paths_start: events without a timestamp of their own, so in the order they were made;
# here a minute apart in that order. (person, page)
START = [
    ("person_1", "/"), ("person_1", "/about/"),
    ("person_2", "/"), ("person_2", "/pricing/"), ("person_2", "/about"),
    ("person_3", "/pricing"), ("person_3", "/"), ("person_3", "/about/"),
    ("person_4", "/"), ("person_4", "/pricing/"),
    ("person_5", "/pricing"), ("person_5", "/about"), ("person_5", "/pricing/"),
    ("person_5", "/help"),
]  # fmt: skip
# test_end: (person, page, minute of 2021-05-01 00:MM)
END = [
    ("person_1", "/1", 1), ("person_1", "/2", 2), ("person_1", "/3/", 3), ("person_1", "/4/", 4),
    ("person_1", "/5", 5), ("person_1", "/about", 6), ("person_1", "/after/", 7),
    ("person_2", "/5", 1), ("person_2", "/about", 2),
    ("person_3", "/3/", 1), ("person_3", "/4", 2), ("person_3", "/about/", 3),
    ("person_3", "/after", 4),
]  # fmt: skip


def _export(path: Path, events: list[tuple[str, str, str, datetime]]) -> Path:
    records = [
        record(n, event, when, who, who, f"{who}@example.com",
               {"$pathname": page, "$current_url": f"https://example.com{page}"}
               if event == PV else {})
        for n, (event, who, page, when) in enumerate(events, 1)
    ]  # fmt: skip
    return write_export(path, records)


def _edges(doc: dict[str, Any]) -> set[tuple[str, str, int, int]]:
    """The positional edges, as PostHog writes them: `1_/pricing` -> `2_/about` is
    ("/pricing", "/about", 1, count)."""
    return {(e["source"], e["target"], e["step"], e["count"]) for e in doc["edges"]}


def _both(export: Path, tmp_path: Path, cases: list[list[str]]) -> list[dict[str, Any]]:
    local = [run_json("paths", a, as_of=AS_OF, USERTRACK_EVENTS=str(export)) for a in cases]
    with live_posthog(export, tmp_path) as (_, env):
        live = [run_json("paths", a, as_of=AS_OF, **env) for a in cases]
    assert live == local
    return local


def test_paths_start_as_posthog(tmp_path: Path) -> None:
    base = datetime(2021, 5, 2, 10, tzinfo=UTC)
    events = [(PV, who, page, base + timedelta(minutes=n)) for n, (who, page) in enumerate(START)]
    export = _export(tmp_path / "events.jsonl", events)
    pricing, pricing_slash, root = _both(
        export,
        tmp_path,
        [[*RANGE, "--from", "/pricing"], [*RANGE, "--from", "/pricing/"], [*RANGE, "--from", "/"]],
    )
    expected = {
        ("/pricing", "/about", 1, 2),
        ("/pricing", "/", 1, 1),
        ("/", "/about", 2, 1),
        ("/about", "/pricing", 2, 1),
        ("/pricing", "/help", 3, 1),
    }
    assert _edges(pricing) == expected
    # "ensure trailing slashes make no difference": --from /pricing/ is /pricing
    assert _edges(pricing_slash) == expected
    assert pricing_slash["start_point"] == "/pricing"
    # "/" keeps its only character
    assert _edges(root) == {("/", "/about", 1, 2), ("/", "/pricing", 1, 2),
                            ("/pricing", "/about", 2, 1)}  # fmt: skip


def test_end_as_posthog(tmp_path: Path) -> None:
    day = datetime(2021, 5, 1, tzinfo=UTC)
    events = [(PV, who, page, day + timedelta(minutes=m)) for who, page, m in END]
    # a custom event's name keeps its trailing slash (only a pageview's node drops it)
    events.append(("done/", "person_2", "", day + timedelta(minutes=3)))
    export = _export(tmp_path / "events.jsonl", events)
    # --where takes the local engine off its store's path table, onto path_events.sql itself
    where = ["--where", "event != 'nothing'"]
    about, about_slash, filtered, whole = _both(
        export,
        tmp_path,
        [[*RANGE, "--to", "/about"], [*RANGE, "--to", "/about/"],
         [*RANGE, "--to", "/about", *where], RANGE],
    )  # fmt: skip
    expected = {
        ("/2", "/3", 1, 1),
        ("/3", "/4", 1, 1),
        ("/5", "/about", 1, 1),
        ("/3", "/4", 2, 1),
        ("/4", "/about", 2, 1),
        ("/4", "/5", 3, 1),
        ("/5", "/about", 4, 1),
    }
    assert _edges(about) == expected
    # "ensure trailing slashes don't change results"
    assert _edges(about_slash) == expected
    assert _edges(filtered) == expected
    nodes = {n for p in whole["paths"] for n in p["nodes"]}
    assert "done/" in nodes and "/about" in nodes and "/after" in nodes
    assert not {"/3/", "/4/", "/about/", "/after/"} & nodes


def test_a_persons_cell_of_a_merged_node(tmp_path: Path) -> None:
    base = datetime(2021, 5, 2, 10, tzinfo=UTC)
    events = [(PV, who, page, base + timedelta(minutes=n)) for n, (who, page) in enumerate(START)]
    env = {"USERTRACK_EVENTS": str(_export(tmp_path / "events.jsonl", events))}
    # /pricing -> /about at step 1 counts 2: person_2 (/pricing/ then /about) and person_5
    doc = run_json(
        "paths", [*RANGE, "--from", "/pricing/", "--persons", "/pricing:/about"], as_of=AS_OF, **env
    )
    assert sorted(p["person_id"] for p in doc["persons"]) == ["person_2", "person_5"]
