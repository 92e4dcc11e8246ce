"""Live analytics answered as figures: PostHog works out `sessions` (and `paths`) in HogQL and
sends a few rows, not one per session or event, with the same JSON as the local engine.

The PostHog stand-in is tests/posthog_server.py (PostHog's printing on ClickHouse, real HTTP,
PostHog's row caps); the demo's PostgreSQL is reached through DATABASE_URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.engine_compare import strip_live_only
from tests.posthog_server import FakePostHog, live_env, serve

PROJECT = 4242


@pytest.fixture(scope="module")
def live(demo_home: Path) -> Iterator[tuple[Path, FakePostHog, dict[str, str], str]]:
    from usertrack.demo.generator import ensure_demo, start_demo_postgres

    demo = ensure_demo(demo_home)
    uri = start_demo_postgres(demo)
    result = run(["segments", "-f", "json", "-n", "1"], demo_home)
    assert result.exit_code == 0, result.stderr
    as_of = str(json.loads(result.stdout)["as_of"])
    with serve(demo.events_path, project_id=PROJECT) as fake:
        yield demo_home, fake, live_env(fake, uri), as_of


def _both(
    live: tuple[Path, FakePostHog, dict[str, str], str], args: list[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The command's JSON live (checked equal to the local engine's) and its query requests."""
    home, fake, env, as_of = live
    argv = [*args, "--format", "json", "--as-of", as_of, "--refresh"]
    local = run(argv, home)
    assert local.exit_code == 0, local.stderr
    before = len(fake.requests)
    answered = run(argv, home, **env)
    assert answered.exit_code == 0, answered.stderr
    doc = json.loads(answered.stdout)
    assert strip_live_only(doc) == strip_live_only(json.loads(local.stdout)), args
    sent = [r for r in fake.requests[before:] if r["path"].endswith("/query/")]
    # --where's reach (how many persons it kept) is two counts of active_persons, with and
    # without the expressions, over the answer's range (retention's cohorts, churn's window);
    # the analysis's own requests are the rest
    reach = [r for r in sent if r["body"].get("name") == "usertrack posthog/active_persons"]
    assert len(reach) == (2 if "--where" in args else 0), args
    return doc, [r for r in sent if r not in reach]


