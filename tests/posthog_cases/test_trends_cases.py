"""Cases of PostHog's trends tests, posthog/hogql_queries/insights/trends/test/test_trends.py
(TestTrends) at commit a073ad8b9a334e72f9beff8309ff0d1ca4ee38cc of PostHog/posthog, on both
engines.

A PostHog relative range (`-7d` at a frozen time) starts at 00:00 UTC of that day and ends at
the frozen time: here `--since DAY --until FROZEN`, with `--as-of FROZEN`. The tests'
`_create_events` (one person with the distinct_ids blabla and anonymous_id; `sign up` on
2019-12-24, three times on 2020-01-01, once on 2020-01-02 with `no events`) and
`_test_events_with_dates` (`event_name` at each given moment) are rebuilt below. The event of
their second team, which "should have no effect", is left out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.posthog_cases.cases import Cases, Engine, Ev, Names, engines, utc

CASES = Cases()
engine = engines(CASES, "trends")
SIGN_UP = "sign up"


def create_events(use_time: bool = False) -> list[Ev]:
    """The tests' `_create_events`, at midnight (or, with `use_time`, at the listed times)."""
    if use_time:
        days = [
            utc(2019, 12, 24, 3, 45, 34),
            utc(2020, 1, 1, 0, 6, 34),
            utc(2020, 1, 2, 16, 34, 34),
        ]
    else:
        days = [utc(2019, 12, 24), utc(2020, 1, 1), utc(2020, 1, 2)]
    return [
        Ev("blabla", SIGN_UP, days[0], {"$some_property": "value", "$bool_prop": True}),
        Ev("blabla", SIGN_UP, days[1], {"$some_property": "value", "$bool_prop": False}),
        Ev("blabla", SIGN_UP, days[1], {"$bool_prop": False}, "anonymous_id"),
        Ev("blabla", SIGN_UP, days[1]),
        Ev("blabla", SIGN_UP, days[2],
           {"$some_property": "other_value", "$some_numerical_prop": 80}),
        Ev("blabla", "no events", days[2]),
    ]  # fmt: skip


def dated(*moments: str) -> list[Ev]:
    """The tests' `_test_events_with_dates`: `event_name` of person_1 at each moment."""
    return [
        Ev("person_1", "event_name", datetime.fromisoformat(m).replace(tzinfo=UTC),
           {"$browser": "Safari"})
        for m in moments
    ]  # fmt: skip


def by_day(doc: dict[str, Any], event: str, breakdown: str | None = None) -> dict[str, Any]:
    """One series' points, by their date."""
    for s in doc["series"]:
        if s["event"] == event and s.get("breakdown") == breakdown:
            return {p[:10]: v for p, v in zip(doc["points"], s["data"], strict=True)}
    raise AssertionError(f"no series {event} {breakdown}: {doc['series']}")


def data(doc: dict[str, Any], names: Names, event: str = "event_name") -> list[Any]:
    (series,) = [s for s in doc["series"] if s["event"] == names(event)]
    return list(series["data"])


def days(doc: dict[str, Any]) -> list[str]:
    return [p[:10] for p in doc["points"]]


FROZEN = "2020-01-04T13:00:01"
LAST_7_DAYS = ["--since", "2019-12-28", "--until", FROZEN]

EVENTS_T01 = CASES.add("t01", create_events())


