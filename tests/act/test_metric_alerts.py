"""Metric alerts (alerts.yaml kind "metric"): the usual range's edges, the file's mistakes, and
hand-worked figures from a hand-made event set and Neon, sent once to a real local Slack
stand-in (tests/slack_server.py) and not again in their cooldown."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import handmade
from tests.cli_runner import run
from tests.slack_server import serve
from usertrack.act.metric_alerts import MIN_HISTORY, MetricRule, judge, usual_range, windows

AS_OF_TEXT = "2026-11-16 12:00"  # a Monday: the judged day is Sunday 11-15
AS_OF = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
EVENT = "<b>report</b> & co"  # an event name is stranger data: plain text in Slack

# Per day: (event count, the persons who sent them) of EVENT; the judged day 11-15 last.
EVENTS = {
    date(2026, 11, 11): ["a"],
    date(2026, 11, 12): ["a", "b", "a"],
    date(2026, 11, 13): ["b"],
    date(2026, 11, 14): ["a", "a", "b"],
    date(2026, 11, 15): ["a", "b", "c", "a", "b", "c", "a", "b", "c"],
    date(2026, 11, 16): ["a"] * 20,  # today, before as_of: never judged (the day is not over)
}
# Runs per day: (completed, failed). 11-15: 2 of 5 succeed, 40 %.
RUNS = {
    date(2026, 11, 12): (4, 1),
    date(2026, 11, 13): (5, 0),
    date(2026, 11, 14): (3, 1),
    date(2026, 11, 15): (2, 3),
    date(2026, 11, 16): (0, 9),  # today: not judged
}

RULES = f"""\
triggers:
  - id: report_spike
    name: Reports out of their usual range
    kind: metric
    metric: trend
    event: {json.dumps(EVENT)}
    window: 1d
    outside: {{history: 4, k: 2}}
  - id: report_people
    name: More than 2 people sharing reports a day
    kind: metric
    metric: trend
    event: {json.dumps(EVENT)}
    math: dau
    window: 1d
    above: 2
  - id: runs_ok
    name: Run success rate below 60 %
    kind: metric
    metric: run_success_rate
    window: 1d
    below: 60
  - id: join_share
    name: Sharing after joining below 60 %
    kind: metric
    metric: funnel_conversion
    steps: [joined, shared]
    window: 1d
    within: 1d
    below: 60
  - id: first_week
    name: Someone's first run in a week
    kind: metric
    metric: first_runs
    window: 7d
    above: 0
  - id: runs_ok_at_40
    name: Run success rate below 40 % (exactly 40 does not fire)
    kind: metric
    metric: run_success_rate
    window: 1d
    below: 40
