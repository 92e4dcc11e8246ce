"""Feature usage on a hand-made events export: library definitions, CLI and the live HTTP path.

Every expected figure is worked out here from the events below (docs/metrics.md, "Features").
As of Wednesday 2026-06-03 12:00 UTC with --days 7: the period is (May 27 12:00, June 3 12:00],
the previous one (May 20 12:00, May 27 12:00].
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import (
    assert_usage_error,
    live_posthog,
    record,
    run_json,
    write_export,
)
from tests.cli_runner import run
from tests.dashboards.test_dashboard_browser import CHROMIUM, chromium, console_lines
from usertrack.analytics.features.run import trend

AS_OF = "2026-06-03T12:00:00"
ARGS = ["--days", "7"]
NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)  # in the period
BEFORE = datetime(2026, 5, 24, 9, tzinfo=UTC)  # in the previous period
SPLIT = datetime(2026, 5, 27, 12, tzinfo=UTC)
S = timedelta(seconds=1)

EMAILS = {p: f"{p}@example.com" for p in ("p1", "p2", "p3", "p4", "p5")} | {"z": "z@datagen.dev"}
NOT_TIMED = object()  # a use without the duration property
EXPORT_SECONDS = (30, 60, "90")  # p1's three exports now: "90" is a string, left out
EVENTS: list[tuple[str, datetime, str, str, str | None, Any]] = [
    # p1, two distinct_ids: export 3 times now (one person), once before
    *[("feature_used", NOW + k * S, f"p1-{k % 2}", "p1", "export", EXPORT_SECONDS[k])
      for k in range(3)],
    ("feature_used", BEFORE, "p1-0", "p1", "export", 5000),  # the previous period: not now's
    # p2: export once now (a duration of true: not a number, left out); search 9 times now,
    # 0, 10, ..., 80 seconds
    ("feature_used", NOW, "p2", "p2", "export", True),
    *[("feature_used", NOW + k * S, "p2", "p2", "search", 10 * k) for k in range(9)],
    # p3: search 10 times before (9 vs 10: -10%, down at the default 10%); share on the last
    # second of the previous period and the first of this one; old twice before only
    *[("feature_used", BEFORE + k * S, "p3", "p3", "search", 1000) for k in range(10)],
    ("feature_used", SPLIT, "p3", "p3", "share", 5),
    ("feature_used", SPLIT + S, "p3", "p3", "share", 8.5),
    *[("feature_used", BEFORE, "p3", "p3", "old", NOT_TIMED) for _ in range(2)],
    # p4: feature_used without a feature property
    ("feature_used", NOW, "p4", "p4", None, NOT_TIMED),
    # p5: only a pageview now (active, no feature); an export after as_of does not exist yet
    ("$pageview", NOW, "p5", "p5", None, NOT_TIMED),
    ("feature_used", datetime(2026, 6, 3, 13, tzinfo=UTC), "p5", "p5", "export", 9000),
    # z is internal: left out of every count
    ("feature_used", NOW, "z", "z", "export", 9000),
]  # fmt: skip
RECORDS = [
    record(n, e, when, did, pid, EMAILS[pid],
           ({"feature": f} if f else {}) | ({} if t is NOT_TIMED else {"duration": t}))
    for n, (e, when, did, pid, f, t) in enumerate(EVENTS, 1)
]  # fmt: skip

# The tracking plan's features (feature_used's `allowed` values) and their categories:
# webhooks is planned and never used, and has no category.
PLAN = """
tiers: {engagement: what active users do}
events:
  feature_used:
    tier: engagement
    description: A product feature was used.
    source: frontend
    required:
      feature:
        type: string
        allowed: [export, search, share, old, webhooks]
        categories: {export: Share, share: Share, search: Find, old: Find}
