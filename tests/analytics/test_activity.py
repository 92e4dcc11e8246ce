"""Active users, stickiness, lifecycle and the heatmap on a hand-made events export: library
definitions, CLI and the live HTTP path.

Every expected figure is worked out here from the events below (docs/metrics.md, "Active
users", "Lifecycle"). As of Wednesday 2026-06-03 12:00 UTC; the daily series covers the 10 days
May 25 ... June 3; the lifecycle the ISO weeks of May 18, May 25 and June 1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.analytics_helpers import (
    assert_imports_no_terminal_libraries,
    assert_usage_error,
    live_posthog,
    record,
    run_json,
    write_export,
)
from tests.cli_runner import run

AS_OF = "2026-06-03T12:00:00"
ARGS = ["--days", "10", "--periods", "3"]

EMAILS = {p: f"{p}@example.com" for p in "abcdfghi"} | {"z": "z@datagen.dev"}
EVENTS = [
    # a: two distinct_ids of one person, created May 10, active every week: returning
    ("2026-05-10T09:00:00", "a-web", "a"),
    ("2026-05-12T09:00:00", "a-web", "a"),
    ("2026-05-19T09:00:00", "a-app", "a"),
    ("2026-05-26T10:00:00", "a-app", "a"),
    ("2026-06-02T10:00:00", "a-web", "a"),
    ("2026-06-03T10:00:00", "a-app", "a"),
    # b: created Apr 28 (D-29 of May 27), back May 20, away the week of May 25 (dormant there),
    # back on the first second of June 1's week (resurrecting)
    ("2026-04-28T10:00:00", "b", "b"),
    ("2026-05-20T10:00:00", "b", "b"),
    ("2026-06-01T00:00:00", "b", "b"),
    # c: new, only on the last second of D-7 (May 27): in MAU, not in WAU of June 3
    ("2026-05-27T23:59:59", "c", "c"),
    # d: new, only on the first second of D-6 (May 28): in WAU of June 3
    ("2026-05-28T00:00:00", "d", "d"),
    # f on D-29 (in MAU of June 3), g on D-30 (not)
    ("2026-05-05T10:00:00", "f", "f"),
    ("2026-05-04T23:59:59", "g", "g"),
    # i: created Apr 1, long before the range; back June 2: resurrecting
    ("2026-04-01T10:00:00", "i", "i"),
    ("2026-06-02T15:00:00", "i", "i"),
    # h: only after as_of (does not exist yet); z: internal, left out
    ("2026-06-03T13:00:00", "h", "h"),
    ("2026-06-03T09:00:00", "z", "z"),
]
# $session_id of some events: a's session runs from June 2 into June 3 (it counts on both
# days, as PostHog's unique_session math counts distinct session ids per interval); i's June 2
# and c's May 27 events have one each; b's June 1 event has none (in no session).
SESSION_IDS = {("2026-06-02T10:00:00", "a"): "a-long", ("2026-06-03T10:00:00", "a"): "a-long",
               ("2026-06-02T15:00:00", "i"): "i1", ("2026-05-27T23:59:59", "c"): "c1"}  # fmt: skip
RECORDS = [
    record(n, "ping", datetime.fromisoformat(when).replace(tzinfo=UTC), did, pid, EMAILS[pid],
           {"$session_id": SESSION_IDS[(when, pid)]} if (when, pid) in SESSION_IDS else None)
    for n, (when, did, pid) in enumerate(EVENTS, 1)
]  # fmt: skip

# By hand, June 3 (D): DAU {a}; WAU (May 28 ... June 3) {a, b, d, i}; MAU (May 5 ... June 3)
# {a, b, c, d, f, i}. Stickiness 1 / 6.
TODAY = {"dau": 1, "wau": 4, "mau": 6, "stickiness": round(100 / 6, 1)}
# May 27: DAU {c}; WAU (May 21-27) {a, c}; MAU (Apr 28 ... May 27) {a, b, c, f, g}. Its one
# event (c's) is in session c1.
MAY_27 = {"date": "2026-05-27", "dau": 1, "wau": 2, "mau": 5, "sessions": 1, "events": 1}
# May 25: DAU none; WAU (May 19-25) {a, b}; MAU (Apr 26 ... May 25) {a, b, f, g}. No event.
MAY_25 = {"date": "2026-05-25", "dau": 0, "wau": 2, "mau": 4, "sessions": 0, "events": 0}
# Sessions and events: June 3 a's 10:00 (h's is after as_of, z is internal): 1 event in
# a-long; June 2 a and i: 2 events in a-long and i1; June 1 b's event, in no session.
VOLUME = {"2026-06-03": (1, 1), "2026-06-02": (2, 2), "2026-06-01": (0, 1)}
# Weeks active: a May 11, 18, 25, Jun 1; b Apr 27, May 18, Jun 1; c, d May 25 (created there);
# i Jun 1 (created Apr 1). May 18: a returning, b resurrecting (away May 11). May 25: c, d new,
# a returning, b dormant. June 1: a returning, b and i resurrecting, c and d dormant.
LIFECYCLE = [
    {"period_start": "2026-05-18", "new": 0, "returning": 1, "resurrecting": 1, "dormant": 0},
    {"period_start": "2026-05-25", "new": 2, "returning": 1, "resurrecting": 0, "dormant": -1},
    # the week of as_of (a Wednesday) has not ended: its counts are partial
    {"period_start": "2026-06-01", "new": 0, "returning": 1, "resurrecting": 2, "dormant": -2,
     "complete": False},
]  # fmt: skip
# Active days in May 25 ... June 3: a 3 (May 26, June 2, June 3); b, c, d, i one each.
ACTIVE_DAYS = [{"days": n, "persons": {1: 4, 3: 1}.get(n, 0)} for n in range(1, 11)]
# Events May 25 ... as_of by (weekday, hour): a Tue 10:00 twice (May 26, June 2), i Tue 15:00,
# c Wed 23:59, a Wed 10:00 (June 3), d Thu 00:00, b Mon 00:00.
HOURS = {(2, 10): (2, 1), (2, 15): (1, 1), (3, 23): (1, 1), (3, 10): (1, 1), (4, 0): (1, 1),
         (1, 0): (1, 1)}  # fmt: skip


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "events.jsonl", RECORDS)


cli_json = partial(run_json, "activity", as_of=AS_OF)


def check(doc: dict[str, Any]) -> None:
    assert doc["as_of"] == "2026-06-03T12:00:00Z"
    assert {k: doc[k] for k in TODAY} == TODAY
    daily = {d["date"]: d for d in doc["daily"]}
    assert doc["daily"][0]["date"] == "2026-05-25" and len(daily) == 10
    assert daily["2026-06-03"] == {
        "date": "2026-06-03",
        **{k: TODAY[k] for k in ("dau", "wau", "mau")},
        "sessions": 1,
        "events": 1,
        "complete": False,  # the as-of at noon: half the day counted
    }
    for day, (sessions, events) in VOLUME.items():
        assert (daily[day]["sessions"], daily[day]["events"]) == (sessions, events), day
    assert daily["2026-05-27"] == MAY_27
    assert daily["2026-05-25"] == MAY_25
    assert doc["lifecycle"] == LIFECYCLE
    assert doc["active_days"] == ACTIVE_DAYS
    hours = {(h["weekday"], h["hour"]): (h["events"], h["persons"]) for h in doc["hours"]}
    assert hours == HOURS


def test_activity_through_the_cli(export: Path) -> None:
    check(cli_json(ARGS, USERTRACK_EVENTS=str(export)))


def test_same_answers_through_the_live_http_path(export: Path, tmp_path: Path) -> None:
    local = cli_json(ARGS, USERTRACK_EVENTS=str(export))
    with live_posthog(export, tmp_path) as (_, env):
        live = cli_json(ARGS, **env)
    assert live == local
    check(live)


def test_compare_shows_the_previous_periods_own_series_read_alone(
    export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--compare's previous period is the daily series of a run as of `days` days earlier; of
    its facts only the active days are read (its lifecycle, active days and heatmap, which
    --compare does not show, are not worked out)."""
    from collections import Counter

    from usertrack.engines.local.source import LocalPostHogSource

    earlier = run_json("activity", ARGS, as_of="2026-05-24T12:00:00", USERTRACK_EVENTS=str(export))
    read: Counter[str] = Counter()
    real = LocalPostHogSource.facts_into

    def counted(self: Any, cur: Any, query: Any, params: Any, table: str, **k: Any) -> None:
        read[query.id] += 1
        real(self, cur, query, params, table, **k)

    monkeypatch.setattr(LocalPostHogSource, "facts_into", counted)
    doc = cli_json([*ARGS, "--compare"], USERTRACK_EVENTS=str(export))
    check(doc)
    shown = ("date", "dau", "wau", "mau", "complete")  # its last day cut at noon, as alone
    assert doc["previous"]["daily"] == [
        {k: d[k] for k in shown if k in d} for d in earlier["daily"]
    ]
    assert [doc["previous"][k] for k in ("dau", "wau", "mau", "stickiness")] == [
        earlier[k] for k in ("dau", "wau", "mau", "stickiness")
    ]
    assert any(d["mau"] for d in earlier["daily"])
    assert read == Counter({"posthog/activity_days": 2, "posthog/activity_created": 1,
                            "posthog/activity_hours": 1})  # fmt: skip
    csv = run(["activity", *ARGS, "--compare", "--as-of", AS_OF, "-f", "csv"],
              USERTRACK_EVENTS=str(export)).stdout  # fmt: skip
    rows = [line.split(",") for line in csv.splitlines()[1:] if line.startswith("previous")]
    # the previous period's sessions and events, as its own run counts them
    assert [(r[1], r[5], r[6]) for r in rows] == [
        (d["date"], str(d["sessions"]), str(d["events"])) for d in earlier["daily"]
    ]


