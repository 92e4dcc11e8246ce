"""Paths' completion, drop-off per step and conversion rate (docs/metrics.md, "Completion and
drop-off"), on the hand-made events of tests/test_paths.py, on both engines: the local one and
the live one (queries/posthog/path_prefixes.sql on the tests' PostHog, ClickHouse).

Every figure is worked out here from those events, never copied from output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import live_posthog, run_ok, write_export
from tests.test_paths import AS_OF, RANGE, RECORDS, C, cli_json

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
    # --to create: A and C reach it as /, signup, /app, create; B as /app, create
    doc = cli_json([*RANGE, "--to", "create"], **env)
    assert doc["conversions"] == {
        "goal": "create",
        "paths": [
            {"nodes": ["/", "signup", "/app", "create"], "conversions": 2, "conversion_rate": 1.0},
            {"nodes": ["/app", "create"], "conversions": 1, "conversion_rate": 1.0},
        ],
    }
    # --steps 2: the three are one path, /app then create
    two = cli_json([*RANGE, "--to", "create", "--steps", "2"], **env)
    assert two["conversions"]["paths"] == [
        {"nodes": ["/app", "create"], "conversions": 3, "conversion_rate": 1.0}
    ]


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
