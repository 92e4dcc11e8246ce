"""Paths on a hand-made events export: library definitions, CLI and the live HTTP path.

Every expected figure is worked out here from the events below (docs/metrics.md, "Paths"),
never copied from output. Range: May 2026, as of June 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.analytics_helpers import (
    assert_usage_error,
    live_posthog,
    record,
    run_json,
    run_ok,
    write_export,
)
from usertrack.analytics.paths.render import mermaid_text
from usertrack.analytics.paths.run import EDGE_LIMIT, positional_top, reachable

AS_OF = "2026-06-01"
RANGE = ["--since", "2026-05-01", "--until", "2026-05-31"]
D = datetime(2026, 5, 10, tzinfo=UTC)
EMAILS = {"q1": "ann@example.com", "q2": "bob@example.com", "q3": "cat@example.com",
          "q4": "zed@datagen.dev", "q6": "dan@example.com"}  # fmt: skip


def at(hours: int, minutes: int = 0, seconds: int = 0) -> datetime:
    return D + timedelta(hours=hours, minutes=minutes, seconds=seconds)


# (event, when, distinct_id, person_id, $pathname for a pageview)
EVENTS: list[tuple[str, datetime, str, str, str | None]] = [
    # ann, two distinct_ids. A: / (twice: one node), signup, /app, create (29:59 after /app);
    # then 30:00 later, B: /app, create. Her $autocapture is left out.
    ("$pageview", at(10), "q1a", "q1", "/"),
    ("$pageview", at(10, 1), "q1a", "q1", "/"),
    ("$autocapture", at(10, 2), "q1a", "q1", None),
    ("signup", at(10, 3), "q1b", "q1", None),
    ("$pageview", at(10, 4), "q1b", "q1", "/app"),
    ("create", at(10, 33, 59), "q1b", "q1", None),
    ("$pageview", at(11, 3, 59), "q1a", "q1", "/app"),
    ("create", at(11, 5), "q1a", "q1", None),
    # bob. C: /, signup, /app (twice: one node), create, /settings, /billing: six nodes
    ("$pageview", at(9), "q2", "q2", "/"),
    ("signup", at(9, 1), "q2", "q2", None),
    ("$pageview", at(9, 2), "q2", "q2", "/app"),
    ("$pageview", at(9, 3), "q2", "q2", "/app"),
    ("create", at(9, 4), "q2", "q2", None),
    ("$pageview", at(9, 5), "q2", "q2", "/settings"),
    ("$pageview", at(9, 6), "q2", "q2", "/billing"),
    # cat. D: /pricing, /, signup (a pageview without a pathname and $identify are left out);
    # her pageview after as_of is not seen
    ("$pageview", at(8), "q3", "q3", "/pricing"),
    ("$pageview", at(8, 1), "q3", "q3", None),
    ("$identify", at(8, 1, 30), "q3", "q3", None),
    ("$pageview", at(8, 2), "q3", "q3", "/"),
    ("signup", at(8, 3), "q3", "q3", None),
    ("$pageview", datetime(2026, 6, 2, tzinfo=UTC), "q3", "q3", "/pricing"),
    # zed is internal: left out
    ("$pageview", at(7), "q4", "q4", "/"),
    ("signup", at(7, 1), "q4", "q4", None),
    # dan. E: /x, /y, /x, /y: he takes the edge /x -> /y twice, in one sequence
    ("$pageview", at(18), "q6", "q6", "/x"),
    ("$pageview", at(18, 1), "q6", "q6", "/y"),
    ("$pageview", at(18, 2), "q6", "q6", "/x"),
    ("$pageview", at(18, 3), "q6", "q6", "/y"),
]
RECORDS = [
    record(n, e, when, did, pid, EMAILS[pid],
           {"$pathname": path, "$current_url": f"https://app.example.com{path}"} if path else {})
    for n, (e, when, did, pid, path) in enumerate(EVENTS, 1)
]  # fmt: skip

A = ["/", "signup", "/app", "create"]
B = ["/app", "create"]
C = ["/", "signup", "/app", "create", "/settings", "/billing"]
D_ = ["/pricing", "/", "signup"]
E = ["/x", "/y", "/x", "/y"]


def counted(doc: dict[str, Any]) -> dict[tuple[str, ...], int]:
    return {tuple(p["nodes"]): p["count"] for p in doc["paths"]}


def positional(doc: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    """The document's edges as (source, target, step, count), in its order."""
    return [(e["source"], e["target"], e["step"], e["count"]) for e in doc["edges"]]


