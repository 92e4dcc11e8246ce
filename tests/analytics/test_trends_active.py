"""weekly_active and monthly_active as PostHog's trends runner counts them, on both engines.

The cases are ported from PostHog's own tests, posthog/hogql_queries/insights/trends/test/
test_trends.py at commit a073ad8b9a334e72f9beff8309ff0d1ca4ee38cc: their events
(`_create_active_users_events`), date ranges and asserted numbers. Each runs on the local
engine and through the tests' PostHog (ClickHouse behind HTTP) and must give the same JSON.
The definition: posthog/hogql_queries/insights/trends/aggregation_operations.py
(`_actors_events_query`, `_actors_inner_select_query`) and, for the intervals at which the math
is dau, posthog/hogql_queries/insights/utils/utils.py (`series_should_be_set_to_dau`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import live_posthog, record, run_json, write_export

AS_OF = "2020-02-01T00:00:00"
PV = "$pageview"

# `_create_active_users_events`: (person, timestamp, key)
ACTIVE_USERS = [
    ("p0", "2020-01-03T11:00:00", "val"),
    ("p0", "2020-01-03T12:00:00", "val"),
    ("p1", "2020-01-09T12:00:00", "bor"),
    ("p2", "2020-01-09T12:00:00", "val"),
    ("p1", "2020-01-10T12:00:00", "bor"),
    ("p1", "2020-01-11T12:00:00", "val"),
    ("p2", "2020-01-11T12:00:00", "bor"),
    ("p0", "2020-01-12T12:00:00", "val"),
]
# test_weekly_active_users_hourly_full_week's events
FULL_WEEK = [
    ("p0", "2020-01-03T10:59:59", "val"),
    ("p1", "2020-01-03T11:00:00", "val"),
    ("p2", "2020-01-03T11:00:01", "val"),
]


def _export(path: Path, events: list[tuple[str, str, str]]) -> Path:
    records = [
        record(n, PV, datetime.fromisoformat(at).replace(tzinfo=UTC), who, who,
               f"{who}@example.com", {"key": key})
        for n, (who, at, key) in enumerate(events, 1)
    ]  # fmt: skip
    return write_export(path, records)


def _both(export: Path, tmp_path: Path, cases: list[list[str]]) -> list[dict[str, Any]]:
    """Each case's JSON on the local engine, checked equal to the live path's."""
    local = [run_json("trends", args, as_of=AS_OF, USERTRACK_EVENTS=str(export)) for args in cases]
    with live_posthog(export, tmp_path) as (_, env):
        live = [run_json("trends", args, as_of=AS_OF, **env) for args in cases]
    assert live == local
    return local


@pytest.fixture()
def active_users(tmp_path: Path) -> Path:
    return _export(tmp_path / "events.jsonl", ACTIVE_USERS)


def test_weekly_active_daily_and_hourly_as_posthog(active_users: Path, tmp_path: Path) -> None:
    daily, hourly = _both(
        active_users,
        tmp_path,
        [
            [PV, "-m", "weekly_active", "--since", "2020-01-08", "--until", "2020-01-19"],
            [PV, "-m", "weekly_active", "-i", "hour", "--since", "2020-01-09",
             "--until", "2020-01-09"],
        ],
    )  # fmt: skip
    # test_weekly_active_users_daily: a day d counts the persons active on d - 6 .. d
    assert daily["series"][0]["data"] == [1, 3, 2, 2, 3, 3, 3, 3, 3, 3, 1, 0]
    # test_weekly_active_users_hourly (its range is 06:00 to 17:00 of the day): an hour h counts
    # the persons active in the hours after h - 7 days up to h
    assert hourly["points"][6] == "2020-01-09T06:00:00Z"
    assert hourly["series"][0]["data"][6:18] == [1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3]


def test_weekly_active_hourly_full_week_as_posthog(tmp_path: Path) -> None:
    export = _export(tmp_path / "events.jsonl", FULL_WEEK)
    args = [
        PV,
        "-m",
        "weekly_active",
        "-i",
        "hour",
        "--since",
        "2020-01-03",
        "--until",
        "2020-01-11",
    ]
    (doc,) = _both(export, tmp_path, [args])
    data = doc["series"][0]["data"]
    # test_weekly_active_users_hourly_full_week: each event counts for 7 * 24 hours, from the
    # start of its hour (10:59:59 counts at 10:00) to the hour 7 days later (left out)
    assert sum(data) == 24 * 7 * 3
    assert doc["points"][10] == "2020-01-03T10:00:00Z" and data[10] == 1
    assert doc["points"][11] == "2020-01-03T11:00:00Z"
    assert all(x == 3 for x in data[11:178])
    assert doc["points"][178] == "2020-01-10T10:00:00Z" and data[178] == 2


def test_active_users_are_unique_persons_when_the_interval_holds_the_window(
    active_users: Path, tmp_path: Path
) -> None:
    weekly, wau_month, mau_month, mau_week = _both(
        active_users,
        tmp_path,
        [
            [PV, "-m", "weekly_active", "-i", "week", "--since", "2019-12-30",
             "--until", "2020-01-19"],
            [PV, "-m", "weekly_active", "-i", "month", "--since", "2020-01-01",
             "--until", "2020-01-31"],
            [PV, "-m", "monthly_active", "-i", "month", "--since", "2020-01-01",
             "--until", "2020-01-31"],
            [PV, "-m", "monthly_active", "-i", "week", "--since", "2020-01-06",
             "--until", "2020-01-19"],
        ],
    )  # fmt: skip
    # test_weekly_active_users_weekly (PostHog's weeks there start on Sunday and give
    # [1, 2, 1]; usertrack's weeks start on Monday): the persons of each week, as dau counts
    # them: p0 (01-03); p0, p1, p2 (01-09 .. 01-12); nobody
    assert weekly["series"][0]["data"] == [1, 3, 0]
    # weekly_active at a month, monthly_active at a month: everyone of January
    assert wau_month["series"][0]["data"] == mau_month["series"][0]["data"] == [3]
    # monthly_active at a week stays rolling: the 30 days to each Monday (01-06: p0's 01-03;
    # 01-13: everyone)
    assert mau_week["series"][0]["data"] == [1, 3]


def test_persons_cells_are_the_persons_each_point_counts(
    active_users: Path, tmp_path: Path
) -> None:
    env = {"USERTRACK_EVENTS": str(active_users)}
    rolling = [PV, "-m", "weekly_active", "--since", "2020-01-08", "--until", "2020-01-19"]
    weekly = [PV, "-m", "weekly_active", "-i", "week", "--since", "2019-12-30",
              "--until", "2020-01-19"]  # fmt: skip
    cells = {
        # 2020-01-10: the days 01-04 .. 01-10: p1 and p2, not p0 (01-03)
        (tuple(rolling), "2020-01-10"): ["p1", "p2"],
        (tuple(rolling), "2020-01-18"): ["p0"],
        (tuple(weekly), "2020-01-06"): ["p0", "p1", "p2"],
    }
    local = []
    for (args, cell), persons in cells.items():
        doc = run_json("trends", [*args, "--persons", cell], as_of=AS_OF, **env)
        assert sorted(p["person_id"] for p in doc["persons"]) == persons, cell
        whole = run_json("trends", list(args), as_of=AS_OF, **env)
        at = whole["points"].index(f"{cell}T00:00:00Z")
        assert doc["count"] == whole["series"][0]["data"][at] == len(persons)
        local.append(doc)
    with live_posthog(active_users, tmp_path) as (_, live_env):
        live = [
            run_json("trends", [*args, "--persons", cell], as_of=AS_OF, **live_env)
            for args, cell in cells
        ]
    assert [sorted(p["person_id"] for p in d["persons"]) for d in live] == [
        sorted(p["person_id"] for p in d["persons"]) for d in local
    ]
