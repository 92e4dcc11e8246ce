"""Cases of PostHog's ordered funnel tests, posthog/hogql_queries/insights/funnels/test/
test_funnel.py (the tests of `funnel_test_factory`'s TestGetFunnel) at commit
2cbf12a1e36e93ae440e88b40e951f58e729ca10 of PostHog/posthog, on both engines.

PostHog's actions on `$autocapture` ("paid": a button "Pay $10", "watched movie": a link to
/movie) match disjoint events; here they are events of those names, as usertrack's steps are
events. An action that is an event with a property is the step `EVENT:PROPERTY=VALUE`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, persons, sequence, utc

CASES = Cases()
engine = engines(CASES, "funnel")

# The tests' "now" for events made without a timestamp; funnels default to the last 7 days.
NOW = utc(2024, 3, 1, 12)
AS_OF_NOW = "2024-03-01T12:00:00"
LAST_7_DAYS = ["--since", "2024-02-23T12:00:00", "--until", AS_OF_NOW]
T0 = utc(2024, 3, 1, 11)

SIGNUP, PAID, MOVIE = "user signed up", "paid", "watched movie"

EVENTS_F01 = CASES.add("f01", sequence(
    T0,
    ("stopped_after_signup", SIGNUP),
    ("stopped_after_pay", SIGNUP),
    ("stopped_after_pay", PAID),
    ("had_anonymous_id", SIGNUP),
    ("had_anonymous_id", PAID, {}, "completed_movie"),
    ("had_anonymous_id", MOVIE, {}, "completed_movie"),
    ("just_did_movie", MOVIE),
    ("wrong_order", PAID),
    ("wrong_order", SIGNUP),
    ("wrong_order", MOVIE),
))  # fmt: skip


def test_funnel_events(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_events (PostHog commit 2cbf12a1): a person
    with two distinct_ids counts once; the wrong order stops at step 1."""
    doc = engine("funnel", [*EVENTS_F01[f"{SIGNUP}|{PAID}|{MOVIE}"], *LAST_7_DAYS], as_of=AS_OF_NOW)
    assert persons(doc) == [4, 2, 1]


EVENTS_F02 = CASES.add("f02", sequence(
    T0,
    ("stopped_after_signup", SIGNUP),
    ("stopped_after_pay", SIGNUP),
    ("had_anonymous_id", MOVIE, {}, "completed_movie"),
    ("had_anonymous_id", SIGNUP),
    ("had_anonymous_id", MOVIE, {}, "completed_movie"),
    ("just_did_movie", MOVIE),
    ("wrong_order", MOVIE),
    ("wrong_order", SIGNUP),
))  # fmt: skip


