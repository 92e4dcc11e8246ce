"""Cases of PostHog's retention tests, posthog/hogql_queries/insights/test/
test_retention_query_runner.py (TestRetention) at commit
3c29d63a7acc8233163cdecd118bb5d0a1259fbe of PostHog/posthog, on both engines.

PostHog's retention defaults to recurring (a person is in every cohort period with a start
event): `--mode recurring` here. Its tests assert a matrix padded with zeros; the cells that
matter are the triangle, cohort i followed for the n - i periods up to the range's end, which
is what is compared with usertrack's `retained` of each cohort. As in the tests' helper
`_create_events`, every other event (the 1st, 3rd, ...) carries `$some_property: value`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, utc

CASES = Cases()
engine = engines(CASES, "retention")
PV = "$pageview"


def _date(day: int, hour: int = 5, month: int = 0) -> datetime:
    """The tests' `_date`: 2020-06-10 05:00 moved by days and months."""
    return utc(2020, 6 + month, 10 + day, hour)


def created(event: str, *spec: tuple[str, datetime] | tuple[str, datetime, dict[str, str]],
            alias: dict[str, str] | None = None) -> list[Ev]:  # fmt: skip
    """The tests' `_create_events`: `$some_property: value` on even-indexed events; `alias`
    maps a distinct_id to its person."""
    out = []
    for i, (distinct, when, *more) in enumerate(spec):
        props = {"$some_property": "value"} if i % 2 == 0 else {}
        props.update(more[0] if more else {})
        person = (alias or {}).get(distinct, distinct)
        out.append(Ev(person, event, when, props, distinct))
    return out


def triangle(doc: dict[str, object], n: int) -> list[list[int]]:
    cohorts = doc["cohorts"]
    assert isinstance(cohorts, list) and len(cohorts) == n
    return [list(c["retained"][: n - i]) for i, c in enumerate(cohorts)]


def cut(matrix: list[list[int]]) -> list[list[int]]:
    """PostHog's padded matrix, cut to its triangle."""
    n = len(matrix)
    return [row[: n - i] for i, row in enumerate(matrix)]


ALIAS1 = {"alias1": "person1"}
DEFAULT_EVENTS = [
    ("person1", _date(0)),
    ("person1", _date(1)),
    ("person1", _date(2)),
    ("person1", _date(5)),
    ("alias1", _date(5, 9)),
    ("person1", _date(6)),
    ("person2", _date(1)),
    ("person2", _date(2)),
    ("person2", _date(3)),
    ("person2", _date(6)),
]
DAY_RANGE = ["--period", "day", "--since", "2020-06-10", "--until", "2020-06-20"]
RECURRING = ["--mode", "recurring"]

# The tests' default events, as test_day_interval creates them; the other tests that create
# the very same events (with_properties, all_events_with_minimum_occurrences, all_events) read
# this case's, as those with emails share r08's and the rolling ones r11's: the store holds
# each set of events once.
EVENTS_R01 = CASES.add("r01", created(PV, *DEFAULT_EVENTS, alias=ALIAS1))


