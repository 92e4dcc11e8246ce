"""Cases of PostHog's strict funnel tests, posthog/hogql_queries/insights/funnels/test/
test_funnel_strict.py (BaseTestFunnelStrictSteps, BaseTestFunnelStrictStepsBreakdown) at commit
1b56c1bb9741c18935ff6d14ace16a8fa2f187b4 of PostHog/posthog, as `funnel --order strict`, on
both engines. An action that is an event with a property is the step `EVENT:PROPERTY=VALUE`.
"""

from __future__ import annotations

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, persons, sequence, utc

CASES = Cases()
engine = engines(CASES, "strict")

STRICT = ["--order", "strict"]
AS_OF_NOW = "2024-03-01T12:00:00"
LAST_7_DAYS = ["--since", "2024-02-23T12:00:00", "--until", AS_OF_NOW]
T0 = utc(2024, 3, 1, 11)
SIGNUP, PV, INSIGHT, BLAH = "user signed up", "$pageview", "insight viewed", "blaah blaa"

EVENTS_S01 = CASES.add("s01", [
    Ev("person1", "sign up", utc(2020, 1, 1, 12), {"$browser": "Chrome"}),
    Ev("person1", "blah", utc(2020, 1, 1, 13), {"$browser": "Chrome"}),
    Ev("person1", "play movie", utc(2020, 1, 1, 14), {"$browser": "Chrome"}),
    Ev("person2", "sign up", utc(2020, 1, 2, 13), {"$browser": "Safari"}),
    Ev("person2", "play movie", utc(2020, 1, 2, 14), {"$browser": "Safari"}),
])  # fmt: skip


def test_strict_breakdown_events_with_multiple_properties(engine: Engine) -> None:
    """test_funnel_strict.py, BaseTestFunnelStrictStepsBreakdown.test_strict_breakdown_events_
    with_multiple_properties (PostHog commit 1b56c1bb): by `$browser`, Chrome's person is
    broken off by another event between the steps; Safari's converts in an hour."""
    args = [*EVENTS_S01["sign up|play movie"], *STRICT, "--by", "$browser", "--window", "7d",
            "--since", "2020-01-01", "--until", "2020-01-08"]  # fmt: skip
    doc = engine("funnel", args, as_of="2020-01-09")
    by = {b["value"]: b["steps"] for b in doc["breakdown"]}
    assert [s["persons"] for s in by["Safari"]] == [1, 1]
    assert by["Safari"][1]["average_seconds_to_convert"] == 3600
    assert by["Safari"][1]["median_seconds_to_convert"] == 3600
    assert [s["persons"] for s in by["Chrome"]] == [1, 0]
    assert by["Chrome"][1]["average_seconds_to_convert"] is None


EVENTS_S02 = CASES.add("s02", sequence(
    T0,
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_pageview1", PV),
    ("stopped_after_pageview1", SIGNUP),
    ("stopped_after_insightview", SIGNUP),
    ("stopped_after_insightview", PV),
    ("stopped_after_insightview", BLAH),
    ("stopped_after_insightview", INSIGHT),
    ("stopped_after_insightview2", INSIGHT),
    ("stopped_after_insightview2", BLAH),
    ("stopped_after_insightview2", PV),
    ("stopped_after_insightview2", SIGNUP),
    ("stopped_after_insightview3", PV),
    ("stopped_after_insightview3", SIGNUP),
    ("stopped_after_insightview3", BLAH),
    ("stopped_after_insightview3", PV),
    ("stopped_after_insightview3", INSIGHT),
    ("person6", BLAH),
    ("person6", SIGNUP),
    ("person6", BLAH),
    ("person6", PV),
    ("person7", BLAH),
    ("person7", SIGNUP),
    ("person7", PV),
    ("person7", INSIGHT),
    ("person7", BLAH),
    ("stopped_after_insightview6", INSIGHT),
    ("stopped_after_insightview6", PV),
))  # fmt: skip


