"""Cases of PostHog's funnel trends tests, posthog/hogql_queries/insights/funnels/test/
test_funnel_trends.py (BaseTestFunnelTrends, run by TestFunnelTrends and its UDF twin) at commit
1b3b61d46a1b700c06f7ebadf2e2b972d68a5e7e of PostHog/posthog, as `funnel --trend`, on both
engines.

PostHog's `funnel_from_step` and `funnel_to_step` count steps from 0; usertrack's --from-step
and --to-step from 1. PostHog's `reached_from_step_count` and `reached_to_step_count` are a
point's `entered` and `converted`. Its `journeys_for` timestamps are naive, in UTC.
"""

from __future__ import annotations

from typing import Any

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, utc

CASES = Cases()
engine = engines(CASES, "funnel-trends")

MAY = ["--since", "2021-05-01", "--until", "2021-05-02", "--window", "3d", "--trend", "day"]
AS_OF = "2021-05-03"


def points(doc: dict[str, Any]) -> list[tuple[str, int, int, float]]:
    """Each point: its day, entered, converted and conversion rate."""
    return [
        (str(p["start"])[:10], int(p["entered"]), int(p["converted"]), float(p["conversion_rate"]))
        for p in doc["trend"]["points"]
    ]


def journeys() -> list[Ev]:
    """The events of test_from_second_step and test_to_second_step (the same four users)."""
    return [
        Ev("user_one", "step one", utc(2021, 5, 1, 1)),
        Ev("user_one", "step two", utc(2021, 5, 2, 2)),
        Ev("user_one", "step three", utc(2021, 5, 2, 3)),
        Ev("user_two", "step one", utc(2021, 5, 1, 1)),
        Ev("user_three", "step two", utc(2021, 5, 2, 2)),
        Ev("user_three", "step three", utc(2021, 5, 2, 3)),
        Ev("user_four", "step one", utc(2021, 5, 2, 1)),
        Ev("user_four", "step two", utc(2021, 5, 2, 2)),
    ]


EVENTS_T01 = CASES.add("t01", journeys())
EVENTS_T02 = CASES.add("t02", journeys())
STEPS = "step one|step two|step three"


def test_from_second_step(engine: Engine) -> None:
    """test_funnel_trends.py, BaseTestFunnelTrends.test_from_second_step (PostHog commit
    1b3b61d4): `funnel_from_step` 1. user_one enters on May 1 (its step 1) and converts;
    user_two never reaches step 2 and user_three never did step 1, so neither counts; user_four
    enters on May 2 and does not convert."""
    doc = engine("funnel", [*EVENTS_T01[STEPS], *MAY, "--from-step", "2"], as_of=AS_OF)
    assert points(doc) == [("2021-05-01", 1, 1, 100.0), ("2021-05-02", 1, 0, 0.0)]
    assert (doc["trend"]["from_step"], doc["trend"]["to_step"]) == (2, 3)


def test_to_second_step(engine: Engine) -> None:
    """test_funnel_trends.py, BaseTestFunnelTrends.test_to_second_step (PostHog commit 1b3b61d4):
    `funnel_to_step` 1. On May 1 user_one and user_two enter and user_one converts (step 2);
    on May 2 user_four enters and converts."""
    doc = engine("funnel", [*EVENTS_T02[STEPS], *MAY, "--to-step", "2"], as_of=AS_OF)
    assert points(doc) == [("2021-05-01", 2, 1, 50.0), ("2021-05-02", 1, 1, 100.0)]
    assert (doc["trend"]["from_step"], doc["trend"]["to_step"]) == (1, 2)