def test_trends_per_day(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_per_day (PostHog commit a073ad8b): sign ups per
    day over the last 7 days (and an event with none)."""
    e = EVENTS_T01
    doc = engine("trends", [*e[f"{SIGN_UP}|no events"], *LAST_7_DAYS], as_of=FROZEN)
    assert days(doc)[0] == "2019-12-28" and len(doc["points"]) == 8
    assert by_day(doc, e(SIGN_UP))["2020-01-01"] == 3
    assert by_day(doc, e(SIGN_UP))["2020-01-02"] == 1


EVENTS_T02 = CASES.add("t02", create_events())


def test_trends_per_day_48hours(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_per_day_48hours (PostHog commit a073ad8b): the
    last 48 hours by day, from 2020-01-01 13:00 (PostHog truncates `-48h` to the hour)."""
    e = EVENTS_T02
    frozen = "2020-01-03T13:00:01"
    doc = engine("trends", [e(SIGN_UP), "--since", "2020-01-01T13:00:00", "--until", frozen],
                 as_of=frozen)  # fmt: skip
    assert days(doc)[1] == "2020-01-02"
    assert by_day(doc, e(SIGN_UP))["2020-01-02"] == 1


EVENTS_T03 = CASES.add("t03", create_events())


def test_trends_per_day_cumulative(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_per_day_cumulative (PostHog commit a073ad8b):
    the running total from the range's start (the sign up of 2019-12-24 is before it)."""
    e = EVENTS_T03
    doc = engine("trends", [e(SIGN_UP), *LAST_7_DAYS, "--cumulative"], as_of=FROZEN)
    assert by_day(doc, e(SIGN_UP))["2020-01-01"] == 3
    assert by_day(doc, e(SIGN_UP))["2020-01-02"] == 4


EVENTS_T04 = CASES.add("t04", [
    *create_events(),
    Ev("new_user", SIGN_UP, utc(2020, 1, 3, 13, 0, 1),
       {"$some_property": "value", "$bool_prop": False}),
])  # fmt: skip


def test_trends_per_day_dau_cumulative(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_per_day_dau_cumulative (PostHog commit
    a073ad8b): cumulative unique persons, each counted once, on the day first seen."""
    e = EVENTS_T04
    doc = engine("trends", [e(SIGN_UP), *LAST_7_DAYS, "--cumulative", "--math", "dau"],
                 as_of=FROZEN)  # fmt: skip
    points = by_day(doc, e(SIGN_UP))
    assert [points["2020-01-01"], points["2020-01-02"], points["2020-01-03"]] == [1, 1, 2]


EVENTS_T05 = CASES.add("t05", create_events())


def test_trends_breakdown_cumulative(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_breakdown_cumulative (PostHog commit a073ad8b):
    cumulative unique persons by `$some_property`; the events without it are one series
    (PostHog's `$$_posthog_breakdown_null_$$`, usertrack's '')."""
    e = EVENTS_T05
    args = [e(SIGN_UP), *LAST_7_DAYS, "--cumulative", "--math", "dau", "--by", "$some_property"]
    doc = engine("trends", args, as_of=FROZEN)
    assert list(by_day(doc, e(SIGN_UP), "value").values()) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert list(by_day(doc, e(SIGN_UP), "other_value").values()) == [0, 0, 0, 0, 0, 1, 1, 1]
    assert list(by_day(doc, e(SIGN_UP), "").values()) == [0, 0, 0, 0, 1, 1, 1, 1]


EVENTS_T06 = CASES.add("t06", create_events())


def test_trends_any_event_total_count(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_any_event_total_count (PostHog commit a073ad8b),
    its `sign up` series (usertrack has no "any event" series): 4 in the last 7 days."""
    e = EVENTS_T06
    doc = engine("trends", [e(SIGN_UP), *LAST_7_DAYS], as_of=FROZEN)
    assert doc["series"][0]["total"] == 4


EVENTS_T07 = CASES.add("t07", dated("2020-07-10", "2020-07-30", "2020-10-18"))


def test_month_interval(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_month_interval (PostHog commit a073ad8b): monthly from
    2020-06-01 to 2020-11-24."""
    e = EVENTS_T07
    args = [
        e("event_name"),
        "--interval",
        "month",
        "--since",
        "2020-06-01",
        "--until",
        "2020-11-24",
    ]
    doc = engine("trends", args, as_of="2020-11-25")
    assert days(doc) == ["2020-06-01", "2020-07-01", "2020-08-01", "2020-09-01", "2020-10-01",
                         "2020-11-01"]  # fmt: skip
    assert data(doc, e) == [0, 2, 0, 0, 1, 0]
    assert doc["series"][0]["total"] == 3


EVENTS_T08 = CASES.add("t08", dated("2020-06-02", "2020-07-30"))


def test_interval_rounding_monthly(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_interval_rounding_monthly (PostHog commit a073ad8b): a
    range from 2020-06-07 by month "should round down to 6-1": the event of 06-02 counts."""
    e = EVENTS_T08
    args = [
        e("event_name"),
        "--interval",
        "month",
        "--since",
        "2020-06-07",
        "--until",
        "2020-07-30",
    ]
    doc = engine("trends", args, as_of="2020-07-31")
    assert days(doc) == ["2020-06-01", "2020-07-01"]
    assert data(doc, e) == [1, 1]


EVENTS_T37 = CASES.add("t37", dated("2020-11-01", "2020-11-10", "2020-11-11", "2020-11-18"))


def test_interval_rounding(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_interval_rounding (PostHog commit a073ad8b): weekly from
    2020-11-04, "includes only events after date_from": a week's start is not taken back to its
    first day (`date_from_with_adjusted_start_of_interval`: the start of date_from's day)."""
    e = EVENTS_T37
    doc = engine("trends", [e("event_name"), "--interval", "week", "--since", "2020-11-04",
                            "--until", "2020-11-24"], as_of="2020-11-25")  # fmt: skip
    assert days(doc) == ["2020-11-02", "2020-11-09", "2020-11-16", "2020-11-23"]
    assert data(doc, e) == [0, 2, 1, 0] and doc["from"] == "2020-11-04T00:00:00Z"


EVENTS_T40 = CASES.add("t40", dated("2020-11-01", "2020-11-10", "2020-11-11", "2020-11-18"))


def test_week_interval(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_week_interval (PostHog commit a073ad8b): weekly from
    2020-10-29 to 2020-11-24 in a project whose week start was never set, so weeks start on
    Sunday (`--week-start sunday`; `date_to_start_of_interval_hogql`'s toStartOfWeek in
    utils/query_date_range.py): the first week is 2020-10-25's, cut by the range's start."""
    e = EVENTS_T40
    doc = engine("trends", [e("event_name"), "--interval", "week", "--week-start", "sunday",
                            "--since", "2020-10-29", "--until", "2020-11-24"],
                 as_of="2020-11-25")  # fmt: skip
    assert doc["week_start"] == "sunday"
    assert days(doc) == ["2020-10-25", "2020-11-01", "2020-11-08", "2020-11-15", "2020-11-22"]
    assert data(doc, e) == [0, 1, 2, 1, 0]
    assert doc["series"][0]["total"] == 4


EVENTS_T09 = CASES.add("t09", dated("2020-11-01 05:20:00", "2020-11-01 10:22:00",
                                    "2020-11-01 10:25:00"))  # fmt: skip


def test_yesterday_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_yesterday_timerange (PostHog commit a073ad8b): `-1d` to
    `-1d` at 2020-11-02 10:20 is the whole of 2020-11-01."""
    e = EVENTS_T09
    doc = engine("trends", [e("event_name"), "--since", "2020-11-01", "--until", "2020-11-01"],
                 as_of="2020-11-02T10:20:00")  # fmt: skip
    assert days(doc) == ["2020-11-01"] and data(doc, e) == [3]


LAST_HOURS = ("2020-11-01 05:20:00", "2020-11-01 10:22:00", "2020-11-01 10:25:00",
              "2020-11-02 08:25:00")  # fmt: skip
EVENTS_T10 = CASES.add("t10", dated(*LAST_HOURS))


def test_last24hours_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_last24hours_timerange (PostHog commit a073ad8b): from
    2020-11-01 10:00 (`-24h` truncated to the hour) to 2020-11-02 10:20, the 05:20 event left
    out."""
    e = EVENTS_T10
    doc = engine("trends", [e("event_name"), "--since", "2020-11-01T10:00:00",
                            "--until", "2020-11-02T10:20:00"],
                 as_of="2020-11-02T10:20:00")  # fmt: skip
    assert days(doc) == ["2020-11-01", "2020-11-02"] and data(doc, e) == [2, 1]


EVENTS_T11 = CASES.add("t11", dated(*LAST_HOURS))


def test_last48hours_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_last48hours_timerange (PostHog commit a073ad8b): from
    2020-10-31 10:00 (`-48h` truncated to the hour) to 2020-11-02 10:20."""
    e = EVENTS_T11
    doc = engine("trends", [e("event_name"), "--since", "2020-10-31T10:00:00",
                            "--until", "2020-11-02T10:20:00"],
                 as_of="2020-11-02T10:20:00")  # fmt: skip
    assert days(doc) == ["2020-10-31", "2020-11-01", "2020-11-02"] and data(doc, e) == [0, 3, 1]


EVENTS_T12 = CASES.add("t12", dated("2020-11-01 05:20:00", "2020-11-02 10:22:00",
                                    "2020-11-04 10:25:00", "2020-11-05 08:25:00"))  # fmt: skip


def test_last7days_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_last7days_timerange (PostHog commit a073ad8b): `-7d` at
    2020-11-07 10:20, from 2020-10-31."""
    e = EVENTS_T12
    doc = engine("trends", [e("event_name"), "--since", "2020-10-31", "--until",
                            "2020-11-07T10:20:00"], as_of="2020-11-07T10:20:00")  # fmt: skip
    assert days(doc)[0] == "2020-10-31" and days(doc)[-1] == "2020-11-07"
    assert data(doc, e) == [0, 1, 1, 0, 1, 1, 0, 0]
    assert doc["series"][0]["total"] == 4


EVENTS_T38 = CASES.add("t38", dated("2020-10-31 05:20:00", "2020-11-02 10:22:00"))


def test_last7days_timerange_as_days(engine: Engine) -> None:
    """test_last7days_timerange's `-7d` at 2020-11-07 10:20 given as `--days 7`, with an event
    at 05:20 on its first day: PostHog's `date_from` takes `-7d` from 00:00 of that day
    (query_date_range.py, `relative_date_parse(..., always_truncate=True)`), so it counts."""
    e = EVENTS_T38
    doc = engine("trends", [e("event_name"), "--days", "7"], as_of="2020-11-07T10:20:00")
    assert doc["from"] == "2020-10-31T00:00:00Z" and doc["to"] == "2020-11-07T10:20:00Z"
    assert data(doc, e) == [1, 0, 1, 0, 0, 0, 0, 0]


EVENTS_T13 = CASES.add("t13", dated("2020-11-01 05:20:00", "2020-11-02 10:22:00",
                                    "2020-11-04 10:25:00", "2020-11-05 08:25:00",
                                    "2020-11-05 08:25:00", "2020-11-10 08:25:00"))  # fmt: skip


def test_last14days_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_last14days_timerange (PostHog commit a073ad8b): `-14d`
    at 2020-11-14 10:20, from 2020-10-31; two events at one moment count twice."""
    e = EVENTS_T13
    doc = engine("trends", [e("event_name"), "--since", "2020-10-31", "--until",
                            "2020-11-14T10:20:00"], as_of="2020-11-14T10:20:00")  # fmt: skip
    assert data(doc, e) == [0, 1, 1, 0, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert doc["series"][0]["total"] == 6


NOVEMBER = ("2020-11-01 05:20:00", "2020-11-11 10:22:00", "2020-11-24 10:25:00",
            "2020-11-05 08:25:00", "2020-11-05 08:25:00", "2020-11-10 08:25:00")  # fmt: skip
EVENTS_T14 = CASES.add("t14", dated("2020-09-01 05:20:00", "2020-10-05 05:20:00",
                                    "2020-10-20 05:20:00", *NOVEMBER))  # fmt: skip


def test_last90days_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_last90days_timerange (PostHog commit a073ad8b): `-90d`
    by month at 2020-11-30 10:20, from 2020-09-01 00:00 (its 05:20 event counts)."""
    e = EVENTS_T14
    doc = engine("trends", [e("event_name"), "--interval", "month", "--since", "2020-09-01",
                            "--until", "2020-11-30T10:20:00"],
                 as_of="2020-11-30T10:20:00")  # fmt: skip
    assert days(doc) == ["2020-09-01", "2020-10-01", "2020-11-01"] and data(doc, e) == [1, 2, 6]


EVENTS_T15 = CASES.add("t15", dated(*NOVEMBER))


def test_this_month_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_this_month_timerange (PostHog commit a073ad8b): `mStart`
    by month at 2020-11-30 10:20."""
    e = EVENTS_T15
    doc = engine("trends", [e("event_name"), "--interval", "month", "--since", "2020-11-01",
                            "--until", "2020-11-30T10:20:00"],
                 as_of="2020-11-30T10:20:00")  # fmt: skip
    assert days(doc) == ["2020-11-01"] and data(doc, e) == [6]


EVENTS_T16 = CASES.add("t16", dated(*NOVEMBER))


def test_previous_month_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_previous_month_timerange (PostHog commit a073ad8b):
    `-1mStart` to `-1mEnd` at 2020-12-30 10:20 is November."""
    e = EVENTS_T16
    doc = engine("trends", [e("event_name"), "--interval", "month", "--since", "2020-11-01",
                            "--until", "2020-11-30"],
                 as_of="2020-12-30T10:20:00")  # fmt: skip
    assert days(doc) == ["2020-11-01"] and data(doc, e) == [6]


EARLY_2020 = ("2020-01-01 05:20:00", "2020-01-11 10:22:00", "2020-02-24 10:25:00",
              "2020-02-05 08:25:00", "2020-03-05 08:25:00")  # fmt: skip
EVENTS_T17 = CASES.add("t17", dated(*EARLY_2020, "2020-05-10 08:25:00"))


def test_year_to_date_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_year_to_date_timerange (PostHog commit a073ad8b):
    `yStart` by month at 2020-04-30 10:20; the event of May is after it."""
    e = EVENTS_T17
    doc = engine("trends", [e("event_name"), "--interval", "month", "--since", "2020-01-01",
                            "--until", "2020-04-30T10:20:00"],
                 as_of="2020-04-30T10:20:00")  # fmt: skip
    assert days(doc) == ["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"]
    assert data(doc, e) == [2, 2, 1, 0]
    assert doc["series"][0]["total"] == 5


EVENTS_T18 = CASES.add("t18", dated(*EARLY_2020))


def test_all_time_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_all_time_timerange (PostHog commit a073ad8b): `all`
    starts with the first event (2020-01-01 here) and runs to 2020-04-30 10:20."""
    e = EVENTS_T18
    doc = engine("trends", [e("event_name"), "--interval", "month", "--since", "2020-01-01",
                            "--until", "2020-04-30T10:20:00"],
                 as_of="2020-04-30T10:20:00")  # fmt: skip
    assert data(doc, e) == [2, 2, 1, 0]
    assert doc["series"][0]["total"] == 5


EVENTS_T19 = CASES.add("t19", dated("2020-01-05 05:20:00", "2020-01-05 10:22:00",
                                    "2020-01-04 10:25:00", "2020-01-11 08:25:00",
                                    "2020-01-09 08:25:00"))  # fmt: skip


def test_custom_range_timerange(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_custom_range_timerange (PostHog commit a073ad8b): from
    2020-01-05 to the frozen day 2020-01-10 (the 01-11 event is after it)."""
    e = EVENTS_T19
    doc = engine("trends", [e("event_name"), "--since", "2020-01-05", "--until", "2020-01-10"],
                 as_of="2020-01-11")  # fmt: skip
    assert days(doc) == [f"2020-01-{d:02d}" for d in range(5, 11)]
    assert data(doc, e) == [2, 0, 0, 0, 1, 0]
    assert doc["series"][0]["total"] == 3


EVENTS_T20 = CASES.add("t20", create_events())


def test_property_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_property_filtering (PostHog commit a073ad8b): the
    property filter `$some_property = value` is `--where`; frozen at 2020-01-04 00:00."""
    e = EVENTS_T20
    doc = engine("trends", [e(SIGN_UP), "--since", "2019-12-28", "--until", "2020-01-04",
                            "--where", "properties.$some_property = 'value'"],
                 as_of="2020-01-04")  # fmt: skip
    assert by_day(doc, e(SIGN_UP))["2020-01-01"] == 1
    assert by_day(doc, e(SIGN_UP))["2020-01-02"] == 0


EVENTS_T21 = CASES.add("t21", create_events(use_time=True))


def test_trends_compare_day_interval_fixed_range_single(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_compare_day_interval_fixed_range_single (PostHog
    commit a073ad8b): 2020-01-02 against the day before (frozen at 2020-01-02 20:17, no
    date_to): PostHog's date_to is the end of 2020-01-02, so the previous period is all of
    2020-01-01; the current one stops at the moment."""
    e = EVENTS_T21
    doc = engine("trends", [e(SIGN_UP), "--since", "2020-01-02", "--compare"],
                 as_of="2020-01-02T20:17:00")  # fmt: skip
    assert days(doc) == ["2020-01-02"] and data(doc, e, SIGN_UP) == [1]
    assert doc["to"] == "2020-01-02T20:17:00Z"
    previous = doc["previous"]
    assert (previous["from"], previous["to"]) == ("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z")
    assert [p[:10] for p in previous["points"]] == ["2020-01-01"]
    assert previous["series"][0]["data"] == [3]


EVENTS_T39 = CASES.add("t39", create_events(use_time=True))


def test_trends_compare_hour_interval_relative_range(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_compare_hour_interval_relative_range (PostHog
    commit a073ad8b): today by hour (`dStart`, frozen at 2020-01-02 20:17) against the same hours
    of the day before (get_compare_period_dates keeps the hours of the day): the 3 sign ups at
    00:06 on 2020-01-01."""
    e = EVENTS_T39
    doc = engine("trends", [e(SIGN_UP), "--since", "2020-01-02", "--interval", "hour",
                            "--compare"], as_of="2020-01-02T20:17:00")  # fmt: skip
    hours = [f"{h:02d}:00" for h in range(21)]
    assert [p[11:16] for p in doc["points"]] == hours
    assert data(doc, e, SIGN_UP) == [0] * 16 + [1, 0, 0, 0, 0]
    previous = doc["previous"]
    assert [p[:16] for p in previous["points"]] == [f"2020-01-01T{h}" for h in hours]
    assert previous["series"][0]["data"] == [3] + [0] * 20


EVENTS_T22 = CASES.add("t22", create_events())


def test_trends_compare_day_interval_relative_range(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_compare_day_interval_relative_range (PostHog
    commit a073ad8b): the last 7 days against the 7 before; the sign up of 2019-12-24 is in the
    previous period, none on 12-25."""
    e = EVENTS_T22
    doc = engine("trends", [e(SIGN_UP), *LAST_7_DAYS, "--compare"], as_of=FROZEN)
    assert by_day(doc, e(SIGN_UP))["2020-01-01"] == 3
    assert by_day(doc, e(SIGN_UP))["2020-01-02"] == 1
    previous = by_day(doc["previous"], e(SIGN_UP))
    assert previous["2019-12-24"] == 1 and previous["2019-12-25"] == 0


EVENTS_T23 = CASES.add("t23", [
    *create_events(),
    Ev("someone_else", SIGN_UP, utc(2020, 1, 2)),
])  # fmt: skip


def test_dau_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_dau_filtering (PostHog commit a073ad8b): unique persons
    per day, frozen at 2020-01-04 00:00: 1 on 2020-01-01 (one person, two distinct_ids), 2 on
    2020-01-02."""
    e = EVENTS_T23
    doc = engine("trends", [e(SIGN_UP), "--since", "2019-12-28", "--until", "2020-01-04",
                            "--math", "dau"], as_of="2020-01-04")  # fmt: skip
    points = by_day(doc, e(SIGN_UP))
    assert [points["2020-01-01"], points["2020-01-02"]] == [1, 2]


# The maths cases: the tests' `_create_maths_events`, someone_else's sign ups "now" (here
# 2024-03-01 11:00, a second apart) with some_number, the last without one; the sign ups of
# `_create_events` are years before the range. The answer is the last point's, within 0.5
# ("Work around clickhouse functions not being 100%").
NOW = "2024-03-01T12:00:00"
LAST_7_DAYS_NOW = ["--since", "2024-02-23", "--until", NOW]


def maths_events(values: list[Any]) -> list[Ev]:
    start = utc(2024, 3, 1, 11)
    numbers = [Ev("someone_else", SIGN_UP, start + timedelta(seconds=n), {"some_number": v})
               for n, v in enumerate([*values, None])]  # fmt: skip
    return [*create_events(), *numbers]


def last_point(engine: Engine, names: Names, math: str) -> float:
    doc = engine("trends", [names(SIGN_UP), *LAST_7_DAYS_NOW, "--math", f"{math}:some_number"],
                 as_of=NOW)  # fmt: skip
    assert days(doc)[-1] == "2024-03-01"
    return float(data(doc, names, SIGN_UP)[-1])


FEW = [2, 3, 5.5, 7.5]
MANY = list(range(101, 201))
EVENTS_T24 = CASES.add("t24", maths_events(FEW))
EVENTS_T25 = CASES.add("t25", maths_events(FEW))
EVENTS_T26 = CASES.add("t26", maths_events(FEW))
EVENTS_T27 = CASES.add("t27", maths_events(FEW))
EVENTS_T28 = CASES.add("t28", maths_events(MANY))
EVENTS_T29 = CASES.add("t29", maths_events(MANY))


def test_sum_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_sum_filtering (PostHog commit a073ad8b): 2 + 3 + 5.5 +
    7.5; the event without the number adds nothing."""
    assert abs(last_point(engine, EVENTS_T24, "sum") - 18) <= 0.5


def test_avg_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_avg_filtering (PostHog commit a073ad8b): the mean of
    2, 3, 5.5 and 7.5 (the event without a number is not counted)."""
    assert abs(last_point(engine, EVENTS_T25, "avg") - 4.5) <= 0.5


def test_min_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_min_filtering (PostHog commit a073ad8b)."""
    assert abs(last_point(engine, EVENTS_T26, "min") - 2) <= 0.5


def test_max_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_max_filtering (PostHog commit a073ad8b)."""
    assert abs(last_point(engine, EVENTS_T27, "max") - 7.5) <= 0.5


def test_median_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_median_filtering (PostHog commit a073ad8b): the median
    of 101 to 200."""
    assert abs(last_point(engine, EVENTS_T28, "median") - 150) <= 0.5


def test_p90_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_p90_filtering (PostHog commit a073ad8b): the 90th
    percentile of 101 to 200."""
    assert abs(last_point(engine, EVENTS_T29, "p90") - 190) <= 0.5


EVENTS_T30 = CASES.add("t30", [
    *create_events(),
    *[Ev("someone_else", SIGN_UP, utc(2024, 3, 1, 11, 0, n), {"some_number": v})
      for n, v in enumerate([2, "x", None, 8])],
])  # fmt: skip


def test_avg_filtering_non_number_resiliency(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_avg_filtering_non_number_resiliency (PostHog commit
    a073ad8b): the text "x" and the null are skipped: the mean of 2 and 8."""
    assert last_point(engine, EVENTS_T30, "avg") == 5


def multiple_people() -> list[Ev]:
    """The tests' `_create_multiple_people`: persons named person1 to person4 watch movies, each
    event with its own `name` property (the person's number)."""

    def watched(person: str, day: int, order: str) -> Ev:
        return Ev(person, "watched movie", utc(2020, 1, day, 12),
                  {"order": order, "name": person[-1]}, person_props={"name": person})  # fmt: skip

    return [
        watched("person1", 1, "1"),
        watched("person2", 1, "1"),
        watched("person2", 2, "2"),
        watched("person2", 2, "2"),
        watched("person3", 1, "1"),
        watched("person3", 2, "2"),
        watched("person3", 3, "2"),
        watched("person4", 5, "1"),
    ]


FROZEN_JAN_4 = ["--since", "2019-12-28", "--until", "2020-01-04"]
EVENTS_T31 = CASES.add("t31", multiple_people())


def test_person_property_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_person_property_filtering (PostHog commit a073ad8b): the
    person property filter `name = person1` is `--where` on `person.properties.name`."""
    e = EVENTS_T31
    doc = engine("trends", [e("watched movie"), *FROZEN_JAN_4,
                            "--where", "person.properties.name = 'person1'"],
                 as_of="2020-01-04")  # fmt: skip
    points = by_day(doc, e("watched movie"))
    assert [points["2020-01-01"], points["2020-01-02"]] == [1, 0]


EVENTS_T32 = CASES.add("t32", multiple_people())


def test_person_property_filtering_clashing_with_event_property(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_person_property_filtering_clashing_with_event_property
    (PostHog commit a073ad8b): `name` is a person property and an event property; each filter
    reads its own."""
    e = EVENTS_T32
    for where in ("person.properties.name = 'person1'", "properties.name = '1'"):
        doc = engine("trends", [e("watched movie"), *FROZEN_JAN_4, "--where", where],
                     as_of="2020-01-04")  # fmt: skip
        points = by_day(doc, e("watched movie"))
        assert [points["2020-01-01"], points["2020-01-02"]] == [1, 0], where


EVENTS_T33 = CASES.add("t33", multiple_people())


def test_entity_person_property_filtering(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_entity_person_property_filtering (PostHog commit
    a073ad8b): the series' own person filter `name = person1`; with one series it is
    `--where`."""
    e = EVENTS_T33
    doc = engine("trends", [e("watched movie"), *FROZEN_JAN_4,
                            "--where", "person.properties.name = 'person1'"],
                 as_of="2020-01-04")  # fmt: skip
    points = by_day(doc, e("watched movie"))
    assert [points["2020-01-01"], points["2020-01-02"]] == [1, 0]


# unique_session: test_unique_session_with_session_breakdown's events (PostHog commit
# a073ad8b): four sessions of two persons, s1 to s3 on 2020-01-01, s4 on 2020-01-02.
def session_events() -> list[Ev]:
    def ev(person: str, event: str, when: str, session: str) -> Ev:
        moment = datetime.fromisoformat(when).replace(tzinfo=UTC)
        return Ev(person, event, moment, {"$session_id": session},
                  person_props={"$some_prop": "some_val"})  # fmt: skip

    return [
        ev("blabla", "sign up before", "2020-01-01 00:06:30", "s1"),
        ev("blabla", SIGN_UP, "2020-01-01 00:06:34", "s1"),
        ev("blabla", "sign up later", "2020-01-01 00:06:35", "s1"),
        ev("blabla2", SIGN_UP, "2020-01-01 00:06:35", "s2"),
        ev("blabla2", SIGN_UP, "2020-01-01 00:06:45", "s2"),
        ev("blabla", SIGN_UP, "2020-01-01 00:06:45", "s3"),
        ev("blabla", SIGN_UP, "2020-01-02 00:06:30", "s4"),
        ev("blabla", SIGN_UP, "2020-01-02 00:06:45", "s4"),
    ]


EVENTS_T34 = CASES.add("t34", session_events())


def test_unique_session_with_session_breakdown(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_unique_session_with_session_breakdown (PostHog commit
    a073ad8b): `unique_session` of sign up over `-3d` frozen at 2020-01-04T13:00:01, with the
    person filter `$some_prop = some_val`. PostHog splits the series by session duration
    ([10,15.01]: [1, 1, 0, 0], [0,5]: [1, 0, 0, 0], [5,10]: [1, 0, 0, 0]); usertrack has no
    session breakdown, and each session is in one bucket, so the series is their sum."""
    e = EVENTS_T34
    frozen = "2020-01-04T13:00:01"
    doc = engine("trends", [e(SIGN_UP), "--since", "2020-01-01", "--until", frozen,
                            "--math", "unique_session",
                            "--where", "person.properties.$some_prop = 'some_val'"],
                 as_of=frozen)  # fmt: skip
    assert days(doc) == ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"]
    assert data(doc, e, SIGN_UP) == [3, 1, 0, 0]


# Events without a $session_id: PostHog's count(DISTINCT e."$session_id") reads the events
# table's column, '' for them, so they are one session of their interval together.
EVENTS_T35 = CASES.add("t35", [
    Ev("p1", SIGN_UP, utc(2020, 1, 1, 10), {"$session_id": "a"}),
    Ev("p1", SIGN_UP, utc(2020, 1, 1, 11)),
    Ev("p2", SIGN_UP, utc(2020, 1, 1, 12)),
    Ev("p2", SIGN_UP, utc(2020, 1, 2, 12)),
])  # fmt: skip


def test_unique_session_without_session_id(engine: Engine) -> None:
    """Two events without a session id on one day are one session, beside session `a`."""
    e = EVENTS_T35
    doc = engine("trends", [e(SIGN_UP), "--since", "2020-01-01", "--until", "2020-01-02",
                            "--math", "unique_session"], as_of="2020-01-03")  # fmt: skip
    assert data(doc, e, SIGN_UP) == [2, 1]


# The count-per-actor maths: the tests' `_create_event_count_per_actor_events` (PostHog commit
# a073ad8b): four persons (blabla with the distinct_ids blabla and anonymous_id, tintin,
# murmur, reeree) viewing videos from 2020-01-01 to 2020-01-05. The events' $group_0 is left
# out (usertrack has no groups); the range is 2020-01-01 to 2020-01-07.
def per_actor_events() -> list[Ev]:
    def ev(person: str, event: str, when: datetime, color: str | None = None,
           distinct: str | None = None) -> Ev:  # fmt: skip
        props = {} if color is None else {"color": color}
        return Ev(person, event, when, props, distinct)

    jan1, jan3, jan4, jan5 = (utc(2020, 1, 1, 0, 6, 2), utc(2020, 1, 3, 19, 6, 34),
                              utc(2020, 1, 4, 23, 17), utc(2020, 1, 5, 19, 6, 34))  # fmt: skip
    return [
        ev("blabla", "viewed video", jan1, "red", "anonymous_id"),
        ev("blabla", "viewed video", jan1),
        ev("reeree", "viewed video", jan1, "blue"),
        ev("tintin", SIGN_UP, jan1),
        ev("murmur", SIGN_UP, jan3),
        ev("tintin", "viewed video", jan4, "red"),
        ev("blabla", "viewed video", jan5, "blue"),
        ev("tintin", "viewed video", jan5, "red"),
        ev("tintin", "viewed video", jan5, "red"),
        ev("tintin", "viewed video", jan5, "blue"),
    ]


PER_ACTOR_RANGE = ["--since", "2020-01-01", "--until", "2020-01-07"]
EVENTS_T36 = CASES.add("t36", per_actor_events())


def test_trends_count_per_user_average_daily(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_count_per_user_average_daily (PostHog commit
    a073ad8b): each person's `viewed video` events per day, averaged over the persons."""
    e = EVENTS_T36
    doc = engine("trends", [e("viewed video"), *PER_ACTOR_RANGE, "--math",
                            "avg_count_per_actor"], as_of="2020-01-08")  # fmt: skip
    assert days(doc) == [f"2020-01-{d:02d}" for d in range(1, 8)]
    assert data(doc, e, "viewed video") == [1.5, 0, 0, 1, 2, 0, 0]


def test_trends_count_per_user_maximum(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_count_per_user_maximum (PostHog commit
    a073ad8b): the most events one person had each day."""
    e = EVENTS_T36
    doc = engine("trends", [e("viewed video"), *PER_ACTOR_RANGE, "--math",
                            "max_count_per_actor"], as_of="2020-01-08")  # fmt: skip
    assert data(doc, e, "viewed video") == [2, 0, 0, 1, 3, 0, 0]


def test_trends_count_per_user_average_with_event_property_breakdown(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_trends_count_per_user_average_with_event_property_breakdown
    (PostHog commit a073ad8b): by `color`, each person's events of each value per day, averaged;
    red, blue, then the events without a color (usertrack's '')."""
    e = EVENTS_T36
    doc = engine("trends", [e("viewed video"), *PER_ACTOR_RANGE, "--math",
                            "avg_count_per_actor", "--by", "color"],
                 as_of="2020-01-08")  # fmt: skip
    assert [s["breakdown"] for s in doc["series"]] == ["red", "blue", ""]
    assert list(by_day(doc, e("viewed video"), "red").values()) == [1, 0, 0, 1, 2, 0, 0]
    assert list(by_day(doc, e("viewed video"), "blue").values()) == [1, 0, 0, 0, 1, 0, 0]
    assert list(by_day(doc, e("viewed video"), "").values()) == [1, 0, 0, 0, 0, 0, 0]


def test_count_per_actor_quantiles(engine: Engine) -> None:
    """The percentiles interpolate between the persons' counts as ClickHouse's quantile does
    below its 8192-value sample: on 2020-01-01 the counts are 2 (blabla) and 1 (reeree), so the
    median is 1.5, p75 1.75, p90 1.9 and p99 1.99; on 2020-01-05 they are 1 and 3."""
    e = EVENTS_T36
    expected = {"median": (1.5, 2), "p75": (1.75, 2.5), "p90": (1.9, 2.8), "p99": (1.99, 2.98),
                "min": (1, 1)}  # fmt: skip
    for name, (first, fifth) in expected.items():
        doc = engine("trends", [e("viewed video"), *PER_ACTOR_RANGE, "--math",
                                f"{name}_count_per_actor"], as_of="2020-01-08")  # fmt: skip
        got = data(doc, e, "viewed video")
        assert (got[0], got[4]) == (pytest.approx(first), pytest.approx(fifth)), name


def test_count_per_actor_persons(engine: Engine) -> None:
    """--persons of a count-per-actor point lists the persons its counts are of (PostHog's
    trends actors: those with the event in the interval): blabla and tintin on 2020-01-05."""
    e = EVENTS_T36
    doc = engine("trends", [e("viewed video"), *PER_ACTOR_RANGE, "--math",
                            "avg_count_per_actor", "--persons", "2020-01-05"],
                 as_of="2020-01-08")  # fmt: skip
    assert sorted(p["person_id"] for p in doc["persons"]) == ["t36-blabla", "t36-tintin"]


LAST_14_DAYS = ["--since", "2019-12-21", "--until", "2020-01-04T13:01:01"]
EVENTS_T41 = CASES.add("t41", multiple_people())


def test_breakdown_by_person_property(engine: Engine) -> None:
    """test_trends.py, TestTrends.test_breakdown_by_person_property (PostHog commit a073ad8b):
    `breakdown: name, breakdown_type: person` is `--by person.properties.name`: the person's
    `name` (person1 to person3; person4 watches after the range), not the events' own `name`
    ("1" to "4"): 1, 3 and 3 events. And test_breakdown_by_person_property_pie's dau over the
    whole range (its aggregated_value; usertrack's --cumulative dau ends on it): one person
    each."""
    e = EVENTS_T41
    args = [e("watched movie"), *LAST_14_DAYS, "--by", "person.properties.name"]
    doc = engine("trends", args, as_of="2020-01-04T13:01:01")
    totals = {s["breakdown"]: s["total"] for s in doc["series"]}
    assert totals == {"person1": 1, "person2": 3, "person3": 3}
    doc = engine("trends", [*args, "--math", "dau", "--cumulative"], as_of="2020-01-04T13:01:01")
    assert {s["breakdown"]: s["data"][-1] for s in doc["series"]} == {
        "person1": 1, "person2": 1, "person3": 1}  # fmt: skip
