"""`alerts --plan`, `--active-within` and `--active` on the demo: each answer worked out from the
unfiltered pass of the same moment, and the filters say on stderr what they left out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.core.errors import EXIT_USAGE

AS_OF = "2026-11-26 23:30"


def _alerts(home: Path, *args: str) -> tuple[dict[str, Any], str]:
    result = run(["alerts", "-f", "json", "--as-of", AS_OF, "--no-save", *args], home)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def everything(demo_home: Path) -> dict[str, Any]:
    doc, _ = _alerts(demo_home)
    assert any(a["plan"] == "trialing" for a in doc["alerts"])
    assert any(a["email"] and a["plan"] != "trialing" for a in doc["alerts"])
    return doc


def test_plan_keeps_the_plans_people_and_the_projects_alerts(
    demo_home: Path, everything: dict[str, Any]
) -> None:
    doc, err = _alerts(demo_home, "--plan", "trialing", "--plan", "PAST_DUE")
    expected = [
        a for a in everything["alerts"]
        if not a["email"] or (a["plan"] or "").lower() in ("trialing", "past_due")
    ]  # fmt: skip
    assert doc["alerts"] == expected and expected
    gone = len(everything["alerts"]) - len(expected)
    assert f"usertrack: only plan trialing or PAST_DUE: left out {gone:,} alerts" in err


def test_active_within_keeps_people_seen_lately(
    demo_home: Path, everything: dict[str, Any]
) -> None:
    doc, err = _alerts(demo_home, "--active-within", "15m")
    as_of = _moment(everything["as_of"])
    expected = [
        a for a in everything["alerts"]
        if not a["email"]
        or (a["last_active_at"] and as_of - _moment(a["last_active_at"]) <= timedelta(minutes=15))
    ]  # fmt: skip
    assert doc["alerts"] == expected
    assert len(expected) < len(everything["alerts"])
    assert "active within 15m: left out" in err


def test_active_lists_everyone_with_the_triggers_that_fired(
    demo_home: Path, everything: dict[str, Any]
) -> None:
    doc, _ = _alerts(demo_home, "--active")
    people = doc["people"]
    assert doc["lookback_minutes"] == 60 and people
    fired: dict[str, set[str]] = {}
    for a in everything["alerts"]:
        if a["email"]:
            fired.setdefault(a["email"], set()).add(a["trigger"])
    activity = {"stuck_on_page", "low_activity", "multiple_errors", "long_inactivity"}
    emails = {p["email"] for p in people}
    # every activity alert is of someone active; each person carries exactly their triggers
    assert {a["email"] for a in everything["alerts"] if a["trigger"] in activity} <= emails
    for p in people:
        assert p["triggers"] == sorted(fired.get(p["email"], set()))
        assert p["needs_support"] is bool(p["triggers"])
    stamps = [_moment(p["last_active_at"]) for p in people]
    assert stamps == sorted(stamps, reverse=True)  # most recent first
    as_of = _moment(doc["as_of"])
    assert all(as_of - s <= timedelta(minutes=60) for s in stamps)

    trial, err = _alerts(demo_home, "--active", "--plan", "trialing")
    assert trial["people"] == [p for p in people if p["plan"] == "trialing"]
    assert f"left out {len(people) - len(trial['people']):,} persons" in err


def test_active_in_every_format(demo_home: Path) -> None:
    base = ["alerts", "--as-of", AS_OF, "--no-save", "--active"]
    csv = run([*base, "-f", "csv"], demo_home)
    assert csv.exit_code == 0, csv.stderr
    assert csv.stdout.splitlines()[0].startswith("email,name,plan,needs_support,triggers,")
    md = run([*base, "-f", "md"], demo_home)
    assert md.exit_code == 0 and md.stdout.startswith("# Active now as of ")
    assert "| Email | Name | Plan | Needs help |" in md.stdout
    table = run(base, demo_home, COLUMNS="160")
    assert table.exit_code == 0 and "active in the 60 minutes to" in table.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--active", "--notify", "slack"], "--active lists who is active and sends nothing"),
        (["--active-within", "soon"], "--active-within"),
        (["--plan", " "], "--plan"),
    ],
)
def test_bad_filters_are_one_line_and_exit_2(demo_home: Path, args: list[str], words: str) -> None:
    result = run(["alerts", "--as-of", AS_OF, *args], demo_home, SLACK_WEBHOOK_URL="")
    assert result.exit_code == EXIT_USAGE, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("usertrack: error:")]
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert result.stdout == ""
