"""`alerts -f json`'s text (usertrack/act/alerts_view.py): written by json's C encoder, the same
bytes as the indented dump with its ASCII escapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from usertrack.act.alerts import AlertRun, alerts_document
from usertrack.act.alerts_view import alerts_json
from usertrack.rendering.export import jsonable


def _run(email: str, name: str | None) -> AlertRun:
    as_of = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
    run = AlertRun(as_of=as_of, rules_path="alerts.yaml")
    run.baseline = {"as_of": as_of, "from": "last_pass", "snapshot": None}
    person = {"email": email, "name": name, "plan": "trialing", "trigger": "stuck_on_page",
              "trigger_name": "Stuck", "detail": "", "current_page": "/pricing",
              "time_on_page_seconds": 301, "session_events": 4, "session_errors": 0,
              "last_active_at": datetime(2026, 11, 16, 11, 58, 30, tzinfo=UTC),
              "distinct_id": "d1", "posthog_url": None}  # fmt: skip
    metric = {"email": "", "trigger": "dau_drop", "detail": "dau 2026-11-15: 3, outside",
              "metric": {"metric": "dau of $pageview", "value": 3.0, "low": None, "high": 9.5,
                         "recent": [{"window": "2026-11-15", "value": float("nan")}],
                         "range": None}}  # fmt: skip
    run.alerts = [person, metric, {"email": "none@x.io", "trigger": "failure_spike"}]
    return run


def test_the_json_is_the_indented_dump_byte_for_byte() -> None:
    for email, name in [
        ("plain@x.io", "Ann"),
        ("zoë@x.io", "Zoë 😀 \x7f del"),  # escaped as the dump escapes them
        ("ctl@x.io", 'tab\there "quoted" \\ back\nline \x00 \x1f'),
        ("lone@x.io", "half \ud83d pair"),
        ("none@x.io", None),
    ]:
        run = _run(email, name)
        expected = json.dumps(jsonable(alerts_document(run)), indent=2) + "\n"
        assert alerts_json(run) == expected
        assert json.loads(alerts_json(run))["alerts"][0]["name"] == name


def test_no_alert_is_an_empty_list() -> None:
    run = AlertRun(as_of=datetime(2026, 11, 16, tzinfo=UTC), rules_path="alerts.yaml")
    assert alerts_json(run) == json.dumps(jsonable(alerts_document(run)), indent=2) + "\n"
    assert '"alerts": []' in alerts_json(run)