"""

# Active now: p1, p2, p3 (share at split + 1 s), p4, p5 = 5 persons.
# Sorted by uses, then previous uses, then name. The category is the plan's (none for the
# feature_used without a feature).
EXPECTED = [
    {"feature": "search", "category": "Find", "uses": 9, "persons": 1, "adoption": 20.0,
     "avg_time_spent": 40.0, "retention": 0.0, "previous_uses": 10,
     "trend": "down"},  # (0 + 10 + ... + 80) / 9; p3 searched before, not now
    {"feature": "export", "category": "Share", "uses": 4, "persons": 2, "adoption": 40.0,
     "avg_time_spent": 45.0, "retention": 100.0, "previous_uses": 1,
     "trend": "up"},  # (30 + 60) / 2; p1 exported before and again now
    {"feature": "share", "category": "Share", "uses": 1, "persons": 1, "adoption": 20.0,
     "avg_time_spent": 8.5, "retention": 100.0, "previous_uses": 1,
     "trend": "flat"},  # the use after the split; p3's use on the split is the first period's
    {"feature": "", "category": None, "uses": 1, "persons": 1, "adoption": 20.0,
     "avg_time_spent": None, "retention": None, "previous_uses": 0,
     "trend": "up"},  # no use carries one; nobody used it before: no retention
    {"feature": "old", "category": "Find", "uses": 0, "persons": 0, "adoption": 0.0,
     "avg_time_spent": None, "retention": 0.0, "previous_uses": 2, "trend": "down"},
]  # fmt: skip
# The planned features not used in the period, in the plan's order: old (used twice in the
# previous period only) and webhooks (never).
UNUSED = [
    {"feature": "old", "category": "Find", "previous_uses": 2},
    {"feature": "webhooks", "category": None, "previous_uses": 0},
]


@pytest.fixture(autouse=True)
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    monkeypatch.setenv("USERTRACK_TRACKING_PLAN", str(path))
    return path


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


cli_json = partial(run_json, "features", as_of=AS_OF)


def test_features_through_the_cli(export: Path) -> None:
    doc = cli_json(ARGS, USERTRACK_EVENTS=str(export))
    assert doc["as_of"] == "2026-06-03T12:00:00Z"
    assert doc["active_persons"] == 5
    assert doc["features"] == EXPECTED
    assert doc["unused"] == UNUSED


def test_threshold_moves_the_trend(export: Path) -> None:
    # search's -10% is flat at 15%; export's +300% still up
    doc = cli_json([*ARGS, "--threshold", "15"], USERTRACK_EVENTS=str(export))
    trends = {f["feature"]: f["trend"] for f in doc["features"]}
    assert trends == {"search": "flat", "export": "up", "share": "flat", "": "up", "old": "down"}


def test_event_names_instead(export: Path) -> None:
    # feature_used now: p1 3 + p2 10 + p3 1 + p4 1 = 15 by 4 persons; before: p1 1 + p3 13 = 14
    # (+7.1%: flat). $pageview now: 1 by p5, none before: up. Time spent by feature_used now:
    # 30 + 60 + (0 + ... + 80 = 360) + 8.5 = 458.5 over 12 timed uses = 38.208 -> 38.2.
    doc = cli_json([*ARGS, "--event"], USERTRACK_EVENTS=str(export))
    assert doc["features"] == [
        {"feature": "feature_used", "uses": 15, "persons": 4, "adoption": 80.0,
         "avg_time_spent": 38.2, "retention": 100.0, "previous_uses": 14,
         "trend": "flat"},  # p1 and p3 used it before, and again now
        {"feature": "$pageview", "uses": 1, "persons": 1, "adoption": 20.0,
         "avg_time_spent": None, "retention": None, "previous_uses": 0, "trend": "up"},
    ]  # fmt: skip


def test_same_answers_through_the_live_http_path(export: Path, tmp_path: Path) -> None:
    local = cli_json(ARGS, USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (_, env):
        live = cli_json(ARGS, **env)
        by_event = cli_json([*ARGS, "--event"], **env)
    assert live == local
    assert live["features"] == EXPECTED and live["unused"] == UNUSED
    assert [f["uses"] for f in by_event["features"]] == [15, 1]


def test_table_md_and_csv(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    table = run(["features", *ARGS, "--as-of", AS_OF], **env)
    assert table.exit_code == 0, table.stderr
    assert "search" in table.stdout and "(none)" in table.stdout and "down" in table.stdout
    md = run(["features", *ARGS, "--as-of", AS_OF, "-f", "md"], **env).stdout
    assert "| export | Share | 4 | 2 | 40.0% | 100.0% | 45s | 1 | up |" in md
    assert "| \\(none\\) | - | 1 | 1 | 20.0% | - | - | 0 | up |" in md  # no retention
    assert "Not used in the period: old \\(Find\\), webhooks." in md
    assert "webhooks" in table.stdout  # the table's caption names it too
    lines = run(["features", *ARGS, "--as-of", AS_OF, "-f", "csv"], **env).stdout.splitlines()
    assert lines[0] == (
        "feature,uses,persons,adoption,avg_time_spent,previous_uses,trend,retention,category"
    )
    assert lines[1] == "search,9,1,20.0,40.0,10,down,0.0,Find"
    assert lines[-1] == "webhooks,0,0,,,0,flat,,"  # planned, never used
    # The first column names what is counted: "Event" with --event (it said "Feature").
    assert "| Feature | Category | Uses | Persons | Adoption | Retention |" in md
    assert "Retention" in table.stdout
    by_event = run(["features", *ARGS, "--event", "--as-of", AS_OF, "-f", "md"], **env).stdout
    assert "| Event | Uses |" in by_event and "| Feature |" not in by_event
    table = run(["features", *ARGS, "--event", "--as-of", AS_OF], **env)
    assert "Event" in table.stdout and "Feature " not in table.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--threshold", "-5"], "--threshold -5"),
        (["--days", "0"], "--days"),
        (["--format", "xml"], "xml"),
    ],
)
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    argv = ["features", *args, "--as-of", AS_OF]
    assert_usage_error(argv, fragment, USERTRACK_EVENTS=str(export))


def test_trend_rule() -> None:
    assert trend(110, 100, 10) == "up"  # exactly +10%
    assert trend(90, 100, 10) == "down"  # exactly -10%
    assert trend(109, 100, 10) == "flat"
    assert trend(1, 0, 10) == "up"  # from none
    assert trend(0, 0, 10) == "flat"


def test_a_category_of_a_feature_the_plan_does_not_list_is_one_line(
    export: Path, plan: Path
) -> None:
    plan.write_text(PLAN.replace("search: Find", "serach: Find"))
    assert_usage_error(["features", *ARGS], "'categories' names 'serach', not an allowed value",
                       USERTRACK_EVENTS=str(export))  # fmt: skip


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (45, "45s"), (59.4, "59s"), (59.6, "1m"), (119.5, "2m"), (3569, "59m"),
     (3600, "1h"), (5400, "1.5h"), (86000, "23.9h"), (86400, "1d"), (None, "-")],
)  # fmt: skip
def test_a_time_is_shown_in_the_unit_its_rounded_figure_reads_in(
    seconds: float | None, shown: str
) -> None:
    """59.6 seconds rounds to a minute: '1m', never '60s' (the Avg time column, sessions)."""
    from usertrack.core.style import duration

    assert duration(seconds) == shown


def test_adoption_over_all_users_and_when_unused_features_were_last_used(
    tmp_path: Path,
) -> None:
    """--all-users: adoption over every person seen up to as_of (the activity specification's
    total users), and each unused feature's last use. p6 was seen only on April 24, using
    webhooks: not active now, yet one of the 6 persons seen (z is internal), and webhooks' last
    use; old's is p3's May 24."""
    april = datetime(2026, 4, 24, 9, tzinfo=UTC)
    extra = record(len(RECORDS) + 1, "feature_used", april, "p6", "p6", "p6@example.com",
                   {"feature": "webhooks"})  # fmt: skip
    export = write_export(tmp_path / "all.jsonl", [*RECORDS, extra])
    doc = cli_json([*ARGS, "--all-users"], USERTRACK_EVENTS=str(export))
    assert (doc["active_persons"], doc["all_persons"]) == (5, 6)
    adoption = {f["feature"]: f["adoption"] for f in doc["features"]}
    assert adoption == {"search": 16.7, "export": 33.3, "share": 16.7, "": 16.7, "old": 0.0}
    assert doc["unused"] == [
        {**UNUSED[0], "last_used": "2026-05-24T09:00:00Z"},
        {**UNUSED[1], "last_used": "2026-04-24T09:00:00Z"},
    ]
    with live_posthog(export, tmp_path) as (_, env):
        assert cli_json([*ARGS, "--all-users"], **env) == doc
    md = run(["features", *ARGS, "--all-users", "--as-of", AS_OF, "-f", "md"],
             USERTRACK_EVENTS=str(export))  # fmt: skip
    assert md.exit_code == 0, md.stderr
    text = " ".join(md.stdout.replace("\\", "").split())  # Markdown's escapes aside
    assert "old (Find; last used 2026-05-24), webhooks (last used 2026-04-24)" in text
    # without the option: the active persons' adoption, and no last use
    plain = cli_json(ARGS, USERTRACK_EVENTS=str(export))
    assert "all_persons" not in plain and plain["unused"] == UNUSED


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_the_html_chart_is_a_heatmap_by_category_with_its_legend(
    export: Path, tmp_path: Path
) -> None:
    """In a real browser: `features -f html` draws each feature in its category's line (the
    plan's Share and Find, and the feature without one), coloured by adoption band, with the
    legend of the bands."""
    page = tmp_path / "features.html"
    result = run(["features", *ARGS, "--as-of", AS_OF, "-f", "html", "--out", str(page)],
                 USERTRACK_EVENTS=str(export))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    shown = chromium(page, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert console_lines(shown.stderr) == []
    chart = shown.stdout.split('id="chart-1"', 1)[1].split("</section>", 1)[0]
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", chart)
    for group in ("Share", "Find", "(no category)"):  # the group labels
        assert group in texts, texts
    for legend in ("Adoption", "over 75%", "50-75%", "25-50%", "10-25%", "10% or less"):
        assert legend in texts, texts
    # export's 40% is in the 25-50% band; search's 20% in 10-25%
    cells = re.findall(r'aria-label="([^"]*name: (?:export|search)[^"]*)"', chart)
    assert any("export" in c and "40%" in c for c in cells), cells
    assert any("search" in c and "20%" in c for c in cells), cells
