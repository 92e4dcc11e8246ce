"""`usertrack alerts`: each trigger on a hand-made event set, and Slack delivery to a real local
webhook stand-in (tests/slack_server.py): cooldown, retry, a queue that loses nothing."""

from __future__ import annotations

import json
import os
import stat
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import handmade
from tests.cli_runner import all_have_open, run
from tests.slack_server import serve

AS_OF = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
AS_OF_TEXT = "2026-11-16 12:00"

# (email, plan): plan is Neon's subscription_status
ACCOUNTS = [
    ("stuck@x.io", "active"),
    ("moved@x.io", "active"),
    ("left@x.io", "active"),
    ("trial@x.io", "trialing"),
    ("busy@x.io", "trialing"),
    ("errors@x.io", "active"),
    ("three@x.io", "active"),
    ("idle@x.io", "trialing"),
    ("idlepaid@x.io", "active"),
    ("old@x.io", "trialing"),
]


def _events() -> list[dict[str, Any]]:
    rows: list[tuple[str, str, float, str]] = [
        # stuck: a pageview 8 minutes ago, only that page since, still in session
        ("stuck@x.io", "$pageview", 8, "/billing"),
        ("stuck@x.io", "$autocapture", 2, "/billing"),
        # moved on to another page: not stuck
        ("moved@x.io", "$pageview", 8, "/a"),
        ("moved@x.io", "$autocapture", 3, "/b"),
        # left: a $pageleave after the last pageview: not in session
        ("left@x.io", "$pageview", 8, "/a"),
        ("left@x.io", "$pageleave", 7, "/a"),
        # trial, in session, 2 events in the last 10 minutes: low activity (4 min: not stuck)
        ("trial@x.io", "$pageview", 4, "/home"),
        ("trial@x.io", "$autocapture", 3, "/home"),
        # trial, 5 events in 10 minutes on one page seen 9 minutes ago: stuck, not low activity
        ("busy@x.io", "$pageview", 9, "/agents/new"),
        *[("busy@x.io", "$autocapture", m, "/agents/new") for m in (8, 6, 4, 2)],
        # 4 exceptions in 5 minutes: multiple errors (more than 3)
        ("errors@x.io", "$pageview", 4.5, "/x"),
        *[("errors@x.io", "$exception", m, "/x") for m in (4, 3, 2, 1)],
        # 3 exceptions: not more than 3
        ("three@x.io", "$pageview", 4.5, "/x"),
        *[("three@x.io", "$exception", m, "/x") for m in (4, 3, 2)],
        # trial, active 40 minutes ago, nothing since: long inactivity
        ("idle@x.io", "$pageview", 40, "/home"),
        # the same but paying: no trigger
        ("idlepaid@x.io", "$pageview", 40, "/home"),
        # two hours ago: outside the hour looked at
        ("old@x.io", "$pageview", 120, "/home"),
        # internal: excluded whatever it does
        ("eve@datagen.dev", "$pageview", 30, "/admin"),
        *[("eve@datagen.dev", "$exception", m, "/admin") for m in (4, 3, 2, 1)],
    ]
    out = []
    for n, (email, event, minutes, page) in enumerate(rows, start=1):
        when = AS_OF - timedelta(minutes=minutes)
        name = email.split("@")[0].title() + " <b>&"
        out.append(
            {
                "uuid": f"00000000-0000-0000-0000-{n:012d}",
                "event": event,
                "distinct_id": f"d/{email}",
                "person_id": f"p-{email}",
                "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "properties": {"$pathname": page},
                "person_properties": {"email": email, "name": name},
            }
        )
    return out


EXPECTED = {
    ("stuck_on_page", "busy@x.io"),
    ("stuck_on_page", "stuck@x.io"),
    ("low_activity", "trial@x.io"),
    ("multiple_errors", "errors@x.io"),
    ("long_inactivity", "idle@x.io"),
}


def _activity_rules(tmp_path: Path) -> Path:
    """The shipped activity triggers alone (no classify: the hand-made Neon has no runs)."""
    import yaml

    shipped = yaml.safe_load((Path(__file__).parents[2] / "alerts.yaml").read_text())
    doc = {
        "params": shipped["params"],
        "triggers": [t for t in shipped["triggers"] if t["kind"] == "activity"],
    }
    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def neon(make_database: Callable[[str], str]) -> str:
    uri = make_database(handmade.SCHEMA)
    created = (AS_OF - timedelta(days=20)).replace(tzinfo=None)
    with psycopg.connect(uri, autocommit=True) as conn:
        for i, (email, plan) in enumerate(ACCOUNTS, start=1):
            conn.execute(
                "INSERT INTO wasp_user VALUES (%s, %s, 100, %s, %s, %s)",
                (i, email, plan, created, created),
            )
    return uri


@pytest.fixture()
def env(tmp_path: Path, neon: str) -> dict[str, str]:
    export = tmp_path / "events.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in _events()))
    return {
        "DATABASE_URL": neon,
        "USERTRACK_EVENTS": str(export),
        "USERTRACK_ALERTS": str(_activity_rules(tmp_path)),
    }


