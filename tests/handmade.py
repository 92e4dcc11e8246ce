"""A small hand-made workspace whose segments are worked out by hand (see EXPECTED).

As of 2026-11-16 00:00 UTC:
- alice@acme.io   credits 100, signed up 2026-10-01, no runs, 3 MCP clicks in the last 30 days
                  (one from an anonymous distinct_id of the same person)  → high_intent, at_risk
- bob@acme.io     credits 40, 8 runs: 2 completed, 6 failed (25 %)        → failing, power_user
- Carol@Beta.com  (PostHog: ' carol@beta.com'), credits 90, 10 runs all completed,
                  a rage click 3 days ago                                  → frustrated, power_user
- dave@gamma.dev  credits 100, signed up 4 days ago, an MCP click 40 days ago → none
- erin@datagen.dev  internal: 20 failed runs, rage clicks                   → excluded everywhere
- frank@delta.io  credits 100, signed up 2026-09-01, no runs, no events     → at_risk (Neon only)
- grace@eps.io    signs up 2026-11-20, after as_of                          → does not exist yet
- heidi@zeta.io   credits 70, 3 runs before as_of (1 completed) and 5 failed after;
                  an exception 8 days ago (outside the 7-day window)        → none
- ivan@eta.io     PostHog only: pageviews and an MCP click, no account      → none (no credits)
- anonymous pageviews without email                                          → not a user
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

AS_OF = datetime(2026, 11, 16, tzinfo=UTC)

EXPECTED = {
    "alice@acme.io": ["high_intent", "at_risk"],
    "bob@acme.io": ["failing", "power_user"],
    "carol@beta.com": ["frustrated", "power_user"],
    "dave@gamma.dev": [],
    "frank@delta.io": ["at_risk"],
    "heidi@zeta.io": [],
    "ivan@eta.io": [],
}

SCHEMA = """
CREATE TABLE wasp_user (id int PRIMARY KEY, email text, credits int, subscription_status text,
    last_active_timestamp timestamp, created_at timestamp);
CREATE TABLE fastapi_user (id int PRIMARY KEY, wasp_user_id int);
CREATE TABLE fastapi_run (id bigint PRIMARY KEY, user_id int, run_state text, created_at timestamp,
    run_error_log text);
CREATE TABLE fastapi_tool_executions (id bigint PRIMARY KEY, user_id text, tool_name text,
    tool_type text, tool_provider text, status text, execution_duration_ms int, error_type text,
    error_message text, created_at timestamp);
CREATE TABLE fastapi_code_execution (id bigint PRIMARY KEY, user_id int, name text,
    script_name text, status text, execution_time_ms int, created_at timestamp);
CREATE TABLE fastapi_deployment (id bigint PRIMARY KEY, user_id int, name text, description text,
    final_code text, created_at timestamp);
CREATE TABLE wasp_agentexecution (id bigint PRIMARY KEY, agent_id int, user_id int, status text,
    entry_prompt text, result text, duration_ms int, started_at timestamp,
    completed_at timestamp);