def ends(doc: dict[str, Any], key: str) -> dict[str, int]:
    return {e["node"]: e["sequences"] for e in doc[key]}


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


cli = partial(run_ok, "paths", as_of=AS_OF)
cli_json = partial(run_json, "paths", as_of=AS_OF)


def test_paths_through_the_cli(export: Path) -> None:
    doc = cli_json(RANGE, USERTRACK_EVENTS=str(export))
    assert doc["as_of"] == "2026-06-01T00:00:00Z"
    assert (doc["steps"], doc["start_point"], doc["end_point"]) == (5, None, None)
    assert doc["total_sequences"] == 5  # A, B, C, D, E
    # five steps: C loses /billing
    assert counted(doc) == {tuple(A): 1, tuple(B): 1, tuple(C[:5]): 1, tuple(D_): 1, tuple(E): 1}
    assert ends(doc, "entry_nodes") == {"/": 2, "/app": 1, "/pricing": 1, "/x": 1}
    # a sequence's exit is its last node, past the fifth step too (C's /billing)
    assert ends(doc, "exit_nodes") == {"create": 2, "/billing": 1, "signup": 1, "/y": 1}
    # PostHog's positional edges of the five-step paths, the source at `step`: / -> signup at
    # step 1 in A and C (D's is at step 2); E's /x -> /y at steps 1 and 3 is two edges
    assert positional(doc) == [
        ("/", "signup", 1, 2),
        ("signup", "/app", 2, 2),
        ("/app", "create", 3, 2),
        # ties by source key, then target key, as texts: "1_/app" < "1_/pricing" < ... "4_create"
        ("/app", "create", 1, 1),
        ("/pricing", "/", 1, 1),
        ("/x", "/y", 1, 1),
        ("/", "signup", 2, 1),
        ("/y", "/x", 2, 1),
        ("/x", "/y", 3, 1),
        ("create", "/settings", 4, 1),
    ]


def test_steps(export: Path) -> None:
    doc = cli_json([*RANGE, "--steps", "3"], USERTRACK_EVENTS=str(export))
    assert counted(doc) == {tuple(A[:3]): 2, tuple(B): 1, tuple(D_): 1, tuple(E[:3]): 1}
    assert (doc["paths"][0]["nodes"], doc["paths"][0]["count"]) == (A[:3], 2)


