"""Trends on a hand-made events export: the maths, breakdown, cumulative, CLI and live HTTP path.

Every expected figure is worked out here from the events below (docs/metrics.md, "Trends").
The range is --since 2026-06-01 --until 2026-06-03: [06-01 00:00, 06-04 00:00), UTC days
06-01 (a Monday), 06-02 and 06-03.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import (
    assert_usage_error,
    live_posthog,
    record,
    run_json,
    write_export,
)
from tests.cli_runner import run

AS_OF = "2026-06-04T12:00:00"
ARGS = ["--since", "2026-06-01", "--until", "2026-06-03"]


def at(day: int, hour: int = 0) -> datetime:
    return (
        datetime(2026, 6, day, hour, tzinfo=UTC) if day > 0 else datetime(2026, 5, 27, tzinfo=UTC)
    )


PV = "$pageview"
# (event, when, person, browser, load_ms)
EVENTS: list[tuple[str, datetime, str, str | None, Any]] = [
    (PV, at(1, 10), "p1", "Chrome", 100),
    (PV, at(1, 11), "p1", "Chrome", 300),
    (PV, at(3, 9), "p1", "Chrome", 200),
    (PV, at(3, 10), "p1", "Edge", None),
    (PV, at(1, 12), "p2", "Firefox", 50),
    (PV, at(2, 8), "p2", "Safari", "12"),  # a text, even of digits: no number to the maths
    (PV, at(2, 9), "p3", "Safari", 40),
    (PV, at(2, 10), "p3", "Edge", 60),
    (PV, at(2, 11), "p3", "Firefox", None),
    ("signup", at(2, 9), "p3", None, None),
    # p4: 2026-05-27 00:00:00 exactly, before the range: its day 05-27 is inside weekly_active's
    # window of 06-01 (05-26 .. 06-01) and of 06-02 (05-27 .. 06-02), not of 06-03
    (PV, at(0), "p4", "Chrome", None),
    # p5: 06-03 00:00:00 exactly: a 06-03 event, outside the window of 06-02
    (PV, at(3, 0), "p5", "Opera", 10),
    # internal: never counted; after the range's end: never counted
    (PV, at(2, 8), "z", "Chrome", 1000),
    (PV, at(4, 1), "p1", "Chrome", 1000),
]


def _props(browser: str | None, load: Any) -> dict[str, Any]:
    props: dict[str, Any] = {}
    if browser:
        props["$browser"] = browser
        # pages for tests/analytics/test_where.py's paths
        props["$pathname"] = f"/{browser.lower()}"
    if load is not None:
        props["load_ms"] = load
    return props


RECORDS = [
    record(n, e, when, pid, pid, "z@datagen.dev" if pid == "z" else f"{pid}@example.com",
           _props(b, load))
    for n, (e, when, pid, b, load) in enumerate(EVENTS, 1)
]  # fmt: skip


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


cli_json = partial(run_json, "trends", as_of=AS_OF)


def data(doc: dict[str, Any]) -> dict[str, list[Any]]:
    """Each series' points by its label (event, or event/breakdown; 'other' for the rest)."""
    out = {}
    for s in doc["series"]:
        key = s["event"] if "breakdown" not in s else f"{s['event']}/{s['breakdown']}"
        out[key.replace("$$_posthog_breakdown_other_$$", "other")] = s["data"]
    return out


def test_total_and_several_events(export: Path) -> None:
    doc = cli_json([PV, "signup", *ARGS], USERTRACK_EVENTS=str(export))
    assert doc["points"] == ["2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", "2026-06-03T00:00:00Z"]
    # 06-01: p1 twice, p2; 06-02: p2, p3 three times; 06-03: p1 twice, p5 (00:00:00)
    assert data(doc) == {PV: [3, 4, 3], "signup": [0, 1, 0]}
    assert doc["math"] == "total" and doc["cumulative"] is False
    # A range ending at a day's first instant ends with the day before (no point of an instant).
    doc = run_json("trends", [PV, "--since", "2026-06-01"], as_of="2026-06-04",
                   USERTRACK_EVENTS=str(export))  # fmt: skip
    assert doc["to"] == "2026-06-04T00:00:00Z" and data(doc) == {PV: [3, 4, 3]}