"""


def one_user_with_runs(uri: str, start: datetime, count: int) -> str:
    """Into the database of `uri` (SCHEMA's tables): one user, a@x.io, and `count` completed
    runs of theirs every two hours from `start` (naive: the database's UTC). Returns `uri`."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("INSERT INTO wasp_user VALUES (1, 'a@x.io', 50, NULL, NULL, '2026-05-01')")
        conn.execute("INSERT INTO fastapi_user VALUES (101, 1)")
        for n in range(count):
            conn.execute(
                "INSERT INTO fastapi_run VALUES (%s, 101, 'completed', %s, NULL)",
                (n, start + timedelta(hours=2 * n)),
            )
    return uri


def _ts(days_before: float, *, hours: float = 0) -> datetime:
    return (AS_OF - timedelta(days=days_before) + timedelta(hours=hours)).replace(tzinfo=None)


def neon_sql() -> tuple[str, list[tuple[str, tuple[object, ...]]]]:
    """The DDL and the INSERT statements (with bound values) of the hand-made database."""
    users = [
        (1, "alice@acme.io", 100, "trialing", _ts(20), _ts(46)),
        (2, "bob@acme.io", 40, "active", _ts(1), _ts(60)),
        (3, "Carol@Beta.com", 90, "active", _ts(2), _ts(50)),
        (4, "dave@gamma.dev", 100, None, _ts(4), _ts(4)),
        (5, "erin@datagen.dev", 10, "active", _ts(1), _ts(80)),
        (6, "frank@delta.io", 100, None, _ts(70), _ts(76)),
        (7, "grace@eps.io", 100, None, _ts(-4), _ts(-4)),
        (8, "heidi@zeta.io", 70, "trialing", _ts(-2), _ts(30)),
    ]
    stmts: list[tuple[str, tuple[object, ...]]] = []
    for u in users:
        stmts.append(("INSERT INTO wasp_user VALUES (%s, %s, %s, %s, %s, %s)", u))
        stmts.append(("INSERT INTO fastapi_user VALUES (%s, %s)", (u[0] + 100, u[0])))
    run_id = 0

    def runs(user: int, states: list[str], start_days: float) -> None:
        nonlocal run_id
        for i, state in enumerate(states):
            run_id += 1
            err = "Modal sandbox exited rc=137 (OOM)" if state == "failed" else None
            stmts.append(
                (
                    "INSERT INTO fastapi_run VALUES (%s, %s, %s, %s, %s)",
                    (run_id, user + 100, state, _ts(start_days - i * 0.5), err),
                )
            )

    runs(2, ["completed"] * 2 + ["failed"] * 6, 10)
    runs(3, ["completed"] * 10, 12)
    runs(5, ["failed"] * 20, 15)
    runs(8, ["completed", "failed", "failed"], 9)
    runs(8, ["failed"] * 5, -1)  # after as_of: ignored
    for tool_id, status in enumerate(["success", "success", "failed", "failed", "failed"], 1):
        stmts.append(
            (
                "INSERT INTO fastapi_tool_executions VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    tool_id,
                    "102",
                    "gmail_send",
                    "mcp",
                    "gmail",
                    status,
                    1200,
                    "TimeoutError" if status == "failed" else None,
                    "API timeout after 60s" if status == "failed" else None,
                    _ts(5),
                ),
            )
        )
    return SCHEMA, stmts


def events() -> list[dict[str, object]]:
    """PostHog batch-export rows (JSON lines)."""
    rows: list[dict[str, object]] = []

    def ev(
        event: str,
        distinct_id: str,
        person_id: str,
        when: datetime,
        email: str | None,
        **props: object,
    ) -> None:
        person_props = {"email": email} if email else {}
        rows.append(
            {
                "uuid": f"00000000-0000-0000-0000-{len(rows):012d}",
                "event": event,
                "distinct_id": distinct_id,
                "person_id": person_id,
                "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00"),
                "properties": {"$session_id": f"s-{distinct_id}-{when:%Y%m%d}", **props},
                "person_properties": person_props,
            }
        )

    # alice: identified clicks, plus one click from her anonymous id before she identified.
    ev("$pageview", "alice-anon", "p-alice", _ts(25), None, **{"$pathname": "/"})
    ev(
        "mcp_connect_clicked",
        "alice-anon",
        "p-alice",
        _ts(25, hours=1),
        None,
        template_name="Gmail",
    )
    ev("$pageview", "alice", "p-alice", _ts(5), "alice@acme.io", **{"$pathname": "/mcp"})
    ev(
        "mcp_connect_clicked",
        "alice",
        "p-alice",
        _ts(5, hours=1),
        "alice@acme.io",
        template_name="Slack",
    )
    ev("mcp_connect_clicked", "alice", "p-alice", _ts(2), "alice@acme.io", template_name="Gmail")
    # bob: active, no UX issues.
    for d in (1, 3, 9):
        ev("$pageview", "bob", "p-bob", _ts(d), "bob@acme.io", **{"$pathname": "/runs"})
    # carol: a rage click 3 days ago, email with other case and a stray space.
    ev("$pageview", "carol", "p-carol", _ts(3), " carol@beta.com", **{"$pathname": "/editor"})
    ev(
        "$rageclick",
        "carol",
        "p-carol",
        _ts(3, hours=1),
        " carol@beta.com",
        **{"$pathname": "/editor"},
    )
    # dave: an MCP click 40 days ago (outside the 30-day window).
    ev("mcp_connect_clicked", "dave", "p-dave", _ts(40), "dave@gamma.dev", template_name="Linear")
    # erin (internal): rage clicks that must not count.
    ev("$rageclick", "erin", "p-erin", _ts(1), "erin@datagen.dev", **{"$pathname": "/admin"})
    # grace: everything after as_of.
    ev("mcp_connect_clicked", "grace", "p-grace", _ts(-3), "grace@eps.io", template_name="Notion")
    # heidi: an exception 8 days ago (outside the 7-day window).
    ev("$exception", "heidi", "p-heidi", _ts(8), "heidi@zeta.io", **{"$exception_message": "boom"})
    # ivan: PostHog only.
    ev("$pageview", "ivan", "p-ivan", _ts(2), "ivan@eta.io", **{"$pathname": "/pricing"})
    ev(
        "mcp_connect_clicked",
        "ivan",
        "p-ivan",
        _ts(2, hours=1),
        "ivan@eta.io",
        template_name="HubSpot",
    )
    # anonymous traffic.
    for i in range(3):
        ev("$pageview", f"anon-{i}", f"p-anon-{i}", _ts(i + 1), None, **{"$pathname": "/"})
    return rows


def write_events_jsonl(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in events():
            fh.write(json.dumps(row) + "\n")
    return path