def test_basic_strict_funnel(engine: Engine) -> None:
    """test_funnel_strict.py, BaseTestFunnelStrictSteps.test_basic_strict_funnel (PostHog
    commit 1b56c1bb): any other event between two steps breaks the attempt."""
    args = [*EVENTS_S02[f"{SIGNUP}|{PV}|{INSIGHT}"], *STRICT, *LAST_7_DAYS]
    assert persons(engine("funnel", args, as_of=AS_OF_NOW)) == [7, 2, 1]


KEY_VAL = {"key": "val"}
EVENTS_S03 = CASES.add("s03", sequence(
    T0,
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_pageview1", SIGNUP),
    ("stopped_after_pageview1", PV),
    ("stopped_after_insightview", SIGNUP),
    ("stopped_after_insightview", "sign up", KEY_VAL),
    ("stopped_after_insightview", "sign up", {"key": "val2"}),
    ("stopped_after_insightview", PV),
    ("stopped_after_insightview", BLAH),
    ("stopped_after_insightview", INSIGHT),
    ("person4", BLAH),
    ("person4", SIGNUP),
    ("person4", "sign up", KEY_VAL),
    ("person4", PV, KEY_VAL),
    ("person4", BLAH),
    ("person5", BLAH),
    ("person5", SIGNUP),
    ("person5", "sign up", KEY_VAL),
    ("person5", PV),
    ("person5", BLAH),
    ("person6", BLAH),
    ("person6", SIGNUP),
    ("person6", "sign up", KEY_VAL),
    ("person6", PV),
    ("person6", "pageview", {"key": "val1"}),
    ("person7", BLAH),
    ("person7", SIGNUP),
    ("person7", "sign up", KEY_VAL),
    ("person7", PV),
    ("person7", SIGNUP),
    ("person7", "pageview", KEY_VAL),
    ("person8", BLAH),
    ("person8", SIGNUP),
    ("person8", SIGNUP),
    ("person8", "sign up", KEY_VAL),
    ("person8", PV),
    ("person8", "pageview", KEY_VAL),
))  # fmt: skip


def test_advanced_strict_funnel(engine: Engine) -> None:
    """test_funnel_strict.py, BaseTestFunnelStrictSteps.test_advanced_strict_funnel (PostHog
    commit 1b56c1bb): steps `user signed up`, the action `sign up` with `key = val`,
    `$pageview`, the action `pageview` with `key = val`; an event of a step's name without the
    value is another event, and breaks the attempt."""
    e = EVENTS_S03
    steps = [e(SIGNUP), f"{e('sign up')}:key=val", e(PV), f"{e('pageview')}:key=val"]
    assert persons(engine("funnel", [*steps, *STRICT, *LAST_7_DAYS], as_of=AS_OF_NOW)) == [
        8, 6, 5, 1,
    ]  # fmt: skip


EVENTS_S04 = CASES.add("s04", [
    Ev("stopped_after_signup1", SIGNUP, utc(2021, 5, 2)),
    Ev("stopped_after_pageview1", SIGNUP, utc(2021, 5, 2)),
    Ev("stopped_after_pageview1", PV, utc(2021, 5, 2, 1)),
    Ev("stopped_after_insightview", SIGNUP, utc(2021, 5, 2)),
    Ev("stopped_after_insightview", PV, utc(2021, 5, 2, 2)),
    Ev("stopped_after_insightview", INSIGHT, utc(2021, 5, 2, 4)),
])  # fmt: skip


def test_basic_strict_funnel_conversion_times(engine: Engine) -> None:
    """test_funnel_strict.py, BaseTestFunnelStrictSteps.test_basic_strict_funnel_conversion_
    times (PostHog commit 1b56c1bb): step 2 averages 1 and 2 hours, step 3 is 2 hours."""
    args = [*EVENTS_S04[f"{SIGNUP}|{PV}|{INSIGHT}"], *STRICT,
            "--since", "2021-05-01", "--until", "2021-05-07T23:59:59"]  # fmt: skip
    doc = engine("funnel", args, as_of="2021-05-08")
    assert persons(doc) == [3, 2, 1]
    assert doc["steps"][1]["average_seconds_to_convert"] == 5400
    assert doc["steps"][2]["average_seconds_to_convert"] == 7200
