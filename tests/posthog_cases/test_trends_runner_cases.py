"""Cases of PostHog's trends query runner tests,
posthog/hogql_queries/insights/trends/test/test_trends_query_runner.py (TestTrendsQueryRunner)
at commit 00e8a1090f9d090dade32c3be68f079320ca6e9c of PostHog/posthog, on both engines: its
formulas (`TrendsFilter(formula=...)`, applied by trends_query_runner.py's `apply_formula`);
and, at commit 8b78c8545de6ec876e60b6f109350330022b097c, its histogram breakdown
(`BreakdownFilter(breakdown_histogram_bin_count=...)`, trends_query_builder.py's
`_inner_breakdown_subquery`).

The tests' `_create_test_events` (persons p1 to p4, each with `$pageview` and `$pageleave` at
noon of the listed days, and the person's `$browser` and `prop` on every event) is rebuilt
below. A PostHog date range of plain days (`2020-01-09` to `2020-01-19`) is those whole days:
`--since 2020-01-09 --until 2020-01-19`.
"""

from __future__ import annotations

from typing import Any

from tests.posthog_cases.cases import Cases, Engine, Ev, Names, engines, utc

CASES = Cases()
engine = engines(CASES, "trends-runner")

PEOPLE = {
    "p1": ({"$browser": "Chrome", "prop": 10},
           {"$pageview": [11, 12, 13, 15, 17, 19], "$pageleave": [11, 12, 13]}),
    "p2": ({"$browser": "Firefox", "prop": 20}, {"$pageview": [9, 12], "$pageleave": [13]}),
    "p3": ({"$browser": "Edge", "prop": 30}, {"$pageview": [12], "$pageleave": [13]}),
    "p4": ({"$browser": "Safari", "prop": 40}, {"$pageview": [15], "$pageleave": [16]}),
}  # fmt: skip


def create_test_events() -> list[Ev]:
    """The tests' `_create_test_events`: each listed January 2020 day's event at 12:00 UTC."""
    return [
        Ev(person, event, utc(2020, 1, day, 12), dict(props))
        for person, (props, events) in PEOPLE.items()
        for event, days in events.items()
        for day in days
    ]


RANGE = ["--since", "2020-01-09", "--until", "2020-01-19"]
AS_OF = "2020-01-20"


