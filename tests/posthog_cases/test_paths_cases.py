"""Cases of PostHog's paths tests, posthog/hogql_queries/insights/test/test_paths_query_runner.py
(TestPaths) at commit d96a6558d9c6ac7eec551547b3f16a8a94e5c8d3 of PostHog/posthog, on both
engines.

PostHog's default paths are the `$pageview`s by `$current_url`; usertrack's are `$pageview`s
by `$pathname` and custom events by name: each pageview here carries the page as both. Paths
read every event of the range, so each case has a store of its own (its `engine_*` fixture).
PostHog's positional edges `1_/` → `2_/pricing` are usertrack's JSON edges, with `step` the
source's place.
"""

from __future__ import annotations

from typing import Any

from tests.posthog_cases.cases import Cases, Engine, Ev, engines, sequence, utc


def page(path: str, **more: str) -> dict[str, str]:
    return {"$current_url": path, "$pathname": path, **more}


def edges(doc: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The edges as PostHog keys them: (source, target, value)."""
    return [
        (f"{e['step']}_{e['source']}", f"{e['step'] + 1}_{e['target']}", e["count"])
        for e in doc["edges"]
    ]


AT = utc(2012, 1, 14, 3, 21, 34)
LATER = utc(2012, 1, 14, 3, 28, 34)
CASES_P01 = Cases()
CASES_P01.add("p01", [
    Ev("fake", "$pageview", utc(2012, 1, 1, 3, 21, 34), page("/")),
    Ev("fake", "$pageview", utc(2012, 1, 1, 3, 21, 34), page("/about")),
    Ev("person_1", "$pageview", AT, page("/")),
    Ev("person_1", "$pageview", LATER, page("/about")),
    Ev("person_2a", "$pageview", AT, page("/")),
    Ev("person_2a", "$pageview", LATER, page("/pricing"), "person_2b"),
    Ev("person_2a", "$pageview", utc(2012, 1, 14, 3, 29, 34), page("/about")),
    Ev("person_3", "$pageview", AT, page("/pricing")),
    Ev("person_3", "$pageview", LATER, page("/")),
    Ev("person_4", "$pageview", AT, page("/")),
    Ev("person_4", "$pageview", LATER, page("/pricing")),
], prefix_events=False)  # fmt: skip
engine_p01 = engines(CASES_P01, "paths-p01")
FROZEN_P01 = "2012-01-15T03:21:34"


def test_current_url_paths_and_logic(engine_p01: Engine) -> None:
    """test_paths_query_runner.py, TestPaths.test_current_url_paths_and_logic (PostHog commit
    d96a6558): the last 7 days at 2012-01-15 03:21:34 (the pageviews of 2012-01-01 are before
    them); person_2a and person_2b are one person. Then the range from 2012-01-08 (the same
    4 edges) and one that ends on 2012-01-08 (none)."""
    last_7_days = ["--since", "2012-01-08", "--until", FROZEN_P01]
    assert edges(engine_p01("paths", last_7_days, as_of=FROZEN_P01)) == [
        ("1_/", "2_/pricing", 2),
        ("1_/", "2_/about", 1),
        ("1_/pricing", "2_/", 1),
        ("2_/pricing", "3_/about", 1),
    ]
    ending_early = ["--since", "2012-01-08", "--until", "2012-01-08"]
    assert edges(engine_p01("paths", ending_early, as_of=FROZEN_P01)) == []


T0 = utc(2024, 3, 1, 11)
AS_OF_NOW = "2024-03-01T12:00:00"
LAST_7_DAYS = ["--since", "2024-02-23T12:00:00", "--until", AS_OF_NOW]
CASES_P02 = Cases()
CASES_P02.add("p02", sequence(
    T0,
    ("person_1", "custom_event_1"),
    ("person_1", "custom_event_3"),
    ("person_1", "$pageview", page("/")),
    ("person_2", "custom_event_1"),
    ("person_2", "custom_event_2"),
    ("person_2", "custom_event_3"),
    ("person_3", "custom_event_2"),
    ("person_3", "custom_event_1"),
    ("person_4", "custom_event_1"),
    ("person_4", "custom_event_2"),
), prefix_events=False)  # fmt: skip
engine_p02 = engines(CASES_P02, "paths-p02")


def test_custom_event_paths(engine_p02: Engine) -> None:
    """test_paths_query_runner.py, TestPaths.test_custom_event_paths (PostHog commit
    d96a6558): paths of custom events only (`includeEventTypes: [custom_event]`), here
    `--where` leaving the pageview out."""
    doc = engine_p02("paths", [*LAST_7_DAYS, "--where", "event != '$pageview'"], as_of=AS_OF_NOW)
    assert edges(doc)[:4] == [
        ("1_custom_event_1", "2_custom_event_2", 2),
        ("1_custom_event_1", "2_custom_event_3", 1),
        ("1_custom_event_2", "2_custom_event_1", 1),
        ("2_custom_event_2", "3_custom_event_3", 1),
    ]


def test_custom_event_paths_by_type(engine_p02: Engine) -> None:
    """test_paths_query_runner.py, TestPaths.test_custom_event_paths (PostHog commit
    d96a6558) as PostHog asks it: `includeEventTypes: [custom_event]` is `--type custom`, which
    leaves the pageview out."""
    doc = engine_p02("paths", [*LAST_7_DAYS, "--type", "custom"], as_of=AS_OF_NOW)
    assert doc["event_types"] == ["custom"]
    assert edges(doc)[:4] == [
        ("1_custom_event_1", "2_custom_event_2", 2),
        ("1_custom_event_1", "2_custom_event_3", 1),
        ("1_custom_event_2", "2_custom_event_1", 1),
        ("2_custom_event_2", "3_custom_event_3", 1),
    ]


def screen(name: str) -> dict[str, str]:
    return {"$screen_name": name}


CASES_P05 = Cases()
CASES_P05.add("p05", sequence(
    T0,
    ("person_1", "$screen", screen("/")),
    ("person_1", "$screen", screen("/about")),
    ("person_2a", "$screen", screen("/"), "person_2b"),
    ("person_2a", "$screen", screen("/pricing")),
    ("person_2a", "$screen", screen("/about"), "person_2b"),
    ("person_3", "$screen", screen("/pricing")),
    ("person_3", "$screen", screen("/")),
    ("person_4", "$screen", screen("/")),
    ("person_4", "$screen", screen("/pricing")),
), prefix_events=False)  # fmt: skip
engine_p05 = engines(CASES_P05, "paths-p05")


def test_screen_paths(engine_p05: Engine) -> None:
    """test_paths_query_runner.py, TestPaths.test_screen_paths (PostHog commit d96a6558):
    `includeEventTypes: ["$screen"]` is `--type screen`, the node each $screen's
    `$screen_name` (paths_query_runner.py, `construct_event_hogql`); person_2a and person_2b
    are one person. Without it, paths keep pageviews and custom events only: none here."""
    doc = engine_p05("paths", [*LAST_7_DAYS, "--type", "screen"], as_of=AS_OF_NOW)
    assert edges(doc) == [
        ("1_/", "2_/pricing", 2),
        ("1_/", "2_/about", 1),
        ("1_/pricing", "2_/", 1),
        ("2_/pricing", "3_/about", 1),
    ]
    assert engine_p05("paths", LAST_7_DAYS, as_of=AS_OF_NOW)["total_sequences"] == 0


CHROME = {"$browser": "Chrome"}
CASES_P03 = Cases()
CASES_P03.add("p03", sequence(
    T0,
    ("person_1", "$pageview", page("/", **CHROME)),
    ("person_1", "$pageview", page("/about", **CHROME)),
    ("person_2", "$pageview", page("/", **CHROME)),
    ("person_2", "$pageview", page("/pricing", **CHROME)),
    ("person_2", "$pageview", page("/about", **CHROME)),
    ("person_3", "$pageview", page("/pricing")),
    ("person_3", "$pageview", page("/")),
    ("person_4", "$pageview", page("/")),
    ("person_4", "$pageview", page("/pricing")),
), prefix_events=False)  # fmt: skip
engine_p03 = engines(CASES_P03, "paths-p03")


def test_paths_properties_filter(engine_p03: Engine) -> None:
    """test_paths_query_runner.py, TestPaths.test_paths_properties_filter (PostHog commit
    d96a6558): the property filter `$browser = Chrome` is `--where`."""
    where = ["--where", "properties.$browser = 'Chrome'"]
    assert edges(engine_p03("paths", [*LAST_7_DAYS, *where], as_of=AS_OF_NOW)) == [
        ("1_/", "2_/about", 1),
        ("1_/", "2_/pricing", 1),
        ("2_/pricing", "3_/about", 1),
    ]


CASES_P04 = Cases()
CASES_P04.add("p04", [
    Ev("person_1", "$pageview", utc(2020, 4, 14, 3, 25, 34), page("/")),
    Ev("person_1", "$pageview", utc(2020, 4, 14, 3, 30, 34), page("/about")),
    Ev("person_1", "$pageview", utc(2020, 4, 15, 3, 25, 34), page("/")),
    Ev("person_1", "$pageview", utc(2020, 4, 15, 3, 30, 34), page("/about")),
], prefix_events=False)  # fmt: skip
engine_p04 = engines(CASES_P04, "paths-p04")


def test_paths_in_window(engine_p04: Engine) -> None:
    """test_paths_query_runner.py, TestPaths.test_paths_in_window (PostHog commit d96a6558):
    one person's two visits a day apart are two sequences: the edge counts 2."""
    doc = engine_p04("paths", ["--since", "2020-04-13", "--until", "2020-04-15"],
                     as_of="2020-04-16")  # fmt: skip
    assert edges(doc)[0] == ("1_/", "2_/about", 2)
