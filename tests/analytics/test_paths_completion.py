"""Paths' completion, drop-off per step and conversion rate (docs/metrics.md, "Completion and
drop-off"), on the hand-made events of tests/analytics/test_paths.py, on both engines: the local one
and the live one (queries/posthog/paths_summary.sql on the tests' PostHog, ClickHouse).

Every figure is worked out here from those events, never copied from output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.test_paths import AS_OF, RANGE, RECORDS, C, cli_json
from tests.analytics_helpers import live_posthog, run_ok, write_export

# --from signup: A, C and D have it, cut from there (five steps: C loses nothing past /billing)
#   A: signup, /app, create    C: signup, /app, create, /settings, /billing    D: signup
# Each of the three begins with signup; two go on to /app, then create; one to /settings.
FROM_SIGNUP = {
    ("signup", "/app", "create"): (
        2 / 3,
        [("/app", 2, 1 - 2 / 3), ("create", 2, 0.0)],
    ),
    tuple(C[1:]): (
        1 / 3,
        [("/app", 2, 1 - 2 / 3), ("create", 2, 0.0), ("/settings", 1, 0.5), ("/billing", 1, 0.0)],
    ),
    ("signup",): (1.0, []),
}


def figures(doc: dict[str, Any]) -> dict[tuple[str, ...], tuple[float, list[Any]]]:
    return {
        tuple(p["nodes"]): (
            p["completion"],
            [(d["node"], d["sequences"], d["rate"]) for d in p["dropoff"]],
        )
        for p in doc["paths"]
    }


def expected(
    worked: dict[tuple[str, ...], tuple[float, list[Any]]],
) -> dict[tuple[str, ...], tuple[float, list[Any]]]:
    return {
        nodes: (round(done, 4), [(n, k, round(r, 4)) for n, k, r in lost])
        for nodes, (done, lost) in worked.items()
    }


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export(tmp_path_factory.mktemp("completion") / "events.jsonl", RECORDS)


@pytest.fixture(scope="module", params=["local", "live"])
def env(
    request: pytest.FixtureRequest, export: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    if request.param == "local":
        yield {"USERTRACK_EVENTS": str(export)}
        return
    with live_posthog(export, tmp_path_factory.mktemp("live")) as (_, live):
        yield live


def test_completion_and_dropoff_per_step(env: dict[str, str]) -> None:
    doc = cli_json([*RANGE, "--from", "signup"], **env)
    assert figures(doc) == expected(FROM_SIGNUP)
    first = next(p for p in doc["paths"] if p["nodes"] == ["signup", "/app", "create"])
    assert first["dropoff"][0] == {
        "step": 2, "node": "/app", "sequences": 2, "rate": 0.3333,
    }  # fmt: skip
    assert "conversions" not in doc  # no --to, no goal


def test_a_path_that_others_continue_is_followed_whole_by_them_too(env: dict[str, str]) -> None:
    # five steps, no cut: A (/, signup, /app, create) is begun by A and C, and both follow it
    # whole (C goes on past it); C's first five nodes are followed whole by C alone
    doc = cli_json(RANGE, **env)
    done = {tuple(p["nodes"]): p["completion"] for p in doc["paths"]}
    assert done[("/", "signup", "/app", "create")] == 1.0
    assert done[tuple(C[:5])] == 0.5
    last = next(p for p in doc["paths"] if p["nodes"] == C[:5])["dropoff"][-1]
    assert last == {"step": 5, "node": "/settings", "sequences": 1, "rate": 0.5}


def test_conversion_paths_to_a_goal(env: dict[str, str]) -> None:
    # --to create: A and C reach it as /, signup, /app, create; B as /app, create. A path
    # shorter than --steps began where its sequences begin: its steps before the goal are
    # followed from a sequence's start: / signup /app by A and C only (D begins /pricing), /app
    # by B only (A and C begin with /); every one of them went on to create
    doc = cli_json([*RANGE, "--to", "create"], **env)
    assert doc["conversions"] == {
        "goal": "create",
        "paths": [
            {"nodes": ["/", "signup", "/app", "create"], "conversions": 2, "followed": 2,
             "conversion_rate": 1.0},
            {"nodes": ["/app", "create"], "conversions": 1, "followed": 1,
             "conversion_rate": 1.0},
        ],
    }  # fmt: skip
    # --steps 2: the three are one path, /app then create, and /app is in A, B and C alone
    two = cli_json([*RANGE, "--to", "create", "--steps", "2"], **env)
    assert two["conversions"]["paths"] == [
        {"nodes": ["/app", "create"], "conversions": 3, "followed": 3, "conversion_rate": 1.0}
    ]


def test_the_conversion_rate_counts_the_sequences_that_never_reach_the_goal(
    env: dict[str, str],
) -> None:
    # --to /settings: C alone reaches it, as /, signup, /app, create, /settings (five nodes:
    # --steps long, so its steps before the goal may be anywhere in a sequence). A takes the
    # same four steps and ends there: 1 of 2 convert, where the completion (over the cut
    # sequences, C alone) is 1
    doc = cli_json([*RANGE, "--to", "/settings"], **env)
    assert doc["conversions"]["paths"] == [
        {"nodes": ["/", "signup", "/app", "create", "/settings"], "conversions": 1,
         "followed": 2, "conversion_rate": 0.5}
    ]  # fmt: skip
    assert doc["paths"][0]["completion"] == 1.0
    # --steps 3: /app, create, /settings; /app then create is taken by A, B and C: 1 of 3
    three = cli_json([*RANGE, "--to", "/settings", "--steps", "3"], **env)
    assert three["conversions"]["paths"] == [
        {"nodes": ["/app", "create", "/settings"], "conversions": 1, "followed": 3,
         "conversion_rate": 0.3333}
    ]  # fmt: skip
    # --from signup: A, C and D from their signup; A and C take signup, /app, create (C then
    # /settings): 1 of 2; D's signup is its last node
    cut = cli_json([*RANGE, "--from", "signup", "--to", "/settings"], **env)
    assert cut["conversions"]["paths"] == [
        {"nodes": ["signup", "/app", "create", "/settings"], "conversions": 1, "followed": 2,
         "conversion_rate": 0.5}
    ]  # fmt: skip


def test_table_md_and_csv_show_completion(env: dict[str, str]) -> None:
    args = [*RANGE, "--from", "signup"]
    table = run_ok("paths", args, as_of=AS_OF, **env).stdout
    assert "Completion" in table and "66.7%" in table
    md = run_ok("paths", [*args, "-f", "md"], as_of=AS_OF, **env).stdout
    assert "| signup → /app → create | 1 | 33.3% | 66.7% | /app -33.3% |" in md
    lines = run_ok("paths", [*args, "-f", "csv"], as_of=AS_OF, **env).stdout.splitlines()
    assert lines[0] == (
        "count,completion,step_1,step_2,step_3,step_4,step_5,"
        "dropoff_2,dropoff_3,dropoff_4,dropoff_5"
    )
    assert "1,0.6667,signup,/app,create,,,0.3333,0.0,," in lines
    assert "1,0.3333,signup,/app,create,/settings,/billing,0.3333,0.0,0.5,0.0" in lines


def test_the_prefixes_file_counts_the_same_on_both_engines(
    env: dict[str, str], tmp_path: Path
) -> None:
    """queries/posthog/path_prefixes.sql itself: the prefixes asked for, counted over the cut
    sequences (--from signup: A, C, D as above), a prefix no sequence begins with left out;
    on the local engine through the HogQL translation, live on ClickHouse."""
    from datetime import UTC, datetime

    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    settings = load_settings(
        {"USERTRACK_HOME": str(tmp_path / "home"), "USERTRACK_CONFIG": "",
         "USERTRACK_CACHE_TTL": "0", **env}
    )  # fmt: skip
    asked = [["signup"], ["signup", "/app"], ["signup", "/app", "create", "/settings"], ["/app"]]
    with open_workspace(
        settings,
        queries_dir=resolve_queries_dir(None),
        segments_path=resolve_segments_file(None),
        database=False,
    ) as ws:
        result = ws.run_query(
            "posthog/path_prefixes",
            datetime(2026, 6, 1, tzinfo=UTC),
            since=datetime(2026, 5, 1, tzinfo=UTC),
            until=datetime(2026, 6, 1, tzinfo=UTC),
            path_from="signup",
            path_to="",
            path_steps=5,
            prefixes=asked,
        )
    at = {c: i for i, c in enumerate(result.columns)}
    got = {tuple(r[at["prefix"]]): int(r[at["sequences"]]) for r in result.rows}
    # every cut sequence begins with signup (3); A and C go on to /app; C alone to /settings;
    # no cut sequence begins with /app
    assert got == {
        ("signup",): 3,
        ("signup", "/app"): 2,
        ("signup", "/app", "create", "/settings"): 1,
    }


def test_the_demo_conversion_rate_is_not_the_completion(demo_home: Path) -> None:
    """On the demo, the sequences that take a path's steps before /settings and never reach it
    are counted: rates are conversions / followed, and below the completion (of the sequences
    reaching /settings only) for most paths."""
    import json

    from tests.cli_runner import run

    result = run(["paths", "--to", "/settings", "-f", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    converted = doc["conversions"]["paths"]
    assert [c["nodes"] for c in converted] == [p["nodes"] for p in doc["paths"]]
    for c, p in zip(converted, doc["paths"], strict=True):
        assert c["conversions"] == p["count"] <= c["followed"]
        assert c["conversion_rate"] == round(c["conversions"] / c["followed"], 4)
    pairs = zip(converted, doc["paths"], strict=True)
    below = [c["conversion_rate"] < p["completion"] for c, p in pairs]
    assert sum(below) > 1
    # a path of the goal alone: its approach is empty, followed by every sequence of the range
    alone = [c for c in converted if c["nodes"] == ["/settings"]]
    assert alone and alone[0]["followed"] > doc["total_sequences"]


def test_path_sequences_end_before_the_range_end(env: dict[str, str], tmp_path: Path) -> None:
    """queries/posthog/path_sequences.sql keeps the range's end exclusive as the other paths
    files do (docs/metrics.md: `until` is the first moment past the range; PostHog's own
    `date_filter_expr` compares `<=` its date_to, the last moment in it): bob's /billing at
    09:06 is left out of a range ending at 09:06, and the other files agree."""
    from datetime import UTC, datetime

    from tests.analytics.test_paths import at
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    settings = load_settings(
        {"USERTRACK_HOME": str(tmp_path / "home"), "USERTRACK_CONFIG": "",
         "USERTRACK_CACHE_TTL": "0", **env}
    )  # fmt: skip
    params = {"since": datetime(2026, 5, 1, tzinfo=UTC), "until": at(9, 6), "path_from": "",
              "path_to": "", "path_steps": 10}  # fmt: skip
    with open_workspace(
        settings,
        queries_dir=resolve_queries_dir(None),
        segments_path=resolve_segments_file(None),
        database=False,
    ) as ws:
        as_of = datetime(2026, 6, 1, tzinfo=UTC)
        cut = ws.run_query("posthog/path_sequences", as_of, **params)
        begun = ws.run_query("posthog/path_prefixes", as_of, **params, prefixes=[C[:5], C[:6]])
    at_ = {c: i for i, c in enumerate(cut.columns)}
    texts = sorted(r[at_["paths"]] for r in cut.rows)
    assert ">" + "|".join(C[:5]) in texts
    assert not any("/billing" in t for t in texts)
    counted = {tuple(r[1]): r[2] for r in begun.rows}
    assert counted == {tuple(C[:5]): 1}


def test_an_edited_prefixes_file_counts_only_after_a_summary_that_counts_none(
    export: Path, tmp_path: Path
) -> None:
    """queries/posthog/path_prefixes.sql is asked for the prefixes and approaches only after a
    paths_summary.sql that answers none of them (kinds 6 and 7), live and on the local engine
    alike. A copy of it that counts each sequence ten times: beside the shipped summary, the
    shipped answer on both engines (the file is not read); beside a summary edited to answer
    neither kind, ten times the sequences on both (the rates over them a tenth)."""
    import shutil

    from tests.engine_compare import strip_live_only
    from usertrack.core.shipped import shipped_path

    beside_shipped = tmp_path / "queries"
    shutil.copytree(shipped_path("queries"), beside_shipped)
    edited = beside_shipped / "posthog" / "path_prefixes.sql"
    text = edited.read_text(encoding="utf-8")
    assert "sum(u.alike) AS sequences" in text
    edited.write_text(text.replace("sum(u.alike) AS sequences", "sum(u.alike) * 10 AS sequences"))
    beside_edited = tmp_path / "queries_old"
    shutil.copytree(beside_shipped, beside_edited)
    summary = beside_edited / "posthog" / "paths_summary.sql"
    text = summary.read_text(encoding="utf-8")
    rows = "WHERE kind < 6 OR begins_top = 1"
    assert rows in text
    summary.write_text(text.replace(rows, "WHERE kind < 6"), encoding="utf-8")
    args = [*RANGE, "--to", "/settings"]
    local = {"USERTRACK_EVENTS": str(export)}
    shipped = cli_json(args, **local)
    assert shipped["conversions"]["paths"][0]["followed"] == 2
    assert [d["sequences"] for d in shipped["paths"][0]["dropoff"]] == [1, 1, 1, 1]
    with live_posthog(export, tmp_path / "live") as (fake, live):

        def both(folder: Path) -> tuple[dict[str, Any], list[str]]:
            """The answer with `folder`'s files, the same on both engines, and the queries
            sent live."""
            here = cli_json(args, **local, USERTRACK_QUERIES=str(folder))
            before = len(fake.requests)
            there = cli_json(args, **live, USERTRACK_QUERIES=str(folder))
            assert strip_live_only(there) == strip_live_only(here)
            asked = [r for r in fake.requests[before:] if r["path"].endswith("/query/")]
            sent = [r["body"]["name"] for r in asked]
            return here, sent

        doc, sent = both(beside_shipped)
        assert sent == ["usertrack posthog/paths_summary"]
        assert doc == shipped
        doc, sent = both(beside_edited)
    assert sent == ["usertrack posthog/paths_summary", "usertrack posthog/path_prefixes"]
    assert doc["conversions"]["paths"] == [
        {"nodes": ["/", "signup", "/app", "create", "/settings"], "conversions": 1,
         "followed": 20, "conversion_rate": 0.05}
    ]  # fmt: skip
    assert [d["sequences"] for d in doc["paths"][0]["dropoff"]] == [10, 10, 10, 10]
    assert [(p["nodes"], p["count"]) for p in doc["paths"]] == [
        (p["nodes"], p["count"]) for p in shipped["paths"]
    ]


def _cutting(query_id: str) -> str:
    """The sequence cutting of a paths query file: the events kept, each person's sequences
    split and collapsed, each one's --from start (`lo`) and --to hit (`found`), from the
    SELECT that yields `found` to its close, without its indent."""
    import textwrap

    from usertrack.core.shipped import shipped_path

    lines = (shipped_path("queries") / f"{query_id}.sql").read_text(encoding="utf-8").split("\n")
    top = next(k for k, line in enumerate(lines) if line.strip() == "q.actor AS actor,") - 1
    indent = lines[top][: len(lines[top]) - len(lines[top].lstrip())]
    end = next(k for k in range(top, len(lines)) if lines[k].startswith(f"{indent[:-4]})"))
    return textwrap.dedent("\n".join(lines[top:end]))


def test_the_paths_files_cut_sequences_alike() -> None:
    """paths_summary.sql, path_prefixes.sql and path_sequences.sql cut the sequences with the
    same text (query files share none: each holds its copy), so they keep the same events, the
    range's end exclusive among them, and cut them alike."""
    summary = _cutting("posthog/paths_summary")
    assert "AND timestamp < toDateTime({until}, 'UTC')" in summary
    assert len(summary.split("\n")) > 60
    assert _cutting("posthog/path_prefixes") == summary
    assert _cutting("posthog/path_sequences") == summary


def test_a_dashboards_headline_names_the_top_conversion(env: dict[str, str]) -> None:
    """A paths panel with --to says, under its chart, the most common path to the goal and how
    many of the sequences that took its steps converted (--to /settings: C, of A and C)."""
    from usertrack.dashboards.render import headline

    doc = cli_json([*RANGE, "--to", "/settings"], **env)
    assert headline("paths", doc) == (
        "1 sequence to /settings; the most common, / → signup → /app → create → /settings,"
        " converts 1 of the 2 sequences that took its steps."
    )
    assert headline("paths", cli_json(RANGE, **env)) == "5 sequences."


def test_one_sequence_is_counted_in_the_singular(env: dict[str, str]) -> None:
    # Only C reaches /settings: from there, one sequence.
    args = [*RANGE, "--from", "/settings"]
    for fmt in ("table", "md"):
        out = run_ok("paths", [*args, "-f", fmt], as_of=AS_OF, **env).stdout
        assert "1 sequence." in " ".join(out.split()), out
        assert "1 sequences" not in out
