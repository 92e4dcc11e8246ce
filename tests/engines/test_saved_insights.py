"""`usertrack insight --list`, `--search` and `--create` against the tests' PostHog (its
insights/, dashboards/ and feature_flags/ endpoints as PostHog's REST API has them: DRF
limit/offset pages with `next`, `search` on insights and flags, POST insights/ answering the new
insight), and the demo's feature flags."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import REPO, run
from tests.posthog_server import CREATED_IDS_FROM, FakePostHog, live_env, serve
from usertrack.core.errors import EXIT_CONFIG, EXIT_USAGE

# The fake's project: 2 saved insights (11 "Daily pageviews and MCP clicks", tag growth; 12
# "Events by name"), 2 dashboards (7 "Growth weekly", 8 "Tool reliability", tag ops) and 2
# feature flags (22 mcp-connect-v2, then the older 21 new-onboarding, tag growth; 23
# old-growth-banner is deleted).


@pytest.fixture()
def fake(handmade_store: Path) -> Iterator[FakePostHog]:
    with serve(handmade_store) as server:
        yield server


def insight(fake: FakePostHog, tmp_path: Path, *args: str) -> Any:
    return run(["insight", *args], tmp_path / "home", **live_env(fake))


def listed(fake: FakePostHog, tmp_path: Path, *args: str) -> dict[str, Any]:
    result = insight(fake, tmp_path, *args, "-f", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def names(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(row[0], row[3]) for row in doc["rows"]]


def test_list_gives_every_insight_then_every_dashboard_following_next(
    fake: FakePostHog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from usertrack.engines.posthog import insights

    monkeypatch.setattr(insights, "PAGE", 1)  # one a page: `next` followed each time
    doc = listed(fake, tmp_path, "--list")
    assert names(doc) == [
        ("insight", "Daily pageviews and MCP clicks"), ("insight", "Events by name"),
        ("dashboard", "Growth weekly"), ("dashboard", "Tool reliability"),
        ("feature_flag", "mcp-connect-v2"), ("feature_flag", "new-onboarding"),
    ]  # fmt: skip
    assert (doc["insights"], doc["dashboards"], doc["feature_flags"]) == (2, 2, 2)
    lists = ("/insights/", "/dashboards/", "/feature_flags/")
    pages = [r for r in fake.requests if r["path"].endswith(lists)]
    assert len(pages) == 6 and pages[1]["query"]["offset"] == "1"
    assert pages[5]["path"].endswith("/feature_flags/") and pages[5]["query"]["offset"] == "1"


def test_search_finds_names_descriptions_and_tags_in_any_case(
    fake: FakePostHog, tmp_path: Path
) -> None:
    assert names(listed(fake, tmp_path, "--search", "GROWTH")) == [
        ("insight", "Daily pageviews and MCP clicks"), ("dashboard", "Growth weekly"),
    ]  # fmt: skip
    assert names(listed(fake, tmp_path, "--search", "by provider")) == [
        ("dashboard", "Tool reliability")
    ]
    assert listed(fake, tmp_path, "--search", "nothing like it")["rows"] == []
    sent = [r for r in fake.requests if r["path"].endswith("/insights/")]
    assert sent[-1]["query"]["search"] == "nothing like it"  # PostHog filters its insights
    flags = [r for r in fake.requests if r["path"].endswith("/feature_flags/")]
    assert flags[-1]["query"]["search"] == "nothing like it"  # and its feature flags


def test_search_finds_feature_flags_by_key_or_name_never_deleted_ones(
    fake: FakePostHog, tmp_path: Path
) -> None:
    """PostHog's flag search is the key or the name (posthog/api/feature_flag.py
    `_filter_request`), never a tag; a deleted flag is never listed."""
    doc = listed(fake, tmp_path, "--search", "mcp")
    assert names(doc) == [
        ("insight", "Daily pageviews and MCP clicks"), ("dashboard", "Growth weekly"),
        ("feature_flag", "mcp-connect-v2"),
    ]  # fmt: skip
    assert doc["feature_flags"] == 1
    row = doc["rows"][-1]
    assert row[4] == "Second MCP connect flow" and row[6] == "2026-10-21T08:00:00Z"
    assert names(listed(fake, tmp_path, "--search", "GUIDED")) == [
        ("feature_flag", "new-onboarding")
    ]  # by its name (its description in PostHog's words)
    growth = names(listed(fake, tmp_path, "--search", "growth"))
    # new-onboarding's tag is growth and the deleted old-growth-banner's key holds it: neither
    assert not [kind for kind, _ in growth if kind == "feature_flag"]


def test_a_dashboards_markup_is_text_in_every_format(fake: FakePostHog, tmp_path: Path) -> None:
    md = insight(fake, tmp_path, "--list", "-f", "md").stdout
    assert "<b>" not in md and r"\<b\>Failures\</b\>" in md
    table = insight(fake, tmp_path, "--list").stdout
    assert "reliability" in table and "<b>Failures</b>" in table  # text, not markup
    # a feature flag's name too
    assert "<i>" not in md and r"\<i\>guided\</i\>" in md
    html_like = insight(fake, tmp_path, "--list", "-f", "csv").stdout
    assert "The <i>guided</i> onboarding checklist" in html_like  # csv: the text as it is


def test_updated_at_is_written_as_every_other_time(fake: FakePostHog, tmp_path: Path) -> None:
    """PostHog's "2026-11-10T09:30:15.123456Z" in the house style: readable in md and the
    table, ISO 8601 UTC to the second in json and csv."""
    md = insight(fake, tmp_path, "--list", "-f", "md").stdout
    assert "| 2026-11-10 09:30 UTC |" in md and "2026-11-10T" not in md
    assert "| 2026-10-01 09:00 UTC |" in md  # a dashboard's (its created_at)
    table = run(["insight", "--list"], tmp_path / "home", **live_env(fake), COLUMNS="200").stdout
    assert "2026-11-10 09:30 UTC" in table and "2026-11-10T" not in table
    doc = listed(fake, tmp_path, "--list")
    column = doc["columns"].index("updated_at")
    assert [r[column] for r in doc["rows"]][:2] == ["2026-11-10T09:30:15Z", "2026-11-12T00:00:00Z"]
    csv = insight(fake, tmp_path, "--list", "-f", "csv").stdout
    assert ",2026-11-10T09:30:15Z" in csv


def test_create_is_a_dry_run_until_apply_then_prints_the_new_id(
    fake: FakePostHog, tmp_path: Path
) -> None:
    typed = "SELECT event, count() AS n FROM events -- a comment\nGROUP BY event ORDER BY event"
    dry = insight(fake, tmp_path, "--create", "Events", "--hogql", typed)
    assert dry.exit_code == 0, dry.stderr
    # what is saved is printed from PostHog's own parse tree, not the text as typed
    text = "SELECT event, count() AS n\nFROM events\nGROUP BY event\nORDER BY event ASC"
    assert dry.stdout == text + "\n" and "dry run" in dry.stderr
    assert fake.created == []
    done = insight(fake, tmp_path, "--create", "Events", "--hogql", typed, "--apply")
    assert done.exit_code == 0, done.stderr
    assert done.stdout == f"{CREATED_IDS_FROM}\n"
    (made,) = fake.created
    assert made["name"] == "Events" and made["query"]["source"] == {
        "kind": "HogQLQuery", "query": text
    }  # fmt: skip
    # Its results, through the existing refresh, are the query's.
    fetched = listed(fake, tmp_path, str(CREATED_IDS_FROM))
    assert ["$pageview", 10] in fetched["rows"]
    assert names(listed(fake, tmp_path, "--search", "events"))[0] == ("insight", "Events")


def test_create_from_a_query_file_fills_as_of_and_the_exclusions(
    fake: FakePostHog, tmp_path: Path
) -> None:
    doc = listed(fake, tmp_path, "--create", "Refs", "--from-query", "posthog/referrers")
    assert doc["created"] is False
    assert "{" not in doc["query"] and "toString(now())" in doc["query"]
    assert "'@datagen\\\\.dev$'" in doc["query"]  # the pattern as a HogQL string
    assert "{days}" not in (REPO / "queries/posthog/referrers.sql").read_text() or " 7 " in (
        doc["query"].replace("(", " ").replace(")", " ").replace(",", " ")
    )  # its default
    made = insight(fake, tmp_path, "--create", "Refs", "--from-query", "posthog/referrers",
                   "--apply")  # fmt: skip
    assert made.exit_code == 0, made.stderr
    fetched = listed(fake, tmp_path, made.stdout.strip())  # PostHog runs it as saved
    assert fetched["columns"][0] and isinstance(fetched["rows"], list)
    needs = insight(fake, tmp_path, "--create", "X", "--from-query", "posthog/event_names")
    assert needs.exit_code == EXIT_USAGE and "takes {since} without a default" in needs.stderr
    own = tmp_path / "mine.sql"
    own.write_text("SELECT count() AS n FROM events WHERE event = {name}")
    refused = insight(fake, tmp_path, "--create", "X", "--from-query", str(own))
    assert refused.exit_code == EXIT_USAGE and "takes {name}" in refused.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--create", "X", "--hogql", "DELETE FROM events"], "--hogql is not one HogQL SELECT"),
        (["--create", "X"], "one of --from-query FILE or --hogql"),
        (["--apply"], "go with --create"),
        (["12", "--list"], "do not go together"),
        (["--search", " "], "--search is empty"),
        (["--create", "X", "--from-query", "neon/runs"], "a posthog/ query"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    fake: FakePostHog, tmp_path: Path, args: list[str], says: str
) -> None:
    result = insight(fake, tmp_path, *args)
    assert result.exit_code == EXIT_USAGE, result.stderr
    assert result.stderr.count("usertrack: error:") == 1 and says in result.stderr
    assert fake.created == []


def test_without_posthog_settings_it_says_what_to_set(tmp_path: Path) -> None:
    """An events export holds no saved insight, dashboard or flag: PostHog does."""
    from tests.handmade import write_events_jsonl

    export = write_events_jsonl(tmp_path / "events.jsonl")
    result = run(["insight", "--list"], tmp_path / "home", USERTRACK_EVENTS=str(export))
    assert result.exit_code == EXIT_CONFIG and "POSTHOG_PROJECT_ID" in result.stderr


def test_the_demo_lists_its_feature_flags(demo_home: Path) -> None:
    """Without PostHog, the demo answers from its events store: its feature flags (never the
    deleted one), by key or name in any case; no saved insight or dashboard is kept there."""
    from usertrack.demo.flags import FLAGS

    result = run(["insight", "--list", "-f", "json"], demo_home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    kept = [key for key, *_, deleted in FLAGS if not deleted]
    assert (doc["insights"], doc["dashboards"], doc["feature_flags"]) == (0, 0, len(kept))
    assert sorted(r[3] for r in doc["rows"]) == sorted(kept)
    assert "legacy-run-logs" not in result.stdout  # deleted
    assert {r[0] for r in doc["rows"]} == {"feature_flag"}
    found = run(["insight", "--search", "CALENDAR", "-f", "json"], demo_home)
    assert found.exit_code == 0, found.stderr
    assert [r[3] for r in json.loads(found.stdout)["rows"]] == ["schedules-calendar-view"]
    table = run(["insight", "--search", "mcp"], demo_home, COLUMNS="200")
    assert table.exit_code == 0 and "mcp-connect-button" in table.stdout
    assert "live in PostHog" in table.stdout  # it says where the others are
