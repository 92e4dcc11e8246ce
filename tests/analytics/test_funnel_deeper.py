"""Funnels beyond the counts: what droppers did next (`--dropped STEP --paths`), on hand-made
events whose every figure is worked out below, locally and over the live HTTP path.

Funnel signup -> start -> create, as of 2026-06-10, over 2026-06-01 to 2026-06-09:
- p1 (a@x.io): signup 06-01 10:00, start 10:05, then /pricing 10:10 and /docs 10:12: dropped
  before create; from start: start -> /pricing -> /docs.
- p2 (b@x.io): signup 06-02 10:00, start 10:01, invite 10:10, create 10:30, upgrade 11:00:
  converted; invite before converting, upgrade only after.
- p3 (c@x.io): signup 06-03 11:00, start 11:00:30, /pricing 11:01, then /pricing again 13:00
  (a new sequence: 30 minutes idle end one): dropped; from start: start -> /pricing.
- p4 (d@x.io): signup 06-04 09:00 only: dropped before start, not before create.
- p5 (e@x.io): /pricing 06-05, no funnel event: in no answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import assert_usage_error, live_posthog, record, run_json, write_export
from tests.cli_runner import run
from tests.engine_compare import strip_live_only

AS_OF = "2026-06-10T00:00:00"
RANGE = ["--since", "2026-06-01", "--until", "2026-06-09"]
STEPS = ["signup", "start", "create"]


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, second, tzinfo=UTC)


EVENTS: list[tuple[str, datetime, str, str, dict[str, Any]]] = [
    ("signup", at(1, 10), "p1", "a@x.io", {}),
    ("start", at(1, 10, 5), "p1", "a@x.io", {}),
    ("$pageview", at(1, 10, 10), "p1", "a@x.io", {"$pathname": "/pricing"}),
    ("$pageview", at(1, 10, 12), "p1", "a@x.io", {"$pathname": "/docs"}),
    ("signup", at(2, 10), "p2", "b@x.io", {}),
    ("start", at(2, 10, 1), "p2", "b@x.io", {}),
    ("invite", at(2, 10, 10), "p2", "b@x.io", {}),
    ("create", at(2, 10, 30), "p2", "b@x.io", {}),
    ("upgrade", at(2, 11), "p2", "b@x.io", {}),
    ("signup", at(3, 11), "p3", "c@x.io", {}),
    ("start", at(3, 11, 0, 30), "p3", "c@x.io", {}),
    ("$pageview", at(3, 11, 1), "p3", "c@x.io", {"$pathname": "/pricing"}),
    ("$pageview", at(3, 13), "p3", "c@x.io", {"$pathname": "/pricing"}),
    ("signup", at(4, 9), "p4", "d@x.io", {}),
    ("$pageview", at(5, 9), "p5", "e@x.io", {"$pathname": "/pricing"}),
]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = [
        record(n, event, when, pid, pid, email, props)
        for n, (event, when, pid, email, props) in enumerate(EVENTS, 1)
    ]
    return write_export(tmp_path_factory.mktemp("funnel") / "events.jsonl", records)


def funnel_json(export: Path, *args: str, **env: str) -> dict[str, Any]:
    return run_json("funnel", [*STEPS, *RANGE, *args], as_of=AS_OF,
                    USERTRACK_EVENTS=str(export), **env)  # fmt: skip


def test_dropped_paths_are_what_the_droppers_did_after_the_last_step(export: Path) -> None:
    doc = funnel_json(export, "--dropped", "create", "--paths")
    assert [p["person_id"] for p in doc["persons"]] == ["p3", "p1"]  # newest first
    paths = doc["paths"]
    assert paths["start_point"] == "start"
    assert paths["total_sequences"] == 2  # p3's second /pricing is a sequence without start
    counted = {tuple(p["nodes"]): p["count"] for p in paths["paths"]}
    assert counted == {("start", "/pricing", "/docs"): 1, ("start", "/pricing"): 1}
    edges = {(e["source"], e["target"]): e["count"] for e in paths["edges"]}
    assert edges == {("start", "/pricing"): 2, ("/pricing", "/docs"): 1}
    # the people of another step: p4 dropped before start, and did nothing after signup
    doc = funnel_json(export, "--dropped", "start", "--paths")
    assert [p["person_id"] for p in doc["persons"]] == ["p4"]
    assert {tuple(p["nodes"]): p["count"] for p in doc["paths"]["paths"]} == {("signup",): 1}


def test_dropped_paths_in_every_format(export: Path) -> None:
    args = ["funnel", *STEPS, *RANGE, "--dropped", "create", "--paths", "--as-of", AS_OF]
    env = {"USERTRACK_EVENTS": str(export)}
    csv = run([*args, "-f", "csv"], **env)
    assert csv.exit_code == 0, csv.stderr
    assert csv.stdout.splitlines()[0] == (
        "count,completion,step_1,step_2,step_3,dropoff_2,dropoff_3"
    )
    md = run([*args, "-f", "md"], **env)
    assert "## What they did after start" in md.stdout and "### Most common paths" in md.stdout
    assert "a@x.io" in md.stdout
    table = run(args, **env)
    assert "What they did after start" in table.stdout and "c@x.io" in table.stdout


def test_correlation_leaves_out_what_converters_do_only_after_converting(export: Path) -> None:
    """upgrade: no converter before converting, p2 after: an outcome, left out and said.
    invite: p2 before converting. $pageview: the droppers p1 and p3 within the window."""
    doc = funnel_json(export, "--correlation")["correlation"]
    assert doc["after_conversion_events"] == [
        {"event": "upgrade", "converted_after": 1, "dropped": 0}
    ]
    counted = {r["event"]: (r["converted"], r["dropped"]) for r in doc["events"]}
    assert counted == {"invite": (1, 0), "$pageview": (0, 2)}
    table = run(["funnel", *STEPS, *RANGE, "--correlation", "--as-of", AS_OF],
                USERTRACK_EVENTS=str(export))  # fmt: skip
    said = " ".join(table.stdout.split())  # the terminal's lines wrap
    assert "outcomes of converting" in said and "upgrade (1 converted)" in said


def test_time_to_convert_in_posthogs_bins(export: Path) -> None:
    """signup -> start: p1 300 s, p2 60 s, p3 30 s. Three samples: ceil(cbrt(3)) = 2 bins (3
    edges); from floor(30), to ceil(300), width ceil(270 / 2) = 135: 30 and 60 in the bin from
    30, 300 in the bin from 300 (the last); average 390 / 3 = 130."""
    doc = run_json("funnel", ["signup", "start", *RANGE, "--time-to-convert"], as_of=AS_OF,
                   USERTRACK_EVENTS=str(export))["time_to_convert"]  # fmt: skip
    assert doc == {
        "from_step": 1,
        "to_step": 2,
        "average_seconds": 130.0,
        "bin_width_seconds": 135,
        "bins": [
            {"from_seconds": 30, "persons": 2},
            {"from_seconds": 165, "persons": 0},
            {"from_seconds": 300, "persons": 1},
        ],
    }
    # one sample (p2, 1,800 s to create): one bin, no spread, PostHog's 60 s width
    doc = funnel_json(export, "--time-to-convert")["time_to_convert"]
    assert doc["bins"] == [{"from_seconds": 1800, "persons": 1},
                           {"from_seconds": 1860, "persons": 0}]  # fmt: skip
    assert (doc["average_seconds"], doc["bin_width_seconds"]) == (1800.0, 60)


def test_trend_is_each_periods_entrants_conversion(export: Path) -> None:
    """Step 1 on 06-01 (p1), 06-02 (p2, converted), 06-03 (p3), 06-04 (p4); every day of the
    range is a point, 0s included; by week: 06-01 and 06-08."""
    doc = funnel_json(export, "--trend", "day")["trend"]
    assert doc["interval"] == "day" and len(doc["points"]) == 9
    got = [(p["start"], p["entered"], p["converted"], p["conversion_rate"]) for p in doc["points"]]
    assert got[:5] == [("2026-06-01", 1, 0, 0.0), ("2026-06-02", 1, 1, 100.0),
                       ("2026-06-03", 1, 0, 0.0), ("2026-06-04", 1, 0, 0.0),
                       ("2026-06-05", 0, 0, 0.0)]  # fmt: skip
    weeks = funnel_json(export, "--trend", "week")["trend"]["points"]
    assert [(p["start"], p["entered"], p["conversion_rate"]) for p in weeks] == [
        ("2026-06-01", 4, 25.0), ("2026-06-08", 0, 0.0)]  # fmt: skip
    md = run(["funnel", *STEPS, *RANGE, "--trend", "week", "--time-to-convert", "--as-of",
              AS_OF, "-f", "md"], USERTRACK_EVENTS=str(export))  # fmt: skip
    assert (
        "## Conversion by week of entry" in md.stdout and "| 0:30:00 | 0:31:00 | 1 |" in md.stdout
    )
    # a rate to one decimal, as every other rate of the funnel
    assert "| 2026-06-01 | 4 | 1 | 25.0% |" in md.stdout, md.stdout
    table = run(["funnel", *STEPS, *RANGE, "--trend", "week", "--as-of", AS_OF],
                USERTRACK_EVENTS=str(export))  # fmt: skip
    assert " 25.0% " in table.stdout and "25.00%" not in table.stdout


def persons(doc: dict[str, Any]) -> list[int]:
    return [int(s["persons"]) for s in doc["steps"]]


# Worked out from the events above, funnel signup -> start -> create unless said.
SHAPES = [
    # strict: nothing may come between two steps. p1's /pricing, p2's invite and p3's
    # /pricing come after start, before any create: no one reaches create
    (["--order", "strict"], [4, 3, 0]),
    # exclusion between step 1 and the last: p2's invite after start, before create, leaves
    # p2 out of the funnel (every step)
    (["--exclude", "invite"], [3, 2, 0]),
    # between steps 1 and 2 only: p2 had reached start when inviting, so p2 stays
    (["--exclude", "invite:1-2"], [4, 3, 1]),
    # a pageview after start and before create: p1 and p3 are left out
    (["--exclude", "$pageview:2-3"], [2, 1, 1]),
]


@pytest.mark.parametrize(("args", "expected"), SHAPES)
def test_strict_funnels_and_exclusion_steps(
    export: Path, args: list[str], expected: list[int]
) -> None:
    assert persons(funnel_json(export, *args)) == expected


def test_a_funnel_in_any_order(export: Path) -> None:
    """create -> start -> signup in any order: p2 did all three within the window; p1 and p3
    two of them, p4 one. In order, only p2 starts (with create) and no one goes on."""
    backwards = ["create", "start", "signup", *RANGE]
    env = {"USERTRACK_EVENTS": str(export)}
    doc = run_json("funnel", [*backwards, "--order", "any"], as_of=AS_OF, **env)
    assert persons(doc) == [4, 3, 1]
    assert persons(run_json("funnel", backwards, as_of=AS_OF, **env)) == [1, 0, 0]


NARROWED = [
    # /pricing after start: p1 and p3 (p5's /pricing has no signup before it)
    (["signup", "start", "$pageview:$pathname=/pricing"], [4, 3, 2]),
    (["signup", "start", "$pageview:$pathname=/docs"], [4, 3, 1]),
    # two steps of one event, each its own page: /pricing (p1, p3, p5), then /docs (p1)
    (["$pageview:$pathname=/pricing", "$pageview:$pathname=/docs"], [3, 1]),
    # any pageview, then /docs: p1's /docs is step 2 after its /pricing
    (["$pageview", "$pageview:$pathname=/docs"], [3, 1]),
]


@pytest.mark.parametrize(("steps", "expected"), NARROWED)
def test_a_step_narrowed_by_a_property(export: Path, steps: list[str], expected: list[int]) -> None:
    doc = run_json("funnel", [*steps, *RANGE], as_of=AS_OF, USERTRACK_EVENTS=str(export))
    assert persons(doc) == expected
    assert [s["event"] for s in doc["steps"]] == steps


def test_funnel_deeper_the_same_live_and_locally(export: Path, tmp_path: Path) -> None:
    runs = [["--dropped", "create", "--paths"], ["--correlation"], ["--persons", "2:dropped"],
            ["--time-to-convert", "--trend", "day"], *(args for args, _ in SHAPES)]  # fmt: skip
    local = [funnel_json(export, *args) for args in runs]
    with live_posthog(export, tmp_path) as (_fake, live_env):
        live_env.pop("USERTRACK_EVENTS", None)
        live = [
            run_json("funnel", [*STEPS, *RANGE, *args], as_of=AS_OF, **live_env) for args in runs
        ]
        for steps, _ in NARROWED:
            live.append(run_json("funnel", [*steps, *RANGE], as_of=AS_OF, **live_env))
        edge = [*RANGE, "--persons", "start:/pricing"]
        live.append(run_json("paths", edge, as_of=AS_OF, **live_env))
    for steps, _ in NARROWED:
        local.append(run_json("funnel", [*steps, *RANGE], as_of=AS_OF,
                              USERTRACK_EVENTS=str(export)))  # fmt: skip
    local.append(run_json("paths", edge, as_of=AS_OF, USERTRACK_EVENTS=str(export)))
    assert strip_live_only(live) == strip_live_only(local)


def test_a_paths_edges_people_are_kept_for_the_same_edge_asked_again(
    export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The people of a paths edge are kept under the events store's stamp: the same edge asked
    again reads them (the paths are not worked out again) and lists the same people; the same
    edge with other options, or one no one took, is worked out (and refused)."""
    from usertrack.analytics.paths import run as paths_mod
    from usertrack.engines.local import storecache

    monkeypatch.setattr(storecache, "SETTLE_NS", 0)  # the store made just now counts as settled
    worked: list[int] = []
    paths = paths_mod.paths
    monkeypatch.setattr(paths_mod, "paths", lambda *a, **k: worked.append(1) or paths(*a, **k))
    env = {"USERTRACK_EVENTS": str(export)}
    args = [*RANGE, "--persons", "/pricing:/docs"]
    first = run_json("paths", args, as_of=AS_OF, **env)
    assert [p["person_id"] for p in first["persons"]] == ["p1"] and len(worked) == 1
    assert run_json("paths", args, as_of=AS_OF, **env) == first
    assert len(worked) == 1
    narrow = ["paths", *RANGE, "--from", "start", "--steps", "2", "--as-of", AS_OF]
    for _ in range(2):
        assert_usage_error([*narrow, "--persons", "/pricing:/docs"], "no cell of this paths", **env)
    assert len(worked) == 3


