"""Cases of PostHog's stickiness tests, posthog/hogql_queries/insights/test/
test_stickiness_query_runner.py (TestStickinessQueryRunner) at commit
7c159bb4143c6039104b598d865ccfd5f9b0f55b of PostHog/posthog, as `activity`'s persons active on
exactly n days (or weeks, `--stickiness-interval week`), on both engines.

Every case reads the tests' `_create_test_events`: p1 with a `$pageview` and a `$pageleave` at
noon on each day from 2020-01-11 to 2020-01-19 (Chrome), p2 on every other day of them
(Firefox). usertrack's activity counts any event; PostHog's series is `$pageview`, which here is
on the very days of the `$pageleave`s, so the days active are the same. The tests' range,
2020-01-11 to 2020-01-20, is `--days 10` up to 2020-01-20 (`--as-of 2020-01-21` 00:00 ends the
day before).
"""

from __future__ import annotations

from typing import Any

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, utc

CASES = Cases()


def noon(day: int) -> Any:
    return utc(2020, 1, day, 12)


P1 = {"$browser": "Chrome", "prop": 10, "bool_field": True, "$group_0": "org:1"}
P2 = {"$browser": "Firefox", "prop": 10, "bool_field": False, "$group_0": "org:1"}
CASES.add("k", [
    *[Ev("p1", event, noon(d), P1) for event in ("$pageview", "$pageleave") for d in range(11, 20)],
    *[Ev("p2", event, noon(d), P2) for event in ("$pageview", "$pageleave")
      for d in range(11, 20, 2)],
], prefix_events=False)  # fmt: skip
engine = engines(CASES, "stickiness")

RANGE = ["--days", "10"]
AS_OF = "2020-01-21"


def exactly(doc: dict[str, Any]) -> list[int]:
    """Persons active on exactly 1, 2, ... days."""
    return [int(row["persons"]) for row in doc["active_days"]]


def test_interval_day(engine: Engine) -> None:
    """test_stickiness_query_runner.py, TestStickinessQueryRunner.test_interval_day (PostHog
    commit 7c159bb4): p2 on 5 days, p1 on 9."""
    assert exactly(engine("activity", RANGE, as_of=AS_OF)) == [0, 0, 0, 0, 1, 0, 0, 0, 1, 0]


def test_days(engine: Engine) -> None:
    """test_stickiness_query_runner.py, TestStickinessQueryRunner.test_days (PostHog commit
    7c159bb4): one row for each n from 1 to the range's 10 days."""
    doc = engine("activity", RANGE, as_of=AS_OF)
    assert [row["days"] for row in doc["active_days"]] == list(range(1, 11))


def test_count(engine: Engine) -> None:
    """test_stickiness_query_runner.py, TestStickinessQueryRunner.test_count (PostHog commit
    7c159bb4): two persons in all."""
    assert sum(exactly(engine("activity", RANGE, as_of=AS_OF))) == 2


def test_property_filtering(engine: Engine) -> None:
    """test_stickiness_query_runner.py, TestStickinessQueryRunner.test_property_filtering
    (PostHog commit 7c159bb4): the property filter `$browser = Chrome` is `--where`."""
    doc = engine("activity", [*RANGE, "--where", "properties.$browser = 'Chrome'"], as_of=AS_OF)
    assert exactly(doc) == [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]


def test_property_filtering_hogql(engine: Engine) -> None:
    """test_stickiness_query_runner.py, TestStickinessQueryRunner.test_property_filtering_hogql
    (PostHog commit 7c159bb4): the HogQL filter `properties.$browser == 'Chrome'` as written."""
    doc = engine("activity", [*RANGE, "--where", "properties.$browser == 'Chrome'"], as_of=AS_OF)
    assert exactly(doc) == [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]


def test_any_event(engine: Engine) -> None:
    """test_stickiness_query_runner.py, TestStickinessQueryRunner.test_any_event (PostHog
    commit 7c159bb4): "All events", which is what activity counts."""
    assert exactly(engine("activity", RANGE, as_of=AS_OF)) == [0, 0, 0, 0, 1, 0, 0, 0, 1, 0]


SUNDAY_WEEKS = ["--stickiness-interval", "week", "--week-start", "sunday"]


def test_interval_week(engine: Engine) -> None:
    """test_stickiness_query_runner.py, TestStickinessQueryRunner.test_interval_week (PostHog
    commit 7c159bb4): `interval: week` is `--stickiness-interval week`, in the tests' project,
    whose weeks start on Sunday (`--week-start sunday`): the range touches the weeks of
    01-05, 01-12 and 01-19, and both persons are active in all three."""
    doc = engine("activity", [*RANGE, *SUNDAY_WEEKS], as_of=AS_OF)
    assert doc["stickiness_interval"] == "week"
    assert [row["days"] for row in doc["active_days"]] == [1, 2, 3]
    assert exactly(doc) == [0, 0, 2]


def test_interval_full_weeks(engine: Engine) -> None:
    """test_stickiness_query_runner.py, TestStickinessQueryRunner.test_interval_full_weeks
    (PostHog commit 7c159bb4): `-30d` to now, frozen at 2020-01-23, by week: 2019-12-24 to
    2020-01-23 (`--days 31` as of 2020-01-24) touches five Sunday weeks."""
    doc = engine("activity", ["--days", "31", *SUNDAY_WEEKS], as_of="2020-01-24")
    assert exactly(doc) == [0, 0, 2, 0, 0]