"""


# The funnel joined → shared within 1 day. At 11-16 12:00 the last day whose entrants all had
# a whole day is 11-14: p, q, r and s joined at 10:00; p and q shared at 11:00, r 26 hours
# later (too late): 2 of 4, 50 %. On 11-13 one joined and shared: 100 %.
FUNNEL = [
    *[("joined", who, datetime(2026, 11, 14, 10, tzinfo=UTC)) for who in "pqrs"],
    *[("shared", who, datetime(2026, 11, 14, 11, tzinfo=UTC)) for who in "pq"],
    ("shared", "r", datetime(2026, 11, 15, 12, tzinfo=UTC)),
    ("joined", "t", datetime(2026, 11, 13, 10, tzinfo=UTC)),
    ("shared", "t", datetime(2026, 11, 13, 11, tzinfo=UTC)),
]


def _events() -> list[dict[str, Any]]:
    rows = [
        (datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=n), EVENT, who)
        for day, people in EVENTS.items()
        for n, who in enumerate(people)
    ]
    rows += [(at, event, who) for event, who, at in FUNNEL]
    return [
        {
            "uuid": f"00000000-0000-0000-0000-{n:012d}",
            "event": event,
            "distinct_id": f"d-{who}",
            "person_id": f"p-{who}",
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": {},
            "person_properties": {"email": f"{who}@x.io"},
        }
        for n, (when, event, who) in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def neon(make_database: Callable[[str], str]) -> str:
    uri = make_database(handmade.SCHEMA)
    created = datetime(2026, 10, 1)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO wasp_user VALUES (1, 'a@x.io', 100, 'active', %s, %s)", (created, created)
        )
        conn.execute("INSERT INTO fastapi_user VALUES (101, 1)")
        n = 0
        for day, (completed, failed) in RUNS.items():
            for state in ["completed"] * completed + ["failed"] * failed:
                n += 1
                at = datetime.combine(day, datetime.min.time()) + timedelta(hours=1, minutes=n)
                conn.execute(
                    "INSERT INTO fastapi_run VALUES (%s, 101, %s, %s, NULL)", (n, state, at)
                )
    return uri


@pytest.fixture()
def env(tmp_path: Path, neon: str) -> dict[str, str]:
    export = tmp_path / "events.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in _events()))
    rules = tmp_path / "alerts.yaml"
    rules.write_text(RULES)
    return {"DATABASE_URL": neon, "USERTRACK_EVENTS": str(export), "USERTRACK_ALERTS": str(rules)}


def _outside(history: int = 4, k: float = 2.0) -> MetricRule:
    return MetricRule("runs", "1d", "outside", history=history, k=k)


def test_the_usual_range_at_its_edges() -> None:
    # history 1, 3, 1, 3: mean 2, population sd 1; k 2: 0 to 4, both ends inside
    assert usual_range([1, 3, 1, 3], 2) == (0.0, 4.0)
    rule = _outside()
    assert not judge(rule, 4, [1, 3, 1, 3]).fires
    assert not judge(rule, 0, [1, 3, 1, 3]).fires
    assert judge(rule, 4.01, [1, 3, 1, 3]).fires
    assert judge(rule, -0.01, [1, 3, 1, 3]).fires
    # zero variance: the range is the mean alone
    flat = judge(rule, 5, [5, 5, 5, 5])
    assert not flat.fires and (flat.low, flat.high) == (5.0, 5.0)
    assert judge(rule, 6, [5, 5, 5, 5]).fires
    # too little history: windows without a value (no runs) do not count; nothing is judged
    short = judge(rule, 100, [None, 1, None, 2])
    assert not short.fires and short.low is None
    assert short.note == (
        f"2 of the previous 4 windows have a value; the usual range needs at least {MIN_HISTORY}"
    )
    assert judge(rule, 100, [None, 1, 2, 3]).fires  # three are enough
    # only the last `history` windows count: the old 1000 is left out
    assert judge(_outside(history=3), 9, [1000, 1, 2, 3]).fires
    # no value for the window itself (no runs that day): nothing to judge
    assert judge(rule, None, [1, 2, 3, 4]).note == "no value for the window"
    # thresholds: a value equal to the threshold does not fire
    below = MetricRule("runs", "1d", "below", threshold=40)
    assert not judge(below, 40, []).fires and judge(below, 39.99, []).fires
    above = MetricRule("runs", "1d", "above", threshold=2)
    assert not judge(above, 2, []).fires and judge(above, 3, []).fires


def test_windows_are_complete_periods_before_as_of() -> None:
    day = MetricRule("runs", "1d", "below", threshold=1)
    week = MetricRule("runs", "7d", "below", threshold=1)
    assert windows(AS_OF, day, 2) == [date(2026, 11, 14), date(2026, 11, 15)]
    # Monday 11-16 12:00: the last complete ISO week is 11-09 to 11-15
    assert windows(AS_OF, week, 2) == [date(2026, 11, 2), date(2026, 11, 9)]
    # at midnight the day before is complete, the day starting is not
    midnight = datetime(2026, 11, 16, tzinfo=UTC)
    assert windows(midnight, day, 1) == [date(2026, 11, 15)]


def test_metric_alerts_fire_once_dry_then_for_real_and_not_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    with serve() as slack:
        dry = run(["alerts", "--as-of", AS_OF_TEXT, "-f", "json"], home, **env,
                  SLACK_WEBHOOK_URL=slack.url)  # fmt: skip
        assert dry.exit_code == 0, dry.stderr
        assert slack.attempts == 0 and "dry run: nothing sent" in dry.stderr
        alerts = {a["trigger"]: a for a in json.loads(dry.stdout)["alerts"]}
        assert set(alerts) == {
            "report_spike",
            "report_people",
            "runs_ok",
            "join_share",
            "first_week",
        }
        spike = alerts["report_spike"]["metric"]
        # 11-11..11-14: 1, 3, 1, 3 events (mean 2, sd 1): 0 to 4; 11-15: 9 events
        assert spike["window"] == "2026-11-15" and spike["value"] == 9
        assert (spike["low"], spike["high"]) == (0, 4)
        assert [r["value"] for r in spike["recent"]] == [1, 3, 1, 3, 9]
        people = alerts["report_people"]["metric"]
        assert people["value"] == 3 and people["high"] == 2  # a, b and c on 11-15
        assert [r["value"] for r in people["recent"]][-5:] == [1, 2, 1, 2, 3]
        runs = alerts["runs_ok"]["metric"]
        # 2 of 5 runs succeeded on 11-15; the 9 failures of 11-16 (not over) do not count
        assert runs["value"] == 40 and runs["low"] == 60
        assert [r["value"] for r in runs["recent"]][-4:] == [80, 100, 75, 40]
        assert "40, below 60; recent:" in alerts["runs_ok"]["detail"]
        joins = alerts["join_share"]["metric"]
        assert joins["window"] == "2026-11-14" and joins["value"] == 50
        assert [r["value"] for r in joins["recent"]][-2:] == [100, 50]
        assert joins["recent"][0]["value"] is None  # nobody joined that day: no value
        # the account's first run ever, 11-12: in the ISO week 11-09 to 11-15, none before
        week = alerts["first_week"]["metric"]
        assert week["window"] == "week of 2026-11-09" and week["value"] == 1
        assert [r["window"] for r in week["recent"]][-2:] == ["2026-11-02", "2026-11-09"]
        assert [r["value"] for r in week["recent"]] == [0] * 7 + [1]

        first = run(["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"], home, **env,
                    SLACK_WEBHOOK_URL=slack.url)  # fmt: skip
        assert first.exit_code == 0, first.stderr
        assert "sent 5 Slack messages; 0 queued" in first.stderr
        assert len(slack.received) == 5
        again = run(["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack", "--cooldown", "1s"],
                    home, **env, SLACK_WEBHOOK_URL=slack.url)  # fmt: skip
        time.sleep(1.1)  # past --cooldown 1s, not past the window's day
        later = run(["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack", "--cooldown", "1s"],
                    home, **env, SLACK_WEBHOOK_URL=slack.url)  # fmt: skip
        assert again.exit_code == 0 and later.exit_code == 0, later.stderr
        assert "sent 0 Slack messages" in again.stderr and "sent 0 Slack" in later.stderr
        assert len(slack.received) == 5
    message = next(m for m in slack.received if "usual range" in m["text"].lower())
    body = message["blocks"][1]["text"]
    assert body["type"] == "plain_text" and body["emoji"] is False
    assert f"total of {EVENT}, 2026-11-15: 9" in body["text"]
    assert "Usual range: 0 to 4 (mean ± 2 sd of the previous 4 windows)" in body["text"]
    assert "2026-11-11: 1, 2026-11-12: 3" in body["text"]
    assert "<b>" not in message["text"] and "&lt;b&gt;report" in message["text"]
    assert message["mrkdwn"] is False


def test_the_same_answer_at_a_moment_whatever_the_history_holds(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "home"

    def at() -> Any:
        result = run(["alerts", "--as-of", AS_OF_TEXT, "-f", "json"], home, **env)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    bare = at()
    with serve() as slack:
        sent = run(["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack", "--save"], home, **env,
                   SLACK_WEBHOOK_URL=slack.url)  # fmt: skip
        assert sent.exit_code == 0, sent.stderr
    assert at() == bare


@pytest.mark.parametrize(
    ("line", "expect", "at"),
    [
        ("    metric: trends", "metric must be one of trend, funnel_conversion", 5),
        ("    metric: runs\n    window: 2d", "window must be one of 1d, 7d", 6),
        ("    metric: runs\n    below: ten", "below must be a number", 6),
        ("    metric: runs\n    below: 1\n    above: 2", "exactly one of below, above, outside", 7),
        ("    metric: runs", "exactly one of below, above, outside", 5),
        (
            "    metric: runs\n    outside: {history: 2}",
            "outside.history must be a whole number",
            6,
        ),
        ("    metric: runs\n    outside: {k: 0}", "outside.k must be a number above 0", 6),
        ("    metric: runs\n    outside: {days: 3}", "outside takes history and k, not 'days'", 6),
        ("    metric: trend\n    below: 1", "a trend metric needs an 'event'", 2),
        ("    metric: trend\n    event: x\n    math: daus\n    below: 1", "math 'daus' is not", 7),
        ("    metric: runs\n    event: x\n    below: 1", "'event' is for metric trend only", 6),
        ("    metric: runs\n    below: 1\n    threshold: 2", "'threshold'", 7),
        ("    metric: funnel_conversion\n    steps: [a]\n    below: 1", "at least two steps", 6),
        ("    metric: funnel_conversion\n    within: soon\n    below: 1", "'soon' is not a", 6),
        ("    metric: runs\n    steps: [a, b]\n    below: 1", "for metric funnel_conversion", 6),
    ],
)
def test_a_bad_metric_alert_is_one_line_naming_file_line_and_key(
    tmp_path: Path, line: str, expect: str, at: int
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        f"triggers:\n  - id: m\n    name: M\n    kind: metric\n{line}\n", encoding="utf-8"
    )
    result = run(["alerts", "--alerts", str(rules)], tmp_path / "home")
    assert result.exit_code == 2, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and expect in lines[0], result.stderr
    assert f"{rules}:{at}: " in lines[0], lines[0]


# The shipped activation trigger (alerts.yaml's activation_drop: the default funnel by ISO week,
# within 7 days, outside mean ± 3 sd of the 6 weeks before). As of Monday 11-16 12:00 the judged
# week is 11-02's, the last complete one before as_of - 7 days (its entrants all had 7 days);
# its history the weeks of 09-21 ... 10-26. Four new persons sign up each Monday at 10:00: in
# the history weeks 2, then 3, then 2 ... of them go through every step that day (50 %, 75 %,
# alternately: mean 62.5, sd 12.5, usual range 25 to 100); in the judged week none gets past
# onboarding_started: 0 %, outside.
ACTIVATION_WEEKS = [date(2026, 9, 21) + timedelta(weeks=n) for n in range(7)]


def _activation_events() -> list[dict[str, Any]]:
    from usertrack.analytics.funnel.run import DEFAULT_STEPS

    rows = []
    for n, monday in enumerate(ACTIVATION_WEEKS):
        through = 0 if n == 6 else (2 if n % 2 == 0 else 3)
        for p in range(4):
            steps = DEFAULT_STEPS if p < through else DEFAULT_STEPS[:2]
            for k, event in enumerate(steps):
                at = datetime.combine(monday, datetime.min.time(), tzinfo=UTC)
                rows.append((at + timedelta(hours=10, minutes=k), event, f"w{n}p{p}"))
    return [
        {
            "uuid": f"00000000-0000-0000-0001-{n:012d}",
            "event": event,
            "distinct_id": f"d-{who}",
            "person_id": f"p-{who}",
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": {},
            "person_properties": {"email": f"{who}@x.io"},
        }
        for n, (when, event, who) in enumerate(rows)
    ]


def test_the_shipped_activation_alert_fires_once_dry_then_for_real(
    tmp_path: Path, neon: str
) -> None:
    import yaml

    shipped = yaml.safe_load((Path(__file__).parents[2] / "alerts.yaml").read_text())
    rule = next(t for t in shipped["triggers"] if t["id"] == "activation_drop")
    assert rule["metric"] == "funnel_conversion" and "steps" not in rule  # the default funnel
    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump({"triggers": [rule]}))
    export = tmp_path / "events.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in _activation_events()))
    env = {"DATABASE_URL": neon, "USERTRACK_EVENTS": str(export), "USERTRACK_ALERTS": str(rules)}
    home = tmp_path / "home"
    with serve() as slack:
        dry = run(["alerts", "--as-of", AS_OF_TEXT, "-f", "json"], home, **env,
                  SLACK_WEBHOOK_URL=slack.url)  # fmt: skip
        assert dry.exit_code == 0, dry.stderr
        assert slack.attempts == 0 and "dry run: nothing sent" in dry.stderr
        (alert,) = json.loads(dry.stdout)["alerts"]
        metric = alert["metric"]
        assert alert["trigger"] == "activation_drop"
        assert metric["window"] == "week of 2026-11-02" and metric["value"] == 0
        assert (metric["low"], metric["high"]) == (25, 100)
        assert [r["value"] for r in metric["recent"]] == [50, 75, 50, 75, 50, 75, 0]
        first = run(["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"], home, **env,
                    SLACK_WEBHOOK_URL=slack.url)  # fmt: skip
        assert first.exit_code == 0, first.stderr
        assert len(slack.received) == 1
        again = run(["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"], home, **env,
                    SLACK_WEBHOOK_URL=slack.url)  # fmt: skip
        assert again.exit_code == 0, again.stderr
        assert "sent 0 Slack messages" in again.stderr and len(slack.received) == 1
    body = slack.received[0]["blocks"][1]["text"]["text"]
    assert "week of 2026-11-02: 0" in body and "Usual range: 25 to 100" in body