def _alerts(home: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = run(["alerts", "--as-of", AS_OF_TEXT, "-f", "json", *args], home, **env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_each_activity_trigger_fires_for_exactly_the_worked_out_people(
    tmp_path: Path, env: dict[str, str]
) -> None:
    doc = _alerts(tmp_path / "home", env)
    found = {(a["trigger"], a["email"]) for a in doc["alerts"]}
    assert found == EXPECTED
    stuck = next(a for a in doc["alerts"] if a["email"] == "stuck@x.io")
    assert stuck["current_page"] == "/billing"
    assert stuck["time_on_page_seconds"] == 8 * 60
    assert stuck["session_events"] == 2 and stuck["session_errors"] == 0
    assert stuck["plan"] == "active"
    assert stuck["last_active_at"] == "2026-11-16T11:58:00Z"
    errors = next(a for a in doc["alerts"] if a["trigger"] == "multiple_errors")
    assert errors["session_errors"] == 4 and errors["session_events"] == 5
    assert doc["alerts"][0]["posthog_url"] is None  # no live PostHog: no link


def test_thresholds_come_from_the_file(tmp_path: Path, env: dict[str, str]) -> None:
    rules = Path(env["USERTRACK_ALERTS"])
    rules.write_text(rules.read_text().replace("error_count: 3", "error_count: 2"))
    doc = _alerts(tmp_path / "home", env)
    found = {(a["trigger"], a["email"]) for a in doc["alerts"]}
    assert found == EXPECTED | {("multiple_errors", "three@x.io")}


def test_a_bad_alerts_file_names_the_line(tmp_path: Path, env: dict[str, str]) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("triggers:\n  - id: x\n    name: X\n    kind: activity\n    wehn: stuck\n")
    result = run(["alerts", "--alerts", str(rules)], tmp_path / "home", **env)
    assert result.exit_code == 2
    assert f"{rules}:5: unknown key 'wehn' (did you mean 'when'?)" in result.stderr
    rules.write_text("triggers:\n  - id: x\n    name: X\n    kind: activity\n    when: stuk\n")
    result = run(["alerts", "--alerts", str(rules)], tmp_path / "home", **env)
    assert result.exit_code == 2 and "unknown column 'stuk'" in result.stderr
    rules.write_text(
        "triggers:\n  - id: x\n    name: X\n    kind: activity\n    when: 1; DROP TABLE x\n"
    )
    result = run(["alerts", "--alerts", str(rules)], tmp_path / "home", **env)
    assert result.exit_code == 2 and f"{rules}:5:" in result.stderr  # the `when` line
    rules.write_text("params:\n  stuck_minute: 5\ntriggers:\n  - {id: x, name: X, kind: activity,"
                     " when: stuck_on_page}\n")  # fmt: skip
    result = run(["alerts", "--alerts", str(rules)], tmp_path / "home", **env)
    assert result.exit_code == 2
    assert f"{rules}:2: params.stuck_minute is not a parameter" in result.stderr
    assert "did you mean 'stuck_minutes'" in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  stuck_minutes: 5 ", "  stuck_minutes: five ", "params.stuck_minutes must be a whole"),
        (
            "  lookback_minutes: 60 ",
            "  lookback_minutes: 99999999999999999999 ",
            "params.lookback_minutes must be a whole number from 0 to 10000000",
        ),
        ("  error_count: 3\n", "  error_count: 3\n  bogus_param: 4\n", "params.bogus_param is"),
        ("    when: multiple_errors\n", "    when: multiple_errorz\n", "unknown column"),
        ("    segments: [failing, high_intent]", "    segments: failing", "needs a 'segments'"),
    ],
)
def test_an_alerts_error_names_the_line_of_the_value(
    tmp_path: Path, env: dict[str, str], old: str, new: str, message: str
) -> None:
    """`stuck_minutes: five` on line 13 was reported at line 10 (the params
    mapping's), and a bad `when` at its trigger's first line."""
    shipped = (REPO / "alerts.yaml").read_text()
    assert old in shipped
    rules = tmp_path / "alerts.yaml"
    rules.write_text(shipped.replace(old, new, 1))
    changed = new.strip().splitlines()[-1].strip()  # the line the mistake is on
    line = 1 + rules.read_text().splitlines().index(
        next(t for t in rules.read_text().splitlines() if t.strip().startswith(changed))
    )
    result = run(["alerts", "--alerts", str(rules)], tmp_path / "home", **env)
    assert result.exit_code == 2, result.stderr
    assert f"usertrack: error: {rules}:{line}: " in result.stderr, (line, result.stderr)
    assert message in result.stderr


def _sent_keys(received: list[dict[str, Any]]) -> list[str]:
    return sorted(m["text"].split("Trigger: ")[1].split(";")[0] for m in received)


def test_slack_cooldown_across_runs_and_no_secret_anywhere(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    with serve() as slack:
        dry = run(["alerts", "--as-of", AS_OF_TEXT], home, **env, SLACK_WEBHOOK_URL=slack.url)
        assert dry.exit_code == 0 and slack.attempts == 0  # without --notify nothing is sent
        first = run(
            ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
        )
        assert first.exit_code == 0, first.stderr
        assert len(slack.received) == len(EXPECTED)
        assert "sent 5 Slack messages; 0 queued" in first.stderr
        again = run(
            ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
        )
        assert again.exit_code == 0 and len(slack.received) == len(EXPECTED)  # cooling down
        assert "sent 0 Slack messages" in again.stderr
        time.sleep(1.1)  # past a 1 s cooldown
        after = run(
            ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack", "--cooldown", "1s"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
        )
        assert after.exit_code == 0 and len(slack.received) == 2 * len(EXPECTED)
    message = next(m for m in slack.received if "stuck@x.io" in m["text"])
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section"]
    person = message["blocks"][1]["text"]
    # the name is PostHog data: plain_text (shown as written, never markup), and escaped in the
    # fallback text, whose mrkdwn is off
    assert person["type"] == "plain_text" and person["emoji"] is False
    person = person["text"]
    assert "Stuck <b>& (stuck@x.io)" in person
    assert "Stuck &lt;b&gt;&amp; (stuck@x.io)" in message["text"] and message["mrkdwn"] is False
    assert "/billing" in person and "Time on page: 8m" in person
    assert "Stuck on page" in person
    outbox = home / "alerts-outbox.json"
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600
    for text in (dry.stdout, dry.stderr, first.stdout, first.stderr, outbox.read_text()):
        assert "SecretHookToken123" not in text
    for path in home.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".txt", ".log"):
            assert "SecretHookToken123" not in path.read_text(errors="replace")