def formula_series(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer's series: with a formula, only the formula's (as PostHog answers)."""
    return list(doc["series"])


EVENTS_R01 = CASES.add("r01", create_test_events())


def pageview_pageleave(e: Names) -> list[str]:
    return [e("$pageview"), e("$pageleave")]


def test_trends_query_formula(engine: Engine) -> None:
    """test_trends_query_runner.py, TestTrendsQueryRunner.test_trends_query_formula (PostHog
    commit 00e8a109): A+B over `$pageview` and `$pageleave` is one series, "Formula (A+B)",
    counting 16."""
    e = EVENTS_R01
    doc = engine("trends", [*pageview_pageleave(e), *RANGE, "--formula", "A+B"], as_of=AS_OF)
    (series,) = formula_series(doc)
    assert series["event"] == "Formula (A+B)"
    assert series["total"] == 16
    assert series["data"] == [1, 0, 2, 4, 4, 0, 2, 1, 1, 0, 1]


EVENTS_R02 = CASES.add("r02", create_test_events())


def test_trends_query_formula_divided(engine: Engine) -> None:
    """test_trends_query_runner.py, TestTrendsQueryRunner.test_trends_query_multiple_series
    (PostHog commit 00e8a109) asserts `$pageview` per day [1, 0, 1, 3, 1, 0, 2, 0, 1, 0, 1]
    and `$pageleave` [0, 0, 1, 1, 3, 0, 0, 1, 0, 0, 0]; A/B over them, point by point, with
    a division by zero as 0 (formula_ast.py, `FormulaAST._evaluate`; its test
    test_formula_ast.py, TestFormulaAST.test_division_zero, at commit 1e47b98a)."""
    e = EVENTS_R02
    doc = engine("trends", [*pageview_pageleave(e), *RANGE, "--formula", "a / b"], as_of=AS_OF)
    (series,) = formula_series(doc)
    assert series["event"] == "Formula (a / b)"
    assert series["data"] == [0, 0, 1, 3, 0.3333, 0, 0, 0, 0, 0, 0]


EVENTS_R03 = CASES.add("r03", create_test_events())


def test_trends_query_formula_with_compare(engine: Engine) -> None:
    """test_trends_query_runner.py, TestTrendsQueryRunner.test_trends_query_formula_with_compare
    (PostHog commit 00e8a109): A+B from 2020-01-15 to 2020-01-19 counts 5, and 10 over the
    period before (2020-01-10 to 2020-01-14); each period is one "Formula (A+B)" series."""
    e = EVENTS_R03
    args = [*pageview_pageleave(e), "--since", "2020-01-15", "--until", "2020-01-19",
            "--formula", "A+B", "--compare"]  # fmt: skip
    doc = engine("trends", args, as_of=AS_OF)
    (series,) = formula_series(doc)
    (previous,) = doc["previous"]["series"]
    assert series["event"] == previous["event"] == "Formula (A+B)"
    assert series["total"] == 5
    assert previous["total"] == 10
    assert series["previous_total"] == 10
    assert [p[:10] for p in doc["previous"]["points"]] == [
        "2020-01-10", "2020-01-11", "2020-01-12", "2020-01-13", "2020-01-14"]  # fmt: skip


EVENTS_R04 = CASES.add("r04", create_test_events())


def test_trends_query_formula_own_math(engine: Engine) -> None:
    """A formula over one event counted two ways, each series with its own math as PostHog's
    series carry (`EventsNode(event=..., math=BaseMathType.DAU)`): `$pageview` per day over its
    unique persons. The pageviews of test_trends_query_multiple_series (PostHog commit
    00e8a109) by day, [1, 0, 1, 3, 1, 0, 2, 0, 1, 0, 1], are each one person's but on
    2020-01-12 (p1, p2 and p3) and 2020-01-15 (p1 and p4): A/B is 1 on every day with a
    pageview and 0 (PostHog's division by zero) on the others."""
    e = EVENTS_R04
    args = [e("$pageview"), e("$pageview") + "@dau", *RANGE, "--formula", "A/B"]
    doc = engine("trends", args, as_of=AS_OF)
    (series,) = formula_series(doc)
    assert series["data"] == [1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1]
    assert doc["maths"] == ["total", "dau"]


EVENTS_R05 = CASES.add("r05", create_test_events())


def test_trends_query_formula_breakdown(engine: Engine) -> None:
    """A+B by `$browser` (PostHog's `apply_formula` with a breakdown: one formula series per
    value, a series without the value counting 0 there): each browser's pageviews and
    pageleaves over the range of test_trends_query_formula (PostHog commit 00e8a109), Chrome
    (p1) 6 + 3, Firefox (p2) 2 + 1, Edge (p3) 1 + 1, Safari (p4) 1 + 1, ranked by the sum,
    then by the points as lists, largest first: Edge's (01-12, 01-13) before Safari's
    (01-15, 01-16)."""
    e = EVENTS_R05
    args = [*pageview_pageleave(e), *RANGE, "--formula", "A+B", "--by", "$browser"]
    doc = engine("trends", args, as_of=AS_OF)
    totals = [(s["breakdown"], s["total"]) for s in formula_series(doc)]
    assert totals == [("Chrome", 9), ("Firefox", 3), ("Edge", 2), ("Safari", 2)]


EVENTS_R06 = CASES.add("r06", create_test_events())


def test_trends_breakdowns_histogram(engine: Engine) -> None:
    """test_trends_query_runner.py, TestTrendsQueryRunner.test_trends_breakdowns_histogram
    (PostHog commit 8b78c854): `$pageview` from 2020-01-09 to 2020-01-20 broken down by `prop`
    with `breakdown_histogram_bin_count=4` is four buckets between prop's 10 and 40, labelled
    "[10,17.5]", "[17.5,25]", "[25,32.5]" and "[32.5,40.01]", with PostHog's data per day.
    usertrack lists them in bucket order (PostHog by count, the same order here)."""
    e = EVENTS_R06
    args = [e("$pageview"), "--since", "2020-01-09", "--until", "2020-01-20",
            "--by", "prop", "--histogram-bins", "4"]  # fmt: skip
    doc = engine("trends", args, as_of="2020-01-21")
    assert doc["histogram_bins"] == 4
    assert [s["breakdown"] for s in doc["series"]] == [
        "[10,17.5]", "[17.5,25]", "[25,32.5]", "[32.5,40.01]"]  # fmt: skip
    assert [s["data"] for s in doc["series"]] == [
        [0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 0],
        [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
    ]