def _edited(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of the shipped queries folder whose posthog/NAME.sql has `old` (found once) as
    `new`: an edited copy, as a user makes one."""
    import shutil

    from usertrack.core.shipped import shipped_path

    folder = tmp_path / "queries"
    shutil.copytree(shipped_path("queries"), folder)
    path = folder / "posthog" / f"{name}.sql"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), "utf-8")
    return folder


@pytest.mark.parametrize(
    "args",
    [["sessions"], ["sessions", "--days", "7", "--top", "3", "--where", "event != '$autocapture'"]],
)
def test_sessions_live_are_figures_in_one_request(
    live: tuple[Path, FakePostHog, dict[str, str], str], args: list[str]
) -> None:
    doc, sent = _both(live, args)
    assert doc["sessions"] > 500  # the demo's sessions: far more than the rows answered
    assert len(sent) == 1
    assert sent[0]["rows"] <= 2 + 6 + 5 * 10  # all, buckets, five lists of the top values


@pytest.mark.parametrize(
    "args",
    [
        ["paths"],
        ["paths", "--to", "/settings"],
        ["paths", "--from", "/dashboard", "--to", "/settings", "--steps", "3", "--top", "4"],
        ["paths", "--steps", "20", "--days", "60", "--where", "properties.$browser = 'Chrome'"],
    ],
)
def test_paths_live_are_figures_in_one_request(
    live: tuple[Path, FakePostHog, dict[str, str], str], args: list[str]
) -> None:
    doc, sent = _both(live, args)
    assert doc["edges"] and doc["paths"]
    assert len(sent) == 1
    # all, then per kind the top paths, entry and exit nodes, summed edges and positional edges,
    # the sequences beginning each prefix of the top paths (a row a prefix, the completion the
    # local engine gives) and, with --to, a row for each top path's steps before the goal
    # (followed by its own sequences at least)
    prefixes = {tuple(p["nodes"][:k]) for p in doc["paths"] for k in range(1, len(p["nodes"]) + 1)}
    approaches = {tuple(p["nodes"][:-1]) for p in doc["paths"]} if "--to" in args else set()
    assert 1 + len(doc["paths"]) + len(prefixes) + len(approaches) <= sent[0]["rows"]
    assert sent[0]["rows"] <= 1 + 4 * 20 + 50 + len(prefixes) + len(approaches)
    assert sent[0]["rows"] < doc["total_sequences"]  # fewer rows than sequences, let alone events
    assert all(0 < p["completion"] <= 1 for p in doc["paths"])
    for c in doc.get("conversions", {}).get("paths", []):
        assert 0 < c["conversion_rate"] <= 1 and c["conversions"] <= c["followed"]


@pytest.mark.parametrize(
    ("kinds", "args"),
    [
        # a copy made before it counted the steps before the goal: path_prefixes.sql counts them
        (7, ["paths", "--to", "/settings", "--steps", "4"]),
        # ... or before it counted the prefixes too: path_prefixes.sql counts both
        (6, ["paths", "--from", "/dashboard", "--to", "/settings", "--top", "5"]),
        (6, ["paths", "--steps", "4"]),
    ],
)
def test_paths_live_from_a_summary_that_counts_no_prefixes_or_approaches(
    live: tuple[Path, FakePostHog, dict[str, str], str],
    tmp_path: Path,
    kinds: int,
    args: list[str],
) -> None:
    """An edited copy of paths_summary.sql that answers no rows of kind `kinds` and after
    (kind 6, the top paths' prefixes; kind 7, with --to, the steps before the goal):
    path_prefixes.sql counts them after it, as it did beside an older copy, and the answer is
    the shipped file's, live and on the local engine (which runs the copy as written)."""
    rows = "WHERE kind < 6 OR begins_top = 1"
    folder = _edited(tmp_path, "paths_summary", rows, f"WHERE kind < {kinds} AND ({rows[6:]})")
    shipped, sent = _both(live, args)
    assert len(sent) == 1
    doc, sent = _both(live, [*args, "--queries", str(folder)])
    names = [r["body"]["name"] for r in sent]
    assert names == ["usertrack posthog/paths_summary", "usertrack posthog/path_prefixes"]
    assert doc["paths"] and strip_live_only(doc) == strip_live_only(shipped)
    if "--to" in args:
        assert any(c["followed"] > c["conversions"] for c in doc["conversions"]["paths"])


def test_paths_live_note_a_node_no_event_has(
    live: tuple[Path, FakePostHog, dict[str, str], str],
) -> None:
    """A --from no event has: the same empty answer and the same note with its closest node,
    for which the nodes of the range are asked for once the figures say it is in no sequence."""
    home, fake, env, as_of = live
    argv = ["paths", "--from", "/dashbord", "--format", "json", "--as-of", as_of, "--refresh"]
    local = run(argv, home)
    before = len(fake.requests)
    answered = run(argv, home, **env)
    sent = [r for r in fake.requests[before:] if r["path"].endswith("/query/")]
    assert len(sent) == 2 and sent[0]["rows"] == 1  # the figures: no sequence; then the nodes
    assert local.exit_code == answered.exit_code == 0, answered.stderr
    note = [line for line in local.stderr.splitlines() if "--from" in line]
    assert note and "did you mean '/dashboard'" in note[0]
    assert note == [line for line in answered.stderr.splitlines() if "--from" in line]
    assert strip_live_only(json.loads(answered.stdout)) == strip_live_only(json.loads(local.stdout))


# ---------------------------------------------------------------------- retention and activity
# PostHog counts the cohorts (retention_summary.sql) and the daily series, lifecycle, active
# days, heatmap and daily volume (activity_summary.sql): a row per cohort and period, per day,
# week and weekday-hour, never one per person. With --by-segment or --segment the per-person
# facts come instead, once (a group's count would bind its persons as a list).


@pytest.mark.parametrize(
    "args",
    [
        ["retention"],
        ["retention", "--mode", "recurring"],
        ["retention", "--period", "day", "--periods", "10"],
        ["retention", "--period", "month", "--periods", "3", "--mode", "recurring"],
        ["retention", "--start", "$pageview", "--return", "feature_used", "--periods", "5"],
        ["retention", "--where", "properties.$browser = 'Chrome'", "--mode", "recurring"],
    ],
)
def test_retention_live_is_counted_in_one_request(
    live: tuple[Path, FakePostHog, dict[str, str], str], args: list[str]
) -> None:
    doc, sent = _both(live, args)
    sizes = sum(c["size"] for c in doc["cohorts"])
    assert sizes > 0
    assert len(sent) == 1
    cohorts = len(doc["cohorts"])
    assert sent[0]["rows"] <= cohorts * (cohorts + 1) // 2 + 1  # a row per cohort and period
    assert sent[0]["rows"] < sizes  # fewer rows than persons


HOURS = "usertrack posthog/activity_hours"
VOLUME = "usertrack posthog/activity_volume"
SUMMARY = "usertrack posthog/activity_summary"


@pytest.mark.parametrize(
    "args",
    [
        ["activity"],
        ["activity", "--days", "7", "--periods", "3"],
        ["activity", "--days", "40", "--periods", "70"],  # past the local engine's bit masks
        ["activity", "--compare", "--days", "14"],
        ["activity", "--where", "event = '$pageview'", "--where", "properties.$browser = 'Chrome'"],
        ["activity", "--week-start", "sunday", "--periods", "5"],
    ],
)
def test_activity_live_is_counted_in_one_request_a_period(
    live: tuple[Path, FakePostHog, dict[str, str], str], args: list[str]
) -> None:
    doc, sent = _both(live, args)
    assert doc["mau"] > 0 and doc["hours"] and any(d["sessions"] for d in doc["daily"])
    runs = 2 if "--compare" in args else 1
    # the figures, the heatmap and the sessions and events per day in one request (with
    # --compare the two periods' side by side, in any order)
    figures = [r for r in sent if r["body"]["name"] == SUMMARY]
    assert len(figures) == len(sent) == runs
    days = len(doc["daily"])
    # a row per day (the active users, the volume), week, number of active days and weekday-hour
    assert all(r["rows"] <= 3 * days + len(doc["lifecycle"]) + 7 * 24 for r in figures)
    assert max(r["rows"] for r in figures) < doc["mau"]  # fewer rows than persons


def test_activity_live_from_a_summary_that_counts_no_heatmap_or_volume(
    live: tuple[Path, FakePostHog, dict[str, str], str], tmp_path: Path
) -> None:
    """An edited copy of activity_summary.sql that answers none of its heatmap's and daily
    volume's rows (as a copy made before it counted them): activity_hours.sql and
    activity_volume.sql count them, as they did beside it, and the answer is the shipped
    file's, live and on the local engine (which runs the copy as written)."""
    rows = "WHERE y.kind != 2 OR y.i > 0"
    folder = _edited(tmp_path, "activity_summary", rows, f"WHERE y.kind < 3 AND ({rows[6:]})")
    shipped, _ = _both(live, ["activity", "--days", "14"])
    doc, sent = _both(live, ["activity", "--days", "14", "--queries", str(folder)])
    assert sorted(r["body"]["name"] for r in sent) == sorted([SUMMARY, HOURS, VOLUME])
    assert doc["hours"] and any(d["sessions"] for d in doc["daily"])
    assert strip_live_only(doc) == strip_live_only(shipped)


@pytest.mark.parametrize(
    "args",
    [
        ["retention", "--segment", "power_user"],
        ["retention", "--by-segment", "--mode", "recurring"],
        ["activity", "--by-segment", "--days", "7"],
        ["activity", "--segment", "no account", "--compare"],
    ],
)
def test_retention_and_activity_by_segment_live(
    live: tuple[Path, FakePostHog, dict[str, str], str], args: list[str]
) -> None:
    """No query binds a group's persons as a list (past a few thousand persons more than
    ClickHouse parses in one query): the per-person facts come once a period, at most a row per
    person, and each group counts its persons' rows; the summaries PostHog counts outside
    --by-segment and --segment are not asked for."""
    import duckdb

    from usertrack.demo.generator import ensure_demo

    doc, sent = _both(live, args)
    assert "segment" in doc or doc["by_segment"]
    names = [r["body"]["name"] for r in sent]
    summary = "posthog/retention_summary" if args[0] == "retention" else "posthog/activity_summary"
    assert f"usertrack {summary}" not in names and HOURS not in names
    assert not [r for r in sent if "usertrack_segment_persons" in json.dumps(r["body"])]
    facts = (
        ["posthog/retention_activity"]
        if args[0] == "retention"
        else ["posthog/activity_days", "posthog/activity_person_hours"]
    )
    periods = 2 if "--compare" in args else 1
    con = duckdb.connect(str(ensure_demo(live[0]).events_path), read_only=True)
    (persons,) = con.execute("SELECT count(DISTINCT person_id) FROM events").fetchone() or (0,)
    con.close()
    for name in facts:
        asked = [r for r in sent if r["body"]["name"] == f"usertrack {name}"]
        assert len(asked) == periods, (name, names)
        assert all(0 < r["rows"] <= persons for r in asked), [r["rows"] for r in asked]


@pytest.mark.parametrize(
    "args",
    [
        ["retention", "--period", "day", "--periods", "14"],
        ["retention", "--mode", "recurring"],
        ["activity", "--compare", "--days", "10"],
    ],
)
def test_retention_and_activity_live_in_a_project_timezone_other_than_utc(
    demo_home: Path, args: list[str]
) -> None:
    """PostHog reads a project's timestamps in its timezone unless told not to: the figures
    counted live are still the UTC days and weeks of docs/metrics.md, as the local engine's."""
    from usertrack.demo.generator import ensure_demo, start_demo_postgres

    demo = ensure_demo(demo_home)
    uri = start_demo_postgres(demo)
    result = run(["segments", "-f", "json", "-n", "1"], demo_home)
    as_of = str(json.loads(result.stdout)["as_of"])
    with serve(demo.events_path, project_id=PROJECT, timezone="America/Los_Angeles") as fake:
        doc, sent = _both((demo_home, fake, live_env(fake, uri), as_of), args)
    assert doc and sent
    assert all(r["body"]["name"].endswith(("_summary", "_hours", "_volume")) for r in sent)
