"""`usertrack user EMAIL`: the per-user deep dive on a small demo, and emails that are not users."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.core.errors import EXIT_NOT_FOUND, EXIT_USAGE
from usertrack.queries.library import load_queries
from usertrack.reports.deepdive import (
    PLATFORM_VERDICT,
    TimelineItem,
    one_user_query,
    timeline_check,
)

REPO = Path(__file__).resolve().parents[2]
SEGMENT_IDS = ["failing", "frustrated", "high_intent", "at_risk", "power_user"]
INJECTIONS = [
    "x' OR '1'='1",
    "a@b.c'); DROP TABLE wasp_user;--",
    "{email}",
    "%(email)s",
    "' OR 1=1 OR person.properties.email LIKE '%",
]


def deep(email: str, home: Path, *extra: str) -> dict[str, Any]:
    result = run(["user", email, "--format", "json", *extra], home)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.fixture(scope="module")
def segments(demo_home: Path) -> dict[str, Any]:
    result = run(["segments", "--format", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _members(segments: dict[str, Any], seg: str) -> list[dict[str, Any]]:
    return [u for u in segments["users"] if seg in u["segments"]]


@pytest.mark.parametrize("segment", SEGMENT_IDS)
def test_deep_dive_of_one_user_per_segment(
    demo_home: Path, segments: dict[str, Any], segment: str
) -> None:
    members = _members(segments, segment)
    # Prefer someone both sources know, so the timeline has something from each.
    both = [u for u in members if u["in_posthog"] and u["in_neon"]]
    user = (both or members)[0]
    doc = deep(user["email"], demo_home)
    assert doc["email"] == user["email"]
    assert doc["as_of"] == segments["as_of"]

    # The profile is the one `segments` computes, column for column.
    for column, value in doc["profile"].items():
        assert user[column] == value, column
    # Each segment the user is in, and why: the values of its rule's columns, from the profile.
    assert [s["id"] for s in doc["segments"]] == user["segments"]
    mine = next(s for s in doc["segments"] if s["id"] == segment)
    assert mine["why"] and mine["rule"]
    for column, value in mine["why"].items():
        assert doc["profile"][column] == value == user[column]

    # One timeline, in time order, inside the window.
    timeline = doc["timeline"]
    stamps = [item["at"] for item in timeline]
    assert stamps == sorted(stamps)
    assert all(doc["since"] < at <= doc["as_of"] for at in stamps)
    sources = {item["source"] for item in timeline}
    assert sources <= {"posthog", "neon"}

    # Failures: tool level and workflow level apart, each matching the timeline's rows.
    failed = {
        level: sum(1 for i in timeline if i["level"] == level and i["status"] == "failed")
        for level in ("workflow", "tool")
    }
    assert sum(g["failures"] for g in doc["failures"]["workflow"]) == failed["workflow"]
    assert sum(g["failures"] for g in doc["failures"]["tool"]) == failed["tool"]
    assert all(g["tools"] == [] for g in doc["failures"]["workflow"])
    assert all(g["tools"] for g in doc["failures"]["tool"])
    # The timeline check counts each failure once: a failed tool call inside a failed run is
    # that run's failure.
    failed_runs = {
        i["run_id"] for i in timeline if i["level"] == "workflow" and i["status"] == "failed"
    }
    outside = sum(
        1
        for i in timeline
        if i["level"] == "tool" and i["status"] == "failed" and i["run_id"] not in failed_runs
    )
    check = doc["timeline_check"]
    assert check["failures"] == failed["workflow"] + outside
    assert check["platform_failures"] <= check["failures"]
    assert check["verdict"]

    tool_uses = sum(t["uses"] for t in doc["tools"])
    assert tool_uses == sum(1 for i in timeline if i["level"] == "tool")
    for t in doc["tools"]:
        assert t["successes"] + t["failures"] <= t["uses"]


def test_why_shows_the_columns_the_rule_uses(demo_home: Path, segments: dict[str, Any]) -> None:
    """An at-risk user is at risk because run_count = 0: the why says so, although `show` for
    at_risk (created_at, credits, last_seen_at) leaves run_count out."""
    user = _members(segments, "at_risk")[0]
    doc = deep(user["email"], demo_home)
    why = next(s for s in doc["segments"] if s["id"] == "at_risk")["why"]
    # the profile columns of `in_neon AND created_at < as_of - INTERVAL 7 DAY AND run_count = 0`
    assert list(why) == ["in_neon", "created_at", "run_count"]
    assert why["run_count"] == 0 and why["in_neon"] is True
    assert "credits" not in why and "last_seen_at" not in why


def test_timeline_merges_both_sources(demo_home: Path, segments: dict[str, Any]) -> None:
    failing = [u for u in _members(segments, "failing") if u["in_posthog"]]
    frustrated = [u for u in failing if "frustrated" in u["segments"]]
    user = (frustrated or failing)[0]
    doc = deep(user["email"], demo_home, "--days", "90")
    kinds = {(i["source"], i["kind"]) for i in doc["timeline"]}
    assert ("neon", "run") in kinds and ("neon", "tool call") in kinds
    assert any(source == "posthog" for source, _ in kinds)
    sources = [i["source"] for i in doc["timeline"]]
    # Merged, not appended: a PostHog event comes after a Neon row and a Neon row after an event.
    last = {s: len(sources) - 1 - sources[::-1].index(s) for s in ("posthog", "neon")}
    assert sources.index("neon") < last["posthog"] and sources.index("posthog") < last["neon"]


def test_email_is_matched_trimmed_and_case_insensitively(demo_home: Path) -> None:
    doc = deep("  JANE.DOE@ACME.IO ", demo_home)
    assert doc["email"] == "jane.doe@acme.io"
    assert doc["profile"]["in_neon"] and doc["profile"]["in_posthog"]


def test_table_and_markdown(demo_home: Path) -> None:
    table = run(["user", "jane.doe@acme.io"], demo_home)
    assert table.exit_code == 0, table.stderr
    for fragment in ("Profile", "Timeline check", "Workflow level", "Tool level", "Tools used",
                     "MCP servers clicked", "Timeline"):  # fmt: skip
        assert fragment in table.stdout
    md = run(["user", "jane.doe@acme.io", "--format", "md"], demo_home)
    assert md.exit_code == 0 and md.stdout.startswith("# jane.doe@acme.io")
    csv = run(["user", "jane.doe@acme.io", "--format", "csv"], demo_home)
    assert csv.exit_code == EXIT_USAGE and csv.stdout == ""


def test_each_profile_row_names_its_source_and_window(demo_home: Path) -> None:
    """PostHog's last event is not set under the app's last activity as one word, and all-time
    counts are not headed "last 30 days": each row says where it comes from and over when."""
    md = run(["user", "jane.doe@acme.io", "--format", "md"], demo_home).stdout
    profile = md.split("## Profile", 1)[1].split("\n## ", 1)[0].replace("\\(", "(")
    profile = profile.replace("\\)", ")")  # Markdown's escapes
    rows = {line.split("|")[1].strip() for line in profile.splitlines() if line.startswith("| ")}
    assert {"Last active in the app (now)", "Days since last event in PostHog",
            "Last event in PostHog", "Runs (app, all time)", "Events (PostHog, all time)",
            "Rage clicks (PostHog, last 7 days)"} <= rows, rows  # fmt: skip
    assert not any(row.startswith(("Days since active", "Last active at")) for row in rows)
    assert ", last 30 days." not in md and "timeline and failures over the last 30 days" in md


@pytest.mark.parametrize("email", INJECTIONS)
def test_injection_strings_are_just_unknown_emails(demo_home: Path, email: str) -> None:
    result = run(["user", email, "--format", "json"], demo_home)
    assert result.exit_code == EXIT_NOT_FOUND, result.stderr
    assert result.stdout == ""
    assert "usertrack: error: no user" in result.stderr
    assert "Traceback" not in result.stderr


def test_database_is_intact_after_injection_attempts(
    demo_home: Path, segments: dict[str, Any]
) -> None:
    for email in INJECTIONS:
        run(["user", email], demo_home)
    again = run(["segments", "--format", "json"], demo_home)
    assert again.exit_code == 0, again.stderr
    assert len(json.loads(again.stdout)["users"]) == len(segments["users"])


def test_unknown_email_suggests_close_ones(demo_home: Path) -> None:
    result = run(["user", "jane.doe@acme.co"], demo_home)
    assert result.exit_code == EXIT_NOT_FOUND
    assert result.stdout == ""
    assert "no user 'jane.doe@acme.co'" in result.stderr
    assert "usertrack: hint: did you mean" in result.stderr and "jane.doe@acme.io" in result.stderr


def test_internal_accounts_are_unknown(demo_home: Path) -> None:
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(demo_home))
    try:
        with open_workspace(
            load_settings(),
            queries_dir=resolve_queries_dir(None),
            segments_path=resolve_segments_file(REPO / "segments.yaml"),
        ) as ws:
            conn = ws.sources["neon"].connect()  # type: ignore[attr-defined]
            row = conn.execute(
                "SELECT email FROM wasp_user WHERE email LIKE '%%@datagen.dev' LIMIT 1"
            ).fetchone()
            conn.rollback()
    finally:
        mp.undo()
    assert row is not None
    result = run(["user", row[0]], demo_home)
    assert result.exit_code == EXIT_NOT_FOUND
    assert "internal accounts are left out" in result.stderr
    hints = [line for line in result.stderr.splitlines() if line.startswith("usertrack: hint:")]
    assert not any("datagen.dev" in line for line in hints)


def test_empty_email_is_a_usage_error() -> None:
    result = run(["user", "   "])
    assert result.exit_code == EXIT_USAGE and "EMAIL is empty" in result.stderr


def test_the_email_travels_as_a_bound_value() -> None:
    library = load_queries(REPO / "queries")
    for query_id in ("neon/user_timeline", "neon/user_tool_usage",
                     "posthog/user_events", "posthog/user_mcp_servers"):  # fmt: skip
        query = library.get(query_id)
        assert "email" in query.param_names and query.returns == "table"
        placeholder = "%(email)s" if query.folder == "neon" else "{email}"
        assert placeholder in query.sql
    for query in library.in_folder("neon", per_user=True) + library.in_folder(
        "posthog", per_user=True
    ):
        wrapped = one_user_query(query)
        assert "usertrack_email" in wrapped.param_names
        assert wrapped.sql.startswith("SELECT * FROM (\n" + query.sql.rstrip().rstrip(";"))


def _item(day: int, level: str, status: str, run: int | None = None) -> TimelineItem:
    return TimelineItem(
        at=datetime(2026, 11, day, 12),
        source="neon",
        kind="run" if level == "workflow" else "tool call",
        level=level,
        status=status,
        run_id=None if run is None else str(run),
    )


def _failures(items: list[TimelineItem], errors: dict[str, str]) -> list[dict[str, Any]]:
    """The failed items as neon/failures' rows, categorized by the shipped failures.yaml:
    `errors` gives each failed run's (and its tool calls') error message."""
    from usertrack.reports.failures import categorize_rows, load_failure_rules

    rows = [
        {"level": i.level, "occurred_at": i.at, "run_id": i.run_id, "credits": 50,
         "error_message": errors[i.run_id or ""], "email": "a@b.c"}
        for i in items
        if i.status == "failed"
    ]  # fmt: skip
    return categorize_rows(load_failure_rules(REPO / "failures.yaml"), rows)


OOM = "Modal sandbox exited rc=137 (OOM)"
HUBSPOT_401 = "HubSpot API returned 401 Unauthorized"
HUBSPOT_503 = "HubSpot API returned 503 Service Unavailable"
BAD_PARAMS = "Invalid parameters: expected int"


def test_timeline_check_counts_each_failure_once() -> None:
    """Worked by hand. Nov 3 and 5: a completed run each (clean days). Nov 12: runs 10-12 fail
    out of memory, each with its last tool call failing too. Nov 8: run 20 fails the same way.
    Nov 9: run 30 completes while 4 of its tool calls meet HubSpot 401s.

    Each failure once: 3 (Nov 12) + 1 (Nov 8) + 4 (Nov 9) = 8, not 12. The platform could own
    the 4 OOMs; the 4 HubSpot 401s are Third-party by failures.yaml. The worst 2 dates (Nov 12,
    Nov 8) hold 4 of those 4 (100 %), and Nov 3 and 5 had no failure: likely platform."""
    items = [_item(3, "workflow", "completed", 1), _item(3, "tool", "success", 1)]
    items += [_item(5, "workflow", "completed", 2)]
    for run_id in (10, 11, 12):
        items += [_item(12, "workflow", "failed", run_id), _item(12, "tool", "failed", run_id)]
    items += [_item(8, "workflow", "failed", 20), _item(8, "tool", "failed", 20)]
    items += [_item(9, "workflow", "completed", 30)] + [_item(9, "tool", "failed", 30)] * 4
    errors = {"10": OOM, "11": OOM, "12": OOM, "20": OOM, "30": HUBSPOT_401}
    check = timeline_check(items, _failures(items, errors))
    assert (check.failures, check.platform_failures) == (8, 4)
    assert check.platform_likely and check.verdict.startswith(PLATFORM_VERDICT)
    assert check.worst_dates == [date(2026, 11, 8), date(2026, 11, 12)]
    assert check.worst_share == 1.0
    assert check.clean_dates == [date(2026, 11, 3), date(2026, 11, 5)]
    assert "100.0% of 4 failures the platform could own" in check.verdict
    assert "4 Third-party" in check.verdict and "(s)" not in check.verdict
    by_day = {d["day"].day: (d["failures"], d["platform_failures"]) for d in check.days}
    assert by_day == {3: (0, 0), 5: (0, 0), 8: (1, 1), 9: (4, 0), 12: (3, 3)}


def test_a_day_of_third_party_errors_is_not_a_platform_day() -> None:
    """Nov 9: runs 40-44 fail on HubSpot (401s and 503s), each with its tool call; Nov 2 and 4
    were clean; Nov 6 one OOM. Counted as before (10 failures, 90 % on Nov 9 and 6, two clean
    days) this was "likely platform". By failures.yaml the HubSpot errors are Third-party: one
    failure is left that the platform could own, too few for a pattern."""
    items = [_item(2, "workflow", "completed", 1), _item(4, "workflow", "completed", 2)]
    for run_id in range(40, 45):
        items += [_item(9, "workflow", "failed", run_id), _item(9, "tool", "failed", run_id)]
    items += [_item(6, "workflow", "failed", 50)]
    errors = {str(r): HUBSPOT_401 if r % 2 else HUBSPOT_503 for r in range(40, 45)}
    check = timeline_check(items, _failures(items, {**errors, "50": OOM}))
    assert (check.failures, check.platform_failures) == (6, 1)
    assert not check.platform_likely
    assert "too few" in check.verdict and "5 Third-party" in check.verdict

    only_hubspot = [i for i in items if i.run_id != "50"]
    check = timeline_check(only_hubspot, _failures(only_hubspot, errors))
    assert (check.failures, check.platform_failures) == (5, 0) and not check.platform_likely
    assert check.verdict.startswith("none of the 5 failures is the platform's")


def test_timeline_check_rule() -> None:
    """The pattern itself, over failures the platform owns (out of memory)."""

    def check_of(items: list[TimelineItem]) -> Any:
        return timeline_check(items, _failures(items, {"": OOM}))

    clustered = [_item(12, "workflow", "failed")] * 5 + [_item(12, "tool", "failed")] * 2
    clustered += [_item(3, "workflow", "completed"), _item(5, "tool", "success")]
    clustered += [_item(8, "workflow", "failed")]
    check = check_of(clustered)
    assert check.platform_likely and check.verdict.startswith(PLATFORM_VERDICT)
    assert check.failures == 8  # tool calls in no known run count on their own
    assert check.worst_dates == [date(2026, 11, 8), date(2026, 11, 12)]
    assert check.clean_dates == [date(2026, 11, 3), date(2026, 11, 5)]

    spread = [_item(d, "workflow", "failed") for d in range(1, 11)]
    spread += [_item(d, "workflow", "completed") for d in range(11, 14)]
    check = check_of(spread)
    assert not check.platform_likely and "spread over 10" in check.verdict

    no_clean_day = [_item(12, "workflow", "failed")] * 4 + [_item(12, "workflow", "completed")]
    assert not check_of(no_clean_day).platform_likely
    assert "too few" in check_of([_item(1, "tool", "failed")]).verdict
    assert timeline_check([], []).failures == 0


def test_the_deep_dives_side_thread_imports_nothing(demo_home: Path) -> None:
    """The side thread that reads failures.yaml while the workspace opens finds every module it
    needs already imported, so no package is ever imported on two threads at once. It used to
    import psycopg while the workspace imported psycopg.conninfo: in a fresh process `usertrack
    user EMAIL` then failed, often but not always, with an internal ImportError ('partially
    initialized module psycopg.conninfo'). The in-process CLI runner never saw it."""
    import os
    import subprocess
    import sys

    code = (
        "import sys, threading\n"
        "from pathlib import Path\n"
        "found = []\n"
        "def hook(event, args):\n"
        "    if event == 'import':\n"
        "        found.append((threading.current_thread().name, args[0]))\n"
        "sys.addaudithook(hook)\n"
        "from usertrack.core.config import load_settings\n"
        "from usertrack.reports.deepdive import open_with_rules\n"
        "ws, _ = open_with_rules(\n"
        "    load_settings(),\n"
        f"    failures_path=Path({str(REPO / 'failures.yaml')!r}),\n"
        f"    queries_dir=Path({str(REPO / 'queries')!r}),\n"
        f"    segments_path=Path({str(REPO / 'segments.yaml')!r}),\n"
        ")\n"
        "ws.close()\n"
        "print(sorted({m for t, m in found if t.startswith('usertrack-rules')}))\n"
    )
    env = {**os.environ, "USERTRACK_HOME": str(demo_home)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("entry", ["malformed_dsn", "describe_dsn", "dsn_without_password"])
def test_reading_a_dsn_while_another_thread_imports_psycopg(entry: str) -> None:
    """Reading a DSN while another thread imports psycopg (as the deep dive's side thread did
    before it left the imports to the caller): entered through `psycopg.conninfo`, the
    half-initialised package raised an ImportError. Entered by its top-level package, the read
    waits for the other thread's import."""
    import subprocess
    import sys

    code = (
        "import threading, time\n"
        "from usertrack.core import dsn\n"
        "side = threading.Thread(target=lambda: __import__('psycopg'))\n"
        "side.start()\n"
        "time.sleep(0.02)  # inside psycopg's __init__ (about 0.2 s)\n"
        f"print(dsn.{entry}('postgresql://u:pw@db.example/app'))\n"
        "side.join()\n"
    )
    for _ in range(3):
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert "pw" not in proc.stdout


def test_a_user_without_failures_is_not_categorized(
    demo_home: Path, segments: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most people have no failures in the window: their deep dive runs no categorization (its
    regular expressions cost DuckDB a fixed planning time) and says they have no causes; one
    with failures is categorized as before."""
    from usertrack.reports import failures

    categorized: list[int] = []
    real = failures.categorize
    monkeypatch.setattr(
        failures, "categorize", lambda *a, **k: (categorized.append(1), real(*a, **k))[1]
    )
    people = (
        _members(segments, "failing")[:20] + [u for u in segments["users"] if u["in_neon"]][:20]
    )
    seen = set()
    for user in people:
        categorized.clear()
        doc = deep(user["email"], demo_home)
        has = bool(doc["failures"]["workflow"] or doc["failures"]["tool"])
        assert categorized == ([1] if has else []), user["email"]
        seen.add(has)
    assert seen == {True, False}  # both kinds were asked about
