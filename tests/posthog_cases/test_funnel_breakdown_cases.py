"""Cases of PostHog's funnel breakdown tests, posthog/hogql_queries/insights/funnels/test/
breakdown_cases.py (`funnel_breakdown_test_factory`'s TestFunnelBreakdown, which test_funnel.py
runs for ordered funnels as TestFunnelBreakdown) at commit
0eb8a6e532bbce1736be0986f24efeceddb8604e of PostHog/posthog, as `funnel --by`, on both engines.

PostHog's default attribution, first touch, is usertrack's; the cases of other attributions
(last touch, a step's, all events), several properties, person properties, cohorts and
breakdown limits are not ported. usertrack lists every breakdown value.
"""

from __future__ import annotations

from typing import Any

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, utc

CASES = Cases()
engine = engines(CASES, "funnel-breakdown")

JAN_1_TO_8 = ["--since", "2020-01-01", "--until", "2020-01-08", "--window", "7d"]
AS_OF = "2020-01-09"


def by_value(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {b["value"]: b["steps"] for b in doc["breakdown"]}


def counts(steps: list[dict[str, Any]]) -> list[int]:
    return [int(s["persons"]) for s in steps]


def averages(steps: list[dict[str, Any]]) -> list[Any]:
    return [s["average_seconds_to_convert"] for s in steps]


def medians(steps: list[dict[str, Any]]) -> list[Any]:
    return [s["median_seconds_to_convert"] for s in steps]


def browsers() -> list[Ev]:
    """Person1 (Chrome) converts in 1 h and 2 h, person2 (Safari) reaches step 2 in 2 h,
    person3 (Safari) signs up only."""
    chrome, safari = {"key": "val", "$browser": "Chrome"}, {"key": "val", "$browser": "Safari"}
    return [
        Ev("person1", "sign up", utc(2020, 1, 1, 12), chrome),
        Ev("person1", "play movie", utc(2020, 1, 1, 13), chrome),
        Ev("person1", "buy", utc(2020, 1, 1, 15), chrome),
        Ev("person2", "sign up", utc(2020, 1, 2, 14), safari),
        Ev("person2", "play movie", utc(2020, 1, 2, 16), safari),
        Ev("person3", "sign up", utc(2020, 1, 2, 14), safari),
    ]


def assert_browsers(doc: dict[str, Any]) -> None:
    by = by_value(doc)
    assert sorted(by) == ["Chrome", "Safari"]
    assert counts(by["Chrome"]) == [1, 1, 1]
    assert averages(by["Chrome"]) == [None, 3600, 7200]
    assert medians(by["Chrome"]) == [None, 3600, 7200]
    assert counts(by["Safari"]) == [2, 1, 0]
    assert averages(by["Safari"]) == [None, 7200, None]


EVENTS_B01 = CASES.add("b01", browsers())


def test_funnel_step_breakdown_event_with_string_only_breakdown(engine: Engine) -> None:
    """breakdown_cases.py, TestFunnelBreakdown.test_funnel_step_breakdown_event_with_string_
    only_breakdown (PostHog commit 0eb8a6e5): by `$browser`, each value its own funnel."""
    args = [*EVENTS_B01["sign up|play movie|buy"], *JAN_1_TO_8, "--by", "$browser"]
    assert_browsers(engine("funnel", args, as_of=AS_OF))


EVENTS_B02 = CASES.add("b02", browsers())


def test_funnel_step_breakdown_event_no_type(engine: Engine) -> None:
    """breakdown_cases.py, TestFunnelBreakdown.test_funnel_step_breakdown_event_no_type
    (PostHog commit 0eb8a6e5): a breakdown without a type is an event property's."""
    args = [*EVENTS_B02["sign up|play movie|buy"], *JAN_1_TO_8, "--by", "$browser"]
    assert_browsers(engine("funnel", args, as_of=AS_OF))


def with_nulls() -> list[Ev]:
    """For n from 1 to 4, n persons with `some_breakdown_val` n converting; one without it."""
    out = []
    for num in range(5):
        for i in range(num):
            props = {"some_breakdown_val": str(num)}
            for event, hour in (("sign up", 12), ("play movie", 13), ("buy", 15)):
                out.append(Ev(f"person_{num}_{i}", event, utc(2020, 1, 1, hour), props))
    for event, hour in (("sign up", 12), ("play movie", 13), ("buy", 15)):
        out.append(Ev("person_null", event, utc(2020, 1, 1, hour)))
    return out


EVENTS_B03 = CASES.add("b03", with_nulls())


def test_funnel_step_custom_breakdown_limit_with_nulls_included(engine: Engine) -> None:
    """breakdown_cases.py, TestFunnelBreakdown.test_funnel_step_custom_breakdown_limit_with_
    nulls_included (PostHog commit 0eb8a6e5): with room for every value, the person without
    the property is the value ''; value n has its n persons at the last step."""
    args = [*EVENTS_B03["sign up|play movie|buy"], *JAN_1_TO_8, "--by", "some_breakdown_val"]
    by = by_value(engine("funnel", args, as_of=AS_OF))
    assert sorted(by) == ["", "1", "2", "3", "4"]
    assert {value: counts(steps)[2] for value, steps in by.items()} == {
        "": 1, "1": 1, "2": 2, "3": 3, "4": 4,
    }  # fmt: skip


def docs_and_blog() -> list[Ev]:
    docs = {"$current_url": "https://posthog.com/docs/x"}
    out = [
        Ev("user_1", "user signed up", utc(2020, 1, 2, 14), docs),
        Ev("user_1", "paid", utc(2020, 1, 10, 14), docs),
    ]
    for letter in "abcdefghijklmnopqrst":
        blog = {"$current_url": f"https://posthog.com/blog/{letter}"}
        out += [Ev("user_1", "user signed up", utc(2020, 1, 2, 14), blog)] * 2
    return out


EVENTS_B04 = CASES.add("b04", docs_and_blog())


def test_basic_funnel_default_funnel_days_breakdown_event(engine: Engine) -> None:
    """breakdown_cases.py, TestFunnelBreakdown.test_basic_funnel_default_funnel_days_breakdown_
    event (PostHog commit 0eb8a6e5): step 1 kept to URLs containing posthog.com/docs (here
    `--where`: the step-2 event has that URL too), by `$current_url`; forty sign ups on blog
    URLs at the same moment are not in the funnel. Converted in 8 days (691,200 s)."""
    args = [*EVENTS_B04["user signed up|paid"], "--since", "2020-01-01", "--until", "2020-01-14",
            "--by", "$current_url",
            "--where", "properties.$current_url ILIKE '%https://posthog.com/docs%'"]  # fmt: skip
    by = by_value(engine("funnel", args, as_of="2020-01-15"))
    steps = by["https://posthog.com/docs/x"]
    assert counts(steps) == [1, 1]
    assert averages(steps) == [None, 691_200]
    assert medians(steps) == [None, 691_200]


EVENTS_B05 = CASES.add("b05", [
    Ev("person1", "sign up", utc(2020, 1, 1, 12), {"$browser": "Chrome"}),
    Ev("person1", "buy", utc(2020, 1, 1, 13)),
    Ev("person2", "sign up", utc(2020, 1, 1, 13)),
    Ev("person2", "buy", utc(2020, 1, 2, 13), {"$browser": "Safari"}),
    Ev("person3", "sign up", utc(2020, 1, 2, 14), {"$browser": "Mac"}),
    Ev("person3", "buy", utc(2020, 1, 2, 15)),
    Ev("person4", "sign up", utc(2020, 1, 2, 15), {"$browser": 0}),
    Ev("person4", "buy", utc(2020, 1, 2, 16), {"$browser": "alakazam"}),
    Ev("person5", "sign up", utc(2020, 1, 2, 15)),
    Ev("person5", "buy", utc(2020, 1, 2, 16)),
])  # fmt: skip


def test_funnel_step_breakdown_with_first_touch_attribution(engine: Engine) -> None:
    """breakdown_cases.py, TestFunnelBreakdown.test_funnel_step_breakdown_with_first_touch_
    attribution (PostHog commit 0eb8a6e5): each person under the first value among their step
    events: person2's Safari from step 2; person4's number 0, not the later alakazam; person5
    with none under ''."""
    args = [*EVENTS_B05["sign up|buy"], *JAN_1_TO_8, "--by", "$browser"]
    by = by_value(engine("funnel", args, as_of=AS_OF))
    assert sorted(by) == ["", "0", "Chrome", "Mac", "Safari"]
    for value in ("", "0", "Chrome", "Mac"):
        assert counts(by[value]) == [1, 1]
        assert averages(by[value]) == [None, 3600]
    assert counts(by["Safari"]) == [1, 1]
    assert averages(by["Safari"]) == [None, 86_400]