def test_a_date_as_of_ends_the_day_before(export: Path) -> None:
    # --as-of 2026-06-03 is 00:00 UTC: June 2 is the last day with data. DAU June 2 {a, i};
    # WAU (May 27 ... June 2) {a, b, c, d, i}; MAU (May 4 ... June 2) {a, b, c, d, f, g, i}.
    result = run(["activity", *ARGS, "--as-of", "2026-06-03", "-f", "json"],
                 USERTRACK_EVENTS=str(export))  # fmt: skip
    doc = json.loads(result.stdout)
    assert (doc["dau"], doc["wau"], doc["mau"]) == (2, 5, 7)
    assert doc["daily"][-1]["date"] == "2026-06-02"


def test_table_md_and_csv(export: Path) -> None:
    env = {"USERTRACK_EVENTS": str(export)}
    table = run(["activity", *ARGS, "--as-of", AS_OF], **env)
    assert table.exit_code == 0, table.stderr
    # what DAU counts, said beside it: trends' dau of one event is another number
    assert (
        "DAU (any event) 1, WAU 4, MAU 6 (persons with any event), stickiness (DAU/MAU) 16.7%"
        in (" ".join(table.stdout.split()))
    )
    assert "Lifecycle by week" in table.stdout and "-2" in table.stdout
    md = run(["activity", *ARGS, "--as-of", AS_OF, "-f", "md"], **env).stdout
    assert "xychart-beta" in md
    assert "| 2026-05-25 | 2 | 1 | 0 | -1 |" in md
    csv_out = run(["activity", *ARGS, "--as-of", AS_OF, "-f", "csv"], **env).stdout.splitlines()
    assert csv_out[0] == "date,dau,wau,mau,sessions,events"
    assert csv_out[-1] == "2026-06-03,1,4,6,1,1" and len(csv_out) == 11
    assert "| 2026-06-02 | 2 | 5 | 7 | 2 | 2 |" in md  # DAU {a, i}: 2 sessions, 2 events


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--periods", "0"], "--periods 0"),
        (["--days", "0"], "--days"),
        (["--as-of", "tomorrow"], "--as-of"),
        (["--week-start", "Saturday"], "--week-start 'Saturday' is not one of monday, sunday"),
        (["--stickiness-interval", "hour"], "--stickiness-interval 'hour' is not one of day,"),
        (["--stickiness-interval", "week", "--by-account"], "and --by-account do not go"),
    ],
)
def test_bad_input_exits_2_with_one_line(export: Path, args: list[str], fragment: str) -> None:
    assert_usage_error(["activity", *args], fragment, USERTRACK_EVENTS=str(export))


