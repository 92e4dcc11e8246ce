"""The tracking-plan audit's scan for personal data and secrets in property values.

A hand-made events export plants one value of every kind (and near misses that must not count)
and is audited locally (DuckDB) and over real HTTP by the tests' PostHog (ClickHouse): both must
find the same. The demo's planted leak is named, and no format, nor the MCP tool, ever shows a
planted value whole.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from tests.posthog_server import DEFAULT_KEY, serve
from usertrack.audit.pii import luhn, mask, past_tense
from usertrack.demo.events import LEAKED_EMAIL, LEAKED_TOKEN

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)

PLAN = """\
tiers:
  critical: Critical
events:
  profile_updated:
    tier: critical
    description: The profile was saved.
    source: backend
    required:
      email: string
person_properties:
  required:
    email: string
"""

# The planted values: property -> (value, kind found or None for a near miss).
PLANTED: dict[str, tuple[str, str | None]] = {
    "contact": ("jane.doe@example.com", "email"),
    "note": ("write to jane.doe@example.com today", "email"),
    "mobile": ("+44 20 7946 0958", "phone"),
    "us_phone": ("(415) 555-0132", "phone"),
    "card": ("4111 1111 1111 1111", "card"),
    "not_a_card": ("4111 1111 1111 1112", None),  # fails the Luhn check
    "stripe": ("sk_live_51HxAbCdEfGh1234", "credential"),
    "github": ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "credential"),
    "slack": ("xoxb-123456789012-abcdefghij", "credential"),
    "aws": ("AKIAIOSFODNN7EXAMPLE", "credential"),
    "jwt": (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
        "credential",
    ),
    "blob": ("Zk8qW3nR7tY2uP5sV9xB4cM6dF1gH0jK", "random_string"),
    "session": ("0190c3a1-7b2e-7f00-8a3b-5c6d7e8f9a0b", None),  # a UUID
    "sha": ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", None),
    "day": ("2026-05-20", None),
    "count": ("1234567", None),
}
DECLARED_EMAIL = "ann.smith@acme.io"  # profile_updated.email: declared by the plan


def _records() -> list[dict[str, Any]]:
    when = AS_OF - timedelta(days=3)
    person = {"email": "ann@acme.io"}
    rows: list[dict[str, Any]] = []
    for n, (key, (value, _)) in enumerate(PLANTED.items(), start=1):
        rows.append(
            {"uuid": f"00000000-0000-0000-0000-{n:012d}", "event": "form_sent",
             "distinct_id": "d-ann", "person_id": "p-ann",
             "timestamp": (when + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "properties": {key: value}, "person_properties": person}
        )  # fmt: skip
    for n in (100, 101):
        rows.append(
            {"uuid": f"00000000-0000-0000-0000-{n:012d}", "event": "profile_updated",
             "distinct_id": "d-ann", "person_id": "p-ann",
             "timestamp": (when + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "properties": {"email": DECLARED_EMAIL, "userPhone": "+1 415 555 0132"},
             "person_properties": person}
        )  # fmt: skip
    return rows


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    return path


@pytest.fixture()
def plan_path(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


def _audit(plan_path: Path, fmt: str, **env: str) -> str:
    result = run(["tracking-plan", "--plan", str(plan_path), "--as-of", "2026-06-01", "-f", fmt],
                 **env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _found(doc: dict[str, Any]) -> dict[tuple[str | None, str], dict[str, Any]]:
    return {(f["event"], f["property"]): f for f in doc["pii"]["findings"]}


def _check(doc: dict[str, Any]) -> None:
    found = _found(doc)
    for key, (_, kind) in PLANTED.items():
        if kind is None:
            assert ("form_sent", key) not in found, key
        else:
            assert found[("form_sent", key)]["kind"] == kind, key
            assert found[("form_sent", key)]["count"] == 1
    assert found[("profile_updated", "userPhone")]["kind"] == "phone"
    assert found[("profile_updated", "userPhone")]["count"] == 2
    # the plan declares profile_updated.email and the person property email: not findings
    assert ("profile_updated", "email") not in found
    declared = {(d["source"], d["event"], d["property"]) for d in doc["pii"]["declared"]}
    assert declared == {("event", "profile_updated", "email"), ("person", None, "email")}
    assert found[("form_sent", "contact")]["example"] == "j***@e***.com"
    assert found[("form_sent", "stripe")]["example"] == "sk_l***"
    # naming: camelCase property, and an action that is not in the past tense
    assert "profile_updated.userPhone" in doc["naming"]["properties_not_snake_case"]
    assert doc["naming"]["events_not_past_tense"] == []  # form_sent: sent is a past participle
    assert any("userPhone (event property)" in p for p in doc["problems"])


def _assert_no_value(text: str) -> None:
    for value, kind in PLANTED.values():
        if kind is not None:
            assert value not in text, value
    assert DECLARED_EMAIL not in text and "ann@acme.io" not in text
    assert "415 555 0132" not in text


def test_every_kind_found_the_same_locally_and_on_clickhouse(
    export: Path, plan_path: Path, tmp_path: Path
) -> None:
    local = json.loads(_audit(plan_path, "json", USERTRACK_EVENTS=str(export)))
    _check(local)

    from usertrack.engines.local.eventstore import import_events

    store = tmp_path / "served.duckdb"
    import_events(export, store)
    with serve(store, project_id=4242) as fake:
        live = json.loads(
            _audit(plan_path, "json", POSTHOG_HOST=fake.url, POSTHOG_PROJECT_ID="4242",
                   POSTHOG_PERSONAL_API_KEY=DEFAULT_KEY, USERTRACK_CACHE_TTL="0")
        )  # fmt: skip
    assert live["pii"] == local["pii"]
    assert live["naming"] == local["naming"]


@pytest.mark.parametrize("fmt", ["json", "md", "table", "csv"])
def test_no_format_shows_a_value_whole(export: Path, plan_path: Path, fmt: str) -> None:
    out = _audit(plan_path, fmt, USERTRACK_EVENTS=str(export))
    _assert_no_value(out)
    if fmt in ("md", "table"):
        assert "j***@e***.com" in out.replace("\\*", "*")


def test_the_demo_names_its_planted_leak_masked(demo_home: Path) -> None:
    outputs = {}
    for fmt in ("json", "md", "table"):
        result = run(["tracking-plan", "-f", fmt], home=demo_home)
        assert result.exit_code == 0, result.stderr
        outputs[fmt] = result.stdout
        assert LEAKED_EMAIL not in result.stdout and LEAKED_TOKEN not in result.stdout
        assert LEAKED_TOKEN[:8] not in result.stdout  # not even the prefix past four characters
    doc = json.loads(outputs["json"])
    found = _found(doc)
    assert found[("signedUp", "contact_email")]["kind"] == "email"
    assert found[("signedUp", "contact_email")]["example"] == "d***@e***.com"
    assert found[("signedUp", "apiToken")]["kind"] == "credential"
    assert found[("signedUp", "apiToken")]["example"] == "sk_l***"
    assert found[("signedUp", "apiToken")]["count"] == found[("signedUp", "contact_email")]["count"]
    assert "signedUp.apiToken" in doc["naming"]["properties_not_snake_case"]
    # the person property email is declared by the shipped plan: expected, not a finding
    assert any(d["source"] == "person" and d["property"] == "email" for d in doc["pii"]["declared"])


def test_the_mcp_tool_shows_no_value_whole(demo_home: Path) -> None:
    from tests.mcp.test_mcp import raw_text, with_client

    async def body(client: Any) -> Any:
        return await client.call_tool("tracking_plan", {})

    answer = "\n".join(raw_text(with_client(demo_home, body)))
    assert "d***@e***.com" in answer
    assert LEAKED_EMAIL not in answer and LEAKED_TOKEN not in answer


def test_luhn_mask_and_tense() -> None:
    assert luhn("4242 4242 4242 4242") and not luhn("4242 4242 4242 4241")
    assert not luhn("1234")
    assert mask("email", "Jane@Example.co.uk") == "J***@E***.uk"
    assert mask("credential", "sk_live_abcdefghijklmnop") == "sk_l***"
    assert mask("phone", "555-0132") == "55***"
    assert past_tense("user_signed_up") and past_tense("signedUp") and past_tense("report_sent")
    assert not past_tense("click_button") and not past_tense("signUp")
