"""The tracking-plan audit's group properties, allowed values never sent, and volume targets.

A small export, as of 2026-06-10, 7 days (06-03 00:00 to 06-10 00:00):

- `$groupidentify` makes two group types: `project` (index 0, named first by a `$groups` on a
  pageview) and `organization` (index 1): acme with a name and a plan, beta with a name only,
  zeta with a plan that is the empty string (not filled).
- `signed_up` with `method` github (twice), a list where a value was expected (data from
  anyone: neither an error nor a match) and, before the window, email: of the plan's allowed
  github, email and gitlab, email and gitlab were never sent in the window.

Every figure is worked out from the records in the test, and the same JSON comes from the local
engine and from the tests' PostHog over HTTP.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import live_posthog, record, write_export
from tests.cli_runner import run
from usertrack.core.errors import EXIT_USAGE

AS_OF = datetime(2026, 6, 10, tzinfo=UTC)
DAYS = 7
ANN = ("ann@x.io", "ann@x.io", "ann@x.io")

PLAN = """\
tiers:
  critical: Critical funnel
  engagement: Engagement
events:
  signed_up:
    tier: critical
    description: An account was created.
    source: backend
    required:
      method: {type: string, allowed: [github, email, gitlab]}
group_properties:
  organization:
    required:
      name: string
      plan: string
    optional:
      seats: number
  team:
    required:
      size: number
targets:
  events_per_day: 5
  monthly_quota: 20
"""


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=UTC)


def identify(n: int, when: datetime, kind: str, key: str, values: dict[str, Any]) -> Any:
    props = {"$group_type": kind, "$group_key": key, "$group_set": values}
    return record(n, "$groupidentify", when, *ANN, props)


RECORDS = [
    record(1, "$pageview", at(1, 8), *ANN, {"$groups": {"project": "p1"}}),
    identify(2, at(1), "organization", "acme", {"name": "Acme", "plan": "team"}),
    identify(3, at(4), "organization", "beta", {"name": "Beta"}),
    identify(4, at(5), "organization", "zeta", {"name": "Zeta", "plan": ""}),
    identify(5, at(2), "project", "p1", {"name": "P1"}),
    record(6, "signed_up", at(1), *ANN, {"method": "email"}),  # before the window
    record(7, "signed_up", at(6), *ANN, {"method": "github"}),
    record(8, "signed_up", at(7), *ANN, {"method": "github"}),
    record(9, "signed_up", at(8), *ANN, {"method": ["github"]}),
]


def in_window(r: dict[str, Any]) -> bool:
    when = datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return AS_OF - timedelta(days=DAYS) < when <= AS_OF


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("plan-extras")
    export = write_export(folder / "events.jsonl", RECORDS)
    plan = folder / "plan.yaml"
    plan.write_text(PLAN)
    return export, plan


def audit(plan: Path, fmt: str = "json", **env: str) -> Any:
    result = run(
        ["tracking-plan", "--plan", str(plan), "--as-of", "2026-06-10", "-d", str(DAYS),
         "-f", fmt], **env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout) if fmt == "json" else result.stdout


def test_extras_on_both_engines(files: tuple[Path, Path], tmp_path: Path) -> None:
    export, plan = files
    local = audit(plan, USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (fake, env):
        live = audit(plan, **env)
        sent = fake.query_texts()
    assert live == local
    # the group property keys travel as bound values, never in the text
    assert any("groups" in t for t in sent) and all("'plan'" not in t for t in sent)

    # group properties: organization is index 1; zeta's empty plan is not filled
    org, team = local["group_properties"]
    orgs = {r["$group_key"]: r["$group_set"] for r in (x["properties"] for x in RECORDS)
            if r.get("$group_type") == "organization"}  # fmt: skip
    assert (org["group_type"], org["group_type_index"], org["groups"]) == (
        "organization", 1, len(orgs),
    )  # fmt: skip
    filled = {p["property"]: p["filled"] for p in org["properties"]}
    for key in ("name", "plan", "seats"):
        assert filled[key] == sum(1 for v in orgs.values() if v.get(key) not in (None, ""))
    assert team["group_type_index"] is None and team["known_types"] == ["organization", "project"]
    problems = local["problems"]
    assert "group property organization.plan: required, filled for 33.3% of 3 groups" in problems
    assert any(p.startswith("group type team: not a group type of the project") for p in problems)

    # allowed values never sent in the window (the list sent is neither a match nor an error)
    method = local["events"][0]["properties"][0]
    sent_in_window = {r["properties"]["method"] for r in RECORDS
                      if r["event"] == "signed_up" and in_window(r)
                      and isinstance(r["properties"]["method"], str)}  # fmt: skip
    assert (
        method["unseen_allowed"]
        == [v for v in ("github", "email", "gitlab") if v not in sent_in_window]
        == ["email", "gitlab"]
    )
    assert method["outside_allowed"] == 1
    assert (
        "signed_up.method: allowed values never sent in the last 7 days: 'email', 'gitlab'"
        in problems
    )

    # volume: every event of the window, per day and per 30-day month, against the targets
    total = sum(1 for r in RECORDS if in_window(r))
    v = local["volume"]
    assert v["events"] == total and v["per_day"] == round(total / DAYS, 1)
    assert v["per_month"] == round(total / DAYS * 30)
    assert v["below_target"] is (total / DAYS < 5)
    assert v["quota_percent"] == round(100 * (total / DAYS * 30) / 20, 1)
    assert any(p.startswith("events per day: ") and "target of 5" in p for p in problems)
    assert any(p.startswith("events per month: ") and "quota of 20" in p for p in problems)


def test_extras_in_the_terminal_and_markdown(files: tuple[Path, Path]) -> None:
    export, plan = files
    md = audit(plan, "md", USERTRACK_EVENTS=str(export))
    assert "## Group properties (every group of the type)" in md
    assert "| organization | plan | 1 | 3 | 33.3% |" in md
    assert "## Volume" in md and "target 5 a day" in md
    table = audit(plan, "table", USERTRACK_EVENTS=str(export), COLUMNS="120")
    assert "Group properties (every group of the type)" in table
    assert "Volume: " in table


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("  events_per_day: 5", "  events_per_day: 0", "events_per_day must be a whole number"),
        ("  events_per_day: 5", "  events_per_day: many", "events_per_day must be a whole number"),
        ("  monthly_quota: 20", "  monthly_qouta: 20", "monthly_qouta"),
        ("  team:\n    required:\n      size: number\n", "  team: 3\n", "'team' must have"),
        ("      seats: number", "      seats: numbr", "numbr"),
    ],
)
def test_bad_extras_name_file_and_line_and_exit_2(
    tmp_path: Path, old: str, new: str, words: str
) -> None:
    assert old in PLAN
    path = tmp_path / "bad.yaml"
    path.write_text(PLAN.replace(old, new, 1))
    result = run(["tracking-plan", "--plan", str(path)])
    assert result.exit_code == EXIT_USAGE, result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"usertrack: error: {path}:") and words in line, line
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