def test_sparkline() -> None:
    from usertrack.analytics.common import sparkline

    assert sparkline([0, 2, 14]) == "▁▂█"  # 2 of 14 is 1 of 7 steps up
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""


def test_activity_and_features_core_do_not_import_rich_or_typer() -> None:
    assert_imports_no_terminal_libraries(
        "usertrack.analytics.activity.run",
        "usertrack.analytics.features.run",
        "usertrack.analytics.activity.render",
        "usertrack.analytics.features.render",
    )


@pytest.mark.parametrize(
    ("command", "data"),
    [("activity", "export"), ("activity", "demo"), ("retention", "demo"), ("funnel", "demo")],
)
def test_an_analysis_of_persons_imports_nothing_of_the_accounts_or_the_database(
    command: str, data: str, export: Path, request: pytest.FixtureRequest
) -> None:
    """A run that counts persons (no --by-account) reads neither the account key nor the app's
    database: their modules stay out of the process, on an events export as on the demo
    (whose PostgreSQL an analysis leaves alone)."""
    import subprocess
    import sys

    if data == "export":
        env = {"USERTRACK_EVENTS": str(export)}
        args = [*ARGS, "--as-of", AS_OF]
    else:
        env = {"USERTRACK_HOME": str(request.getfixturevalue("demo_home"))}
        args = []
    code = (
        "import sys\n"
        "from tests.cli_runner import run\n"
        f"result = run([{command!r}, *{args!r}, '-f', 'json'], **{env!r})\n"
        "assert result.exit_code == 0, result.stderr\n"
        "assert result.stdout.startswith('{')\n"
        "loaded = {'usertrack.segments.account_key', 'usertrack.engines.postgres.source'}\n"
        "assert not loaded & set(sys.modules), loaded & set(sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------- one row per person, bits


def _random_facts(seed: int) -> Any:
    """An in-memory DuckDB with `active` (person and day, unique) and `created` as the facts
    queries give them: persons active on random days, some created within the weeks, and
    events without a person (person_id NULL)."""
    import random
    from datetime import date, timedelta

    import duckdb

    rng = random.Random(seed)
    start = date(2026, 3, 2)
    con = duckdb.connect()
    con.execute("CREATE TABLE active (person_id VARCHAR, day DATE, events BIGINT)")
    con.execute("CREATE TABLE created (person_id VARCHAR, created_at TIMESTAMP)")
    people: list[str | None] = [f"p{i}" for i in range(120)] + [None]
    rows, made = set(), []
    for person in people:
        for _ in range(rng.randrange(0, 25)):
            rows.add((person, start + timedelta(days=rng.randrange(0, 130))))
        if person is not None and rng.random() < 0.4:
            made.append((person, datetime(2026, 3, 2) + timedelta(hours=rng.randrange(0, 3000))))
    con.executemany("INSERT INTO active VALUES (?, ?, 1)", sorted(rows, key=repr))
    con.executemany("INSERT INTO created VALUES (?, ?)", made)
    return con


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("days", "periods", "as_of"),
    [(30, 8, "2026-06-20"), (7, 3, "2026-05-13"), (35, 63, "2026-07-01"), (1, 1, "2026-04-09")],
)
def test_the_bits_of_one_row_per_person_give_what_the_sql_over_days_gives(
    seed: int, days: int, periods: int, as_of: str
) -> None:
    from datetime import timedelta

    from usertrack.analytics.activity import masks as masking
    from usertrack.analytics.activity import run as activities
    from usertrack.analytics.common import next_period, period_start

    con = _random_facts(seed)
    last_moment = datetime.fromisoformat(as_of) - timedelta(microseconds=1)
    last = period_start(last_moment, "day")
    first = last - timedelta(days=days - 1)
    this_week = period_start(last_moment, "week")
    weeks = [next_period(this_week, "week", -k) for k in range(periods - 1, -1, -1)]
    assert masking.masks_table(con, first, last, weeks)
    # 64-bit masks: a HUGEINT's 128-bit grouping and tests would cost twice as much
    kinds = {row[0]: row[1] for row in con.execute("DESCRIBE masks").fetchall()}
    assert (kinds["days"], kinds["weeks"]) == ("UBIGINT", "UBIGINT")
    want_series = activities._series(con, first, last)
    want_lifecycle = activities._lifecycle(con, weeks)
    want_days = activities._active_days(con, first, last)
    whole = masking.WHOLE
    assert masking.series_of_masks(con, first, last)[whole] == want_series
    assert masking.lifecycle_of_masks(con, weeks)[whole] == want_lifecycle
    assert masking.active_days_of_masks(con, first, last)[whole] == want_days
    assert any(d.dau for d in want_series) and any(n for _, n in want_days)
    # --by-segment's groups in one pass (a grouping column over the masks) give what each
    # group's own masks and SQL give: here groups by a person's number mod 3, none for NULL
    group = "CAST(substr(person_id, 2) AS INTEGER) % 3"
    con.execute("ALTER TABLE masks ADD COLUMN g INTEGER DEFAULT NULL")
    con.execute(f"UPDATE masks SET g = {group}")
    con.execute("DELETE FROM masks WHERE g IS NULL")
    parts = (
        masking.series_of_masks(con, first, last, "g"),
        masking.lifecycle_of_masks(con, weeks, "g"),
        masking.active_days_of_masks(con, first, last, "g"),
    )
    everyone = con.execute("SELECT * FROM active").fetchall()
    for g in range(3):
        con.execute("DELETE FROM active")
        con.executemany("INSERT INTO active VALUES (?, ?, ?)", everyone)
        con.execute(f"DELETE FROM active WHERE person_id IS NULL OR {group} <> {g}")
        own = masking.part_of(g, *parts, first, last, weeks)
        assert own[0] == activities._series(con, first, last)
        assert own[1] == activities._lifecycle(con, weeks)
        assert own[2] == activities._active_days(con, first, last)


def test_the_bits_are_left_to_the_sql_past_64_days_or_63_weeks() -> None:
    from datetime import date, timedelta

    from usertrack.analytics.activity import masks as masking

    con = _random_facts(4)
    last, monday = date(2026, 6, 30), date(2026, 6, 29)
    week = timedelta(weeks=1)
    assert not masking.masks_table(con, last - timedelta(days=35), last, [monday])
    assert not masking.masks_table(con, last, last, [monday - k * week for k in range(64)][::-1])