def test_slack_sends_one_message_per_person_per_cooldown_whatever_the_trigger(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The support notifications are rate limited to one per person per 10 minutes (the
    in-app tracking plan: "rate limited: 1 per 10min per user"), not one per person and
    trigger. stuck@x.io has been on /billing since 8 minutes before AS_OF; 4 exceptions follow
    1 to 4 minutes after it. At AS_OF only "stuck" fires (nothing after as_of exists); 5
    minutes later both "stuck" and "multiple errors" fire for them, inside the cooldown of the
    first message: nothing is sent. Past the cooldown the two triggers are one message naming
    both. moved@x.io, stuck too, gets their own message: the limit is per person."""
    rows = [("stuck@x.io", "$pageview", -8), ("moved@x.io", "$pageview", -9)]
    rows += [("stuck@x.io", "$exception", m) for m in (1, 2, 3, 4)]
    events = [
        {
            "uuid": f"00000000-0000-0000-0001-{n:012d}",
            "event": event,
            "distinct_id": f"d/{email}",
            "person_id": f"p-{email}",
            "timestamp": (AS_OF + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": {"$pathname": "/billing"},
            "person_properties": {"email": email},
        }
        for n, (email, event, m) in enumerate(rows, start=1)
    ]
    Path(env["USERTRACK_EVENTS"]).write_text("".join(json.dumps(e) + "\n" for e in events))
    home = tmp_path / "home"
    later = "2026-11-16 12:05"
    first_pass = _alerts(home, env)
    assert {(a["trigger"], a["email"]) for a in first_pass["alerts"]} == {
        ("stuck_on_page", "stuck@x.io"),
        ("stuck_on_page", "moved@x.io"),
    }
    second_pass = run(["alerts", "--as-of", later, "-f", "json"], home, **env)
    assert {(a["trigger"], a["email"]) for a in json.loads(second_pass.stdout)["alerts"]} >= {
        ("stuck_on_page", "stuck@x.io"),
        ("multiple_errors", "stuck@x.io"),
    }
    with serve() as slack:
        first = run(
            ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
        )
        assert first.exit_code == 0, first.stderr
        assert len(slack.received) == 2, [m["text"] for m in slack.received]
        again = run(
            ["alerts", "--as-of", later, "--notify", "slack"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
        )
        assert again.exit_code == 0, again.stderr
        assert len(slack.received) == 2  # a new trigger of the same person, inside 10 minutes
        assert "sent 0 Slack messages" in again.stderr
        time.sleep(1.1)  # past a 1 s cooldown
        after = run(
            ["alerts", "--as-of", later, "--notify", "slack", "--cooldown", "1s"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
        )
        assert after.exit_code == 0, after.stderr
    assert len(slack.received) == 4, [m["text"] for m in slack.received]
    last = [m for m in slack.received[2:] if "stuck@x.io" in m["text"]]
    assert len(last) == 1  # both triggers of the pass: one message
    person = last[0]["blocks"][1]["text"]["text"]
    assert "Trigger: Stuck on page" in person and "Multiple errors" in person
    assert "User Needs Support" in last[0]["blocks"][0]["text"]["text"]
    sent = json.loads((home / "alerts-outbox.json").read_text())["sent"]
    assert set(sent) == {"person:stuck@x.io", "person:moved@x.io"}


def test_a_failed_send_is_queued_and_delivered_next_run_exactly_once(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    with serve() as slack:
        # Every attempt of the first message fails (500 four times); the rest go through.
        slack.script = [500, 500, 500, 500]
        first = run(
            ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
            USERTRACK_SLACK_BACKOFF="0.01",
        )
        assert first.exit_code == 5, first.stderr
        assert len(slack.received) == len(EXPECTED) - 1
        assert "not delivered (HTTP 500)" in first.stderr
        pending = run(["alerts", "--pending"], home, **env)
        assert pending.exit_code == 0 and len(pending.stdout.strip().splitlines()) == 1
        key = pending.stdout.split("\t")[0]
        # A 429 with Retry-After is waited out within the run.
        slack.script = [(429, 0.05)]
        second = run(
            ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
        )
        assert second.exit_code == 0, second.stderr
        assert len(slack.received) == len(EXPECTED)
        texts = [m["text"] for m in slack.received]
        assert len(set(texts)) == len(texts)  # none twice
        assert key.split(":", 1)[1] in texts[-1]
        third = run(["alerts", "--pending"], home, **env)
        assert "No Slack message is queued." in third.stdout


def test_watch_runs_bounded_passes_with_one_line_each(tmp_path: Path, env: dict[str, str]) -> None:
    result = run(
        ["alerts", "--as-of", AS_OF_TEXT, "--watch", "--every", "0.1s", "--passes", "2"],
        tmp_path / "home",
        **env,
    )
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if " pass " in line]
    assert len(lines) == 2
    assert "pass 1: 5 alerts, 0 sent, 0 queued (" in lines[0]
    assert "pass 2: 5 alerts" in lines[1]


def test_person_link_is_url_encoded() -> None:
    from usertrack.act.alerts import person_url

    assert (
        person_url("https://eu.posthog.com/", "42", "a/b c@x")
        == "https://eu.posthog.com/project/42/person/a%2Fb%20c%40x"
    )
    assert person_url(None, "42", "x") is None


def test_the_demo_fires_every_trigger(tmp_path: Path) -> None:
    """At its anchor the demo has people for each trigger, the failure spike included (1,000
    users: one multiple-errors person, one account in a retry loop); the spike of its incident
    fires the day after it."""
    from datetime import date

    from usertrack.demo.generator import INCIDENT_DAYS_BEFORE_ANCHOR, ensure_demo, read_manifest

    home = tmp_path / "demo-home"
    anchor = date(2026, 11, 16)
    ensure_demo(home, users=1000, anchor=anchor)
    stories = (read_manifest(home) or {})["stories"]
    assert stories["alert_multiple_errors"] == 1 and stories["alert_quiet_trial"] == 1
    assert stories["alert_spike_accounts"] == 1 and stories["alert_spike_runs"] > 0
    result = run(["alerts", "-f", "json"], home)
    assert result.exit_code == 0, result.stderr
    fired = {a["trigger"] for a in json.loads(result.stdout)["alerts"]}
    assert fired >= {
        "stuck_on_page",
        "low_activity",
        "multiple_errors",
        "long_inactivity",
        "entered_segment",
        "failure_spike",
    }
    # The anchor is midnight UTC: its last day in the trend is the calendar day before it.
    (spike_today,) = [
        a for a in json.loads(result.stdout)["alerts"] if a["trigger"] == "failure_spike"
    ]
    assert spike_today["detail"].startswith("2026-11-15: workflow failures ")
    # "a median of" is the previous 7 days' (11-08 to 11-14), the day itself
    # left out, as `failures` counts each of those days.
    week = run(["failures", "--as-of", "2026-11-15", "--days", "7", "-f", "json"], home)
    assert week.exit_code == 0, week.stderr
    trend = json.loads(week.stdout)["trend"]
    assert [d["day"] for d in trend] == [f"2026-11-{d:02d}" for d in range(8, 15)]
    median = statistics.median(d["runs_failed"] for d in trend)
    assert f" vs a median of {median:g} over the 7 days before (" in spike_today["detail"]
    errors = [a for a in json.loads(result.stdout)["alerts"] if a["trigger"] == "multiple_errors"]
    assert len(errors) == 1 and errors[0]["session_errors"] >= 4
    # No snapshot before: the day-earlier segments were computed. A dry run records nothing;
    # with --save (as a --notify run does) both moments are kept in the history, so the next
    # run classifies once and answers the same, without the note.
    assert "one day earlier" in result.stderr
    import sqlite3

    from usertrack.segments.history import history_path

    def saved() -> set[str]:
        with sqlite3.connect(history_path(home)) as con:
            return {row[0] for row in con.execute("SELECT as_of FROM snapshots")}

    assert saved() == set()
    kept = run(["alerts", "-f", "json", "--save"], home)
    assert kept.exit_code == 0, kept.stderr
    assert json.loads(kept.stdout)["alerts"] == json.loads(result.stdout)["alerts"]
    assert saved() == {"2026-11-15T00:00:00Z", "2026-11-16T00:00:00Z"}  # the anchor, a day before
    again = run(["alerts", "-f", "json"], home)
    assert again.exit_code == 0, again.stderr
    assert "segment triggers: entered a segment since 2026-11-15 00:00 UTC" in again.stderr
    assert json.loads(again.stdout)["alerts"] == json.loads(result.stdout)["alerts"]
    day_after = anchor - timedelta(days=INCIDENT_DAYS_BEFORE_ANCHOR - 1)
    spike = run(["alerts", "--as-of", day_after.isoformat(), "-f", "json"], home)
    assert spike.exit_code == 0, spike.stderr
    assert "failure_spike" in {a["trigger"] for a in json.loads(spike.stdout)["alerts"]}
    # --watch: the segment trigger (every per-user query) and the metric triggers run on the
    # first pass, then at most every 10 minutes; the activity query runs every pass.
    entered = sum(
        1 for a in json.loads(result.stdout)["alerts"] if a["trigger"] == "entered_segment"
    )
    metric = sum(1 for a in json.loads(result.stdout)["alerts"] if "metric" in a)
    total = len(json.loads(result.stdout)["alerts"])
    watched = run(["alerts", "-f", "json", "--watch", "--every", "0.1s", "--passes", "2"], home)
    assert watched.exit_code == 0, watched.stderr
    lines = [line for line in watched.stderr.splitlines() if " pass " in line]
    assert f"pass 1: {total} alerts" in lines[0]
    assert f"pass 2: {total - entered - metric} alerts" in lines[1]


def test_a_slow_webhook_times_out_and_is_retried_within_the_pass(tmp_path: Path) -> None:
    from usertrack.act.slack import Outbox, deliver

    now = datetime.now(UTC)
    outbox = Outbox.open(tmp_path / "home")
    alert = {
        "email": "a@x.io",
        "name": None,
        "plan": "trialing",
        "trigger": "stuck_on_page",
        "trigger_name": "Stuck",
        "detail": "",
        "current_page": "/x",
        "time_on_page_seconds": 400,
        "session_events": 2,
        "session_errors": 0,
        "last_active_at": now,
        "posthog_url": "https://eu.posthog.com/project/1/person/d%2F1",
    }
    assert outbox.enqueue([alert], now, now, timedelta(minutes=10)) == 1
    assert outbox.enqueue([alert], now, now, timedelta(minutes=10)) == 0  # already queued
    outbox.save()
    with serve() as slack:
        slack.script = [("slow", 0.6)]
        done = deliver(outbox, slack.url, now, timeout=0.2, backoff=0.01)
        assert slack.attempts == 2
    assert done.sent == ["person:a@x.io"] and outbox.queue == []
    # The slow answer may still have been taken: a webhook has no idempotency key, which is
    # why a message leaves the queue only after a 2xx was seen (docs/alerts-and-sync.md).
    assert 1 <= len(slack.received) <= 2
    buttons = slack.received[-1]["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Open in PostHog"]
    assert Outbox.open(tmp_path / "home").sent.keys() == {"person:a@x.io"}


def test_ctrl_c_during_a_post_waits_for_it_and_its_record(tmp_path: Path) -> None:
    import signal
    import threading

    from usertrack.act.slack import Outbox, deliver

    now = datetime.now(UTC)
    outbox = Outbox.open(tmp_path / "home")
    alert = {"email": "a@x.io", "trigger": "multiple_errors", "trigger_name": "Errors"}
    outbox.enqueue([alert], now, now, timedelta(minutes=10))
    outbox.save()
    with serve() as slack:
        slack.script = [("slow", 0.5)]

        def ctrl_c_once_posted() -> None:
            # While Slack holds the post: not a fixed delay, which on a loaded machine could
            # land in deliver's first import of httpx, before any post.
            deadline = time.monotonic() + 20
            while slack.attempts == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Thread(target=ctrl_c_once_posted)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            deliver(outbox, slack.url, now, timeout=5)
        timer.join()
        assert len(slack.received) == 1
    saved = Outbox.open(tmp_path / "home")
    assert saved.queue == [] and list(saved.sent) == ["person:a@x.io"]


# ------------------------------------------------------------------------------------------------
# Slack messages within Block Kit, dead letters, one sender, dry runs, damaged state


def _stranger(now: datetime, **values: Any) -> dict[str, Any]:
    """An activity alert whose person wrote their own name, page and distinct_id."""
    from usertrack.act.alerts import person_url

    distinct_id = values.pop("distinct_id", "d-1")
    return {
        "email": "a@x.io",
        "name": "Ann",
        "plan": "trialing",
        "trigger": "stuck_on_page",
        "trigger_name": "Stuck",
        "kind": "activity",
        "detail": "",
        "current_page": "/x",
        "time_on_page_seconds": 400,
        "session_events": 2,
        "session_errors": 0,
        "last_active_at": now,
        "distinct_id": distinct_id,
        "posthog_url": person_url("https://eu.posthog.com", "1", distinct_id),
        **values,
    }


def _queue(home: Path, alerts: list[dict[str, Any]], now: datetime, **kw: Any) -> Any:
    from usertrack.act.slack import Outbox

    outbox = Outbox.open(home)
    outbox.enqueue(alerts, now, now, timedelta(minutes=10), **kw)
    outbox.save()
    return outbox


def test_values_past_block_kit_limits_are_cut_and_slack_takes_the_message(tmp_path: Path) -> None:
    """A 4,000-character name, a 10,800-character page and a 3,500-character distinct_id (a
    3,543-character person link): Slack answers 400 invalid_blocks to a message past Block Kit's
    limits, which stayed queued for ever and made every run exit 5."""
    from usertrack.act.slack import deliver

    now = datetime.now(UTC)
    alerts = [
        _stranger(now, email="n@x.io", name="N" * 4000),
        _stranger(now, email="p@x.io", current_page="/" + "p" * 10_799),
        _stranger(now, email="d@x.io", distinct_id="d" * 3500),
        _stranger(now, email="e" * 3000 + "@x.io", trigger_name="T" * 200),
        _stranger(now, email="m@x.io", name="😀" * 4000, current_page="\u2028" * 9000),
    ]
    assert len(alerts[2]["posthog_url"]) > 3500
    outbox = _queue(tmp_path / "home", alerts, now, app_url="https://admin.example.com")
    with serve() as slack:
        done = deliver(outbox, slack.url, now, backoff=0.01)
    assert slack.problems == [] and slack.refused == []
    assert len(done.sent) == 5 and outbox.queue == [] and not done.dead
    by_email = {m["text"].split("(")[1].split(")")[0][:6]: m for m in slack.received}
    person = by_email["n@x.io"]["blocks"][1]["text"]["text"]
    assert "N" * 290 in person and "N" * 301 not in person and "N…" in person
    assert "(n@x.io)" in person and "Trigger: Stuck" in person  # the lines after it are kept
    page = by_email["p@x.io"]["blocks"][1]["text"]["text"]
    assert "📍 Current page: /ppp" in page and "p…" in page and "Trigger: Stuck" in page
    long_link = by_email["d@x.io"]["blocks"]
    buttons = [b["text"]["text"] for b in long_link[-2]["elements"]]
    assert buttons == ["View user"]  # the 3,543-character PostHog link is left out, and said so
    assert long_link[-1]["type"] == "context"
    assert "Open in PostHog link left out" in long_link[-1]["elements"][0]["text"]
    emoji = by_email["m@x.io"]["blocks"][1]["text"]["text"]  # 2 UTF-16 units each: 149 fit
    assert "😀" * 149 + "…" in emoji and "😀" * 150 not in emoji
    assert "Current page:  ⏎ " in emoji  # a line separator cannot fake a line
    for message in slack.received:
        assert len(message["text"]) <= 3000


def test_stranger_values_never_format_mention_or_reorder_in_slack(tmp_path: Path) -> None:
    from usertrack.act.slack import deliver

    now = datetime.now(UTC)
    name = "`tick`*star*_u_ ~s~ @here <!here> <https://evil.example|x> :smile: e\u202etxt.exe\x1b]8"
    outbox = _queue(tmp_path / "home", [_stranger(now, name=name, plan="<!channel>")], now)
    with serve() as slack:
        deliver(outbox, slack.url, now)
    (message,) = slack.received
    for block in message["blocks"]:
        text = block.get("text") or {}
        if text.get("type") == "mrkdwn":  # only usertrack's own words are mrkdwn
            assert text.get("verbatim") is True and "@x.io" not in text["text"]
    person = message["blocks"][1]["text"]
    assert person["type"] == "plain_text" and person["emoji"] is False
    assert "`tick`*star*_u_ ~s~ @here <!here> <https://evil.example|x> :smile: " in person["text"]
    assert "e\\u202etxt.exe\\x1b]8" in person["text"] and "\u202e" not in json.dumps(message)
    assert "\x1b" not in person["text"] and "Plan: <!channel>" in person["text"]
    # The fallback text (notifications) escapes Slack's control characters; mrkdwn is off.
    assert message["mrkdwn"] is False
    assert "<" not in message["text"] and "&lt;!here&gt;" in message["text"]
    assert "&lt;!channel&gt;" in message["text"] and "\u202e" not in message["text"]


def test_a_message_slack_refuses_is_dead_lettered_and_blocks_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = tmp_path / "home"
    notify = ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"]
    with serve() as slack:
        slack.script = [400]  # the first message: Slack will never take it
        first = run(notify, home, **env, SLACK_WEBHOOK_URL=slack.url)
        assert first.exit_code == 0, first.stderr
        assert len(slack.received) == len(EXPECTED) - 1 and slack.attempts == len(EXPECTED)
        assert "1 Slack message dead-lettered" in first.stderr
        assert "usertrack alerts --pending" in first.stderr
        pending = run(["alerts", "--pending"], home, **env)
        assert pending.exit_code == 0
        assert "No Slack message is queued." in pending.stdout
        (dead,) = [line for line in pending.stdout.splitlines() if "\tdead-lettered " in line]
        assert dead.endswith(": HTTP 400 invalid_payload")
        # It neither blocks nor is rebuilt and refused every run: it cools down as if sent.
        again = run(notify, home, **env, SLACK_WEBHOOK_URL=slack.url)
        assert again.exit_code == 0 and slack.attempts == len(EXPECTED)
        assert "dead-lettered" not in again.stderr
        # A webhook Slack refuses (404 no_service) refuses every message: they all stay queued.
        other = tmp_path / "other"
        wrong = run(notify, other, **env, SLACK_WEBHOOK_URL=slack.url + "x")
        assert wrong.exit_code == 5
        assert "Slack refused the webhook (HTTP 404 no_service)" in wrong.stderr
        assert wrong.stderr.count("not delivered (") == 1  # one try, not one per message
        assert "Slack did not take 1 message; 5 stay queued" in wrong.stderr
        assert len(json.loads((other / "alerts-outbox.json").read_text())["queue"]) == 5
    assert "SecretHookToken123" not in wrong.stderr + wrong.stdout


def test_a_message_queued_too_long_expires_into_the_dead_letters(tmp_path: Path) -> None:
    from usertrack.act.slack import Outbox, deliver

    now = datetime.now(UTC)
    home = tmp_path / "home"
    _queue(home, [_stranger(now - timedelta(hours=25))], now - timedelta(hours=25))
    _queue(home, [_stranger(now, email="fresh@x.io")], now)
    outbox = Outbox.open(home)
    with serve() as slack:
        done = deliver(outbox, slack.url, now)
    assert done.sent == ["person:fresh@x.io"]
    assert done.dead == {"person:a@x.io": "expired"} and slack.attempts == 1
    saved = Outbox.open(home)
    assert saved.queue == [] and [d["key"] for d in saved.dead] == ["person:a@x.io"]
    assert saved.dead[0]["why"] == "expired: queued more than 24 h ago"


def test_a_pass_ends_by_its_deadline_and_leaves_the_rest_queued(tmp_path: Path) -> None:
    from usertrack.act.slack import deliver

    now = datetime.now(UTC)
    alerts = [_stranger(now, email=f"{n}@x.io") for n in range(3)]
    outbox = _queue(tmp_path / "home", alerts, now)
    with serve() as slack:
        slack.script = [("slow", 1.0)] * 3
        started = time.monotonic()
        # A post may take 3 s: the second starts by 1.9 s (each post takes 1 s, and the rest
        # of the pass is given 0.9 s on a busy machine), the third, at 2 s or later, cannot
        # end within 4.9 s.
        done = deliver(outbox, slack.url, now, timeout=3.0, deadline=4.9)
        took = time.monotonic() - started
    assert len(done.sent) == 2 and done.left == 1 and len(outbox.queue) == 1
    assert took < 4.9


def test_a_failing_slack_costs_one_deadline_not_minutes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Slack answering 500 to everything: the run gives up at its deadline (the issue's took
    141 s for 20 messages, silent after the table); what is left stays queued, said on stderr."""
    with serve() as slack:
        slack.script = [500] * 100
        started = time.monotonic()
        result = run(
            ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"],
            tmp_path / "home",
            **env,
            SLACK_WEBHOOK_URL=slack.url,
            USERTRACK_SLACK_BACKOFF="1",
            USERTRACK_SLACK_DEADLINE="3s",
        )
        took = time.monotonic() - started
    assert result.exit_code == 5
    assert took < 12  # the pass: at most its 3 s deadline (the old code: 5 x 7 s of backoff)
    assert "deadline" in result.stderr and "queued" in result.stderr
    assert "sent 0 Slack messages; 5 queued" in result.stderr


def test_two_notify_runs_at_once_post_each_alert_once(tmp_path: Path, env: dict[str, str]) -> None:
    """An overlapping cron line: the second run waits for the first (the home's lock), then
    finds everything sent. Real processes, as cron starts them."""
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "usertrack"
    home = tmp_path / "home"
    with serve() as slack:
        # The first run's first post is held until the second run has come to the lock (both
        # have its file open: the second waits); 8 s at most.
        slack.script = [("held",)]
        child_env = {
            **os.environ,
            **env,
            "USERTRACK_HOME": str(home),
            "SLACK_WEBHOOK_URL": slack.url,
        }
        argv = [str(exe), "-q", "alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"]
        procs = [
            subprocess.Popen(
                argv, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        deadline = time.monotonic() + 8
        pids = [p.pid for p in procs]
        while time.monotonic() < deadline:
            if slack.attempts and all_have_open(home / "alerts.lock", pids):
                break
            time.sleep(0.01)
        slack.release.set()
        outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    texts = [m["text"] for m in slack.received]
    assert len(texts) == len(EXPECTED) and len(set(texts)) == len(texts)
    assert slack.attempts == len(EXPECTED)


@pytest.mark.parametrize("taken", [0, 1, 3])
def test_kill_9_while_sending_loses_nothing_and_repeats_only_the_post_in_flight(
    tmp_path: Path, env: dict[str, str], taken: int
) -> None:
    """`alerts --notify` killed (SIGKILL) while Slack holds its post number taken+1: the next
    run sends every alert not yet taken, and the only one Slack may see twice is the one in
    flight at the kill (taken by Slack, its answer never read): nothing lost, nothing else
    repeated."""
    import collections
    import signal
    import subprocess
    import sys
    import time

    exe = Path(sys.executable).parent / "usertrack"
    home = tmp_path / "home"
    with serve() as slack:
        slack.script = [200] * taken + [("held",)]
        child_env = {**os.environ, **env, "USERTRACK_HOME": str(home),
                     "SLACK_WEBHOOK_URL": slack.url}  # fmt: skip
        argv = [str(exe), "-q", "alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"]
        first = subprocess.Popen(argv, env=child_env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 60
        while slack.attempts < taken + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert slack.attempts == taken + 1
        # Slack takes the post in flight once the run is killed, its answer never read
        slack.release.set()
        deadline = time.monotonic() + 30
        while len(slack.received) < taken + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(slack.received) == taken + 1
        again = subprocess.run(argv, env=child_env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        seen = collections.Counter(json.dumps(m, sort_keys=True) for m in slack.received)
    assert len(seen) == len(EXPECTED)  # every alert, once at least
    twice = [m for m, n in seen.items() if n > 1]
    assert len(twice) <= 1 and all(n <= 2 for n in seen.values())


@pytest.fixture()
def demo(fixed_demo_home: Path) -> Iterator[Path]:
    """The fixed demo (300 users, anchor 2026-11-16) with no history and no outbox."""
    from usertrack.segments.history import history_path

    def clean() -> None:
        history_path(fixed_demo_home).unlink(missing_ok=True)
        (fixed_demo_home / "alerts-outbox.json").unlink(missing_ok=True)
        (fixed_demo_home / "alerts-segments.json").unlink(missing_ok=True)

    clean()
    yield fixed_demo_home
    clean()


def _entered(alerts: list[dict[str, Any]]) -> set[str]:
    return {a["email"] for a in alerts if a["trigger"] == "entered_segment"}


def test_a_dry_run_consumes_nothing_the_real_run_sends(demo: Path) -> None:
    """`alerts -f json` saved its snapshot, and the `--notify` run after it compared with that
    and sent none of the "entered segment" alerts the dry run had listed."""
    dry = run(["alerts", "-f", "json", "--as-of", "2026-11-15 23:59:30"], demo)
    assert dry.exit_code == 0, dry.stderr
    listed = _entered(json.loads(dry.stdout)["alerts"])
    assert len(listed) >= 3
    with serve() as slack:
        sent = run(["alerts", "--notify", "slack"], demo, SLACK_WEBHOOK_URL=slack.url)
    assert sent.exit_code == 0, sent.stderr
    entered = {
        key.split(":", 1)[1]
        for key in json.loads((demo / "alerts-outbox.json").read_text())["sent"]
        if key.startswith("person:")
    }
    assert entered >= listed  # one message a person, whatever triggered it
    assert {
        email
        for email in listed
        for m in slack.received
        if email in m["text"] and "Entered a segment" in m["blocks"][1]["text"]["text"]
    } == listed
    assert "nothing recorded" in dry.stderr
    # The run that sent kept its segments (and the day-earlier ones it computed).
    import sqlite3

    from usertrack.segments.history import history_path

    with sqlite3.connect(history_path(demo)) as con:
        saved = {row[0] for row in con.execute("SELECT as_of FROM snapshots")}
    assert saved == {"2026-11-15T00:00:00Z", "2026-11-16T00:00:00Z"}


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("{not json", "not JSON"),
        ("[]", "a JSON list, not an object"),
        ('{"sent": "abc"}', "'sent' is str, not an object"),
        ('{"queue": "abc"}', "'queue' is str, not a list"),
        ('{"queue": [{"key": 1}]}', "'queue' item 1 has no text 'key'"),
        ('{"queue": [{"key": "k", "payload": {}}]}', "'queue' item 1 has no ISO 8601 time"),
        ('{"sent": {"k": "yesterday"}}', "'sent' of 'k' is 'yesterday'"),
        ('{"dead": [3]}', "'dead' item 1 is int, not an object"),
    ],
)
def test_a_damaged_outbox_is_named_never_emptied_nor_overwritten(
    tmp_path: Path, env: dict[str, str], text: str, what: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    outbox = home / "alerts-outbox.json"
    outbox.write_text(text)
    with serve() as slack:
        result = run(
            ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
        )
        assert slack.attempts == 0
    assert result.exit_code == 8, result.stderr
    assert f"usertrack: error: {outbox}: the alerts outbox is damaged: {what}" in result.stderr
    assert "usertrack alerts --reset-outbox" in result.stderr and "Traceback" not in result.stderr
    assert outbox.read_text() == text  # never overwritten
    pending = run(["alerts", "--pending"], home, **env)
    assert pending.exit_code == 8 and "damaged" in pending.stderr
    reset = run(["alerts", "--reset-outbox"], home, **env)
    assert reset.exit_code == 0, reset.stderr
    (aside,) = home.glob("alerts-outbox.json.damaged-*")
    assert aside.read_text() == text and not outbox.exists()
    assert str(aside) in reset.stderr and reset.stdout == ""  # a note, as --reset-state's
    assert run(["alerts", "--pending"], home, **env).exit_code == 0


def test_pending_shows_stranger_values_as_plain_text(tmp_path: Path) -> None:
    """An email holding an OSC 8 hyperlink reached the terminal raw through `--pending`."""
    now = datetime.now(UTC)
    evil = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\u202e@x.io"
    _queue(tmp_path / "home", [_stranger(now, email=evil)], now)
    result = run(["alerts", "--pending"], tmp_path / "home")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert "\\x1b]8;;http://evil.example/" in result.stdout
    # Nothing to reset in a home that does not exist yet: said, exit 0, no lock file made.
    fresh = tmp_path / "fresh"
    reset = run(["alerts", "--reset-outbox"], fresh)
    assert reset.exit_code == 0 and "no Slack outbox to reset" in reset.stderr
    assert not fresh.exists()


def test_a_damaged_snapshot_stops_no_alert_and_is_named_by_changes_and_report(
    demo: Path,
) -> None:
    """One damaged history snapshot made `alerts` exit 8 on every run (all Slack alerting
    blocked), with no word on how to recover. `alerts` reads no earlier snapshot now;
    `segments --changes` and `report weekly` skip it with a warning saying how."""
    import sqlite3

    from usertrack.segments.history import history_path

    before = run(["alerts", "-f", "json"], demo)  # no snapshot: compares with the day earlier
    assert before.exit_code == 0, before.stderr
    for day in ("2026-11-09", "2026-11-15"):  # `segments` keeps its snapshot
        assert run(["segments", "--as-of", day, "-f", "json"], demo).exit_code == 0
    path = history_path(demo)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE snapshots SET memberships = x'00' WHERE as_of < '2026-11-16'")

    def warned(stderr: str, key: str) -> bool:
        start = f"usertrack: warning: {path}: the snapshot of {key} is damaged (Error -5 while"
        end = f"; skipped (hint: usertrack segments --as-of {key} --save computes it again)"
        return any(line.startswith(start) and line.endswith(end) for line in stderr.splitlines())

    alerts = run(["alerts", "-f", "json"], demo)
    assert alerts.exit_code == 0, alerts.stderr
    # Both snapshots before it are damaged: alerts compares with the day earlier, from the data.
    assert not warned(alerts.stderr, "2026-11-15T00:00:00Z")
    assert "the segments one day earlier, worked out from the data" in alerts.stderr
    assert _entered(json.loads(alerts.stdout)["alerts"]) == _entered(
        json.loads(before.stdout)["alerts"]
    )
    changes = run(
        ["segments", "--changes", "--since", "2026-11-15", "--no-save", "-f", "json"], demo
    )
    assert changes.exit_code == 0, changes.stderr
    assert warned(changes.stderr, "2026-11-15T00:00:00Z")
    assert json.loads(changes.stdout)["baseline"] == "computed"
    report = run(["report", "weekly", "--as-of", "2026-11-15", "--out", "-", "--no-save"], demo)
    assert report.exit_code == 0, report.stderr
    assert warned(report.stderr, "2026-11-09T00:00:00Z")


def test_the_outbox_is_private_from_its_first_byte_and_forgets_old_sends(tmp_path: Path) -> None:
    """It was written with the umask's mode (0644) and chmodded after; `sent` kept every key
    ever alerted. Now 0600 at once, and a key older than the cooldown and a week is dropped."""
    from usertrack.act.slack import Outbox

    home = tmp_path / "home"
    home.mkdir()
    old_umask = os.umask(0o000)  # the widest a user could have
    try:
        now = datetime.now(UTC)
        outbox = Outbox.open(home)
        days_ago = {"old": 8, "recent": 6}
        outbox.sent = {f"person:{who}@x.io": (now - timedelta(days=n)).isoformat()
                       for who, n in days_ago.items()}  # fmt: skip
        outbox.enqueue([_stranger(now, email="new@x.io")], now, now, timedelta(minutes=10))
        outbox.save()
    finally:
        os.umask(old_umask)
    path = home / "alerts-outbox.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(Outbox.open(home).sent) == {"person:recent@x.io"}


def test_a_segments_run_between_two_alerts_passes_consumes_nothing(demo: Path) -> None:
    """The history keeps one snapshot a day: a `segments` run after an alerts pass replaced the
    pass's snapshot, and the next pass compared with it, so whoever entered a segment between
    the pass and the `segments` run was never alerted. The pass keeps its own baseline."""
    with serve() as slack:
        sent = run(["alerts", "--notify", "slack", "--as-of", "2026-11-14 06:00"], demo,
                   SLACK_WEBHOOK_URL=slack.url)  # fmt: skip
    assert sent.exit_code == 0, sent.stderr
    assert stat.S_IMODE((demo / "alerts-segments.json").stat().st_mode) == 0o600

    def entered() -> set[str]:
        # A pass that keeps its segments, at the data's own moment (a chosen one, --as-of,
        # compares with the data): it compares with what the last one kept. What it keeps is
        # put back, so that the next call compares with the same.
        kept = (demo / "alerts-segments.json").read_bytes()
        try:
            again = run(["alerts", "-f", "json", "--save"], demo)
        finally:
            (demo / "alerts-segments.json").write_bytes(kept)
        assert again.exit_code == 0, again.stderr
        assert json.loads(again.stdout)["baseline"]["from"] == "last_pass"
        return _entered(json.loads(again.stdout)["alerts"])

    before = entered()
    saved = run(["segments", "--as-of", "2026-11-14 20:00", "--save", "-f", "json"], demo)
    assert saved.exit_code == 0, saved.stderr
    assert len(before) >= 3 and entered() == before
    # A damaged baseline file is named, and the day earlier is the baseline instead.
    (demo / "alerts-segments.json").write_text("{oops")
    damaged = run(["alerts", "-f", "json", "--save"], demo)
    assert damaged.exit_code == 0 and "alerts-segments.json: damaged" in damaged.stderr
    assert json.loads(damaged.stdout)["baseline"]["from"] == "data"


def test_a_history_damaged_as_a_whole_does_not_stop_alerting(demo: Path) -> None:
    """A history file that is no database at all made every `alerts` run exit 8 (all Slack
    alerting blocked) with no word on how to recover."""
    from usertrack.segments.history import history_path

    path = history_path(demo)
    path.write_text("not a database\n")
    found = run(["alerts", "-f", "json", "--save"], demo)  # the history is read and written
    assert found.exit_code == 0, found.stderr
    assert f"{path}: cannot open the segment history" in found.stderr
    assert f"mv {path} {path}.damaged" in found.stderr
    assert _entered(json.loads(found.stdout)["alerts"])  # compared with the day before
    changes = run(["segments", "--changes", "--as-of", "2026-11-15 23:00"], demo)
    assert changes.exit_code == 8
    assert changes.stderr.splitlines()[-1] == f"usertrack: hint: move it aside to start a new" \
        f" one: mv {path} {path}.damaged"  # fmt: skip


def test_an_as_of_run_gives_the_same_answer_whatever_the_history_holds(demo: Path) -> None:
    """`alerts --as-of T` gave 42, 125 or 66 alerts on the same data, by which snapshots
    earlier `segments --as-of` runs (and alerts passes) had saved. A chosen moment compares with
    the segments one day earlier worked out from the data, and the JSON says so."""
    moment = "2026-11-15 12:00"

    def at_moment() -> dict[str, Any]:
        result = run(["alerts", "--as-of", moment, "-f", "json"], demo)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    bare = at_moment()
    assert bare["baseline"]["from"] == "data"
    assert bare["baseline"]["as_of"] == "2026-11-14T12:00:00Z"
    assert len(_entered(bare["alerts"])) >= 1
    # Snapshots a few hours and a few days before, and a pass that kept its segments.
    for earlier in ("2026-11-15 06:00", "2026-11-13", "2026-11-10"):
        saved = run(["segments", "--as-of", earlier, "--save", "-f", "json"], demo)
        assert saved.exit_code == 0, saved.stderr
    kept = run(["alerts", "--as-of", "2026-11-15 09:00", "--save", "-f", "json"], demo)
    assert kept.exit_code == 0, kept.stderr
    assert (demo / "alerts-segments.json").exists()
    assert at_moment() == bare
    # At the data's own moment (no --as-of) a pass compares with what the last pass that kept
    # its segments kept, a dry one too: it lists whom the next sending pass reports.
    dry = run(["alerts", "-f", "json"], demo)
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["baseline"]["from"] == "last_pass"
    now = run(["alerts", "-f", "json", "--save"], demo)
    assert now.exit_code == 0, now.stderr
    assert json.loads(now.stdout)["baseline"] == json.loads(dry.stdout)["baseline"]
    assert _entered(json.loads(now.stdout)["alerts"]) == _entered(json.loads(dry.stdout)["alerts"])


def test_a_webhook_that_echoes_its_path_leaks_it_nowhere(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """An endpoint that answers 404 with the path it was posted to: the path (the webhook's
    secret) is in no output, no outbox, no `alerts --pending` (run without the URL set)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    path = "/services/T0ECHO1234/B0ECHO5678/EchoedSecretToken42xyz"

    class Echo(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = f"no_service: nothing at {self.path} ({self.path.lstrip('/')})".encode()
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        home = tmp_path / "home"
        notify = ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"]
        sent = run(notify, home, **env, SLACK_WEBHOOK_URL=url)
    finally:
        server.shutdown()
        server.server_close()
    assert sent.exit_code == 5, sent.stderr
    assert "Slack refused the webhook (HTTP 404 no_service" in sent.stderr
    pending = run(["alerts", "--pending"], home, **env)
    outbox = (home / "alerts-outbox.json").read_text()
    everything = sent.stdout + sent.stderr + pending.stdout + pending.stderr + outbox
    for piece in ("EchoedSecretToken42xyz", "T0ECHO1234", "B0ECHO5678", "EchoedSecret"):
        assert piece not in everything, piece
