"""`usertrack alerts`: each trigger on a hand-made event set, and Slack delivery to a real local
webhook stand-in (tests/slack_server.py): cooldown, retry, a queue that loses nothing."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import handmade
from tests.cli_runner import run
from tests.slack_server import serve

AS_OF = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
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

    shipped = yaml.safe_load((Path(__file__).parent.parent / "alerts.yaml").read_text())
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
    assert f"{rules}:2: unknown key 'wehn' (did you mean 'when'?)" in result.stderr
    rules.write_text("triggers:\n  - id: x\n    name: X\n    kind: activity\n    when: stuk\n")
    result = run(["alerts", "--alerts", str(rules)], tmp_path / "home", **env)
    assert result.exit_code == 2 and "unknown column 'stuk'" in result.stderr
    rules.write_text(
        "triggers:\n  - id: x\n    name: X\n    kind: activity\n    when: 1; DROP TABLE x\n"
    )
    result = run(["alerts", "--alerts", str(rules)], tmp_path / "home", **env)
    assert result.exit_code == 2 and f"{rules}:2:" in result.stderr
    rules.write_text("params:\n  stuck_minute: 5\ntriggers:\n  - {id: x, name: X, kind: activity,"
                     " when: stuck_on_page}\n")  # fmt: skip
    result = run(["alerts", "--alerts", str(rules)], tmp_path / "home", **env)
    assert result.exit_code == 2
    assert "params.stuck_minute is not a parameter" in result.stderr
    assert "did you mean 'stuck_minutes'" in result.stderr


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
        assert "sent 5 Slack message(s); 0 queued" in first.stderr
        again = run(
            ["alerts", "--as-of", AS_OF_TEXT, "--notify", "slack"],
            home,
            **env,
            SLACK_WEBHOOK_URL=slack.url,
        )
        assert again.exit_code == 0 and len(slack.received) == len(EXPECTED)  # cooling down
        assert "sent 0 Slack message(s)" in again.stderr
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
    person = message["blocks"][1]["text"]["text"]
    # the name is PostHog data: Slack's control characters escaped, never markup
    assert "Stuck &lt;b&gt;&amp; (stuck@x.io)" in person
    assert "/billing" in person and "8m 0s" in person
    assert "Stuck on page" in person
    outbox = home / "alerts-outbox.json"
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o600
    for text in (dry.stdout, dry.stderr, first.stdout, first.stderr, outbox.read_text()):
        assert "SecretHookToken123" not in text
    for path in home.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".txt", ".log"):
            assert "SecretHookToken123" not in path.read_text(errors="replace")


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
    assert "pass 1: 5 alert(s), 0 sent, 0 queued (" in lines[0]
    assert "pass 2: 5 alert(s)" in lines[1]


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
    errors = [a for a in json.loads(result.stdout)["alerts"] if a["trigger"] == "multiple_errors"]
    assert len(errors) == 1 and errors[0]["session_errors"] >= 4
    # No snapshot before: the day-earlier segments were computed, and both moments were kept in
    # the history (as a `segments` run keeps its own), so the next run classifies once and
    # answers the same, without the note.
    assert "one day earlier" in result.stderr
    import sqlite3

    from usertrack.segments.history import history_path

    with sqlite3.connect(history_path(home)) as con:
        saved = {row[0] for row in con.execute("SELECT as_of FROM snapshots")}
    assert saved == {"2026-11-15T00:00:00Z", "2026-11-16T00:00:00Z"}  # the anchor, a day before
    again = run(["alerts", "-f", "json"], home)
    assert again.exit_code == 0, again.stderr
    assert "one day earlier" not in again.stderr
    assert json.loads(again.stdout)["alerts"] == json.loads(result.stdout)["alerts"]
    day_after = anchor - timedelta(days=INCIDENT_DAYS_BEFORE_ANCHOR - 1)
    spike = run(["alerts", "--as-of", day_after.isoformat(), "-f", "json"], home)
    assert spike.exit_code == 0, spike.stderr
    assert "failure_spike" in {a["trigger"] for a in json.loads(spike.stdout)["alerts"]}
    # --watch: the segment trigger (every per-user query) runs on the first pass, then at most
    # every 10 minutes; the activity query runs every pass.
    entered = sum(
        1 for a in json.loads(result.stdout)["alerts"] if a["trigger"] == "entered_segment"
    )
    total = len(json.loads(result.stdout)["alerts"])
    watched = run(["alerts", "-f", "json", "--watch", "--every", "0.1s", "--passes", "2"], home)
    assert watched.exit_code == 0, watched.stderr
    lines = [line for line in watched.stderr.splitlines() if " pass " in line]
    assert f"pass 1: {total} alert(s)" in lines[0]
    assert f"pass 2: {total - entered} alert(s)" in lines[1]


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
    assert done.sent == ["stuck_on_page:a@x.io"] and outbox.queue == []
    # The slow answer may still have been taken: a webhook has no idempotency key, which is
    # why a message leaves the queue only after a 2xx was seen (README "Act on it").
    assert 1 <= len(slack.received) <= 2
    buttons = slack.received[-1]["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Open in PostHog"]
    assert Outbox.open(tmp_path / "home").sent.keys() == {"stuck_on_page:a@x.io"}


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
        timer = threading.Timer(0.15, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            deliver(outbox, slack.url, now, timeout=5)
        timer.join()
        assert len(slack.received) == 1
    saved = Outbox.open(tmp_path / "home")
    assert saved.queue == [] and list(saved.sent) == ["multiple_errors:a@x.io"]
