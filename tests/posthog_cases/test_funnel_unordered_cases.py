"""Cases of PostHog's unordered funnel tests, posthog/hogql_queries/insights/funnels/test/
test_funnel_unordered.py (BaseTestFunnelUnorderedSteps) at commit
75bea9911c811fe98fe8300c22fed23995b6ca41 of PostHog/posthog, as `funnel --order any`, on both
engines. PostHog names an unordered funnel's steps "Completed n steps"; usertrack lists them by
event, with the same persons per step.
"""

from __future__ import annotations

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, persons, sequence, utc

CASES = Cases()
engine = engines(CASES, "unordered")

ANY = ["--order", "any"]
AS_OF_NOW = "2024-03-01T12:00:00"
LAST_7_DAYS = ["--since", "2024-02-23T12:00:00", "--until", AS_OF_NOW]
T0 = utc(2024, 3, 1, 11)
SIGNUP, PV, INSIGHT, BLAH, CRYING = (
    "user signed up", "$pageview", "insight viewed", "blaah blaa", "crying"
)  # fmt: skip

BASIC = [
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_pageview1", PV),
    ("stopped_after_pageview1", SIGNUP),
    ("stopped_after_insightview", SIGNUP),
    ("stopped_after_insightview", PV),
    ("stopped_after_insightview", BLAH),
    ("stopped_after_insightview", INSIGHT),
    ("stopped_after_insightview2", INSIGHT),
    ("stopped_after_insightview2", PV),
    ("stopped_after_insightview2", SIGNUP),
    ("stopped_after_insightview3", PV),
    ("stopped_after_insightview3", SIGNUP),
    ("stopped_after_insightview3", BLAH),
    ("stopped_after_insightview3", INSIGHT),
    ("stopped_after_insightview4", BLAH),
    ("stopped_after_insightview4", INSIGHT),
    ("stopped_after_insightview5", PV),
    ("stopped_after_insightview5", BLAH),
    ("stopped_after_insightview6", INSIGHT),
    ("stopped_after_insightview6", PV),
]
EVENTS_U01 = CASES.add("u01", sequence(T0, *BASIC))


def test_basic_unordered_funnel(engine: Engine) -> None:
    """test_funnel_unordered.py, BaseTestFunnelUnorderedSteps.test_basic_unordered_funnel
    (PostHog commit 75bea991): any step may come first; a person who did only one step of any
    kind has completed 1 step."""
    args = [*EVENTS_U01[f"{SIGNUP}|{PV}|{INSIGHT}"], *ANY, *LAST_7_DAYS]
    assert persons(engine("funnel", args, as_of=AS_OF_NOW)) == [8, 5, 3]


EVENTS_U02 = CASES.add("u02", sequence(
    T0,
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_pageview1", PV),
    ("stopped_after_pageview1", CRYING),
    ("stopped_after_insightview", SIGNUP),
    ("stopped_after_insightview", PV),
    ("stopped_after_insightview", BLAH),
    ("stopped_after_insightview", INSIGHT),
    ("stopped_after_insightview2", INSIGHT),
    ("stopped_after_insightview2", CRYING),
    ("stopped_after_insightview2", SIGNUP),
    ("stopped_after_insightview3", PV),
    ("stopped_after_insightview3", SIGNUP),
    ("stopped_after_insightview3", CRYING),
    ("stopped_after_insightview3", INSIGHT),
    ("stopped_after_insightview4", BLAH),
    ("stopped_after_insightview4", INSIGHT),
    ("stopped_after_insightview5", PV),
    ("stopped_after_insightview5", BLAH),
    ("stopped_after_insightview6", INSIGHT),
    ("stopped_after_insightview6", PV),
))  # fmt: skip


def test_big_multi_step_unordered_funnel(engine: Engine) -> None:
    """test_funnel_unordered.py, BaseTestFunnelUnorderedSteps.test_big_multi_step_unordered_
    funnel (PostHog commit 75bea991): four steps in any order."""
    args = [*EVENTS_U02[f"{SIGNUP}|{PV}|{INSIGHT}|{CRYING}"], *ANY, *LAST_7_DAYS]
    assert persons(engine("funnel", args, as_of=AS_OF_NOW)) == [8, 5, 3, 1]


EVENTS_U03 = CASES.add("u03", [
    Ev("stopped_after_signup1", SIGNUP, utc(2021, 5, 2)),
    Ev("stopped_after_pageview1", PV, utc(2021, 5, 2)),
    Ev("stopped_after_pageview1", SIGNUP, utc(2021, 5, 2, 1)),
    Ev("stopped_after_insightview", INSIGHT, utc(2021, 5, 2)),
    Ev("stopped_after_insightview", SIGNUP, utc(2021, 5, 2, 2)),
    Ev("stopped_after_insightview", PV, utc(2021, 5, 2, 4)),
    Ev("stopped_after_insightview", PV, utc(2021, 5, 3)),
    Ev("stopped_after_insightview", INSIGHT, utc(2021, 5, 3, 3)),
    Ev("stopped_after_insightview", SIGNUP, utc(2021, 5, 3, 6)),
])  # fmt: skip


def test_basic_unordered_funnel_conversion_times(engine: Engine) -> None:
    """test_funnel_unordered.py, BaseTestFunnelUnorderedSteps.test_basic_unordered_funnel_
    conversion_times (PostHog commit 75bea991), the UDF's figures: the person who completes
    the funnel twice counts by the first completion (2 h + 2 h), not an average of both."""
    args = [*EVENTS_U03[f"{SIGNUP}|{PV}|{INSIGHT}"], *ANY, "--window", "1d",
            "--since", "2021-05-01", "--until", "2021-05-07T23:59:59"]  # fmt: skip
    doc = engine("funnel", args, as_of="2021-05-08")
    assert persons(doc) == [3, 2, 1]
    assert doc["steps"][1]["average_seconds_to_convert"] == 5400
    assert doc["steps"][2]["average_seconds_to_convert"] == 7200


EVENTS_U04 = CASES.add("u04", [
    Ev("user_1", PV, utc(2024, 3, 1, 15, 10)),
    Ev("user_1", SIGNUP, utc(2024, 3, 15, 14, 27)),
])  # fmt: skip


def test_funnel_window_ignores_dst_transition(engine: Engine) -> None:
    """test_funnel_unordered.py, BaseTestFunnelUnorderedSteps.test_funnel_window_ignores_dst_
    transition (PostHog commit 75bea991), its UTC half (usertrack counts in UTC): 13 days 23
    hours 17 minutes is inside the 14-day window."""
    args = [*EVENTS_U04[f"{PV}|{SIGNUP}"], *ANY, "--since", "2024-02-17", "--until", "2024-03-18"]
    doc = engine("funnel", args, as_of="2024-03-19")
    assert persons(doc)[1] == 1
    assert doc["steps"][1]["average_seconds_to_convert"] == 1_207_020
    assert doc["steps"][1]["median_seconds_to_convert"] == 1_207_020
