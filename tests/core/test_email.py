"""One email normalisation everywhere (usertrack.core.emails): Python, the join, PostgreSQL, the
local HogQL engine and every query file agree, so `segments` and `user` see the same people.

A hand-made database on the real embedded PostgreSQL, with an account whose email ends in a tab,
a second account with the same email in other case, and a Unicode email; events in a PostHog
export with the same people written differently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import handmade
from tests.cli_runner import run
from usertrack.core.emails import (
    HOGQL_PERSON_EMAIL,
    HOGQL_PERSONS_EMAIL,
    email_key_sql,
    normalize_email,
)

REPO = Path(__file__).resolve().parents[2]
AS_OF = handmade.AS_OF


def _ts(days_before: float) -> Any:
    return (AS_OF - timedelta(days=days_before)).replace(tzinfo=None)


@pytest.fixture(scope="module")
def email_db(make_database: Callable[[str], str]) -> str:
    uri = make_database(handmade.SCHEMA)
    accounts = [
        # dan: two accounts that normalise to one email, the first with a trailing tab.
        (1, "dan@x.io\t", 40, "active", _ts(1), _ts(30)),
        (2, "DAN@x.io", 100, None, None, _ts(10)),
        (3, "ÉMILE@x.io", 100, "trialing", _ts(2), _ts(20)),
    ]
    with psycopg.connect(uri, autocommit=True) as conn:
        for row in accounts:
            conn.execute("INSERT INTO wasp_user VALUES (%s, %s, %s, %s, %s, %s)", row)
            conn.execute("INSERT INTO fastapi_user VALUES (%s, %s)", (row[0] + 100, row[0]))
        states = ["completed"] * 2 + ["failed"] * 6
        for i, state in enumerate(states):  # dan's runs, on his first account
            conn.execute(
                "INSERT INTO fastapi_run VALUES (%s, 101, %s, %s, NULL)",
                (i + 1, state, _ts(5 - i * 0.5)),
            )
        conn.execute("INSERT INTO fastapi_run VALUES (100, 102, 'completed', %s, NULL)", (_ts(3),))
    return uri


@pytest.fixture(scope="module")
def email_events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("email-events") / "export.jsonl"
    rows = []
    for n, (email, event) in enumerate(
        [
            ("dan@x.io", "$pageview"),
            (" Dan@X.io\r\n", "$pageview"),
            ("\tÉmile@X.IO ", "$pageview"),
            ("émile@x.io", "mcp_connect_clicked"),
        ]
    ):
        rows.append(
            {
                "uuid": f"00000000-0000-0000-0000-{n:012d}",
                "event": event,
                "distinct_id": f"d{n}",
                "person_id": "p-dan" if "dan" in email.lower() else "p-emile",
                "timestamp": _ts(2 + n).strftime("%Y-%m-%dT%H:%M:%S.000000+00:00"),
                "properties": {"template_name": "Gmail"},
                "person_properties": {"email": email},
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _cli(args: list[str], db: str, events: Path) -> Any:
    return run(args, DATABASE_URL=db, USERTRACK_EVENTS=str(events))


def _segments(db: str, events: Path) -> dict[str, dict[str, Any]]:
    result = _cli(["segments", "--as-of", "2026-11-16", "-f", "json", "--no-save"], db, events)
    assert result.exit_code == 0, result.stderr
    return {u["email"]: u for u in json.loads(result.stdout)["users"]}


def _user(email: str, db: str, events: Path) -> dict[str, Any]:
    result = _cli(["user", email, "--as-of", "2026-11-16", "-f", "json"], db, events)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_tab_and_duplicate_accounts_are_one_person_in_segments(
    email_db: str, email_events: Path
) -> None:
    users = _segments(email_db, email_events)
    dan = users["dan@x.io"]
    assert dan["in_neon"] and dan["in_posthog"]
    # The two accounts merged: the earliest signup, the lowest credits, all the runs.
    assert dan["created_at"].startswith("2026-10-17")
    assert dan["credits"] == 40
    assert dan["run_count"] == 9 and dan["runs_failed"] == 6
    assert dan["pageviews"] == 2  # 'dan@x.io' and ' Dan@X.io\r\n' are one person
    assert not [e for e in users if e != e.strip() or ("dan" in e and e != "dan@x.io")]


def test_user_finds_the_same_person_as_segments(email_db: str, email_events: Path) -> None:
    users = _segments(email_db, email_events)
    for asked in ("dan@x.io", " DAN@x.io\t"):
        doc = _user(asked, email_db, email_events)
        assert doc["email"] == "dan@x.io"
        profile = doc["profile"]
        assert profile["in_neon"] and profile["in_posthog"]
        for col in ("credits", "run_count", "runs_failed", "pageviews", "created_at"):
            assert profile[col] == users["dan@x.io"][col], col


def test_unicode_email_is_one_person_everywhere(email_db: str, email_events: Path) -> None:
    users = _segments(email_db, email_events)
    assert "émile@x.io" in users
    emile = users["émile@x.io"]
    assert emile["in_neon"] and emile["in_posthog"] and emile["mcp_connect_clicks"] == 1
    doc = _user("ÉMILE@X.IO", email_db, email_events)
    assert doc["email"] == "émile@x.io"
    assert doc["profile"]["in_neon"] and doc["profile"]["in_posthog"]
    assert doc["profile"]["credits"] == 100


RAW = [
    " \tÉMILE@x.io\r\n",
    "Dan@X.io\t",
    "ÄÖÜ@Straße.DE ",
    "plain@x.io",
    "\tLead@x.io",  # only one end to trim
    "trail@x.io\n",
    "in side@X.io",  # inner space: kept
    "\u00a0nbsp@x.io\u00a0",  # a no-break space is not trimmed
    "É",
    "",
    "\n",
    " \t\r\n",
]


def test_python_postgres_duckdb_and_hogql_spell_one_normalisation(
    email_db: str, tmp_path: Path
) -> None:
    import duckdb

    from usertrack.engines.local.eventstore import write_events
    from usertrack.engines.local.source import LocalPostHogSource
    from usertrack.queries.library import Query

    expected = [normalize_email(v) or "" for v in RAW]
    assert expected[0] == "émile@x.io" and expected[-1] == ""
    with psycopg.connect(email_db) as conn:
        key = email_key_sql("postgres", "%s")
        pg = [conn.execute(f"SELECT {key}", (v,)).fetchone() for v in RAW]
    assert [r[0] for r in pg if r] == expected
    con = duckdb.connect()
    dk = [con.execute(f"SELECT {email_key_sql('duckdb', '$1')}", [v]).fetchone() for v in RAW]
    assert [r[0] for r in dk if r] == expected

    def load(c: Any) -> str:
        return (
            "SELECT 'u' AS uuid, 'e' AS event, 'd' AS distinct_id, 'p' AS person_id,"
            " TIMESTAMP '2026-01-01' AS timestamp, '{}' AS properties, '{}' AS person_properties"
        )

    store = tmp_path / "events.duckdb"
    write_events(store, load)
    source = LocalPostHogSource(store, "one event")
    try:
        for value, want in zip(RAW, expected, strict=True):
            query = Query(
                name="k",
                folder="posthog",
                path=Path("queries/posthog/k.sql"),
                sql=f"SELECT {email_key_sql('hogql', '{v}')} AS k,"
                " lower({v}) AS ascii_lower, lowerUTF8({v}) AS utf8_lower",
                description="test",
                returns="table",
            )
            row = source.run(query, {"v": value}).rows[0]
            assert row[0] == want
            # ClickHouse's lower() changes A-Z only; lowerUTF8() is Unicode.
            assert row[1] == "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in value)
            assert row[2] == value.lower()
    finally:
        source.close()


def test_every_query_file_normalises_emails_one_way() -> None:
    """No query file keeps the old `lower(trim(x))`, which trims spaces only (and is ASCII-only in
    ClickHouse); the ones that read an email use the spelling of usertrack.core.emails."""
    spelled = {
        "neon": email_key_sql("postgres", "w.email"),
        "posthog": email_key_sql("hogql", HOGQL_PERSON_EMAIL),
    }
    for folder, key in spelled.items():
        for path in sorted((REPO / "queries" / folder).glob("*.sql")):
            text = path.read_text()
            assert not re.search(r"lower\(trim\(", text), path
            if "email" in text.split("SELECT", 1)[-1]:
                persons_key = email_key_sql("hogql", HOGQL_PERSONS_EMAIL)  # the persons table
                aliased = email_key_sql("hogql", "JSONExtractString(p.properties, 'email')")
                assert key in text or persons_key in text or aliased in text, path
                # never the raw JSON text of the email (PostHog keeps its escape sequences)
                code = [ln for ln in text.splitlines() if not ln.lstrip().startswith("--")]
                assert not any("properties.email" in ln for ln in code), path