def test_funnel_with_messed_up_order(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_with_messed_up_order (PostHog commit
    2cbf12a1): a step-2 event before step 1 does not count; the person with two distinct_ids
    converts by the later one."""
    doc = engine("funnel", [*EVENTS_F02[f"{SIGNUP}|{MOVIE}"], *LAST_7_DAYS], as_of=AS_OF_NOW)
    assert persons(doc) == [4, 1]


EVENTS_F03 = CASES.add("f03", sequence(T0, ("wrong_order", SIGNUP), ("wrong_order", MOVIE)))


def test_funnel_skipped_step(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_skipped_step (PostHog commit 2cbf12a1): the
    last step without the middle one counts for neither."""
    doc = engine("funnel", [*EVENTS_F03[f"{SIGNUP}|{PAID}|{MOVIE}"], *LAST_7_DAYS], as_of=AS_OF_NOW)
    assert persons(doc)[1:] == [0, 0]


SAFARI = {"$browser": "Safari"}
EVENTS_F04 = CASES.add("f04", sequence(
    T0,
    ("with_property", SIGNUP, SAFARI),
    ("with_property", PAID, SAFARI),
    ("without_property", SIGNUP),
    ("without_property", PAID),
    ("half_property", SIGNUP, SAFARI),
    ("half_property", PAID),
))  # fmt: skip


def test_funnel_prop_filters(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_prop_filters (PostHog commit 2cbf12a1): the
    insight's property filter `$browser = Safari` is `--where`."""
    where = ["--where", "properties.$browser = 'Safari'"]
    doc = engine("funnel", [*EVENTS_F04[f"{SIGNUP}|{PAID}|{MOVIE}"], *LAST_7_DAYS, *where],
                 as_of=AS_OF_NOW)  # fmt: skip
    assert persons(doc)[:2] == [2, 1]


EVENTS_F05 = CASES.add("f05", sequence(
    T0,
    ("with_property", SIGNUP, SAFARI),
    ("with_property", PAID, SAFARI),
    ("with_property", MOVIE),
    ("without_property", SIGNUP),
    ("without_property", PAID, SAFARI),
    ("half_property", SIGNUP),
    ("half_property", PAID),
    ("half_property", MOVIE),
))  # fmt: skip


def test_funnel_prop_filters_per_entity(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_prop_filters_per_entity (PostHog commit
    2cbf12a1): each step with its own `$browser` value (step 1's `is_not Chrome` holds of
    every Safari event)."""
    steps = [f"{EVENTS_F05(SIGNUP)}:$browser=Safari", f"{EVENTS_F05(PAID)}:$browser=Safari",
             f"{EVENTS_F05(MOVIE)}:$browser=Firefox"]  # fmt: skip
    doc = engine("funnel", [*steps, *LAST_7_DAYS], as_of=AS_OF_NOW)
    assert persons(doc) == [1, 1, 0]


EVENTS_F06 = CASES.add("f06", sequence(
    T0, ("person1", "event1"), ("person1", "event2", {"test_propX": "a"})
))  # fmt: skip


def test_funnel_multiple_actions(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_multiple_actions (PostHog commit 2cbf12a1):
    two steps of one event with different property values keep their own values."""
    e = EVENTS_F06
    steps = [e("event1"), f"{e('event2')}:test_propX=a", f"{e('event2')}:test_propX=c"]
    doc = engine("funnel", [*steps, *LAST_7_DAYS], as_of=AS_OF_NOW)
    assert persons(doc) == [1, 1, 0]


EVENTS_F07 = CASES.add("f07", [
    Ev("user_1", SIGNUP, utc(2020, 1, 2, 14)),
    Ev("user_1", PAID, utc(2020, 1, 10, 14)),
])  # fmt: skip


def test_basic_funnel_default_funnel_days(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_basic_funnel_default_funnel_days (PostHog commit
    2cbf12a1): 8 days apart is within the default 14-day window."""
    args = [*EVENTS_F07[f"{SIGNUP}|{PAID}"], "--since", "2020-01-01", "--until", "2020-01-14"]
    doc = engine("funnel", args, as_of="2020-01-15")
    assert persons(doc) == [1, 1]


REPEAT = [
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_signup2", SIGNUP),
]
EVENTS_F08 = CASES.add("f08", sequence(T0, *REPEAT))


def test_basic_funnel_with_repeat_steps(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_basic_funnel_with_repeat_steps (PostHog commit
    2cbf12a1): a step repeated needs the event twice."""
    doc = engine("funnel", [*EVENTS_F08[f"{SIGNUP}|{SIGNUP}"], *LAST_7_DAYS], as_of=AS_OF_NOW)
    assert persons(doc) == [2, 1]


EVENTS_F09 = CASES.add("f09", sequence(
    T0,
    ("stopped_after_signup1", SIGNUP, {"key": "val"}),
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_signup2", SIGNUP, {"key": "val"}),
))  # fmt: skip


def test_basic_funnel_with_derivative_steps(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_basic_funnel_with_derivative_steps (PostHog commit
    2cbf12a1): step 1 narrowed by `key = val`, step 2 the same event unfiltered."""
    steps = [f"{EVENTS_F09(SIGNUP)}:key=val", EVENTS_F09(SIGNUP)]
    doc = engine("funnel", [*steps, *LAST_7_DAYS], as_of=AS_OF_NOW)
    assert persons(doc) == [2, 1]


EVENTS_F10 = CASES.add("f10", sequence(T0, *REPEAT))


@pytest.mark.parametrize("window", ["14d", "2w", "1h"])
def test_basic_funnel_with_repeat_step_updated_param(engine: Engine, window: str) -> None:
    """test_funnel.py, TestGetFunnel.test_basic_funnel_with_repeat_step_updated_param (PostHog
    commit 2cbf12a1): the same answer with a window of 14 days, 2 weeks and 1 hour."""
    args = [*EVENTS_F10[f"{SIGNUP}|{SIGNUP}"], *LAST_7_DAYS, "--window", window]
    assert persons(engine("funnel", args, as_of=AS_OF_NOW)) == [2, 1]


PV, BLAH = "$pageview", "blaah blaa"
EVENTS_F11 = CASES.add("f11", sequence(
    T0,
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_pageview1", SIGNUP),
    ("stopped_after_pageview1", PV),
    ("stopped_after_pageview2", SIGNUP),
    ("stopped_after_pageview2", PV),
    ("stopped_after_pageview2", BLAH),
    ("stopped_after_pageview2", PV),
    ("stopped_after_pageview3", SIGNUP),
    ("stopped_after_pageview3", PV),
    ("stopped_after_pageview3", BLAH),
    ("stopped_after_pageview3", PV),
    ("stopped_after_pageview3", PV),
    ("stopped_after_pageview3", BLAH),
    ("stopped_after_pageview4", SIGNUP),
    ("stopped_after_pageview4", PV),
    ("stopped_after_pageview4", PV),
    ("stopped_after_pageview4", PV),
    ("stopped_after_pageview4", PV),
))  # fmt: skip


def test_advanced_funnel_with_repeat_steps(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_advanced_funnel_with_repeat_steps (PostHog commit
    2cbf12a1): four pageview steps need four pageviews."""
    steps = EVENTS_F11[f"{SIGNUP}|{PV}|{PV}|{PV}|{PV}"]
    assert persons(engine("funnel", [*steps, *LAST_7_DAYS], as_of=AS_OF_NOW)) == [5, 4, 3, 2, 1]


EVENTS_F12 = CASES.add("f12", sequence(
    T0,
    ("stopped_after_signup1", PV, {}, "random"),
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_pageview1", SIGNUP),
    ("stopped_after_pageview1", PV),
    ("stopped_after_pageview2", PV),
    ("stopped_after_pageview2", SIGNUP),
    ("stopped_after_pageview2", BLAH),
    ("stopped_after_pageview2", PV),
    ("stopped_after_pageview3", BLAH),
    ("stopped_after_pageview3", PV),
    ("stopped_after_pageview3", BLAH),
    ("stopped_after_pageview3", PV),
    ("stopped_after_pageview3", SIGNUP),
    ("stopped_after_pageview3", PV),
    ("stopped_after_pageview4", SIGNUP),
    ("stopped_after_pageview4", PV),
    ("stopped_after_pageview4", BLAH),
    ("stopped_after_pageview4", PV),
    ("stopped_after_pageview4", PV),
    ("stopped_after_pageview4", PV),
    ("stopped_after_pageview5", PV),
    ("stopped_after_pageview5", BLAH),
    ("stopped_after_pageview5", PV),
    ("stopped_after_pageview5", PV),
    ("stopped_after_pageview5", PV),
))  # fmt: skip


def test_advanced_funnel_with_repeat_steps_out_of_order_events(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_advanced_funnel_with_repeat_steps_out_of_order_events
    (PostHog commit 2cbf12a1): pageviews before the signup count for no step."""
    steps = EVENTS_F12[f"{SIGNUP}|{PV}|{PV}|{PV}|{PV}"]
    assert persons(engine("funnel", [*steps, *LAST_7_DAYS], as_of=AS_OF_NOW)) == [5, 4, 1, 1, 1]


EVENTS_F13 = CASES.add("f13", sequence(
    T0,
    ("stopped_after_signup1", "sign up", {"key": "val"}),
    ("stopped_after_signup1", "sign up", {"key": "val"}),
    ("stopped_after_signup2", "sign up", {"key": "val"}),
))  # fmt: skip


def test_funnel_with_actions(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_with_actions (PostHog commit 2cbf12a1): the
    action `sign up` with `key = val` twice (the steps' math is ignored by funnels)."""
    step = f"{EVENTS_F13('sign up')}:key=val"
    assert persons(engine("funnel", [step, step, *LAST_7_DAYS], as_of=AS_OF_NOW)) == [2, 1]


SAME_TIME = utc(2020, 1, 3)
EVENTS_F14 = CASES.add("f14", [
    Ev("stopped_after_signup1", "sign up", SAME_TIME, {"key": "val"}),
    Ev("stopped_after_signup1", PV, SAME_TIME, {"key": "val"}),
    Ev("stopped_after_signup2", "sign up", SAME_TIME, {"key": "val"}),
])  # fmt: skip


def test_funnel_with_different_actions_at_same_time_count_as_converted(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_with_different_actions_at_same_time_count_as_
    converted (PostHog commit 2cbf12a1): step 2 at step 1's very timestamp converts (the events at
    the frozen 2020-01-03 00:00, the range 2020-01-01 to 2020-01-07, whole days)."""
    steps = [f"{EVENTS_F14('sign up')}:key=val", EVENTS_F14(PV)]
    args = [*steps, "--since", "2020-01-01", "--until", "2020-01-07"]
    assert persons(engine("funnel", args, as_of="2020-01-08")) == [2, 1]


def url(u: str) -> dict[str, str]:
    return {"$current_url": u}


EVENTS_F15 = CASES.add("f15", sequence(
    T0,
    ("stopped_after_signup1", SIGNUP),
    ("stopped_after_pageview1", SIGNUP),
    ("stopped_after_pageview1", PV, url("aloha.com")),
    ("stopped_after_pageview2", SIGNUP),
    ("stopped_after_pageview2", PV, url("aloha.com")),
    ("stopped_after_pageview2", BLAH, url("aloha.com")),
    ("stopped_after_pageview2", PV, url("aloha2.com")),
    ("stopped_after_pageview3", SIGNUP),
    ("stopped_after_pageview3", PV, url("aloha.com")),
    ("stopped_after_pageview3", PV, url("aloha2.com")),
    ("stopped_after_pageview3", PV, url("aloha2.com")),
    ("stopped_after_pageview3", BLAH),
    ("stopped_after_pageview4", SIGNUP),
    ("stopped_after_pageview4", PV, url("aloha.com")),
    ("stopped_after_pageview4", BLAH),
    ("stopped_after_pageview4", PV, url("aloha2.com")),
    ("stopped_after_pageview4", PV, url("aloha.com")),
    ("stopped_after_pageview4", PV, url("aloha2.com")),
))  # fmt: skip


def test_funnel_with_matching_properties(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_with_matching_properties (PostHog commit
    2cbf12a1): pageview steps narrowed by `$current_url`, the last one unfiltered; no one has
    a pageview after their second aloha2.com one."""
    pv = EVENTS_F15(PV)
    steps = [EVENTS_F15(SIGNUP), f"{pv}:$current_url=aloha.com", f"{pv}:$current_url=aloha2.com",
             f"{pv}:$current_url=aloha2.com", pv]  # fmt: skip
    assert persons(engine("funnel", [*steps, *LAST_7_DAYS], as_of=AS_OF_NOW)) == [5, 4, 3, 2, 0]


def window_case(second_after: list[int]) -> list[Ev]:
    """Ten persons with step two at the first delay, fifteen at the second (in seconds)."""
    out = []
    for i in range(25):
        delay = second_after[0] if i < 10 else second_after[1]
        out.append(Ev(f"user_{i}", "step one", utc(2021, 5, 1)))
        out.append(Ev(f"user_{i}", "step two", utc(2021, 5, 1) + timedelta(seconds=delay)))
    return out


DAY = 86_400
EVENTS_F16 = CASES.add("f16", window_case([DAY, 9 * DAY]))
MAY_1_TO_14 = ["--since", "2021-05-01", "--until", "2021-05-14T00:00:00"]


def test_funnel_conversion_window(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_conversion_window (PostHog commit 2cbf12a1):
    a 7-day window keeps the ten who took a day, not the fifteen who took nine."""
    steps = EVENTS_F16["step one|step two|step three"]
    doc = engine("funnel", [*steps, *MAY_1_TO_14, "--window", "7d"], as_of="2021-05-15")
    assert persons(doc) == [25, 10, 0]


EVENTS_F17 = CASES.add("f17", window_case([10, 20]))


def test_funnel_conversion_window_seconds(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_conversion_window_seconds (PostHog commit
    2cbf12a1): a 15-second window keeps the ten who took 10 s, not those who took 20 s."""
    steps = EVENTS_F17["step one|step two|step three"]
    doc = engine("funnel", [*steps, *MAY_1_TO_14, "--window", "15s"], as_of="2021-05-15")
    assert persons(doc) == [25, 10, 0]


EVENTS_F18 = CASES.add("f18", [
    Ev("person1", SIGNUP, utc(2021, 5, 1, 1)),
    Ev("person1", PAID, utc(2021, 5, 1, 2)),
    Ev("person2", SIGNUP, utc(2021, 5, 1, 3)),
    Ev("person2", "x", utc(2021, 5, 1, 3, 30)),
    Ev("person2", PAID, utc(2021, 5, 1, 4)),
    Ev("person3", SIGNUP, utc(2021, 5, 1, 5)),
    Ev("person3", "x", utc(2021, 5, 1, 6)),
    Ev("person4", SIGNUP, utc(2021, 5, 1, 7)),
    Ev("person4", "x", utc(2021, 5, 2, 8)),
])  # fmt: skip


def test_funnel_exclusion_no_end_event(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_exclusion_no_end_event (PostHog commit
    2cbf12a1): an exclusion inside the 1-day window removes the person even without a step 2
    after it; one outside the window (person4) does not."""
    args = [*EVENTS_F18[f"{SIGNUP}|{PAID}"], *MAY_1_TO_14, "--window", "1d",
            "--exclude", EVENTS_F18("x")]  # fmt: skip
    assert persons(engine("funnel", args, as_of="2021-05-15")) == [2, 1]


def exclusion_case(times: list[tuple[str, int]]) -> list[Ev]:
    return [Ev("user_one", event, utc(2021, 5, 1, 0, 0, second)) for event, second in times]


EXCLUSION_ARGS = ["--since", "2021-05-01", "--until", "2021-05-13T23:59:59", "--window", "10s"]
EVENTS_F19 = CASES.add("f19", exclusion_case([("step one", 0), ("exclusion", 1), ("step one", 31)]))


def test_funnel_exclusion_multiple_possible_no_end_event1(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_exclusion_multiple_possible_no_end_event1
    (PostHog commit 2cbf12a1): the first attempt is excluded, the second (30 s later) clean."""
    e = EVENTS_F19
    args = [*e["step one|step two"], *EXCLUSION_ARGS, "--exclude", e("exclusion")]
    assert persons(engine("funnel", args, as_of="2021-05-14")) == [1, 0]


EVENTS_F20 = CASES.add(
    "f20", exclusion_case([("step one", 0), ("step one", 31), ("exclusion", 32)])
)


def test_funnel_exclusion_multiple_possible_no_end_event2(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_exclusion_multiple_possible_no_end_event2
    (PostHog commit 2cbf12a1): the first attempt is clean, the second excluded."""
    e = EVENTS_F20
    args = [*e["step one|step two"], *EXCLUSION_ARGS, "--exclude", e("exclusion")]
    assert persons(engine("funnel", args, as_of="2021-05-14")) == [1, 0]


EVENTS_F21 = CASES.add("f21", exclusion_case([("step one", 0), ("step one", 1), ("exclusion", 2)]))


def test_funnel_exclusion_multiple_possible_no_end_event3(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_exclusion_multiple_possible_no_end_event3
    (PostHog commit 2cbf12a1): both attempts are excluded: no one in the funnel."""
    e = EVENTS_F21
    args = [*e["step one|step two"], *EXCLUSION_ARGS, "--exclude", e("exclusion")]
    assert persons(engine("funnel", args, as_of="2021-05-14")) == [0, 0]


def three_persons(excluded_event: str, props: dict[str, str]) -> list[Ev]:
    return [
        Ev("person1", SIGNUP, utc(2021, 5, 1, 1)),
        Ev("person1", PAID, utc(2021, 5, 1, 2)),
        Ev("person2", SIGNUP, utc(2021, 5, 1, 3)),
        Ev("person2", excluded_event, utc(2021, 5, 1, 3, 30), props),
        Ev("person2", PAID, utc(2021, 5, 1, 4)),
        Ev("person3", SIGNUP, utc(2021, 5, 1, 5)),
        Ev("person3", PAID, utc(2021, 5, 1, 6)),
    ]


EVENTS_F22 = CASES.add("f22", three_persons("sign up", {"key": "val"}))


def test_funnel_exclusions_with_actions(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_exclusions_with_actions (PostHog commit
    2cbf12a1): the excluded action, the event `sign up` with the property `key` exactly `val`,
    as an exclusion narrowed by that property."""
    excluded = f"{EVENTS_F22('sign up')}:key=val"
    args = [*EVENTS_F22[f"{SIGNUP}|{PAID}"], *MAY_1_TO_14, "--exclude", excluded]
    assert persons(engine("funnel", args, as_of="2021-05-15")) == [2, 2]


EVENTS_F23 = CASES.add("f23", three_persons("x 1 name with numbers 2", {}))


def test_funnel_exclusions_full_window(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_funnel_exclusions_full_window (PostHog commit
    2cbf12a1): an exclusion event named with spaces and digits."""
    e = EVENTS_F23
    args = [*e[f"{SIGNUP}|{PAID}"], *MAY_1_TO_14, "--exclude", e("x 1 name with numbers 2")]
    assert persons(engine("funnel", args, as_of="2021-05-15")) == [2, 2]


EVENTS_F24 = CASES.add("f24", [
    Ev("user_1", "$pageview", utc(2024, 3, 22, 13)),
    Ev("user_1", "$pageview", utc(2024, 3, 22, 14)),
    Ev("user_1", "$pageview", utc(2023, 3, 22, 13), distinct_id="anon_1"),
    Ev("anon_2", "$pageview", utc(2024, 3, 22, 13)),
    Ev("anon_2", "$pageview", utc(2024, 3, 22, 14), distinct_id="user_2"),
    Ev("anon_3", "$pageview", utc(2024, 3, 22, 15)),
])  # fmt: skip


def test_first_time_for_user_funnel_multiple_ids(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_first_time_for_user_funnel_multiple_ids (PostHog
    commit 2cbf12a1): step 1 is a person's first `$pageview` ever (first_time_for_user), step 2
    any `$pageview`. On 2024-03-22 alone user_1's first one (as anon_1, a year before) is out of
    range, so two persons enter and one goes on; from 2023-03-22 user_1 enters too (their next
    pageview is past the 14-day window)."""
    steps = [f"first:{EVENTS_F24('$pageview')}", EVENTS_F24("$pageview")]
    day = engine("funnel", [*steps, "--since", "2024-03-22", "--until", "2024-03-22"],
                 as_of="2024-03-23")  # fmt: skip
    assert persons(day) == [2, 1]
    year = engine("funnel", [*steps, "--since", "2023-03-22", "--until", "2024-03-22"],
                  as_of="2024-03-23")  # fmt: skip
    assert persons(year) == [3, 1]


EVENTS_F25 = CASES.add("f25", [
    Ev("user_1", "event1", utc(2024, 3, 20, 13)),
    Ev("user_1", "event1", utc(2024, 3, 21, 13), {"property": "woah"}),
    Ev("user_2", "event1", utc(2024, 3, 22, 14)),
    Ev("user_1", "event2", utc(2024, 3, 23, 13)),
    Ev("user_1", "event2", utc(2024, 3, 19, 13), {"property": "woah"}),
])  # fmt: skip


def test_first_time_for_user_funnel_person_properties(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_first_time_for_user_funnel_person_properties (PostHog
    commit 2cbf12a1): `event1` with `property` = woah. first_time_for_user_with_filters takes
    user_1's first such event (03-21), then event2: one person converts. first_time_for_user
    takes their first event1 ever (03-20, without the property): no one. From 03-19 (the test's
    later event2 of that day is in the store from the start: it is before step 1 and no
    first-time event, so it changes neither earlier answer) the first one still converts."""
    e = EVENTS_F25
    matching = [f"first-matching:{e('event1')}:property=woah", e("event2")]
    first = [f"first:{e('event1')}:property=woah", e("event2")]
    span = ["--since", "2024-03-20", "--until", "2024-03-24"]
    assert persons(engine("funnel", [*matching, *span], as_of="2024-03-25")) == [1, 1]
    assert persons(engine("funnel", [*first, *span], as_of="2024-03-25")) == [0, 0]
    wider = ["--since", "2024-03-19", "--until", "2024-03-24"]
    assert persons(engine("funnel", [*matching, *wider], as_of="2024-03-25")) == [1, 1]


EVENTS_F26 = CASES.add("f26", [
    Ev("user_excluded", "step one", utc(2021, 5, 1)),
    Ev("user_excluded", "exclusion", utc(2021, 5, 1, 0, 0, 1), {"exclude_me": "true"}),
    Ev("user_excluded", "step two", utc(2021, 5, 1, 0, 0, 2)),
    Ev("user_excluded_also", "step one", utc(2021, 5, 1)),
    Ev("user_excluded_also", "exclusion", utc(2021, 5, 1, 0, 0, 1), {"exclude_me": "yes"}),
    Ev("user_excluded_also", "step two", utc(2021, 5, 1, 0, 0, 2)),
    Ev("user_first_step", "step one", utc(2021, 5, 1)),
    Ev("user_included", "step one", utc(2021, 5, 1)),
    Ev("user_included", "exclusion", utc(2021, 5, 1, 0, 0, 1), {"exclude_me": "false"}),
    Ev("user_included", "step two", utc(2021, 5, 1, 0, 0, 2)),
])  # fmt: skip


def test_exclusion_with_property_filter(engine: Engine) -> None:
    """test_funnel.py, TestGetFunnel.test_exclusion_with_property_filter (PostHog commit
    2cbf12a1): two exclusions of the event `exclusion`, with `exclude_me` = true and = yes,
    within a 10-second window: the two persons with those values are out of the funnel; the
    one whose exclusion event has `exclude_me` = false converts."""
    e = EVENTS_F26
    args = [*e["step one|step two"], "--since", "2021-05-01", "--until", "2021-05-01",
            "--window", "10s", "--exclude", f"{e('exclusion')}:exclude_me=true",
            "--exclude", f"{e('exclusion')}:exclude_me=yes"]  # fmt: skip
    assert persons(engine("funnel", args, as_of="2021-05-02")) == [2, 1]
