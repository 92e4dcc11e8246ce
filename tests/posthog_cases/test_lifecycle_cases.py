"""Cases of PostHog's lifecycle tests, posthog/hogql_queries/insights/test/
test_lifecycle_query_runner.py (TestLifecycleQueryRunner) at commit
2a6f20662510ac027a52da42fd308954047ba637 of PostHog/posthog, as `activity`'s weekly lifecycle,
on both engines.

usertrack's lifecycle is weekly, from Monday or (`--week-start sunday`) from Sunday, so the
weekly cases are the ones ported (the tests' other intervals are not offered). The tests
create each person at their first event, which is what usertrack takes as a person's creation
on an events export; activity counts any event, and every event here is a `$pageview`.
"""

from __future__ import annotations

from typing import Any

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, utc

CASES = Cases()


def noon(month: int, day: int) -> Any:
    return utc(2020, month, day, 12)


CASES.add("l", [
    *[Ev("p1", "$pageview", noon(m, d))
      for m, d in ((2, 1), (2, 5), (2, 10), (2, 15), (2, 27), (3, 2))],
    Ev("p2", "$pageview", noon(2, 11)),
    Ev("p2", "$pageview", noon(2, 18)),
    Ev("p3", "$pageview", noon(2, 12)),
    Ev("p4", "$pageview", noon(2, 27)),
], prefix_events=False)  # fmt: skip
engine = engines(CASES, "lifecycle")


def test_lifecycle_trend_weeks_monday(engine: Engine) -> None:
    """test_lifecycle_query_runner.py, TestLifecycleQueryRunner.test_lifecycle_trend_weeks_
    monday (PostHog commit 2a6f2066): six weeks from 2020-02-03 to the week of 2020-03-09 (the
    range's end; as of 2020-03-10 00:00, its last day is 03-09)."""
    doc = engine("activity", ["--periods", "6", "--days", "7"], as_of="2020-03-10")
    weeks: list[dict[str, Any]] = doc["lifecycle"]
    assert [w["period_start"] for w in weeks] == [
        "2020-02-03", "2020-02-10", "2020-02-17", "2020-02-24", "2020-03-02", "2020-03-09",
    ]  # fmt: skip
    assert [w["dormant"] for w in weeks] == [0, 0, -2, -1, -1, -1]
    assert [w["new"] for w in weeks] == [0, 2, 0, 1, 0, 0]
    assert [w["resurrecting"] for w in weeks] == [0, 0, 0, 1, 0, 0]
    assert [w["returning"] for w in weeks] == [1, 1, 1, 0, 1, 0]


def test_lifecycle_trend_weeks_sunday(engine: Engine) -> None:
    """test_lifecycle_query_runner.py, TestLifecycleQueryRunner.test_lifecycle_trend_weeks_
    sunday (PostHog commit 2a6f2066): the project's weeks start on Sunday (`week_start_day`
    SUNDAY, and a project that never set it) is `--week-start sunday`; six weeks from
    2020-02-02 to the week of 2020-03-09, the same statuses as the Monday weeks'."""
    args = ["--periods", "6", "--days", "7", "--week-start", "sunday"]
    doc = engine("activity", args, as_of="2020-03-10")
    weeks: list[dict[str, Any]] = doc["lifecycle"]
    assert doc["week_start"] == "sunday"
    assert [w["period_start"] for w in weeks] == [
        "2020-02-02", "2020-02-09", "2020-02-16", "2020-02-23", "2020-03-01", "2020-03-08",
    ]  # fmt: skip
    assert [w["dormant"] for w in weeks] == [0, 0, -2, -1, -1, -1]
    assert [w["new"] for w in weeks] == [0, 2, 0, 1, 0, 0]
    assert [w["resurrecting"] for w in weeks] == [0, 0, 0, 1, 0, 0]
    assert [w["returning"] for w in weeks] == [1, 1, 1, 0, 1, 0]
