"""Cases of PostHog's paths tests, posthog/hogql_queries/insights/test/
test_paths_query_runner_ee.py (BaseTestClickhousePaths) at commit
2506df87718170757426e5b47fabcdd32c06d555 of PostHog/posthog, on both engines.

As in test_paths_cases.py, a pageview's `$current_url` is also its `$pathname` here, and each
case has a store of its own. PostHog's `stepLimit` is `--steps`. usertrack's edges carry no
conversion times, so the cases compare the edges and their counts.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, utc


def page(path: str) -> dict[str, str]:
    return {"$current_url": path, "$pathname": path}


def edges(doc: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The edges as PostHog keys them: (source, target, value)."""
    return [
        (f"{e['step']}_{e['source']}", f"{e['step'] + 1}_{e['target']}", e["count"])
        for e in doc["edges"]
    ]


def pages(person: str, *visits: tuple[str, int, int]) -> list[Ev]:
    """A person's pageviews of 2012-01-01, each (path, hour, minute) at 34 seconds past."""
    return [Ev(person, "$pageview", utc(2012, 1, 1, h, m, 34), page(p)) for p, h, m in visits]


CASES_E01 = Cases()
CASES_E01.add("e01", pages("fake", ("/1", 3, 21), ("/2", 3, 22), ("/3", 3, 24), ("/4", 3, 27)),
              prefix_events=False)  # fmt: skip
engine_e01 = engines(CASES_E01, "paths-e01")

STEP_LIMITS = {
    2: [("1_/1", "2_/2", 1)],
    3: [("1_/1", "2_/2", 1), ("2_/2", "3_/3", 1)],
    4: [("1_/1", "2_/2", 1), ("2_/2", "3_/3", 1), ("3_/3", "4_/4", 1)],
}


@pytest.mark.parametrize("steps", sorted(STEP_LIMITS))
def test_step_limit(engine_e01: Engine, steps: int) -> None:
    """test_paths_query_runner_ee.py, BaseTestClickhousePaths.test_step_limit (PostHog commit
    2506df87): four pages; with a step limit of 2, 3 and 4 the first 1, 2 and 3 edges. The last
    7 days at 2012-01-07 03:21:34."""
    frozen = "2012-01-07T03:21:34"
    args = ["--steps", str(steps), "--since", "2011-12-31", "--until", frozen]
    assert edges(engine_e01("paths", args, as_of=frozen)) == STEP_LIMITS[steps]


CASES_E02 = Cases()
CASES_E02.add("e02", [
    *pages("fake", ("/1", 3, 21), ("/2", 3, 22), ("/3", 3, 24), ("/4", 3, 27)),
    *pages("fake2", ("/1", 3, 21), ("/2", 3, 23), ("/3", 3, 27)),
], prefix_events=False)  # fmt: skip
engine_e02 = engines(CASES_E02, "paths-e02")


def test_step_conversion_times(engine_e02: Engine) -> None:
    """test_paths_query_runner_ee.py, BaseTestClickhousePaths.test_step_conversion_times
    (PostHog commit 2506df87): two persons on /1, /2, /3, one on to /4, four steps, from
    2012-01-01."""
    args = ["--steps", "4", "--since", "2012-01-01", "--until", "2012-01-01"]
    assert edges(engine_e02("paths", args, as_of="2012-01-02")) == [
        ("1_/1", "2_/2", 2),
        ("2_/2", "3_/3", 2),
        ("3_/3", "4_/4", 1),
    ]


CASES_E03 = Cases()
CASES_E03.add("e03", [
    ev
    for i in range(50)
    for ev in [
        Ev(f"user_{i}", "step one", utc(2021, 5, 1)),
        Ev(f"user_{i}", "step two", utc(2021, 5, 1, 0, 1)),
        Ev(f"user_{i}", "step three", utc(2021, 5, 1, 0, 2)),
        *([Ev(f"user_{i}", "step branch", utc(2021, 5, 1, 0, 3))] if i % 2 == 0 else []),
    ]
], prefix_events=False)  # fmt: skip
engine_e03 = engines(CASES_E03, "paths-e03")


def test_event_ordering(engine_e03: Engine) -> None:
    """test_paths_query_runner_ee.py, BaseTestClickhousePaths.test_event_ordering (PostHog
    commit 2506df87): fifty persons' custom events, every other one branching at the end; from
    2021-05-01 to 2021-05-03."""
    args = ["--since", "2021-05-01", "--until", "2021-05-03"]
    assert edges(engine_e03("paths", args, as_of="2021-05-04")) == [
        ("1_step one", "2_step two", 50),
        ("2_step two", "3_step three", 50),
        ("3_step three", "4_step branch", 25),
    ]