def test_from_and_to(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    # from signup: A, C and D have it; each starts there
    start = cli_json([*RANGE, "--from", "signup"], **env)
    assert start["total_sequences"] == 3
    assert counted(start) == {("signup", "/app", "create"): 1, tuple(C[1:]): 1, ("signup",): 1}
    assert ends(start, "entry_nodes") == {"signup": 3}
    # to create: A, B, C reach it; each ends there; with two steps, the last two before it
    end = cli_json([*RANGE, "--to", "create"], **env)
    assert counted(end) == {tuple(A): 2, tuple(B): 1}
    assert ends(end, "exit_nodes") == {"create": 3}
    short = cli_json([*RANGE, "--to", "create", "--steps", "2"], **env)
    assert counted(short) == {("/app", "create"): 3}
    # a page as the start, a page as the end: from /app to /settings is C's only
    both = cli_json([*RANGE, "--from", "/app", "--to", "/settings"], **env)
    assert counted(both) == {("/app", "create", "/settings"): 1}
    none = cli_json([*RANGE, "--from", "nowhere"], **env)
    assert (none["total_sequences"], none["paths"], none["edges"]) == (0, [], [])


def test_a_node_no_event_has_is_named_on_stderr(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    typo = cli([*RANGE, "--from", "/setings", "--to", "signup", "-f", "json"], **env)
    assert typo.stderr.count("usertrack: warning:") == 1
    assert "--from '/setings' is no page or event in the range (did you mean '/settings'?)" in (
        typo.stderr
    )
    assert json.loads(typo.stdout)["total_sequences"] == 0  # the answer is still written
    # nodes that exist, or a node outside the range (the table's caption says the range)
    fine = cli([*RANGE, "--from", "/app", "--to", "create", "-f", "json"], **env)
    assert "warning" not in fine.stderr
    late = cli(["--since", "2026-05-20", "--until", "2026-05-31", "--from", "/app"], **env)
    assert "--from '/app' is no page or event in the range" in late.stderr
    # PostHog's own word for a pageview is no node: its page is, which the warning says
    event = cli([*RANGE, "--to", "$pageview", "-f", "json"], **env)
    said = "--to '$pageview' is no page or event in the range: a pageview is its page here ("
    assert said + "/, /app, /billing, ...)" in event.stderr


def test_same_answers_through_the_live_http_path(export: Path, tmp_path: Path) -> None:
    args = [*RANGE, "--to", "create"]
    local = cli_json(args, USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (fake, env):
        live = cli_json(args, **env)
        whole = cli_json(RANGE, **env)
        sent = fake.query_texts()
    assert live == local
    assert whole["total_sequences"] == 5
    assert all("create" not in t for t in sent)  # --to is worked out here, never sent as text


def test_table_csv_and_md(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    table = cli([*RANGE, "--steps", "3"], **env).stdout
    assert "/ → signup → /app" in table and "40.0%" in table  # 2 of 5
    csv_lines = cli([*RANGE, "--steps", "3", "-f", "csv"], **env).stdout.splitlines()
    assert csv_lines[:2] == [
        "count,completion,step_1,step_2,step_3,dropoff_2,dropoff_3",
        "2,1.0,/,signup,/app,0.0,0.0",
    ]
    md = cli([*RANGE, "-f", "md"], **env).stdout
    assert "```mermaid\nflowchart LR\n" in md
    assert '["/app"]' in md and "-->|3|" in md
    assert "| / → signup → /app → create | 1 | 20.0% | 100.0% | - |" in md
    # the flat edges sum the positional ones over the steps: E's /x -> /y counts 2
    assert "| /x | /y | 2 |" in md and "| / | signup | 3 |" in md


def test_node_labels_are_data_in_md_and_mermaid(tmp_path: Path) -> None:
    evil = 'go"]\n```\n<img src=x>[l](http://e.example)'
    recs = [
        record(1, "$pageview", at(10), "e1", "q1", "ann@example.com", {"$pathname": "/"}),
        record(2, evil, at(10, 1), "e1", "q1", "ann@example.com"),
    ]
    path = write_export(tmp_path / "evil.jsonl", recs)
    md = cli([*RANGE, "-f", "md"], USERTRACK_EVENTS=str(path)).stdout
    assert md.count("```") == 2  # the label cannot close the diagram
    assert "<img" not in md.replace("\\<img", "") and "[l](http" not in md
    assert mermaid_text(evil) in md
    assert mermaid_text('a"b<c') == "a#34;b#60;c"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--steps", "1"], "--steps 1 must be from 2 to 20"),
        (["--steps", "21"], "--steps 21"),
        (["--from", " "], "--from is empty"),
        (["--to", ""], "--to is empty"),
        (["--since", "May"], "--since 'May' is not a date"),
        (["--type", "screens"], "--type 'screens': 'screens' is not one of page, screen, custom"),
        (["--type", ","], "--type ',' names no kind"),
        (["--type", "screen", "--persons", "/a:/b"], "--persons and --type do not go together"),
    ],
)
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    argv = ["paths", *args, "--as-of", AS_OF]
    assert_usage_error(argv, fragment, USERTRACK_EVENTS=str(export))


def test_a_range_without_events(export: Path) -> None:
    # May 20-31: no kept event; and one event alone is one sequence without an edge
    env = {"USERTRACK_EVENTS": str(export)}
    empty = cli_json(["--since", "2026-05-20", "--until", "2026-05-31"], **env)
    assert (empty["total_sequences"], empty["paths"], empty["edges"]) == (0, [], [])
    one = cli_json(["--since", "2026-05-10T09:06:00", "--until", "2026-05-10T09:06:01"], **env)
    assert counted(one) == {("/billing",): 1} and one["edges"] == []
    # The end is not in a range: one that ends where it starts holds nothing, and is refused.
    instant = ["--since", "2026-05-10T09:06:00", "--until", "2026-05-10T09:06:00"]
    assert_usage_error(["paths", *instant], "is not before the range's end", **env)


def test_an_edge_taken_twice_is_two_positional_edges_and_counts_twice_flat(
    tmp_path: Path,
) -> None:
    # ann: /a, /b, /a, /b (/a -> /b at steps 1 and 3); bob: /a, /b (at step 1)
    views = [("q1", at(10, m), page) for m, page in enumerate(["/a", "/b", "/a", "/b"])]
    views += [("q2", at(12, m), page) for m, page in enumerate(["/a", "/b"])]
    recs = [
        record(n, "$pageview", when, pid, pid, EMAILS[pid], {"$pathname": page})
        for n, (pid, when, page) in enumerate(views, 1)
    ]
    env = {"USERTRACK_EVENTS": str(write_export(tmp_path / "twice.jsonl", recs))}
    doc = cli_json(RANGE, **env)
    assert doc["total_sequences"] == 2
    # PostHog's edges: 1_/a -> 2_/b by both, 2_/b -> 3_/a and 3_/a -> 4_/b by ann
    assert positional(doc) == [("/a", "/b", 1, 2), ("/b", "/a", 2, 1), ("/a", "/b", 3, 1)]
    # summed over the steps where a flat list is shown: /a -> /b 3 times (ann twice), /b -> /a once
    md = cli([*RANGE, "-f", "md"], **env).stdout
    edges_table = md[md.index("## Edges") :]
    assert "| /a | /b | 3 |" in edges_table and "| /b | /a | 1 |" in edges_table
    assert edges_table.index("| /a | /b | 3 |") < edges_table.index("| /b | /a | 1 |")
    assert "-->|3|" in md and "-->|1|" in md and "twice in one sequence counts 2" in md
    table = cli(RANGE, **env).stdout
    edge_rows = [line for line in table[table.index("Edges") :].splitlines() if "/a" in line]
    assert [line.split() for line in edge_rows] == [
        ["│", "/a", "│", "/b", "│", "3", "│"],
        ["│", "/b", "│", "/a", "│", "1", "│"],
    ]
    assert "Summed over the steps: twice in one sequence counts 2." in " ".join(table.split())


def test_positional_edges_order_cap_and_pruning() -> None:
    names = {0: "a", 1: "b", 2: "c", 3: "d", 4: "x", 5: "y"}

    def top(rows: list[tuple[int, int, int, int]], limit: int) -> list[tuple[int, Any, Any, int]]:
        step, source, target, count = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
        return positional_top(step, source, target, count, names, limit)

    # ties go by the source key as text, as PostHog's ORDER BY: "10_x" before "2_a"
    rows = [(2, 0, 1, 4), (10, 4, 5, 4), (1, 0, 1, 9), (2, 0, 2, 4)]
    assert top(rows, 50) == [
        (1, "a", "b", 9),
        (10, "x", "y", 4),
        (2, "a", "b", 4),
        (2, "a", "c", 4),
    ]
    # the cap keeps the first `limit`; then an edge no kept edge leads to from step 1 is dropped
    # (PostHog's validate_results): 3_c has no kept edge into it once 2_b -> 3_c is cut
    capped = top([(1, 0, 1, 3), (2, 1, 2, 1), (3, 2, 3, 2)], 2)
    assert capped == [(1, "a", "b", 3), (3, "c", "d", 2)]
    assert reachable(capped) == [(1, "a", "b", 3)]
    assert reachable(top([(1, 0, 1, 3), (2, 1, 2, 1), (3, 2, 3, 2)], 3)) == [
        (1, "a", "b", 3),
        (3, "c", "d", 2),
        (2, "b", "c", 1),
    ]
    assert reachable([(2, "b", "c", 5)]) == [] and top(rows, 0) == []
    assert EDGE_LIMIT == 50  # PostHog's EDGE_LIMIT_DEFAULT
