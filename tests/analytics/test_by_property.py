"""`--by person.properties.NAME` on paths, sessions, features, activity and churn
(usertrack/analytics/by_property.py): the groups partition the persons, each person in the
group of the value their latest event carries, on the local engine and through the tests'
PostHog alike."""

from __future__ import annotations

import json
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
    records: list[dict[str, Any]] = []
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


COMMANDS = ("sessions", "paths", "features", "activity", "churn")


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


def _summed(parts: list[list[dict[str, Any]]], keys: tuple[str, ...], *fields: str) -> list[Any]:
    """Each row's `fields` summed over the groups' rows of the same `keys`, in the first's order."""
    totals: dict[tuple[Any, ...], list[int]] = {}
    for rows in parts:
        for row in rows:
            got = totals.setdefault(tuple(row[k] for k in keys), [0] * len(fields))
            for i, name in enumerate(fields):
                got[i] += row[name]
    return [{**dict(zip(keys, k, strict=True)), **dict(zip(fields, v, strict=True))}
            for k, v in totals.items()]  # fmt: skip


def _kept(rows: list[dict[str, Any]], keys: tuple[str, ...], *fields: str) -> list[Any]:
    return [{k: row[k] for k in (*keys, *fields)} for row in rows]


def test_the_activity_groups_partition_the_persons(answers: dict[str, Any]) -> None:
    """Each person is active in one group: the groups' active persons, lifecycle counts, active
    days and heatmap add up to everyone's, and each group's MAU is its persons."""
    doc = answers["local"]["activity"]
    parts = {p["value"]: p for p in doc["by_value"]}
    assert doc["mau"] == len(PLANS)
    assert {v: parts[v]["mau"] for v in GROUPS} == {v: len(p) for v, p in GROUPS.items()}
    groups = [parts[v] for v in GROUPS]
    for key, keys, fields in (
        ("daily", ("date",), ("dau", "wau", "mau")),
        ("lifecycle", ("period_start",), ("new", "returning", "resurrecting", "dormant")),
        ("active_days", ("days",), ("persons",)),
        ("hours", ("weekday", "hour"), ("events", "persons")),
    ):
        summed = _summed([g[key] for g in groups], keys, *fields)
        assert sorted(map(str, summed)) == sorted(str(r) for r in _kept(doc[key], keys, *fields))


def test_the_churn_groups_partition_the_persons(answers: dict[str, Any]) -> None:
    """Each group's periods count its persons only: active, new and churned persons add up to
    everyone's, as do the persons scored and those at risk."""
    doc = answers["local"]["churn"]
    groups = list(doc["by_value"])
    fields = ("active", "new", "retained", "resurrected", "churned")
    assert sum(p["active"] for p in doc["periods"]) == len(PLANS)
    summed = _summed([g["periods"] for g in groups], ("start",), *fields)
    assert summed == _kept(doc["periods"], ("start",), *fields)
    assert sum(g["engagement"]["scored"] for g in groups) == doc["engagement"]["scored"]
    at_risk = [u["person_id"] for g in groups for u in g["at_risk"]["users"]]
    assert sorted(at_risk) == sorted(u["person_id"] for u in doc["at_risk"]["users"])
    for value, persons in GROUPS.items():
        part = next(g for g in groups if g["value"] == value)
        assert sum(p["new"] for p in part["periods"]) == len(persons)


def test_activity_and_churn_take_by_as_a_panel_and_an_mcp_tool(
    export: Path, answers: dict[str, Any], tmp_path: Path
) -> None:
    """--by and --breakdown-limit, declared once (usertrack/cli/options.py), reach an activity and
    a churn panel, and both MCP tools answer with the command's JSON."""
    from typer.main import get_command

    from tests.mcp.test_mcp import text, with_client
    from usertrack.cli import app
    from usertrack.dashboards.compute import command_lines
    from usertrack.dashboards.spec import load

    board = tmp_path / "board.yaml"
    panel = "    by: person.properties.plan\n    breakdown_limit: 2\n"
    board.write_text(f"title: t\npanels:\n  - analysis: activity\n    title: A\n{panel}"
                     f"  - analysis: churn\n    title: C\n{panel}", encoding="utf-8")  # fmt: skip
    for line in command_lines(load(board), get_command(app)):
        assert sorted(line or []) == ["--breakdown-limit=2", "--by=person.properties.plan"]
    arguments = {"by": "person.properties.plan", "breakdown_limit": 2, "as_of": AS_OF}

    async def body(client: Any) -> Any:
        return [await client.call_tool(c, {**arguments, "max_items": 0})
                for c in ("activity", "churn")]  # fmt: skip

    home = tmp_path / "home"
    home.mkdir()
    got = with_client(home, body, USERTRACK_EVENTS=str(export))
    for command, answer in zip(("activity", "churn"), got, strict=True):
        assert not answer.is_error, text(answer)
        assert json.loads(text(answer)[0]) == answers["local"][command]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["sessions", "--by", "plan"], "person.properties.NAME"),
        (["paths", "--by", "person.properties."], "person.properties.NAME"),
        (["paths", *BY, "--by-segment"], "--by and --by-segment do not go together"),
        (["features", *BY, "--who", "credits < 50"], "--by and --who do not go together"),
        (["sessions", "--pages", *BY], "--pages and --by do not go together"),
        (["activity", *BY, "--by-segment"], "--by and --by-segment do not go together"),
        (["activity", *BY, "--by-account"], "--by-account and --by do not go together"),
        (["activity", *BY, "--persons", "2026-05-25:new"], "--persons and --by do not go together"),
        (["activity", "--by", "plan"], "person.properties.NAME"),
        (["churn", *BY, "--segment", "no account"], "--by and --segment do not go together"),
        (["churn", *BY, "--who", "credits < 50"], "--by and --who do not go together"),
        (["churn", "--by", "person.properties.plan", "--breakdown-limit", "101"],
         "'--breakdown-limit': 101 is not in the range 1<=x<=100"),
        (["sessions", "--by", "person.properties.plan", "--breakdown-limit", "0"],
         "'--breakdown-limit': 0 is not in the range 1<=x<=100"),
    ],
)  # fmt: skip
def test_bad_by_exits_2_with_one_line(export: Path, argv: list[str], fragment: str) -> None:
    assert_usage_error([*argv, "--as-of", AS_OF], fragment, USERTRACK_EVENTS=str(export))