def test_bad_funnel_options(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    base = ["funnel", *STEPS, *RANGE, "--as-of", AS_OF]
    assert_usage_error([*base, "--paths"], "--paths needs --dropped", **env)
    assert_usage_error([*base, "--trend", "year"], "--trend 'year' is not one of", **env)
    assert_usage_error([*base, "--trend", "day", "--dropped", "2"], "do not go with", **env)
    assert_usage_error([*base, "--order", "sideways"], "--order 'sideways' is not one of", **env)
    assert_usage_error([*base, "--exclude", "start"], "is a step of this funnel", **env)
    assert_usage_error([*base, "--exclude", "x:3-1"], "FROM-TO must be step numbers", **env)
    two = ["funnel", "a:p=1", "b:q=2", *RANGE, "--as-of", AS_OF]
    assert_usage_error(two, "one property per funnel", **env)
    narrowed = ["funnel", "signup", "$pageview:$pathname=/x", *RANGE, "--as-of", AS_OF]
    assert_usage_error([*narrowed, "--by", "$browser"], "narrowed by a property", **env)


def test_bad_step_range_and_bins_are_one_line_each(export: Path) -> None:
    """--from-step, --to-step and --bins out of their bounds, or without what they measure,
    are refused with one line (exit 2), before any source is read."""
    env = {"USERTRACK_EVENTS": str(export)}
    base = ["funnel", *STEPS, *RANGE, "--as-of", AS_OF]
    n = len(STEPS)
    ttc = [*base, "--time-to-convert"]
    assert_usage_error([*base, "--from-step", "2"], "--from-step needs --time-to-convert", **env)
    assert_usage_error([*base, "--bins", "5"], "--bins needs --time-to-convert", **env)
    assert_usage_error([*ttc, "--bins", "0"], "--bins 0: from 1 to 90", **env)
    assert_usage_error([*ttc, "--bins", "91"], "--bins 91: from 1 to 90", **env)
    assert_usage_error([*ttc, "--to-step", str(n + 1)], f"a step number 1-{n}", **env)
    assert_usage_error([*ttc, "--from-step", "0"], f"a step number 1-{n}", **env)
    assert_usage_error([*ttc, "--from-step", "2", "--to-step", "2"], "comes before", **env)
    assert_usage_error([*base, "--trend", "day", "--from-step", str(n)], "comes before", **env)
    unordered = [*base, "--trend", "day", "--order", "any", "--to-step", "2"]
    assert_usage_error(unordered, "converts at its last step only", **env)


def test_bad_exclusions_narrowed_by_a_property(export: Path) -> None:
    """An exclusion narrowed by a property is refused with one line (exit 2) where the facts
    could not tell its events apart: another property than the steps', --by, --correlation,
    and a step's event."""
    env = {"USERTRACK_EVENTS": str(export)}
    base = ["funnel", *STEPS, *RANGE, "--as-of", AS_OF]
    assert_usage_error([*base, "--exclude", "start:plan=pro"], "is a step of this", **env)
    assert_usage_error([*base, "--exclude", "x:plan=pro", "--by", "$browser"],
                       "--by and --exclude EVENT:PROPERTY=VALUE", **env)  # fmt: skip
    assert_usage_error([*base, "--exclude", "x:plan=pro", "--correlation"],
                       "--correlation and --exclude EVENT:PROPERTY=VALUE", **env)  # fmt: skip
    narrowed = ["funnel", "signup", "$pageview:$pathname=/x", *RANGE, "--as-of", AS_OF]
    assert_usage_error([*narrowed, "--exclude", "y:plan=pro"], "one property per funnel", **env)
    assert_usage_error([*base, "--exclude", "x:plan=pro:3-1"], "FROM-TO must be", **env)


def test_first_time_steps_from_the_command_line_and_a_steps_file(
    export: Path, tmp_path: Path
) -> None:
    """`first:EVENT` and a steps file's `math: first_time_for_user` are one step; a math
    PostHog has not, an event that reads as a prefix, or a first-time exclusion is refused
    with one line (exit 2)."""
    env = {"USERTRACK_EVENTS": str(export)}
    typed = funnel_json(export)  # the plain funnel, for its step 1
    first = run_json("funnel", ["first:signup", "start", "create", *RANGE], as_of=AS_OF, **env)
    steps = tmp_path / "steps.yaml"
    steps.write_text("- event: signup\n  math: first_time_for_user\n- start\n- create\n")
    filed = run_json("funnel", ["--steps-file", str(steps), *RANGE], as_of=AS_OF, **env)
    assert filed["steps"] == first["steps"]
    assert first["steps"][0]["event"] == "first:signup"
    assert first["steps"][0]["persons"] <= typed["steps"][0]["persons"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- signup\n- event: start\n  math: dau\n")
    base = ["funnel", *RANGE, "--as-of", AS_OF]
    assert_usage_error([*base, "--steps-file", str(bad)], f"{bad}:2: `math` is", **env)
    bad.write_text("- signup\n- event: 'first:start'\n")
    assert_usage_error([*base, "--steps-file", str(bad)], "reads as a first-time step", **env)
    assert_usage_error([*base, *STEPS, "--exclude", "first:x"], "for steps only", **env)
    assert_usage_error([*base, "first:signup", "start", "--correlation"],
                       "--correlation and a first-time step", **env)  # fmt: skip


def test_persons_of_a_funnel_step_and_a_paths_edge(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    doc = funnel_json(export, "--persons", "3:dropped")
    assert sorted(p["person_id"] for p in doc["persons"]) == ["p1", "p3"]
    assert doc["columns"] == ["person_id", "email"]  # no app database: emails only
    assert doc["persons"][0]["email"] == "a@x.io"
    edge = run_json("paths", [*RANGE, "--persons", "start:/pricing"], as_of=AS_OF, **env)
    assert sorted(p["person_id"] for p in edge["persons"]) == ["p1", "p3"]
    edge = run_json("paths", [*RANGE, "--persons", "/pricing:/docs"], as_of=AS_OF, **env)
    assert [p["person_id"] for p in edge["persons"]] == ["p1"]
    # from start on, within 2 nodes: start -> /pricing only
    args = [*RANGE, "--from", "start", "--steps", "2", "--persons", "start:/pricing"]
    assert len(run_json("paths", args, as_of=AS_OF, **env)["persons"]) == 2
    assert_usage_error(["paths", *RANGE, "--from", "start", "--steps", "2", "--as-of", AS_OF,
                        "--persons", "/pricing:/docs"], "no cell of this paths", **env)  # fmt: skip
    for fmt, seen in (("csv", "person_id,email"), ("md", "| a@x.io |"), ("table", "a@x.io")):
        out = run(["funnel", *STEPS, *RANGE, "--persons", "3:dropped", "--as-of", AS_OF,
                   "-f", fmt], **env)  # fmt: skip
        assert out.exit_code == 0 and seen in out.stdout, (fmt, out.stdout)


def test_steps_from_a_yaml_list(export: Path, tmp_path: Path) -> None:
    """--steps-file: the same funnel as the steps on the command line, a mapping step being
    EVENT:PROPERTY=VALUE; a bad step is one line naming the file and its line, exit 2."""
    steps = tmp_path / "steps.yaml"
    steps.write_text("- signup\n- start\n- event: $pageview\n  where: {$pathname: /pricing}\n")
    env = {"USERTRACK_EVENTS": str(export)}
    doc = run_json("funnel", [*RANGE, "--steps-file", str(steps)], as_of=AS_OF, **env)
    written = run_json("funnel", [*NARROWED[0][0], *RANGE], as_of=AS_OF, **env)
    assert doc == written and persons(doc) == NARROWED[0][1]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- signup\n- event: start\n  label: Started\n")
    base = ["funnel", *RANGE, "--as-of", AS_OF]
    assert_usage_error([*base, "--steps-file", str(bad)], f"{bad}:2: unknown key 'label'", **env)
    bad.write_text("- signup\n- event: $pageview\n  where: {$pathname: /a, $host: b}\n")
    assert_usage_error([*base, "--steps-file", str(bad)], f"{bad}:2: `where` is one", **env)
    bad.write_text("signup: start\n")
    assert_usage_error([*base, "--steps-file", str(bad)], f"{bad}:1: a steps file is a list", **env)
    bad.write_text("- signup\n- [start\n")
    assert_usage_error([*base, "--steps-file", str(bad)], f"{bad}:3: not YAML", **env)
    bad.write_bytes(b"- sign\xffup\n")
    assert_usage_error(
        [*base, "--steps-file", str(bad)], f"{bad}:1: not UTF-8 text: byte 0xff in column 7", **env
    )
    both = [*base, "signup", "--steps-file", str(steps)]
    assert_usage_error(both, "as arguments or in --steps-file, not both", **env)


def test_step_names_from_a_steps_file(export: Path, tmp_path: Path) -> None:
    """A step's `name:` is shown wherever the step is (table, Markdown escaped, csv, JSON
    beside its event, the chart, the droppers, a --persons cell still named by number); the
    counts are the unnamed funnel's. Two steps of one name, an empty name or one holding a
    control character: one line naming file:line, exit 2."""
    steps = tmp_path / "named.yaml"
    steps.write_text(
        "- event: signup\n  name: 'Signed <up>'\n- start\n"
        "- event: create\n  name: 'Created | *it*'\n"
    )
    env = {"USERTRACK_EVENTS": str(export)}
    base = ["funnel", *RANGE, "--as-of", AS_OF, "--steps-file", str(steps)]
    doc = run_json("funnel", [*RANGE, "--steps-file", str(steps)], as_of=AS_OF, **env)
    assert [(s["event"], s.get("name")) for s in doc["steps"]] == [
        ("signup", "Signed <up>"), ("start", None), ("create", "Created | *it*")
    ]  # fmt: skip
    assert list(doc["steps"][0])[:2] == ["event", "name"]
    for s in doc["steps"]:
        s.pop("name", None)
    assert doc == run_json("funnel", [*STEPS, *RANGE], as_of=AS_OF, **env)
    assert persons(doc) == [4, 3, 1]
    table = run([*base, "-f", "table"], **env)
    assert table.exit_code == 0 and "Created | *it*" in table.stdout
    assert "create " not in table.stdout
    md = run([*base, "-f", "md"], **env).stdout
    assert r"| 3 | Created \| \*it\* | 1 |" in md and r"Signed \<up\>" in md
    csv = run([*base, "-f", "csv"], **env).stdout.splitlines()
    assert csv[0].startswith("step,event,name,persons") and csv[3].startswith("3,create,Created")
    html = tmp_path / "f.html"
    assert run([*base, "-f", "html", "-o", str(html)], **env).exit_code == 0
    assert "1. Signed &lt;up&gt;" in html.read_text() and "<up>" not in html.read_text()
    dropped = run_json("funnel", [*RANGE, "--steps-file", str(steps), "--dropped", "3"],
                       as_of=AS_OF, **env)  # fmt: skip
    assert (dropped["event"], dropped["name"], dropped["previous_name"]) == (
        "create",
        "Created | *it*",
        None,
    )
    assert sorted(p["email"] for p in dropped["persons"]) == ["a@x.io", "c@x.io"]
    cell = run_json("funnel", [*RANGE, "--steps-file", str(steps), "--persons", "3:dropped"],
                    as_of=AS_OF, **env)  # fmt: skip
    assert cell["cell"] == "3:dropped" and "step 3 Created | *it*: dropped" in cell["about"]
    flagged = run_json("funnel", [*STEPS, *RANGE, "--step-name", "2=Began"], as_of=AS_OF, **env)
    assert [s.get("name") for s in flagged["steps"]] == [None, "Began", None]
    for given, said in (("4=x", "N a step number 1-3"), ("2", "give N=LABEL"),
                        ("1=Signed <up>", "step 1 is named already"), ("2=Created | *it*",
                        "two steps are named")):  # fmt: skip
        assert_usage_error([*base, "--step-name", given], said, **env)
    bad = tmp_path / "bad.yaml"
    for text, line, said in (
        ("- event: signup\n  name: A\n- start\n- event: create\n  name: A\n", 4, "of step 1"),
        ("- signup\n- event: start\n  name: '  '\n", 2, "name is empty"),
        ('- signup\n- event: start\n  name: "a\\tb"\n', 2, "control character"),
        ("- signup\n- event: start\n  name: 3\n", 2, "is a text"),
    ):
        bad.write_text(text)
        assert_usage_error(["funnel", *RANGE, "--steps-file", str(bad)], f"{bad}:{line}: ", **env)
        assert_usage_error(["funnel", *RANGE, "--steps-file", str(bad)], said, **env)