def test_day_interval(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_day_interval (PostHog commit
    3c29d63a): daily recurring retention over 11 days; alias1 is person1."""
    e = EVENTS_R01
    args = [*DAY_RANGE, *RECURRING, "--start", e(PV), "--return", e(PV)]
    doc = engine("retention", args, as_of="2020-06-21")
    assert doc["cohorts"][0]["start"] == "2020-06-10"
    assert triangle(doc, 11) == cut([
        [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0],
        [2, 2, 1, 0, 1, 2, 0, 0, 0, 0],
        [2, 1, 0, 1, 2, 0, 0, 0, 0],
        [1, 0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [2, 0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0],
        [0, 0],
        [0],
    ])  # fmt: skip


EVENTS_R02 = CASES.add("r02", created(
    PV,
    ("person1", _date(day=0, month=-5)),
    ("person2", _date(day=0, month=-5)),
    ("person1", _date(day=0, month=-4)),
    ("person2", _date(day=0, month=-4)),
    ("person1", _date(day=0, month=-3)),
    ("person2", _date(day=0, month=-3)),
    ("person1", _date(day=0, month=-1)),
    ("person1", _date(day=0, month=0)),
    ("person2", _date(day=0, month=0)),
    ("person2", _date(day=0, month=1)),
    ("person1", _date(day=0, month=3)),
    ("person2", _date(day=0, month=5)),
))  # fmt: skip


def test_month_interval(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_month_interval (PostHog commit
    3c29d63a): monthly recurring retention, January to November 2020."""
    e = EVENTS_R02
    args = ["--period", "month", "--since", "2020-01-01", "--until", "2020-11-25", *RECURRING,
            "--start", e(PV), "--return", e(PV)]  # fmt: skip
    doc = engine("retention", args, as_of="2020-12-01")
    assert [c["start"] for c in doc["cohorts"]] == [f"2020-{m:02d}-01" for m in range(1, 12)]
    assert triangle(doc, 11) == cut([
        [2, 2, 2, 0, 1, 2, 1, 0, 1, 0, 1],
        [2, 2, 0, 1, 2, 1, 0, 1, 0, 1],
        [2, 0, 1, 2, 1, 0, 1, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 1, 0, 0],
        [2, 1, 0, 1, 0, 1],
        [1, 0, 0, 0, 1],
        [0, 0, 0, 0],
        [1, 0, 0],
        [0, 0],
        [1],
    ])  # fmt: skip


EVENTS_R03 = CASES.add("r03", created(
    PV,
    ("person1", _date(0)),
    ("person2", _date(0)),
    ("person1", _date(1)),
    ("person2", _date(1)),
    ("person1", _date(7)),
    ("person2", _date(7)),
    ("person1", _date(14)),
    ("person1", _date(month=1, day=-6)),
    ("person2", _date(month=1, day=-6)),
    ("person2", _date(month=1, day=1)),
    ("person1", _date(month=1, day=1)),
    ("person2", _date(month=1, day=15)),
    alias=ALIAS1,
))  # fmt: skip


def test_week_interval(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_week_interval (PostHog commit
    3c29d63a), its half with the project's weeks starting on Monday (usertrack's weeks): seven
    weeks from 2020-06-08; the last week's event on 07-25 is after the range's end (07-20)
    but inside its week."""
    e = EVENTS_R03
    args = ["--period", "week", "--since", "2020-06-08", "--until", "2020-07-20", *RECURRING,
            "--start", e(PV), "--return", e(PV)]  # fmt: skip
    doc = engine("retention", args, as_of="2020-07-27")
    assert [c["start"] for c in doc["cohorts"]] == [
        "2020-06-08", "2020-06-15", "2020-06-22", "2020-06-29", "2020-07-06", "2020-07-13",
        "2020-07-20",
    ]  # fmt: skip
    assert triangle(doc, 7) == cut([
        [2, 2, 1, 2, 2, 0, 1],
        [2, 1, 2, 2, 0, 1],
        [1, 1, 1, 0, 0],
        [2, 2, 0, 1],
        [2, 0, 1],
        [0, 0],
        [1],
    ])  # fmt: skip


EVENTS_R04 = CASES.add("r04", [
    *created("event1", ("person1", _date(0)), ("person1", _date(1)), ("person1", _date(2))),
    *created("event2", ("person1", _date(2)), ("person1", _date(3))),
])  # fmt: skip


def test_all_events_target_first_time(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_all_events_target_first_time
    (PostHog commit 3c29d63a): first-time retention of event2, returning by event2 or by any
    event: the same answer, one person in the last cohort."""
    e = EVENTS_R04
    base = ["--period", "day", "--since", "2020-06-09", "--until", "2020-06-12",
            "--mode", "first-time", "--start", e("event2")]  # fmt: skip
    expected = cut([[0, 0, 0, 0], [0, 0, 0], [0, 0], [1]])
    specific = engine("retention", [*base, "--return", e("event2")], as_of="2020-06-13")
    assert triangle(specific, 4) == expected
    any_event = engine("retention", base, as_of="2020-06-13")
    assert triangle(any_event, 4) == expected


SOME = "$some_event"
MULTIPLE = [
    *created(SOME, ("person1", _date(0)), ("person1", _date(1)), ("person1", _date(2)),
             ("person1", _date(3)), ("person2", _date(0)), ("person2", _date(1)),
             ("person2", _date(2)), ("person2", _date(3)), ("person3", _date(5))),
    *created(PV, ("person1", _date(5)), ("person1", _date(6)), ("person2", _date(5))),
]  # fmt: skip
EVENTS_R05 = CASES.add("r05", MULTIPLE)
DAY_7 = ["--period", "day", "--since", "2020-06-10", "--until", "2020-06-16"]


def test_retention_multiple_events(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_multiple_events (PostHog
    commit 3c29d63a): cohorts by `$some_event`, returns by `$pageview`."""
    e = EVENTS_R05
    args = [*DAY_7, *RECURRING, "--start", e(SOME), "--return", e(PV)]
    assert triangle(engine("retention", args, as_of="2020-06-17"), 7) == cut([
        [2, 0, 0, 0, 0, 2, 1],
        [2, 0, 0, 0, 2, 1],
        [2, 0, 0, 2, 1],
        [2, 0, 2, 1],
        [0, 0, 0],
        [1, 0],
        [0],
    ])  # fmt: skip


EVENTS_R06 = CASES.add("r06", [
    *[Ev(p, "sign up", _date(d)) for p in ("person1", "person2") for d in range(4)],
    *created(SOME, ("person1", _date(3)), ("person2", _date(5))),
])  # fmt: skip


def test_retention_event_action(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_event_action (PostHog
    commit 3c29d63a): cohorts by the action `sign up` (its event), returns by `$some_event`."""
    e = EVENTS_R06
    args = [*DAY_7, *RECURRING, "--start", e("sign up"), "--return", e(SOME)]
    doc = engine("retention", args, as_of="2020-06-17")
    assert doc["cohorts"][0]["start"] == "2020-06-10"
    assert triangle(doc, 7) == cut([
        [2, 0, 0, 1, 0, 1, 0],
        [2, 0, 1, 0, 1, 0],
        [2, 1, 0, 1, 0],
        [2, 0, 1, 0],
        [0, 0, 0],
        [0, 0],
        [0],
    ])  # fmt: skip


def test_retention_with_properties(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_with_properties (PostHog
    commit 3c29d63a): the insight's property filter `$some_property = value` (every other
    event has it) is `--where`, on start and return events alike."""
    e = EVENTS_R01
    args = [*DAY_RANGE, *RECURRING, "--start", e(PV), "--return", e(PV),
            "--where", "properties.$some_property = 'value'"]  # fmt: skip
    assert triangle(engine("retention", args, as_of="2020-06-21"), 11) == cut([
        [1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 1, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0],
        [0, 0],
        [0],
    ])  # fmt: skip


def with_emails(events: list[Ev]) -> list[Ev]:
    """The events, each person with the email of the tests' `_create_person`."""
    return [dataclasses.replace(e, email=f"{e.person}@test.com") for e in events]


PERSON1_ONLY = cut([
    [1, 1, 1, 0, 0, 1, 1],
    [1, 1, 0, 0, 1, 1],
    [1, 0, 0, 1, 1],
    [0, 0, 0, 0],
    [0, 0, 0],
    [1, 1],
    [1],
])  # fmt: skip
EVENTS_R08 = CASES.add("r08", with_emails(created(PV, *DEFAULT_EVENTS, alias=ALIAS1)))


def test_retention_with_user_properties(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_with_user_properties
    (PostHog commit 3c29d63a): the person property filter `email = person1@test.com` is
    `--where` on `person.properties.email`; seven days, the last 2020-06-16."""
    e = EVENTS_R08
    args = [*DAY_7, *RECURRING, "--start", e(PV), "--return", e(PV),
            "--where", "person.properties.email = 'person1@test.com'"]  # fmt: skip
    assert triangle(engine("retention", args, as_of="2020-06-17"), 7) == PERSON1_ONLY


def test_retention_with_user_properties_via_action(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_with_user_properties_via_
    action (PostHog commit 3c29d63a): cohorts by the action of person1's pageviews (by email),
    returns by any pageview; as only person1 is in a cohort, `--where` on the email gives
    the same cells."""
    e = EVENTS_R08
    args = [*DAY_7, *RECURRING, "--start", e(PV), "--return", e(PV),
            "--where", "person.properties.email = 'person1@test.com'"]  # fmt: skip
    assert triangle(engine("retention", args, as_of="2020-06-17"), 7) == PERSON1_ONLY


EVENTS_R10 = CASES.add("r10", created("sign up", *DEFAULT_EVENTS, alias=ALIAS1))


def test_retention_action_start_point(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_action_start_point
    (PostHog commit 3c29d63a): cohorts and returns by the action `sign up` (its event)."""
    e = EVENTS_R10
    args = [*DAY_7, *RECURRING, "--start", e("sign up"), "--return", e("sign up")]
    assert triangle(engine("retention", args, as_of="2020-06-17"), 7) == cut([
        [1, 1, 1, 0, 0, 1, 1],
        [2, 2, 1, 0, 1, 2],
        [2, 1, 0, 1, 2],
        [1, 0, 0, 1],
        [0, 0, 0],
        [1, 1],
        [2],
    ])  # fmt: skip


def persons_of(engine: Engine, args: list[str], cell: str, *, as_of: str) -> list[str]:
    """The persons `--persons CELL` lists for the same retention, by their person_id in the
    case (its prefix taken off)."""
    doc = engine("retention", [*args, "--persons", cell], as_of=as_of)
    assert doc["count"] == len(doc["persons"])
    return sorted(str(p["person_id"]).split("-", 1)[1] for p in doc["persons"])


# test_rolling_retention and the tests after it create every event as `$pageview` and ask for
# "All events" as the start and the return event: here `$pageview`, their only event.
ROLLING = [
    ("person1", _date(0)),
    ("person1", _date(3)),
    ("person1", _date(4)),
    ("person2", _date(0)),
    ("person2", _date(1)),
    ("person3", _date(1)),
    ("person3", _date(2)),
    ("person3", _date(3)),
    ("person4", _date(3)),
    ("person4", _date(4)),
    ("person5", _date(4)),
]
EVENTS_R11 = CASES.add("r11", created(PV, *ROLLING))
FIVE_DAYS = ["--period", "day", "--since", "2020-06-11", "--until", "2020-06-15"]


def test_rolling_retention(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_rolling_retention (PostHog commit
    3c29d63a): `cumulative` over five days to 2020-06-15 (`_date(0)` is before the range): a
    person counts in every period up to the last they came back in; --persons lists the
    persons each cell counts."""
    e = EVENTS_R11
    args = [*FIVE_DAYS, *RECURRING, "--start", e(PV), "--return", e(PV), "--cumulative"]
    doc = engine("retention", args, as_of="2020-06-16")
    assert doc["cumulative"] is True
    assert triangle(doc, 5) == cut([[2, 1, 1, 0, 0], [1, 1, 0, 0], [3, 2, 0], [3, 0], [0]])
    assert persons_of(engine, args, "2020-06-11:day2", as_of="2020-06-16") == ["person3"]
    assert persons_of(engine, args, "2020-06-13:day1", as_of="2020-06-16") == [
        "person1", "person4",
    ]  # fmt: skip


def test_rolling_retention_doesnt_double_count_same_user(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_rolling_retention_doesnt_double_count_
    same_user (PostHog commit 3c29d63a): six days to 2020-06-15; in the cohort of 06-10, person1
    (back on 06-13 and 06-14) counts once a period, and person2 (back on 06-11) in day 1 only.
    Without --cumulative, day 2 of that cohort has nobody back."""
    e = EVENTS_R11
    base = ["--period", "day", "--since", "2020-06-10", "--until", "2020-06-15", *RECURRING,
            "--start", e(PV), "--return", e(PV)]  # fmt: skip
    args = [*base, "--cumulative"]
    doc = engine("retention", args, as_of="2020-06-16")
    assert triangle(doc, 6) == cut([
        [2, 2, 1, 1, 1, 0],
        [2, 1, 1, 0, 0],
        [1, 1, 0, 0],
        [3, 2, 0],
        [3, 0],
        [0],
    ])  # fmt: skip
    assert persons_of(engine, args, "2020-06-10:day1", as_of="2020-06-16") == [
        "person1", "person2",
    ]  # fmt: skip
    plain = engine("retention", base, as_of="2020-06-16")
    assert plain["cumulative"] is False
    assert triangle(plain, 6)[0] == [2, 1, 0, 1, 1, 0]


EVENTS_R13 = CASES.add("r13", created(
    PV,
    ("person1", _date(0)),
    ("person1", _date(3)),
    *[("person1", _date(4))] * 3,
    ("person2", _date(0)),
    ("person2", _date(1)),
    ("person3", _date(1)),
    ("person3", _date(2)),
    *[("person3", _date(3))] * 3,
    ("person4", _date(3)),
    ("person4", _date(4)),
    ("person5", _date(4)),
))  # fmt: skip


def test_rolling_retention_with_minimum_occurrences(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_rolling_retention_with_minimum_
    occurrences (PostHog commit 3c29d63a): `cumulative` with `minimumOccurrences` 3: person1 did
    three events on 06-14 and person3 three on 06-13, every other day once. The cohort of 06-13
    (person1, person3, person4) keeps only person1 on day 1."""
    e = EVENTS_R13
    args = [*FIVE_DAYS, *RECURRING, "--start", e(PV), "--return", e(PV), "--cumulative",
            "--min-occurrences", "3"]  # fmt: skip
    doc = engine("retention", args, as_of="2020-06-16")
    assert doc["min_occurrences"] == 3
    assert triangle(doc, 5) == cut([[2, 1, 1, 0, 0], [1, 1, 0, 0], [3, 1, 0], [3, 0], [0]])
    assert persons_of(engine, args, "2020-06-13:day1", as_of="2020-06-16") == ["person1"]
    assert persons_of(engine, args, "2020-06-11:day1", as_of="2020-06-16") == ["person3"]


def test_all_events_with_minimum_occurrences(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_all_events_with_minimum_occurrences
    (PostHog commit 3c29d63a): `minimumOccurrences` 2 over eleven days: only person1's 06-15,
    with two events (one as alias1), is a return; every cohort's size is as without it."""
    e = EVENTS_R01
    args = [*DAY_RANGE, *RECURRING, "--start", e(PV), "--return", e(PV),
            "--min-occurrences", "2"]  # fmt: skip
    doc = engine("retention", args, as_of="2020-06-21")
    assert triangle(doc, 11) == cut([
        [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        [2, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        [2, 0, 0, 1, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0],
        [2, 0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0],
        [0, 0],
        [0],
    ])  # fmt: skip
    assert persons_of(engine, args, "2020-06-11:day4", as_of="2020-06-21") == ["person1"]
    assert persons_of(engine, args, "2020-06-11:day1", as_of="2020-06-21") == []


# "All events" (`{"type": "events", "id": null}`) is `--start any` (and `--return`'s default):
# any event of the store, so a `--where` keeps the case's own persons.
def only(key: str) -> list[str]:
    return ["--where", f"person_id LIKE '{key}-%'"]


def test_all_events(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_all_events (PostHog commit
    3c29d63a), its first query: cohorts by All events, returns by `$pageview`, eleven days to
    2020-06-20."""
    e = EVENTS_R01
    args = [*DAY_RANGE, *RECURRING, "--start", "any", "--return", e(PV), *only("r01")]
    doc = engine("retention", args, as_of="2020-06-21")
    assert doc["start_event"] is None
    assert triangle(doc, 11) == cut([
        [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0],
        [2, 2, 1, 0, 1, 2, 0, 0, 0, 0],
        [2, 1, 0, 1, 2, 0, 0, 0, 0],
        [1, 0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [2, 0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0],
        [0, 0],
        [0],
    ])  # fmt: skip
    assert persons_of(engine, args, "2020-06-11", as_of="2020-06-21") == ["person1", "person2"]


EVENTS_R16 = CASES.add("r16", [
    *created("event1", *ROLLING[:6]),
    *created("event2", *ROLLING[6:]),
])  # fmt: skip


def test_rolling_retention_of_all_events(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_rolling_retention (PostHog commit
    3c29d63a) as asked there, All events both ways: its events split here between two names,
    which any event takes alike."""
    args = [*FIVE_DAYS, *RECURRING, "--start", "any", "--cumulative", *only("r16")]
    doc = engine("retention", args, as_of="2020-06-16")
    assert triangle(doc, 5) == cut([[2, 1, 1, 0, 0], [1, 1, 0, 0], [3, 2, 0], [3, 0], [0]])
    assert persons_of(engine, args, "2020-06-13:day1", as_of="2020-06-16") == [
        "person1", "person4",
    ]  # fmt: skip


COUNTRIES = {"person1": "US", "person2": "UK", "person3": "US", "person4": "Germany"}
EVENTS_R17 = CASES.add("r17", [
    dataclasses.replace(e, person_props={"country": COUNTRIES[e.person]})
    for e in created(PV, ("person1", _date(0)), ("person1", _date(1)), ("person1", _date(3)),
                     ("person3", _date(0)), ("person3", _date(2)),
                     ("person2", _date(0)), ("person2", _date(1)), ("person2", _date(4)),
                     ("person4", _date(0)), ("person4", _date(5)))
])  # fmt: skip


def test_retention_with_breakdown_with_person_properties(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_with_breakdown_with_person_
    properties (PostHog commit 3c29d63a): `breakdownFilter` by the person property `country`
    (type person) is `--by person.properties.country`; six days to 2020-06-15, recurring."""
    e = EVENTS_R17
    args = ["--period", "day", "--since", "2020-06-10", "--until", "2020-06-15", *RECURRING,
            "--start", e(PV), "--return", e(PV), "--by", "person.properties.country"]  # fmt: skip
    doc = engine("retention", args, as_of="2020-06-16")
    assert doc["by"] == "person.properties.country"
    by_value = {b["value"]: b for b in doc["breakdown"]}
    assert set(by_value) == {"Germany", "UK", "US"}
    assert triangle(by_value["US"], 6) == cut([
        [2, 1, 1, 1, 0, 0],
        [1, 0, 1, 0, 0, 0],
        [1, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ])  # fmt: skip
    assert triangle(by_value["UK"], 6) == cut([
        [1, 1, 0, 0, 1, 0],
        [1, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ])  # fmt: skip
    assert triangle(by_value["Germany"], 6) == cut([
        [1, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0],
    ])  # fmt: skip


TARGET = {"$target_event_property": "value"}


def _marked(*at: int) -> list[tuple[str, datetime] | tuple[str, datetime, dict[str, str]]]:
    """The tests' ten default events, those at the indexes `at` with `$target_event_property:
    value`."""
    return [
        (d, when, TARGET) if i in at else (d, when) for i, (d, when) in enumerate(DEFAULT_EVENTS)
    ]


EVENTS_R18 = CASES.add("r18", created(PV, *_marked(0), alias=ALIAS1))
EVENTS_R19 = CASES.add("r19", created(PV, *_marked(2, 3), alias=ALIAS1))
EVENTS_R20 = CASES.add("r20", created(PV, *_marked(1), alias=ALIAS1))
EVENTS_R21 = CASES.add("r21", created(PV, *_marked(3), alias=ALIAS1))
NARROWED = f"{PV}:$target_event_property=value"


def test_retention_with_properties_on_start_event(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_with_properties_on_start_
    event (PostHog commit 3c29d63a): targetEntity `$pageview` with the event property
    `$target_event_property = value` is `--start EVENT:PROPERTY=VALUE`; recurring, eleven days."""
    e = EVENTS_R18
    args = [*DAY_RANGE, *RECURRING, "--start", e(NARROWED), "--return", e(PV)]
    doc = engine("retention", args, as_of="2020-06-21")
    assert doc["start_event"] == e(PV)
    assert doc["start_where"] == {"property": "$target_event_property", "value": "value"}
    assert triangle(doc, 11) == cut([
        [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0],
        *[[0] * n for n in range(10, 0, -1)],
    ])  # fmt: skip


def test_retention_with_properties_on_start_event_for_first_time(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_with_properties_on_start_
    event_for_first_time (PostHog commit 3c29d63a): first-time, the first start event that
    has the property (PostHog's first occurrence matching filters): person1's on day 2."""
    e = EVENTS_R19
    args = [*DAY_RANGE, "--mode", "first-time", "--start", e(NARROWED), "--return", e(PV)]
    doc = engine("retention", args, as_of="2020-06-21")
    assert triangle(doc, 11) == cut([
        [0] * 11,
        [0] * 10,
        [1, 0, 0, 1, 1, 0, 0, 0, 0],
        *[[0] * n for n in range(8, 0, -1)],
    ])  # fmt: skip


def test_retention_with_properties_on_return_event(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_with_properties_on_return_
    event (PostHog commit 3c29d63a): returningEntity with the property is `--return
    EVENT:PROPERTY=VALUE`: only person1's day-1 event is a return."""
    e = EVENTS_R20
    args = [*DAY_RANGE, *RECURRING, "--start", e(PV), "--return", e(NARROWED)]
    doc = engine("retention", args, as_of="2020-06-21")
    assert doc["return_where"] == {"property": "$target_event_property", "value": "value"}
    assert triangle(doc, 11) == cut([
        [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [2, 0, 0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0],
        [2, 0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0],
        [0, 0],
        [0],
    ])  # fmt: skip


def test_retention_with_properties_on_return_event_with_first_time(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_retention_with_properties_on_return_
    event_with_first_time (PostHog commit 3c29d63a): first-time, returns only by person1's
    day-5 event with the property."""
    e = EVENTS_R21
    args = [*DAY_RANGE, "--mode", "first-time", "--start", e(PV), "--return", e(NARROWED)]
    doc = engine("retention", args, as_of="2020-06-21")
    assert triangle(doc, 11) == cut([
        [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        *[[0] * n for n in range(9, 0, -1)],
    ])  # fmt: skip


def test_interval_rounding(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_interval_rounding (PostHog commit
    3c29d63a): weekly retention in a project whose week start was never set, so weeks start
    on Sunday (`--week-start sunday`): seven weeks from 2020-06-07 to the week holding the
    range's end, 2020-07-24, whose last week takes the event of 07-25."""
    e = EVENTS_R03
    args = ["--period", "week", "--week-start", "sunday", "--since", "2020-06-07",
            "--until", "2020-07-24", *RECURRING, "--start", e(PV), "--return", e(PV)]  # fmt: skip
    doc = engine("retention", args, as_of="2020-07-26")
    assert doc["week_start"] == "sunday"
    assert [c["start"] for c in doc["cohorts"]] == [
        "2020-06-07", "2020-06-14", "2020-06-21", "2020-06-28", "2020-07-05", "2020-07-12",
        "2020-07-19",
    ]  # fmt: skip
    assert triangle(doc, 7) == cut([
        [2, 2, 1, 2, 2, 0, 1],
        [2, 1, 2, 2, 0, 1],
        [1, 1, 1, 0, 0],
        [2, 2, 0, 1],
        [2, 0, 1],
        [0, 0],
        [1],
    ])  # fmt: skip


EVENTS_R22 = CASES.add("r22", created(PV, *[
    (person, _date(0, hour))
    for person, hour in (
        ("person1", 6), ("person2", 6), ("person1", 7), ("person2", 7), ("person1", 8),
        ("person2", 8), ("person1", 10), ("person1", 11), ("person2", 11), ("person2", 12),
        ("person1", 14), ("person2", 16),
    )
], alias=ALIAS1))  # fmt: skip


def test_hour_interval(engine: Engine) -> None:
    """test_retention_query_runner.py, TestRetention.test_hour_interval (PostHog commit
    3c29d63a): `period: "Hour"`, `totalIntervals` 11 and `date_to` 2020-06-10 16:13: eleven
    hour cohorts from 06:00 (toStartOfHour) to 16:00, the hour holding the range's end."""
    e = EVENTS_R22
    args = ["--period", "hour", "--periods", "11", *RECURRING, "--start", e(PV),
            "--return", e(PV)]  # fmt: skip
    doc = engine("retention", args, as_of="2020-06-10T16:13:00")
    assert [c["start"] for c in doc["cohorts"]] == [
        f"2020-06-10T{h:02d}:00:00Z" for h in range(6, 17)
    ]
    assert triangle(doc, 11) == cut([
        [2, 2, 2, 0, 1, 2, 1, 0, 1, 0, 1],
        [2, 2, 0, 1, 2, 1, 0, 1, 0, 1],
        [2, 0, 1, 2, 1, 0, 1, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 1, 0, 0],
        [2, 1, 0, 1, 0, 1],
        [1, 0, 0, 0, 1],
        [0, 0, 0, 0],
        [1, 0, 0],
        [0, 0],
        [1],
    ])  # fmt: skip
