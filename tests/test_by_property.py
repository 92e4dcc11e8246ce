"""`--by person.properties.NAME` on paths, sessions and features (usertrack/analytics/
by_property.py): the groups partition the persons, each person in the group of the value their
latest event carries, on the local engine and through the tests' PostHog alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import assert_usage_error, live_posthog, record, run_json, write_export

AS_OF = "2026-06-01"
BY = ["--by", "person.properties.plan", "--breakdown-limit", "2"]
# Each person's plan on their events. g was on free, then pro: their latest event says pro.
# pro: a, b, g (3); free: c, d (2); the rest, e (team) and f (none), are (other).
PLANS = {"a": "pro", "b": "pro", "c": "free", "d": "free", "e": "team", "f": None, "g": "pro"}
GROUPS = {"pro": {"a", "b", "g"}, "free": {"c", "d"}, None: {"e", "f"}}


def _records() -> list[dict[str, Any]]:
    records = []
    start = datetime(2026, 5, 20, 9, tzinfo=UTC)
    for day, (pid, plan) in enumerate(PLANS.items()):
        at = start + timedelta(days=day)
        pages = ["/home", "/pricing", f"/{pid}"]
        events = [("$pageview", {"$pathname": p}) for p in pages]
        events.append(("feature_used", {"feature": "templates" if day % 2 else "webhooks"}))
        for n, (event, props) in enumerate(events):
            rec = record(len(records) + 1, event, at + timedelta(minutes=n), pid, pid,
                         f"{pid}@example.com", {**props, "$session_id": f"s-{pid}"})  # fmt: skip
            shown = "free" if pid == "g" and n < 2 else plan
            if shown is not None:
                rec["person_properties"]["plan"] = shown
            records.append(rec)
    return records


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export(tmp_path_factory.mktemp("by-property") / "events.jsonl", _records())


@pytest.fixture(scope="module")
def answers(export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each command's JSON with --by, on the local engine and live."""
    local = {c: run_json(c, BY, as_of=AS_OF, USERTRACK_EVENTS=str(export)) for c in COMMANDS}
    with live_posthog(export, tmp_path_factory.mktemp("live")) as (_, env):
        live = {c: run_json(c, BY, as_of=AS_OF, **env) for c in COMMANDS}
    return {"local": local, "live": live}


COMMANDS = ("sessions", "paths", "features")


def _values(doc: dict[str, Any]) -> list[str | None]:
    return [p["value"] for p in doc["by_value"]]


@pytest.mark.parametrize("command", COMMANDS)
def test_the_same_groups_live_and_locally(answers: dict[str, Any], command: str) -> None:
    assert answers["live"][command] == answers["local"][command]
    doc = answers["local"][command]
    assert doc["breakdown"] == "person.properties.plan"
    assert _values(doc) == ["pro", "free", None]
    assert doc["by_value"][-1]["other"] is True


def test_the_sessions_groups_partition_the_persons(answers: dict[str, Any]) -> None:
    """One session per person: each group's users are its persons, and the groups' sessions
    and users add up to everyone's."""
    doc = answers["local"]["sessions"]
    assert (doc["sessions"], doc["users"]) == (len(PLANS), len(PLANS))
    parts = {p["value"]: p for p in doc["by_value"]}
    for value, persons in GROUPS.items():
        assert (parts[value]["sessions"], parts[value]["users"]) == (len(persons), len(persons))
    assert sum(p["users"] for p in doc["by_value"]) == doc["users"]


def test_the_paths_groups_partition_the_sequences(answers: dict[str, Any]) -> None:
    """A sequence per person: each group's sequences are its persons', and each person's own
    page (/PID) is a node of their own group's edges only."""
    doc = answers["local"]["paths"]
    assert doc["total_sequences"] == len(PLANS)
    parts = {p["value"]: p for p in doc["by_value"]}
    for value, persons in GROUPS.items():
        assert parts[value]["total_sequences"] == len(persons)
        nodes = {n for e in parts[value]["edges"] for n in (e["source"], e["target"])}
        assert {n for n in nodes if len(n) == 2} == {f"/{pid}" for pid in persons}


def test_the_features_groups_partition_the_uses(answers: dict[str, Any]) -> None:
    doc = answers["local"]["features"]
    whole = {f["feature"]: (f["uses"], f["persons"]) for f in doc["features"]}
    summed: dict[str, list[int]] = {}
    for part in doc["by_value"]:
        for f in part["features"]:
            got = summed.setdefault(f["feature"], [0, 0])
            got[0], got[1] = got[0] + f["uses"], got[1] + f["persons"]
    assert {k: tuple(v) for k, v in summed.items()} == whole
    assert sum(p["active_persons"] for p in doc["by_value"]) == doc["active_persons"]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["sessions", "--by", "plan"], "person.properties.NAME"),
        (["paths", "--by", "person.properties."], "person.properties.NAME"),
        (["paths", *BY, "--by-segment"], "--by and --by-segment do not go together"),
        (["features", *BY, "--who", "credits < 50"], "--by and --who do not go together"),
        (["sessions", "--pages", *BY], "--pages and --by do not go together"),
        (["sessions", "--by", "person.properties.plan", "--breakdown-limit", "0"],
         "--breakdown-limit 0 must be from 1 to 100"),
    ],
)  # fmt: skip
def test_bad_by_exits_2_with_one_line(export: Path, argv: list[str], fragment: str) -> None:
    assert_usage_error([*argv, "--as-of", AS_OF], fragment, USERTRACK_EVENTS=str(export))