def test_dau_and_cumulative_dau_counts_each_person_once(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    assert data(cli_json([PV, "-m", "dau", *ARGS], **env)) == {PV: [2, 2, 2]}
    # Cumulative unique persons: p1, p2 first on 06-01, p3 on 06-02, p5 on 06-03 (a running
    # sum of the daily uniques would say 2, 4, 6).
    assert data(cli_json([PV, "-m", "dau", "--cumulative", *ARGS], **env)) == {PV: [2, 3, 4]}
    # Cumulative counts are running sums.
    assert data(cli_json([PV, "--cumulative", *ARGS], **env)) == {PV: [3, 7, 10]}


def test_weekly_active_point_by_hand(export: Path) -> None:
    # Each event counts for its UTC day (aggregation_operations.py truncates it to the day):
    # 06-01: the days 05-26 .. 06-01: p4 (05-27 00:00), p1, p2 = 3
    # 06-02: 05-27 .. 06-02: p4, p1, p2, p3 = 4; p5 (06-03 00:00) is a day of its own
    # 06-03: 05-28 .. 06-03: p1, p2, p3, p5 = 4
    doc = cli_json([PV, "-m", "weekly_active", *ARGS], USERTRACK_EVENTS=str(export))
    assert data(doc) == {PV: [3, 4, 4]}
    # monthly_active: everyone seen in the 30 days, p4 included throughout, p5 from 06-03
    doc = cli_json([PV, "-m", "monthly_active", *ARGS], USERTRACK_EVENTS=str(export))
    assert data(doc) == {PV: [3, 4, 5]}
    # Per browser, each person once a point however many of their days the window holds:
    # Chrome p1 (06-01, 06-03) and p4 (its day 05-27), Edge p3 (06-02) and p1 (06-03),
    # Firefox p2 (06-01) and p3 (06-02), Safari p2 and p3 (06-02), Opera p5 (its day 06-03).
    doc = cli_json(
        [PV, "-m", "weekly_active", "--by", "$browser", *ARGS], USERTRACK_EVENTS=str(export)
    )
    assert data(doc) == {
        f"{PV}/Chrome": [2, 2, 1],
        f"{PV}/Edge": [0, 1, 2],
        f"{PV}/Firefox": [1, 2, 2],
        f"{PV}/Safari": [0, 2, 2],
        f"{PV}/Opera": [0, 0, 1],
    }
    # At a week's interval, the persons of the week (PostHog's dau there): p1, p2, p3, p5
    doc = cli_json([PV, "-m", "weekly_active", "-i", "week", *ARGS], USERTRACK_EVENTS=str(export))
    assert data(doc) == {PV: [4]}


def test_breakdown_keeps_the_top_values_and_the_rest_as_other(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    # Events per browser: Chrome 3, Edge 2, Firefox 2, Safari 2, Opera 1: the top 2 are Chrome
    # and Edge (a tie goes to the first name); other is Firefox, Safari and Opera.
    doc = cli_json([PV, "--by", "$browser", "--top", "2", *ARGS], **env)
    assert data(doc) == {
        f"{PV}/Chrome": [2, 0, 1],
        f"{PV}/Edge": [0, 1, 1],
        f"{PV}/other": [1, 3, 1],
    }
    assert [s["other"] for s in doc["series"]] == [False, False, True]
    # dau ranks by persons: Edge, Firefox and Safari have 2, the top 1 is Edge. Other's 06-02 is
    # p2 (Safari) and p3 (Safari and Firefox): 2 persons, not 3 (the values' uniques summed).
    doc = cli_json([PV, "-m", "dau", "--by", "$browser", "--top", "1", *ARGS], **env)
    assert data(doc) == {f"{PV}/Edge": [0, 1, 1], f"{PV}/other": [2, 2, 2]}


def test_breakdown_by_a_person_property(export: Path) -> None:
    """`--by person.properties.email` breaks down by the person's email as each event carries
    it (PostHog's person breakdown), not by an event property of that literal name: in the
    ranking, the counts, the person maths and the count-per-actor maths."""
    env = {"USERTRACK_EVENTS": str(export)}
    by = ["--by", "person.properties.email"]
    # Events per person: p1 4, p3 3, p2 2, p5 1: the top 2 are p1 and p3.
    doc = cli_json([PV, *by, "--top", "2", *ARGS], **env)
    assert data(doc) == {
        f"{PV}/p1@example.com": [2, 0, 2],
        f"{PV}/p3@example.com": [0, 3, 0],
        f"{PV}/other": [1, 1, 1],
    }
    # dau: one person each, the tie to the first value; other is p2 (06-01, 06-02), p3, p5
    doc = cli_json([PV, "-m", "dau", *by, "--top", "1", *ARGS], **env)
    assert data(doc) == {f"{PV}/p1@example.com": [1, 0, 1], f"{PV}/other": [1, 2, 1]}
    doc = cli_json([PV, "-m", "max_count_per_actor", *by, "--top", "1", *ARGS], **env)
    assert data(doc)[f"{PV}/p1@example.com"] == [2, 0, 2]
    doc = cli_json([PV, "-m", "sum:load_ms", *by, *ARGS], **env)
    assert data(doc)[f"{PV}/p1@example.com"] == [400, 0, 200]
    # A person property no person has: one '' series, and no warning about event properties
    result = run(["trends", PV, "--by", "person.properties.plan", *ARGS, "--as-of", AS_OF], **env)
    assert result.exit_code == 0 and "no property of these events" not in result.stderr


def test_property_maths(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}

    def series(math: str) -> list[Any]:
        return data(cli_json([PV, "-m", math, *ARGS], **env))[PV]

    # load_ms: 06-01 {100, 300, 50}; 06-02 {40, 60} ("12" is a text); 06-03 {200, 10}
    assert series("sum:load_ms") == [450, 100, 210]
    assert series("avg:load_ms") == [150, 50, 105]
    assert series("min:load_ms") == [50, 40, 10]
    assert series("max:load_ms") == [300, 60, 200]
    assert series("median:load_ms") == [100, 50, 105]
    # p90, linear between the nearest ranks: 100 + 0.8 * 200; 40 + 0.9 * 20; 10 + 0.9 * 190
    assert series("p90:load_ms") == [260, 58, 181]


def test_hour_and_week_intervals(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    doc = cli_json([PV, "-i", "hour", "--since", "2026-06-02", "--until", "2026-06-02"], **env)
    assert len(doc["points"]) == 24 and doc["points"][8] == "2026-06-02T08:00:00Z"
    assert data(doc)[PV][7:13] == [0, 1, 1, 1, 1, 0]
    # 06-01 is a Monday: one ISO week holds the whole range
    doc = cli_json([PV, "-i", "week", *ARGS], **env)
    assert doc["points"] == ["2026-06-01T00:00:00Z"] and data(doc) == {PV: [10]}


def test_same_answers_through_the_live_http_path(export: Path, tmp_path: Path) -> None:
    cases = [
        [PV, "signup", "-m", "dau", *ARGS],
        [PV, "-m", "weekly_active", *ARGS],
        [PV, "-m", "p90:load_ms", "--by", "$browser", "--top", "2", *ARGS],
        [PV, "-m", "dau", "--by", "$browser", "--top", "1", "--cumulative", *ARGS],
    ]
    local = [cli_json(args, USERTRACK_EVENTS=str(export)) for args in cases]
    with live_posthog(export, tmp_path) as (_, env):
        live = [cli_json(args, **env) for args in cases]
    assert live == local
    assert data(live[1]) == {PV: [3, 4, 4]}


def test_table_md_and_csv(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    argv = ["trends", PV, "--by", "$browser", "--top", "2", *ARGS, "--as-of", AS_OF]
    table = run(argv, **env)
    assert table.exit_code == 0, table.stderr
    assert "Chrome" in table.stdout and "other" in table.stdout and "▁" in table.stdout
    md = run([*argv, "-f", "md"], **env).stdout
    assert "xychart-beta" in md and "    line [2, 0, 1]" in md
    assert "| 2026-06-02 | 0 | 1 | 3 |" in md
    lines = run([*argv, "-f", "csv"], **env).stdout.splitlines()
    assert lines[0] == "period,point,event,breakdown,other,value"
    assert lines[1] == "current,2026-06-01T00:00:00Z,$pageview,Chrome,false,2"
    assert lines[-1] == "current,2026-06-03T00:00:00Z,$pageview,,true,1"


def test_typos_in_event_or_by_give_a_warning_with_the_closest_name(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    result = run(["trends", "$pagevew", *ARGS, "--as-of", AS_OF], **env)
    assert result.exit_code == 0, result.stderr
    assert "EVENT '$pagevew' is no event in the range (did you mean '$pageview'?)" in result.stderr
    result = run(["trends", PV, "--by", "$browsr", *ARGS, "--as-of", AS_OF], **env)
    assert result.exit_code == 0, result.stderr
    assert "--by '$browsr' is no property of these events" in result.stderr
    assert "did you mean '$browser'" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--math", "sum"], "--math 'sum' needs a property"),
        (["--math", "p50:x"], "--math 'p50:x'"),
        (["--interval", "year"], "--interval 'year'"),
        (["--interval", "hour", "--days", "400"], "more than 2000 points"),
        (["signup", PV, PV], "given twice"),
        (["signup", " "], "EVENT: an empty event name"),  # was a warning, then zeros
        (["--math", "unique_session", "--by-segment"], "--math unique_session and --by-segment"),
        (["--math", "avg_count_per_actor:x"], "--math 'avg_count_per_actor:x'"),
        (["--by", "person.properties."], "--by 'person.properties.' names no person property"),
    ],
)
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    argv = ["trends", PV, *args, "--as-of", AS_OF]
    if args[0] == "signup":
        argv = ["trends", *args, "--as-of", AS_OF]
    assert_usage_error(argv, fragment, USERTRACK_EVENTS=str(export))


# ----------------------------------------------------------------------------- --where


def test_where_filters_the_events_on_both_engines(export: Path, tmp_path: Path) -> None:
    chrome = ["--where", "properties.$browser = 'Chrome'"]
    both = [*chrome, "--where", "person.properties.email = 'p1@example.com'"]
    cases = [
        [PV, *chrome, *ARGS],  # p1's Chrome pageviews: 06-01 twice, 06-03 once
        [PV, "-m", "dau", "--by", "$browser", *both, *ARGS],
        [PV, "--where", "properties.$browser IN ('Edge', 'Opera')", *ARGS],
    ]
    local = [cli_json(args, USERTRACK_EVENTS=str(export)) for args in cases]
    assert data(local[0]) == {PV: [2, 0, 1]}
    assert local[0]["where"] == ["properties.$browser = 'Chrome'"]
    assert data(local[1]) == {f"{PV}/Chrome": [1, 0, 1]}
    assert local[1]["where"] == [
        "properties.$browser = 'Chrome'",
        "person.properties.email = 'p1@example.com'",
    ]
    # Edge: p3 on 06-02, p1 on 06-03; Opera: p5 on 06-03
    assert data(local[2]) == {PV: [0, 1, 2]}
    with live_posthog(export, tmp_path) as (_, env):
        live = [cli_json(args, **env) for args in cases]
    assert live == local
    env = {"USERTRACK_EVENTS": str(export)}
    md = run(["trends", PV, *chrome, *ARGS, "--as-of", AS_OF, "-f", "md"], **env).stdout
    assert "where properties.$browser = 'Chrome'" in md
    table = run(["trends", PV, *chrome, *ARGS, "--as-of", AS_OF], **env).stdout
    assert "where" in table and "properties.$browser = 'Chrome'" in table


@pytest.mark.parametrize(
    ("where", "fragment"),
    [
        ("1) OR (1", "is not one HogQL expression"),
        ("event = 'x') UNION ALL SELECT (1", "is not one HogQL expression"),
        ("(event = 'x'", "is not one HogQL expression"),
        ("1; DROP TABLE events", "is not one HogQL expression"),
        ("(SELECT count() FROM events) > 0", "holds a subquery"),
        ("event = 'x' ORDER BY timestamp", "is not one HogQL expression"),
        ("event = 'x', 1", "is not one HogQL expression"),
        ("timestamp > {as_of}", "holds a placeholder"),
        ("password = 'x'", "names 'password'"),
        ("arrayJoin([1, 2]) = 1", "calls 'arrayJoin'"),
        ("nosuchfn(event)", "cannot run"),
        ("", "is empty"),
    ],
)
def test_a_where_that_would_break_out_of_the_query_is_refused(
    export: Path, where: str, fragment: str
) -> None:
    argv = ["trends", PV, "--where", where, *ARGS, "--as-of", AS_OF]
    assert_usage_error(argv, fragment, USERTRACK_EVENTS=str(export))


# ----------------------------------------------------------------------------- --compare

COMPARE = [PV, "--by", "$browser", "--top", "2", "--since", "2026-06-02", "--until", "2026-06-03",
           "--compare"]  # fmt: skip


def test_compare_with_the_previous_period_of_the_same_length(export: Path, tmp_path: Path) -> None:
    # The range is 06-02 and 06-03; the previous period 05-31 and 06-01. Top 2 now: Edge and
    # Safari (2 events each; Chrome, Firefox and Opera 1): the previous period keeps the same
    # values, so its 06-01 (Chrome twice, Firefox) is all other.
    doc = cli_json(COMPARE, USERTRACK_EVENTS=str(export))
    assert data(doc) == {f"{PV}/Edge": [1, 1], f"{PV}/Safari": [2, 0], f"{PV}/other": [1, 2]}
    previous = doc["previous"]
    assert previous["from"] == "2026-05-31T00:00:00Z" and previous["to"] == "2026-06-02T00:00:00Z"
    assert previous["points"] == ["2026-05-31T00:00:00Z", "2026-06-01T00:00:00Z"]
    assert data(previous) == {f"{PV}/Edge": [0, 0], f"{PV}/Safari": [0, 0], f"{PV}/other": [0, 3]}
    assert [(s["previous_total"], s["change"]) for s in doc["series"]] == [
        (0, None), (0, None), (3, 0.0)
    ]  # fmt: skip
    plain = cli_json([PV, "--since", "2026-06-02", "--until", "2026-06-03", "--compare"],
                     USERTRACK_EVENTS=str(export))  # fmt: skip
    assert plain["series"][0]["total"] == 7 and plain["series"][0]["previous_total"] == 3
    assert plain["series"][0]["change"] == 133.3
    with live_posthog(export, tmp_path) as (_, env):
        assert cli_json(COMPARE, **env) == doc


def test_compare_in_every_format(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    argv = ["trends", PV, "--since", "2026-06-02", "--until", "2026-06-03", "--compare",
            "--as-of", AS_OF]  # fmt: skip
    table = run(argv, **env).stdout
    assert "Previous" in table and "+133.3%" in table
    md = run([*argv, "-f", "md"], **env).stdout
    assert "1. $pageview: total 7, previous period 3 (+133.3%)" in md
    assert "against 2026-05-31 to 2026-06-01 \\(UTC\\)" in md
    lines = run([*argv, "-f", "csv"], **env).stdout.splitlines()
    assert lines[1:] == [
        "current,2026-06-02T00:00:00Z,$pageview,,false,4",
        "current,2026-06-03T00:00:00Z,$pageview,,false,3",
        "previous,2026-05-31T00:00:00Z,$pageview,,false,0",
        "previous,2026-06-01T00:00:00Z,$pageview,,false,3",
    ]


def test_without_a_property_the_counts_read_no_property(tmp_path: Path) -> None:
    """trends_counts.sql and trends_breakdown.sql without a {property} (usertrack's total, dau
    and active counts) read no event's properties for one: its aggregates are 0 whatever the
    events hold, even a number under the key '' (which a JSON path of '' reaches); with one,
    its numbers. Reading every event's JSON for a column nothing reads was nine tenths of the
    counts' scan on the local engine."""
    from usertrack.engines.local.eventstore import import_events
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.queries.library import load_queries

    keyed = [
        record(n, PV, at(1, 9), "k", "k", "k@example.com", {"": 7, "load_ms": 5})
        for n in range(len(RECORDS) + 1, len(RECORDS) + 3)
    ]
    store = tmp_path / "events.duckdb"
    import_events(write_export(tmp_path / "keyed.jsonl", [*RECORDS, *keyed]), store)
    library = load_queries(Path(__file__).parents[2] / "queries")
    bounds = {"event": PV, "since": at(1), "until": at(3, 23), "as_of": at(4, 12),
              "exclude_pattern": "@datagen\\.dev$", "filters": "true"}  # fmt: skip
    source = LocalPostHogSource(store)
    try:

        def sums(query_id: str, prop: str, **params: Any) -> list[float]:
            from usertrack.analytics.where import spliced

            query = library.get(query_id)
            query = dataclasses.replace(query, sql=spliced(query.sql, None))
            result = source.run(query, {**bounds, **params, "property": prop})
            at_sum = result.columns.index("sum")
            return sorted(float(row[at_sum]) for row in result.rows)

        counts = {"interval": "day", "week_start": "monday", "by": "", "by_of": "event",
                  "values": [], "sessions": 0, "edges": [], "buckets": []}  # fmt: skip
        assert set(sums("posthog/trends_counts", "", **counts)) == {0.0}
        assert set(sums("posthog/trends_breakdown", "", by="$browser", by_of="event")) == {0.0}
        # 06-01: 100, 300, 50, k's two 5s; 06-02: 40, 60 (p2's "12" is a text); 06-03: 200, 10
        assert sums("posthog/trends_counts", "load_ms", **counts) == [100.0, 210.0, 460.0]
    finally:
        source.close()


def test_a_total_only_where_it_is_a_number_of_something(export: Path) -> None:
    """ "Total" added up running totals (--cumulative), daily uniques (-m dau: 1,785 for a week
    whose WAU is 734) and percentiles ("total 299.6"). A count, or a property's sum, has a
    total; a cumulative run's total is its last point; anything else has an average."""
    env = {"USERTRACK_EVENTS": str(export)}

    def headline(*args: str) -> dict[str, Any]:
        (s,) = cli_json([PV, *args, *ARGS], **env)["series"]
        return {k: s[k] for k in ("total", "average") if k in s}

    assert headline() == {"total": 10}
    assert headline("--cumulative") == {"total": 10}  # the last point, not 3 + 7 + 10
    assert headline("-m", "dau") == {"average": 2}  # not 6: the same persons on several days
    assert headline("-m", "dau", "--cumulative") == {"total": 4}  # the persons seen so far
    compared = cli_json([PV, "-m", "dau", "--compare", *ARGS], **env)["series"][0]
    assert "previous_average" in compared and "previous_total" not in compared
    table = run(["trends", PV, "-m", "dau", *ARGS, "--as-of", AS_OF], **env)
    assert table.exit_code == 0, table.stderr
    assert "Average" in table.stdout and "Total" not in table.stdout
    md = run(["trends", PV, "-m", "dau", *ARGS, "--as-of", AS_OF, "-f", "md"], **env)
    assert f"{PV}: average 2" in md.stdout and "total" not in md.stdout


def test_every_analysis_shows_a_range_ending_at_the_same_minute(export: Path) -> None:
    """trends showed the range ending "23:59" where the other analyses said "00:00" of the next
    day, for the same range."""
    env = {"USERTRACK_EVENTS": str(export)}
    args = ["--days", "2", "--as-of", "2026-06-04", "-f", "md"]
    trends = run(["trends", PV, *args], **env)
    funnel = run(["funnel", PV, "signup", *args], **env)
    assert trends.exit_code == 0 and funnel.exit_code == 0, trends.stderr + funnel.stderr
    shown = "2026-06-02 to 2026-06-03 \\(UTC\\)"
    assert shown in trends.stdout and shown in funnel.stdout
    assert "23:59" not in trends.stdout


def test_a_partial_first_period_is_not_labelled_as_whole(export: Path) -> None:
    """`trends -i month` labelled "2026-10" a point that holds only Oct 24-31 (the range's
    start): the first period cut by the range says where it starts."""
    env = {"USERTRACK_EVENTS": str(export)}
    args = [PV, "-i", "week", "--since", "2026-06-02", "--until", "2026-06-03"]
    md = run(["trends", *args, "--as-of", AS_OF, "-f", "md"], **env)
    assert md.exit_code == 0, md.stderr
    # the range's end (--until) cuts the week too: marked, the footnote says so
    assert re.search(r"\| from 2026-06-02 \\?\* \|", md.stdout), md.stdout
    assert "2026-06-01" not in md.stdout.split("| Point |")[1]
    assert "holds only in part" in md.stdout
    whole = run(["trends", PV, "-i", "week", "--since", "2026-06-01", "--until", "2026-06-03",
                 "--as-of", AS_OF, "-f", "md"], **env)  # fmt: skip
    # a Monday: the week is whole from its start, cut only by the range's end
    assert re.search(r"\| 2026-06-01 \\?\* \|", whole.stdout), whole.stdout
