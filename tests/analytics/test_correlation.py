"""Funnel correlation (`funnel --correlation`) on a hand-made events export, on the demo and
over the live HTTP path.

Every expected figure is worked out here from the events below with PostHog's definitions
(docs/metrics.md, "Funnel correlation"), never copied from output. The funnel is signup ->
create over May 2026 with a one-day window.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import (
    assert_usage_error,
    live_posthog,
    record,
    run_json,
    run_ok,
    write_export,
)
from tests.cli_runner import run
from usertrack.analytics.funnel.correlation import min_persons, odds_ratio, parse_properties, ranked
from usertrack.core.errors import UsageError

AS_OF = "2026-06-01"
STEPS = ["signup", "create"]
ARGS = [*STEPS, "--since", "2026-05-01", "--until", "2026-05-31", "--window", "1d"]
D = datetime(2026, 5, 10, tzinfo=UTC)
H = timedelta(hours=1)
DAY = timedelta(days=1)

PERSONS = {  # person: (email, plan)
    "p1": ("ann@example.com", "pro"),
    "p2": ("bob@example.com", "pro"),
    "p3": ("cat@example.com", "pro"),
    "p4": ("dan@example.com", "pro"),
    "p5": ("eve@example.com", "free"),
    "p6": ("fay@example.com", "free"),
    "p7": ("gus@example.com", "free"),
    "p8": ("hal@example.com", "free"),
    "p9": ("zed@datagen.dev", "pro"),
}
EVENTS = [
    # converted, read the docs on the way
    ("signup", D, "p1"), ("docs", D + H, "p1"), ("help", D + H, "p1"), ("create", D + 2 * H, "p1"),
    ("signup", D, "p2"), ("docs", D + H, "p2"), ("create", D + 3 * H, "p2"),
    # converted; the upgrade after converting does not count (strictly before the last step),
    # and no converter upgraded before: an outcome of converting, left out and said
    ("signup", D, "p3"), ("docs", D + H / 2, "p3"), ("create", D + H, "p3"),
    ("upgrade", D + 2 * H, "p3"),
    # dropped: the video inside the window counts
    ("signup", D, "p4"), ("video", D + H, "p4"), ("help", D + 2 * H, "p4"),
    # dropped: the video counts, the docs two days later are past the window
    ("signup", D, "p5"), ("video", D + 2 * H, "p5"), ("docs", D + 2 * DAY, "p5"),
    # dropped: docs before the signup do not count (strictly after step 1)
    ("docs", D - H, "p6"), ("signup", D, "p6"),
    # dropped: docs at the signup's very second do not count either
    ("signup", D, "p7"), ("docs", D, "p7"),
    # two attempts: the first never converts (its create would be 5 days late); the second,
    # from D + 5 days, does and is the one counted: its docs count, the first's video does not
    ("signup", D, "p8"), ("video", D + H, "p8"), ("signup", D + 5 * DAY, "p8"),
    ("docs", D + 5 * DAY + H, "p8"), ("create", D + 5 * DAY + 2 * H, "p8"),
    # internal: left out
    ("signup", D, "p9"), ("docs", D + H, "p9"), ("create", D + 2 * H, "p9"),
]  # fmt: skip
RECORDS = [
    {
        **record(n, event, when, f"d-{pid}", pid, PERSONS[pid][0]),
        "person_properties": {"email": PERSONS[pid][0], "plan": PERSONS[pid][1]},
    }
    for n, (event, when, pid) in enumerate(EVENTS, 1)
]

# Worked out by hand. Converted: p1, p2, p3, p8 (4); dropped: p4, p5, p6, p7 (4). Eight persons:
# the significance floor is min(25, 2% of 8) = 0.16, so every row with a person stays.
#   docs:  converted p1 p2 p3 p8 (4), dropped none (0)
#          odds ratio (4+1)(4-0+1) / ((4-4+1)(0+1)) = 25; phi (4*4 - 0*0) / sqrt(4*4*4*4) = 1
#   video: converted none (p8's is in the attempt not counted),
#          dropped p4 p5 (2): (0+1)(4-2+1) / ((4-0+1)(2+1)) = 3/15 = 0.2;
#          phi (0*2 - 4*2) / sqrt(4*2*6*4) = -8 / sqrt(192)
#   help:  converted p1, dropped p4: (1+1)(4-1+1) / ((4-1+1)(1+1)) = 1, which PostHog calls
#          a failure (success only above 1); phi 0
EVENT_ROWS = [
    {"event": "docs", "converted": 4, "dropped": 0, "odds_ratio": 25.0,
     "correlation": "success", "phi": 1.0, "strength": "strong"},
    {"event": "video", "converted": 0, "dropped": 2, "odds_ratio": 0.2,
     "correlation": "failure", "phi": round(-8 / math.sqrt(192), 4), "strength": "strong"},
    {"event": "help", "converted": 1, "dropped": 1, "odds_ratio": 1.0,
     "correlation": "failure", "phi": 0.0, "strength": "weak"},
]  # fmt: skip
# plan = pro: converted p1 p2 p3 (3), dropped p4 (1): (3+1)(4-1+1) / ((4-3+1)(1+1)) = 4;
#   phi (3*3 - 1*1) / sqrt(4*4*4*4) = 0.5 (moderate: strong is over 0.5)
# plan = free: converted p8 (1), dropped p5 p6 p7 (3): (1+1)(4-3+1) / ((4-1+1)(3+1)) = 0.25
PLAN_ROWS = [
    {"property": "plan", "value": "pro", "converted": 3, "dropped": 1, "odds_ratio": 4.0,
     "correlation": "success", "phi": 0.5, "strength": "moderate"},
    {"property": "plan", "value": "free", "converted": 1, "dropped": 3, "odds_ratio": 0.25,
     "correlation": "failure", "phi": -0.5, "strength": "moderate"},
]  # fmt: skip


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


cli_json = partial(run_json, "funnel", as_of=AS_OF)


def test_hand_computed_odds_ratios(export: Path) -> None:
    doc = cli_json([*ARGS, "--correlation"], USERTRACK_EVENTS=str(export))
    assert [s["persons"] for s in doc["steps"]] == [8, 4]
    c = doc["correlation"]
    assert (c["converted_persons"], c["dropped_persons"], c["skewed"]) == (4, 4, False)
    assert c["min_persons"] == 0.16
    assert c["excluded_events"] == ["create", "signup"]
    assert c["events"] == EVENT_ROWS
    assert c["after_conversion_events"] == [
        {"event": "upgrade", "converted_after": 1, "dropped": 0}
    ]
    assert "properties" not in c


def test_person_property_values(export: Path) -> None:
    doc = cli_json([*ARGS, "--correlation-properties", "plan"], USERTRACK_EVENTS=str(export))
    c = doc["correlation"]
    assert c["events"] == EVENT_ROWS  # --correlation-properties implies --correlation
    assert c["properties"] == ["plan"]
    assert c["property_values"] == PLAN_ROWS


def test_where_filters_the_funnel_not_the_events_correlated(export: Path) -> None:
    # Without ann (p1): converted p2 p3 p8 (3), dropped p4 p5 p6 p7 (4). docs: 3 and 0, odds
    # ratio (3+1)(4-0+1) / ((3-3+1)(0+1)) = 20; video: 0 and 2, (0+1)(4-2+1) / ((3+1)(2+1)) =
    # 0.25; help: p4 alone, (0+1)(4-1+1) / ((3-0+1)(1+1)) = 0.5. ann's own help no longer
    # counts, and no one else's event is filtered away.
    where = "person.properties.email != 'ann@example.com'"
    doc = cli_json([*ARGS, "--correlation", "--where", where], USERTRACK_EVENTS=str(export))
    c = doc["correlation"]
    assert (c["converted_persons"], c["dropped_persons"]) == (3, 4)
    got = {r["event"]: (r["converted"], r["dropped"], r["odds_ratio"]) for r in c["events"]}
    assert got == {"docs": (3, 0, 20.0), "video": (0, 2, 0.25), "help": (0, 1, 0.5)}


def test_the_same_through_the_live_http_path(export: Path, tmp_path: Path) -> None:
    args = [*ARGS, "--correlation-properties", "plan"]
    local = cli_json(args, USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (fake, env):
        live = cli_json(args, **env)
        sent = fake.query_texts()
    assert live == local
    # the steps and the properties travel as bound values, never in the query text
    assert any("groupArray" in t and "min(" in t for t in sent)
    assert all("signup" not in t and "'plan'" not in t for t in sent)


def test_live_the_events_to_correlate_are_asked_for_beside_the_funnels(
    export: Path, tmp_path: Path
) -> None:
    """The events query does not depend on the funnel's answer: live, both are in flight at
    once (PostHog runs 3 queries of a project at a time), and the answer is the same."""
    args = [*ARGS, "--correlation"]
    local = cli_json(args, USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (fake, env):
        fake.query_delay = 0.5  # each query held long enough for the other to arrive
        live = cli_json(args, **env)
        in_flight, refused = fake.max_in_flight, fake.concurrency_refusals
    assert live == local
    assert in_flight == 2 and refused == 0


# The bounds at the microsecond's edge: q1 converts at D + 2h, and its `a` at that very time is
# not before the last step (strictly before it); q2 drops, and its `a` at D + 1 day exactly is
# not inside the window (strictly before step 1 + the window), while its `b` a second earlier
# is. `c` is after the range (May 31 included, June 1 not).
EDGE_EVENTS = [
    ("signup", D, "q1"), ("b", D + H, "q1"), ("a", D + 2 * H, "q1"), ("create", D + 2 * H, "q1"),
    ("signup", D, "q2"), ("b", D + DAY - timedelta(seconds=1), "q2"), ("a", D + DAY, "q2"),
    ("signup", datetime(2026, 5, 31, 23, tzinfo=UTC), "q3"),
    ("c", datetime(2026, 6, 1, 0, 0, 30, tzinfo=UTC), "q3"),
]  # fmt: skip


def test_the_local_engine_counts_in_its_store_and_runs_an_edited_file_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the local engine the funnel's persons meet the store's events there: the shipped
    correlation_events.sql's rows (every event after every step-1 event, per person) never
    cross into Python. A library whose file says something else gets its own answer."""
    import shutil

    from tests.cli_runner import REPO
    from usertrack.engines.local.source import LocalPostHogSource

    ran: list[str] = []
    for method in ("run", "facts_into", "facts_sql", "facts_cursor"):
        real = getattr(LocalPostHogSource, method)

        def spy(self: LocalPostHogSource, query: Any, *a: Any, _real: Any = real,
                **k: Any) -> Any:  # fmt: skip
            ran.append(query.id)
            return _real(self, query, *a, **k)

        monkeypatch.setattr(LocalPostHogSource, method, spy)
    records = [record(n, event, when, f"d-{pid}", pid, f"{pid}@example.com")
               for n, (event, when, pid) in enumerate(EDGE_EVENTS, 1)]  # fmt: skip
    edges = write_export(tmp_path / "edges.jsonl", records)
    doc = cli_json([*ARGS, "--correlation"], USERTRACK_EVENTS=str(edges))
    c = doc["correlation"]
    assert (c["converted_persons"], c["dropped_persons"]) == (1, 2)
    # b: q1 and q2; a: no one; c: no one. (1+1)(2-1+1) / ((1-1+1)(1+1)) = 2
    assert [(r["event"], r["converted"], r["dropped"], r["odds_ratio"]) for r in c["events"]] == [
        ("b", 1, 1, 2.0)
    ]
    assert "posthog/funnel_events" in ran and "posthog/correlation_events" not in ran
    with live_posthog(edges, tmp_path) as (_, env):  # the query file, on ClickHouse's stand-in
        assert cli_json([*ARGS, "--correlation"], **env) == doc

    # An edited copy of the library (no `b` after a signup, say) is run as written.
    library = tmp_path / "queries"
    shutil.copytree(REPO / "queries", library)
    edited = library / "posthog" / "correlation_events.sql"
    text = edited.read_text()
    edited.write_text(text.replace("WHERE NOT has({steps}, event)",
                                   "WHERE NOT has({steps}, event) AND event != 'b'"))  # fmt: skip
    assert edited.read_text() != text
    ran.clear()
    doc = cli_json([*ARGS, "--correlation", "--queries", str(library)], USERTRACK_EVENTS=str(edges))
    assert doc["correlation"]["events"] == [] and "posthog/correlation_events" in ran


