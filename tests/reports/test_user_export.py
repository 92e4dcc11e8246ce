"""`usertrack user EMAIL --export FILE` on the demo: one person's data, whole, and nobody else's.

Expected figures come from the sources themselves (a HogQL count through `query --hogql`, the app's
tables through `query --sql`), never typed in.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import run
from usertrack.core.errors import EXIT_NOT_FOUND, EXIT_USAGE

REPO = Path(__file__).resolve().parents[2]


def _rows(home: Path, *args: str) -> list[dict[str, Any]]:
    result = run(["query", *args, "-f", "json"], home=home)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    return [dict(zip(doc["columns"], row, strict=True)) for row in doc["rows"]]


@pytest.fixture(scope="module")
def people(demo_home: Path) -> list[dict[str, Any]]:
    """Everyone segmented, with a snapshot saved in the history (as a `segments` run does)."""
    result = run(["segments", "--save", "-f", "json"], home=demo_home)
    assert result.exit_code == 0, result.stderr
    users = json.loads(result.stdout)["users"]
    assert len(users) > 100
    return users  # type: ignore[no-any-return]


def _pick(people: list[dict[str, Any]]) -> str:
    """The busiest person who is in a segment and has app rows and events."""
    chosen = max(
        (p for p in people if p["segments"] and p.get("run_count") and p.get("events_total")),
        key=lambda p: (p["events_total"], p["email"]),
    )
    return str(chosen["email"])


def _export(home: Path, email: str, out: Path, *more: str) -> dict[str, Any]:
    result = run(["user", email, "--export", str(out), *more], home=home)
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _count(home: Path, email: str) -> int:
    rows = _rows(
        home, "--hogql",
        "SELECT count() AS n FROM events WHERE"
        " lowerUTF8(trim(JSONExtractString(person.properties, 'email'))) = {email}",
        "-p", f"email={email}",
    )  # fmt: skip
    return int(rows[0]["n"])


def test_export_holds_every_event_their_app_rows_and_nobody_else(
    demo_home: Path, people: list[dict[str, Any]], tmp_path: Path
) -> None:
    email = _pick(people)
    out = tmp_path / "nested" / "export.json"
    doc = _export(demo_home, email, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert doc["email"] == email

    # PostHog: every event (the count PostHog gives for them), each of their person
    events = doc["posthog"]["events"]
    assert events["count"] == len(events["rows"]) == _count(demo_home, email) > 0
    assert events["capped"] is False
    persons = doc["posthog"]["persons"]
    assert persons and all(p["properties"]["email"] == email for p in persons)
    ids = {p["person_id"] for p in persons}
    distinct = {d for p in persons for d in p["distinct_ids"]}
    assert {e["person_id"] for e in events["rows"]} <= ids
    assert {e["distinct_id"] for e in events["rows"]} == distinct
    assert len({e["uuid"] for e in events["rows"]}) == len(events["rows"])  # no page overlaps

    # the app: their account and every row pointing at it, as the database holds them
    app = doc["app"]
    (account,) = app["wasp_user"]
    assert account["email"].strip().lower() == email
    fastapi_ids = {u["id"] for u in app["fastapi_user"]}
    assert all(u["wasp_user_id"] == account["id"] for u in app["fastapi_user"])
    assert all(r["user_id"] in fastapi_ids for r in app["fastapi_run"])
    assert all(int(t["user_id"]) in fastapi_ids for t in app.get("fastapi_tool_executions", []))
    runs = _rows(
        demo_home, "--sql",
        "SELECT count(*) AS n FROM fastapi_run AS r JOIN fastapi_user AS f ON f.id = r.user_id"
        " JOIN wasp_user AS w ON w.id = f.wasp_user_id WHERE lower(w.email) = %(email)s",
        "-p", f"email={email}",
    )  # fmt: skip
    assert len(app["fastapi_run"]) == runs[0]["n"] > 0

    # usertrack: the profile and segments `user` shows, the snapshot that names them
    mine = next(p for p in people if p["email"] == email)
    assert [s["id"] for s in doc["usertrack"]["segments"]] == mine["segments"]
    assert doc["usertrack"]["history"]
    assert doc["usertrack"]["history"][-1]["segments"] == mine["segments"]

    # nothing of anyone else: no other person's email anywhere in the file
    text = out.read_text()
    others = {p["email"] for p in people} - {email}
    assert not [o for o in others if f'"{o}"' in text]


def test_events_are_paged_without_losing_rows(
    demo_home: Path, people: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A page file with a LIMIT of 7: the export asks page after page and gets every event."""
    email = _pick(people)
    queries = tmp_path / "queries"
    shutil.copytree(REPO / "queries", queries)
    page = queries / "posthog" / "user_event_page.sql"
    page.write_text(page.read_text().replace("LIMIT 10000 OFFSET", "LIMIT 7 OFFSET"))
    doc = _export(demo_home, email, tmp_path / "paged.json", "--queries", str(queries))
    whole = _export(demo_home, email, tmp_path / "whole.json")
    assert doc["posthog"]["events"]["count"] > 7
    assert doc["posthog"]["events"]["rows"] == whole["posthog"]["events"]["rows"]


def test_unknown_email_exits_3_with_one_line_and_writes_nothing(
    demo_home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "nobody.json"
    result = run(["user", "nobody@nowhere.example", "--export", str(out)], home=demo_home)
    assert result.exit_code == EXIT_NOT_FOUND
    assert "nobody@nowhere.example" in result.stderr and "no user" in result.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_export_with_a_format_is_a_usage_error(demo_home: Path, tmp_path: Path) -> None:
    result = run(["user", "a@b.io", "--export", str(tmp_path / "x.json"), "-f", "md"],
                 home=demo_home)  # fmt: skip
    assert result.exit_code == EXIT_USAGE
    assert "--export" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_export_replaces_a_readable_file_owner_only(
    demo_home: Path, people: list[dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "old.json"
    out.write_text("old")
    out.chmod(0o644)
    _export(demo_home, _pick(people), out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_the_mcp_user_tool_cannot_write_an_export(demo_home: Path) -> None:
    """The MCP server writes nothing anywhere: the `user` tool takes no --export."""
    from tests.mcp.test_mcp import with_client

    async def body(client: Any) -> Any:
        return await client.list_tools()

    tools = {t.name: t for t in with_client(demo_home, body).tools}
    assert "email" in tools["user"].input_schema["properties"]
    assert "export" not in tools["user"].input_schema["properties"]


def test_export_does_not_go_with_anonymize(demo_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    result = run(["--anonymize", "user", "a@b.io", "--export", str(out)], home=demo_home)
    assert result.exit_code == EXIT_USAGE
    assert "--anonymize" in result.stderr and not out.exists()
