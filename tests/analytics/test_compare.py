"""`--compare` on funnel (trends': tests/analytics/test_trends.py): the previous period of the same
length, by hand, locally and over the live HTTP path, in every format.

The events: tests/analytics/test_trends.py's hand-made export. The range is 06-02 and 06-03 (UTC);
the previous period 05-31 and 06-01, which ends the instant before the range starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analytics.test_trends import AS_OF, PV, RECORDS
from tests.analytics_helpers import assert_usage_error, live_posthog, run_json, write_export
from tests.cli_runner import run

ARGS = [PV, "signup", "--since", "2026-06-02", "--until", "2026-06-03", "--compare"]


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


def test_funnel_compare_by_hand(export: Path, tmp_path: Path) -> None:
    # Now: pageviews by p1, p2, p3, p5 (4); p3 signed up (25%). Before (06-01 only): p1, p2 (2),
    # no signup (0%).
    doc = run_json("funnel", ARGS, as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert [(s["persons"], s["previous_persons"], s["persons_change"], s["conversion_change"])
            for s in doc["steps"]] == [(4, 2, 100.0, 0.0), (1, 0, None, 25.0)]  # fmt: skip
    assert doc["previous"]["from"] == "2026-05-31T00:00:00Z"
    assert doc["previous"]["to"] == "2026-06-02T00:00:00Z"
    assert [s["persons"] for s in doc["previous"]["steps"]] == [2, 0]
    with live_posthog(export, tmp_path) as (_, env):
        assert run_json("funnel", ARGS, as_of=AS_OF, **env) == doc


def test_funnel_compare_in_every_format(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    argv = ["funnel", *ARGS, "--as-of", AS_OF]
    table = run(argv, **env)
    assert table.exit_code == 0, table.stderr
    assert "Against the period before" in table.stdout and "+100.0%" in table.stdout
    md = run([*argv, "-f", "md"], **env).stdout
    assert "| 1 | $pageview | 4 | 2 | +100.0% | 100.0% | 100.0% | +0.0 |" in md
    # both periods' thin conversions with their sample and interval
    assert (
        "| 2 | signup | 1 | 0 | - | 25.0% \\(1 of 4; 4.6-69.9%\\) | 0.0% \\(0 of 2; 0.0-65.8%\\) |"
        in md
    )
    lines = run([*argv, "-f", "csv"], **env).stdout.splitlines()
    assert lines[0].startswith("period,step,event,persons,")
    assert [line.split(",")[:4] for line in lines[1:]] == [
        ["current", "1", PV, "4"], ["current", "2", "signup", "1"],
        ["previous", "1", PV, "2"], ["previous", "2", "signup", "0"],
    ]  # fmt: skip


def test_compare_and_dropped_do_not_go_together(export: Path) -> None:
    argv = ["funnel", *ARGS, "--dropped", "signup", "--as-of", AS_OF]
    assert_usage_error(argv, "--compare and --dropped", USERTRACK_EVENTS=str(export))


ACTIVITY = ["--days", "3", "--compare"]
ACTIVITY_AS_OF = "2026-06-04"  # 00:00: the last day is 06-03; the previous period ends 05-31


def test_activity_compare_by_hand(export: Path, tmp_path: Path) -> None:
    # Now (06-01 to 06-03): DAU 2 each day; on 06-03 WAU p1, p2, p3, p5 = 4, MAU with p4 = 5.
    # Before (05-29 to 05-31): no one active; p4 (05-27) is in every WAU and MAU there.
    doc = run_json("activity", ACTIVITY, as_of=ACTIVITY_AS_OF, USERTRACK_EVENTS=str(export))
    previous = doc["previous"]
    assert (previous["dau"], previous["wau"], previous["mau"]) == (0, 1, 1)
    assert [d["date"] for d in previous["daily"]] == ["2026-05-29", "2026-05-30", "2026-05-31"]
    assert doc["average_dau"] == 2.0 and previous["average_dau"] == 0.0
    assert doc["change"] == {"dau": None, "wau": 300.0, "mau": 400.0, "average_dau": None}
    with live_posthog(export, tmp_path) as (_, env):
        assert run_json("activity", ACTIVITY, as_of=ACTIVITY_AS_OF, **env) == doc


def test_activity_compare_in_every_format(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    argv = ["activity", *ACTIVITY, "--as-of", ACTIVITY_AS_OF]
    table = run(argv, **env)
    assert table.exit_code == 0, table.stderr
    assert "Against the 3 days before (to 2026-05-31)" in table.stdout
    md = run([*argv, "-f", "md"], **env).stdout
    assert "WAU 1 \\(+300.0%\\)" in md or "WAU 1 (+300.0%)" in md
    lines = run([*argv, "-f", "csv"], **env).stdout.splitlines()
    assert lines[0] == "period,date,dau,wau,mau,sessions,events"
    # 06-03: p1's 09:00 and 10:00 and p5's 00:00 (3 events, none with a $session_id); 05-29:
    # no event
    assert lines[3:5] == ["current,2026-06-03,2,4,5,0,3", "previous,2026-05-29,0,1,1,0,0"]


FEATURES = ["--event", "--days", "2", "--compare"]


def test_features_compare_by_hand(export: Path, tmp_path: Path) -> None:
    # Now (06-02 00:00, 06-04 00:00]: 7 pageviews by p1, p2, p3, p5, p3's signup; before
    # (05-31, 06-02]: 06-01's 3 pageviews by p1 and p2, who are its 2 active persons.
    doc = run_json("features", FEATURES, as_of="2026-06-04", USERTRACK_EVENTS=str(export))
    assert [(f["feature"], f["uses"], f["previous_uses"], f["previous_persons"],
             f["previous_adoption"], f["change"]) for f in doc["features"]] == [
        (PV, 7, 3, 2, 100.0, 133.3), ("signup", 1, 0, 0, 0.0, None)
    ]  # fmt: skip
    assert doc["previous"] == {
        "from": "2026-05-31T00:00:00Z", "to": "2026-06-02T00:00:00Z", "active_persons": 2
    }  # fmt: skip
    with live_posthog(export, tmp_path) as (_, env):
        assert run_json("features", FEATURES, as_of="2026-06-04", **env) == doc
    env = {"USERTRACK_EVENTS": str(export)}
    argv = ["features", *FEATURES, "--as-of", "2026-06-04"]
    md = run([*argv, "-f", "md"], **env).stdout
    assert "| $pageview | 7 | 4 | 100.0% | 100.0% | - | 3 | up | 2 | 100.0% | +133.3% |" in md
    lines = run([*argv, "-f", "csv"], **env).stdout.splitlines()
    assert lines[0].endswith(",previous_persons,previous_adoption")
    assert lines[1] == "$pageview,7,4,100.0,,3,up,100.0,2,100.0"
    assert "Previous persons" in run(argv, **env).stdout


def test_the_previous_period_starts_as_a_plain_run_of_it_would(export: Path) -> None:
    """`funnel --days 14 --compare` started its previous period one second early
    (2026-10-25T23:59:59Z): the range ends at the as-of midnight, and the previous period took
    that instant too. It starts at 00:00, as a plain run of that period and trends do."""
    env = {"USERTRACK_EVENTS": str(export)}
    midnight = "2026-06-04"
    doc = run_json("funnel", [PV, "signup", "--days", "2", "--compare"], as_of=midnight, **env)
    assert doc["previous"]["from"] == "2026-05-31T00:00:00Z"
    assert doc["previous"]["to"] == doc["from"] == "2026-06-02T00:00:00Z"
    plain = run_json("funnel", [PV, "signup", "--since", "2026-05-31", "--until", "2026-06-01"],
                     as_of=midnight, **env)  # fmt: skip
    assert (plain["from"], plain["to"]) == (doc["previous"]["from"], doc["previous"]["to"])
    assert [s["persons"] for s in plain["steps"]] == [
        s["persons"] for s in doc["previous"]["steps"]
    ]


def test_features_compare_keeps_the_change_in_80_columns(export: Path) -> None:
    """At 80 columns the table dropped Change, the point of --compare, and kept the previous
    figures it comes from."""
    args = ["features", *FEATURES, "--as-of", "2026-06-04"]
    table = run(args, USERTRACK_EVENTS=str(export), COLUMNS="80")
    assert table.exit_code == 0, table.stderr
    assert "Change" in table.stdout and "+133.3%" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