def test_every_format(export: Path) -> None:
    args = ["funnel", *ARGS, "--correlation-properties", "plan", "--as-of", AS_OF]
    csv_out = run([*args, "-f", "csv"], USERTRACK_EVENTS=str(export))
    assert csv_out.exit_code == 0, csv_out.stderr
    assert csv_out.stdout.splitlines() == [
        "type,name,value,correlation,converted,dropped,odds_ratio,phi,strength",
        "event,docs,,success,4,0,25.0,1.0,strong",
        f"event,video,,failure,0,2,0.2,{round(-8 / math.sqrt(192), 4)},strong",
        "event,help,,failure,1,1,1.0,0.0,weak",
        "property,plan,pro,success,3,1,4.0,0.5,moderate",
        "property,plan,free,failure,1,3,0.25,-0.5,moderate",
    ]
    md = run([*args, "-f", "md"], USERTRACK_EVENTS=str(export))
    assert "### Events that go with converting" in md.stdout
    assert "| docs | 4 | 0 | 25.00 | 25.0x more likely | +1.00 | strong |" in md.stdout
    # a failure reads as PostHog words it: 1 / odds ratio times less likely
    assert "| video | 0 | 2 | 0.200 | 5.0x less likely | -0.58 | strong |" in md.stdout
    assert "| plan = free | 1 | 3 | 0.250 | 4.0x less likely | -0.50 | moderate |" in md.stdout
    table = run(args, USERTRACK_EVENTS=str(export), COLUMNS="140")
    assert table.exit_code == 0, table.stderr
    assert "Events that go with dropping" in table.stdout
    assert "25.0x more likely" in table.stdout and "plan = pro" in table.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["signup", "--correlation"], "at least two steps"),
        ([*ARGS, "--correlation", "--by", "plan"], "--by and --correlation"),
        ([*ARGS, "--correlation", "--compare"], "--compare and --correlation"),
        ([*ARGS, "--correlation", "--dropped", "create"], "--dropped and --correlation"),
        ([*ARGS, "--correlation-properties", "plan,,x"], "holds an empty property name"),
        ([*ARGS, "--correlation-properties", "plna"],
         "--correlation-properties 'plna' is no property of the funnel's persons"
         " (did you mean 'plan'?)"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    assert_usage_error(["funnel", *args, "--as-of", AS_OF], fragment, USERTRACK_EVENTS=str(export))


def test_no_one_dropped_means_nothing_to_correlate(export: Path) -> None:
    # May 15 alone: only p8 signed up (the second attempt), and converted. PostHog answers no
    # rows then, and calls it skewed.
    doc = cli_json(["signup", "create", "--since", "2026-05-15", "--until", "2026-05-15",
                    "--correlation"], USERTRACK_EVENTS=str(export))  # fmt: skip
    c = doc["correlation"]
    assert (c["converted_persons"], c["dropped_persons"]) == (1, 0)
    assert c["skewed"] is True and c["events"] == []
    md = run_ok("funnel", ["signup", "create", "--since", "2026-05-15", "--until", "2026-05-15",
                           "--correlation", "-f", "md"], as_of=AS_OF,
                USERTRACK_EVENTS=str(export))  # fmt: skip
    assert "No one converted or no one dropped: there is nothing to correlate." in md.stdout


# ------------------------------------------------------------------------------- the arithmetic


def test_significance_floor_and_top_ten() -> None:
    # 1,000 converters and 1,000 droppers: the floor is min(25, 2% of 2,000) = 25 persons.
    assert min_persons(2000) == 25 and min_persons(100) == 2.0
    counts = [("below", None, 20, 4), ("at", None, 20, 5)]
    counts += [(f"up{i:02d}", None, 100 + i, 10, ) for i in range(12)]  # fmt: skip
    counts += [(f"down{i:02d}", None, 10, 100 + i) for i in range(12)]
    rows = ranked(counts, 1000, 1000)
    names = [r.name for r in rows]
    assert "below" not in names  # 24 persons behind it
    # the top 10 each way: the highest odds ratios first, then the lowest
    assert names[:10] == [f"up{i:02d}" for i in range(11, 1, -1)]
    assert names[10:] == [f"down{i:02d}" for i in range(11, 1, -1)]
    assert "at" not in names  # 25 persons: significant, but its odds ratio (3.6) is 13th
    assert ranked([("at", None, 20, 5)], 1000, 1000)[0].odds_ratio == round(
        odds_ratio(20, 5, 1000, 1000), 4
    )
    # PostHog's worked example (funnel_correlation_query_runner.py), with the +1 prior:
    # watched 5 converted, 1 dropped; 7 converted and 11 dropped in all: (6 * 11) / (3 * 2)
    assert odds_ratio(5, 1, 7, 11) == 11.0
    assert ranked(counts, 0, 1000) == [] and ranked(counts, 1000, 0) == []


def test_parse_properties() -> None:
    assert parse_properties(["plan, $browser", "plan"]) == ["plan", "$browser"]
    assert parse_properties(None) == []
    with pytest.raises(UsageError, match="empty property name"):
        parse_properties([" "])


# ------------------------------------------------------------------------------- the demo


def test_on_the_demo(demo_home: Path) -> None:
    from usertrack.demo.generator import ensure_demo

    ensure_demo(demo_home)
    result = run(["funnel", "--correlation", "--correlation-properties", "$geoip_country_code",
                  "-f", "json"], demo_home)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    steps, c = doc["steps"], doc["correlation"]
    assert c["converted_persons"] == steps[-1]["persons"]
    assert c["dropped_persons"] == steps[0]["persons"] - steps[-1]["persons"]
    total = c["converted_persons"] + c["dropped_persons"]
    assert c["min_persons"] == round(min(25, 0.02 * total), 2)
    assert c["events"] and c["property_values"]
    for rows in (c["events"], c["property_values"]):
        success = [r for r in rows if r["correlation"] == "success"]
        failure = [r for r in rows if r["correlation"] == "failure"]
        assert rows == success + failure and len(success) <= 10 and len(failure) <= 10
        assert [r["odds_ratio"] for r in success] == sorted(
            (r["odds_ratio"] for r in success), reverse=True
        )
        for r in rows:
            assert r["converted"] + r["dropped"] >= c["min_persons"]
            assert r["converted"] <= c["converted_persons"]
            assert r["dropped"] <= c["dropped_persons"]
            want = odds_ratio(r["converted"], r["dropped"], c["converted_persons"],
                              c["dropped_persons"])  # fmt: skip
            assert r["odds_ratio"] == round(want, 4)
    assert not {r["event"] for r in c["events"]} & set(s["event"] for s in steps)
