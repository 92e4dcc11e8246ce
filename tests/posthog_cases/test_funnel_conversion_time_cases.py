"""Cases of PostHog's funnel conversion-time tests, posthog/hogql_queries/insights/funnels/test/
conversion_time_cases.py (`funnel_conversion_time_test_factory`'s TestFunnelConversionTime) at
commit 8583a83f8eb4b00be4ec22ac89fc8f60c35053cd of PostHog/posthog, on both engines.

PostHog runs the factory's tests for ordered funnels (test_funnel.py, TestFunnelConversionTime)
and unordered ones (test_funnel_unordered.py, BaseTestFunnelUnorderedStepsConversionTime), with
the same expected numbers: each case here runs with `--order ordered` and `--order any`.
"""

from __future__ import annotations

import pytest

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, persons, utc

CASES = Cases()
engine = engines(CASES, "conversion-time")

ORDERS = pytest.mark.parametrize("order", ["ordered", "any"])
SIGNUP = "user signed up"

EVENTS_V01 = CASES.add("v01", [
    Ev("person1", SIGNUP, utc(2021, 5, 1, 1)),
    Ev("person1", "$pageview", utc(2021, 5, 1, 2)),
    Ev("person1", "something else", utc(2021, 5, 1, 3)),
    Ev("person1", SIGNUP, utc(2021, 5, 3, 4)),
    Ev("person1", "$pageview", utc(2021, 5, 3, 5)),
    Ev("person1", SIGNUP, utc(2021, 5, 4, 7)),
    Ev("person1", "$pageview", utc(2021, 5, 4, 10)),
])  # fmt: skip


@ORDERS
def test_funnel_with_multiple_incomplete_tries(engine: Engine, order: str) -> None:
    """conversion_time_cases.py, TestFunnelConversionTime.test_funnel_with_multiple_incomplete_
    tries (PostHog commit 8583a83f): the completed attempt's hour counts, not the later
    incomplete tries of two and three hours."""
    e = EVENTS_V01
    args = [*e[f"{SIGNUP}|$pageview|something else"], "--order", order, "--window", "1d",
            "--since", "2021-05-01", "--until", "2021-05-14T00:00:00"]  # fmt: skip
    doc = engine("funnel", args, as_of="2021-05-15")
    assert persons(doc)[0] == 1
    assert doc["steps"][1]["average_seconds_to_convert"] == 3600
    assert doc["steps"][1]["median_seconds_to_convert"] == 3600


EVENTS_V02 = CASES.add("v02", [
    Ev("person1", "sign up", utc(2020, 1, 1, 12)),
    Ev("person1", "play movie", utc(2020, 1, 1, 13)),
    Ev("person1", "buy", utc(2020, 1, 1, 15)),
    Ev("person2", "sign up", utc(2020, 1, 2, 14)),
    Ev("person2", "play movie", utc(2020, 1, 2, 16)),
    Ev("person3", "sign up", utc(2020, 1, 2, 14)),
    Ev("person3", "play movie", utc(2020, 1, 2, 16)),
    Ev("person3", "buy", utc(2020, 1, 2, 17)),
])  # fmt: skip


@ORDERS
def test_funnel_step_conversion_times(engine: Engine, order: str) -> None:
    """conversion_time_cases.py, TestFunnelConversionTime.test_funnel_step_conversion_times
    (PostHog commit 8583a83f): step 2 took 1, 2 and 2 hours (average 6000 s, median 7200 s),
    step 3 two hours and one (5400 s); step 1 has none."""
    args = [*EVENTS_V02["sign up|play movie|buy"], "--order", order, "--window", "7d",
            "--since", "2020-01-01", "--until", "2020-01-08"]  # fmt: skip
    steps = engine("funnel", args, as_of="2020-01-09")["steps"]
    assert [s["average_seconds_to_convert"] for s in steps] == [None, 6000, 5400]
    assert [s["median_seconds_to_convert"] for s in steps] == [None, 7200, 5400]


EVENTS_V03 = CASES.add("v03", [
    Ev("stopped_after_signup1", SIGNUP, utc(2020, 1, 2, 14)),
    Ev("stopped_after_signup1", "pageview", utc(2020, 1, 2, 14, 5)),
    Ev("stopped_after_signup2", SIGNUP, utc(2020, 1, 2, 14, 3)),
    Ev("stopped_after_signup3", SIGNUP, utc(2020, 1, 2, 12)),
    Ev("stopped_after_signup3", "pageview", utc(2020, 1, 2, 12, 15)),
])  # fmt: skip


@ORDERS
def test_funnel_times_with_different_conversion_windows(engine: Engine, order: str) -> None:
    """conversion_time_cases.py, TestFunnelConversionTime.test_funnel_times_with_different_
    conversion_windows (PostHog commit 8583a83f): with 14 days both converters count (5 and
    15 minutes: 600 s); with 5 minutes only the first (300 s), the window inclusive."""
    base = [*EVENTS_V03[f"{SIGNUP}|pageview"], "--order", order,
            "--since", "2020-01-01", "--until", "2020-01-14"]  # fmt: skip
    days = engine("funnel", [*base, "--window", "14d"], as_of="2020-01-15")
    assert persons(days) == [3, 2]
    assert days["steps"][1]["average_seconds_to_convert"] == 600
    minutes = engine("funnel", [*base, "--window", "5m"], as_of="2020-01-15")
    assert persons(minutes) == [3, 1]
    assert minutes["steps"][1]["average_seconds_to_convert"] == 300
