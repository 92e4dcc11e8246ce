"""The demo workspace: deterministic generation, the schema, and the stories the data must tell.

One small demo (300 users) is generated for the whole module, on a real embedded PostgreSQL that
is stopped when the module finishes. Segment rules are computed here with plain SQL (Postgres +
DuckDB), independently of the real pipeline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import psycopg
import pytest

from usertrack.demo import generator as demo
from usertrack.demo.generator import DemoWorkspace, ensure_demo, generate, start_demo_postgres
from usertrack.engines.local.eventstore import open_store

ANCHOR = date(2026, 3, 2)
ANCHOR_TS = datetime(2026, 3, 2)
USERS = 300
INTERNAL = r"@datagen\.dev$"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorkspace]:
    home = tmp_path_factory.mktemp("usertrack-home")
    workspace = ensure_demo(home, users=USERS, anchor=ANCHOR)
    try:
        yield workspace
    finally:
        demo.stop_demo_postgres(workspace)


@pytest.fixture(scope="module")
def pg(ws: DemoWorkspace) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(start_demo_postgres(ws), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def ev(ws: DemoWorkspace) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_store(ws.events_path)
    try:
        yield con
    finally:
        con.close()


def q(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params).fetchall()


def d(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return con.execute(sql, params or []).fetchall()


EMAIL = "lower(trim(json_extract_string(person_properties, '$.email')))"


# ---------------------------------------------------------------------------------- generation


def test_generate_is_deterministic() -> None:
    a, b = generate(USERS, ANCHOR), generate(USERS, ANCHOR)
    assert a.frames.keys() == b.frames.keys()
    for name, columns in a.frames.items():
        for col, values in columns.items():
            other = b.frames[name][col]
            assert values.dtype == other.dtype, (name, col)
            assert np.array_equal(values, other), (name, col)
    assert a.stories == b.stories
    c = generate(USERS, ANCHOR, seed=7)
    assert not np.array_equal(a.frames["run"]["created"], c.frames["run"]["created"])


def test_anchor_only_shifts_time() -> None:
    a, b = generate(USERS, ANCHOR), generate(USERS, ANCHOR + timedelta(days=10))
    assert a.row_counts() == b.row_counts()
    shift = np.timedelta64(10, "D")
    assert np.array_equal(a.frames["ev"]["ts"] + shift, b.frames["ev"]["ts"])


def test_failure_spike_story_on_the_last_day() -> None:
    """1,000 users: one account already failing retries into the sandbox rate limit on the
    anchor's last day; the runs are appended (every earlier row as it was), none below 1,000."""
    data = generate(1000, ANCHOR)
    k = data.stories["alert_spike_runs"]
    assert data.stories["alert_spike_accounts"] == 1 and k > 0
    run = data.frames["run"]
    added = {col: values[-k:] for col, values in run.items()}
    before = {col: values[:-k] for col, values in run.items()}
    assert np.array_equal(run["id"], np.arange(1, len(run["id"]) + 1))
    assert len(set(added["user_id"].tolist())) == 1
    assert (added["state"] == 1).all()
    rate_limit = next(i for i, e in enumerate(demo.ERRORS) if e[1] == "SandboxRateLimit")
    assert (added["err"] == rate_limit).all()
    anchor = np.datetime64(ANCHOR_TS.replace(tzinfo=None), "us")
    last_day = anchor - np.timedelta64(1, "D")
    assert (added["created"] >= last_day).all()
    assert (added["created"] <= anchor - np.timedelta64(30, "m")).all()
    # Already in `failing` without the spike: more than 5 runs, under half of them completed.
    mine = before["user_id"] == added["user_id"][0]
    assert mine.sum() > 5 and (before["state"][mine] == 0).sum() < 0.5 * mine.sum()
    # Its last activity follows its last retry.
    wasp = int(added["user_id"][0]) - demo.FASTAPI_ID_OFFSET
    acc = data.frames["acc"]
    (row,) = np.flatnonzero(acc["id"] == wasp)
    assert acc["last_active"][row] >= added["created"].max()
    small = generate(USERS, ANCHOR)
    assert small.stories["alert_spike_runs"] == 0


def test_users_bounds() -> None:
    from usertrack.core.errors import UsageError

    with pytest.raises(UsageError):
        generate(3, ANCHOR)


# ---------------------------------------------------------------------------------- schema


EXPECTED_COLUMNS = {
    "wasp_user": {
        "id": "integer",
        "email": "text",
        "credits": "integer",
        "subscription_status": "text",
        "last_active_timestamp": "timestamp without time zone",
        "created_at": "timestamp without time zone",
    },
    "fastapi_user": {"id": "integer", "wasp_user_id": "integer"},
    "fastapi_run": {
        "id": "bigint",
        "user_id": "integer",
        "run_state": "text",
        "created_at": "timestamp without time zone",
        "run_error_log": "text",
    },
    "fastapi_tool_executions": {
        "id": "bigint",
        "user_id": "text",
        "tool_name": "text",
        "tool_type": "text",
        "tool_provider": "text",
        "status": "text",
        "execution_duration_ms": "integer",
        "error_type": "text",
        "error_message": "text",
        "created_at": "timestamp without time zone",
    },
    "fastapi_code_execution": {
        "id": "bigint",
        "user_id": "integer",
        "name": "text",
        "script_name": "text",
        "status": "text",
        "execution_time_ms": "integer",
        "created_at": "timestamp without time zone",
    },
    "fastapi_deployment": {
        "id": "bigint",
        "user_id": "integer",
        "name": "text",
        "description": "text",
        "final_code": "text",
        "created_at": "timestamp without time zone",
    },
    "wasp_agentexecution": {
        "id": "bigint",
        "agent_id": "integer",
        "user_id": "integer",
        "status": "text",
        "entry_prompt": "text",
        "result": "text",
        "duration_ms": "integer",
        "started_at": "timestamp without time zone",
        "completed_at": "timestamp without time zone",
    },
    "organization_member": {"user_id": "integer", "organization_id": "integer"},
}


def test_teams(pg: psycopg.Connection[Any]) -> None:
    """Every user is in one account of 1 to 20 people; the team is one account of its own."""
    sizes = [
        n for (n,) in q(pg, "SELECT count(*) FROM organization_member GROUP BY organization_id")
    ]
    assert min(sizes) >= 1 and max(sizes) <= 20 and sum(sizes) == USERS
    assert len(sizes) > USERS // 10 and max(sizes) > 5  # teams, not one account a user
    internal = q(
        pg,
        "SELECT DISTINCT m.organization_id FROM organization_member m"
        " JOIN wasp_user w ON w.id = m.user_id WHERE w.email LIKE '%@datagen.dev'",
    )
    assert internal == [(1,)]


def test_schema(pg: psycopg.Connection[Any]) -> None:
    rows = q(
        pg,
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public'",
    )
    actual: dict[str, dict[str, str]] = {}
    for table, column, type_ in rows:
        actual.setdefault(table, {})[column] = type_
    for table, columns in EXPECTED_COLUMNS.items():
        assert table in actual, table
        for column, type_ in columns.items():
            assert actual[table].get(column) == type_, (table, column)
    indexed = {r[0] for r in q(pg, "SELECT tablename FROM pg_indexes WHERE schemaname = 'public'")}
    assert set(EXPECTED_COLUMNS) <= indexed


def test_events_columns(ev: duckdb.DuckDBPyConnection) -> None:
    cols = {r[0]: r[1] for r in d(ev, "DESCRIBE SELECT * FROM events")}
    for name in ("uuid", "event", "distinct_id", "person_id", "timestamp", "properties"):
        assert name in cols
    assert cols["timestamp"] == "TIMESTAMP"
    (n, sessions) = d(
        ev,
        "SELECT count(*), count(*) FILTER (WHERE json_extract_string(properties,"
        " '$.\"$session_id\"') IS NOT NULL) FROM events",
    )[0]
    assert n == sessions > 50 * USERS / 2  # every event has a $session_id


def test_events_stored_in_time_order(ev: duckdb.DuckDBPyConnection) -> None:
    # The demo's store is written as its frame comes, not sorted (eventstore in_order): its rows
    # must still be in time order, for the zone maps of time windows.
    (rows, backwards) = d(
        ev,
        "SELECT count(*), count(*) FILTER (WHERE timestamp < previous) FROM"
        " (SELECT timestamp, lag(timestamp) OVER (ORDER BY rowid) AS previous FROM events)",
    )[0]
    assert rows > 50 * USERS / 2
    assert backwards == 0


def test_materialized_columns_match_the_json(ev: duckdb.DuckDBPyConnection) -> None:
    # The demo hands the store its materialized columns instead of letting it read them out of
    # the JSON: they must be what the JSON says, for every event.
    from usertrack.engines.local.eventstore import HOT_PERSON_PROPERTIES, HOT_PROPERTIES

    pairs = [
        (col, f"json_extract_string(properties, '$.\"{key}\"')")
        for key, col in HOT_PROPERTIES.items()
    ] + [
        (col, f"json_extract_string(person_properties, '$.\"{key}\"')")
        for key, col in HOT_PERSON_PROPERTIES.items()
    ]
    counts = d(
        ev,
        "SELECT "
        + ", ".join(f"count(*) FILTER (WHERE {col} IS DISTINCT FROM {j})" for col, j in pairs)
        + ", "
        + ", ".join(f"count({col})" for col, _ in pairs)
        + " FROM events",
    )[0]
    differing = dict(zip([col for col, _ in pairs], counts[: len(pairs)], strict=True))
    filled = dict(zip([col for col, _ in pairs], counts[len(pairs) :], strict=True))
    assert all(n == 0 for n in differing.values()), differing
    # Not vacuous: every column is filled on some events (a template or a feature on few).
    assert all(n > 0 for n in filled.values()), filled


def test_row_counts_and_manifest(ws: DemoWorkspace, pg: psycopg.Connection[Any]) -> None:
    manifest = json.loads((ws.root / "manifest.json").read_text())
    assert manifest["users"] == USERS and manifest["anchor"] == ANCHOR.isoformat()
    assert manifest["seed"] == demo.DEFAULT_SEED
    assert manifest["schema_version"] == demo.SCHEMA_VERSION
    for table in EXPECTED_COLUMNS:
        assert q(pg, f"SELECT count(*) FROM {table}")[0][0] == manifest["rows"][table], table
    assert q(pg, "SELECT count(*) FROM wasp_user")[0][0] == USERS


def test_nothing_after_anchor(pg: psycopg.Connection[Any], ev: duckdb.DuckDBPyConnection) -> None:
    for table, column in [
        ("wasp_user", "created_at"),
        ("wasp_user", "last_active_timestamp"),
        ("fastapi_run", "created_at"),
        ("fastapi_tool_executions", "created_at"),
        ("fastapi_code_execution", "created_at"),
        ("fastapi_deployment", "created_at"),
        ("wasp_agentexecution", "completed_at"),
    ]:
        latest = q(pg, f"SELECT max({column}) FROM {table}")[0][0]
        assert latest < ANCHOR_TS, (table, column)
    first_signup = q(pg, "SELECT min(created_at) FROM wasp_user")[0][0]
    assert ANCHOR_TS - timedelta(days=91) <= first_signup
    lo, hi = d(ev, "SELECT min(timestamp), max(timestamp) FROM events")[0]
    assert hi < ANCHOR_TS and lo > ANCHOR_TS - timedelta(days=100)
    # the data reaches close to the anchor: yesterday was an active day
    assert hi > ANCHOR_TS - timedelta(hours=6)


# ---------------------------------------------------------------------------------- segments


def _profiles(pg: psycopg.Connection[Any], ev: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """The analyst workflow's five segments at as_of = anchor, with plain SQL."""
    neon = q(
        pg,
        """
        SELECT lower(trim(w.email)) AS email, min(w.credits), min(w.created_at),
               count(r.id), count(r.id) FILTER (WHERE r.run_state = 'completed')
        FROM wasp_user w
        LEFT JOIN fastapi_user f ON f.wasp_user_id = w.id
        LEFT JOIN fastapi_run r ON r.user_id = f.id AND r.created_at <= %(as_of)s
        WHERE w.created_at <= %(as_of)s AND lower(trim(w.email)) !~ %(internal)s
        GROUP BY 1
        """,
        {"as_of": ANCHOR_TS, "internal": INTERNAL},
    )
    ev.execute(
        "CREATE OR REPLACE TEMP TABLE neon (email VARCHAR, credits INT, created TIMESTAMP,"
        " runs BIGINT, ok BIGINT)"
    )
    ev.executemany("INSERT INTO neon VALUES (?, ?, ?, ?, ?)", neon)
    rows = d(
        ev,
        f"""
        WITH ph AS (
            SELECT {EMAIL} AS email,
                   count(*) FILTER (WHERE event IN ('$rageclick', '$exception')
                       AND timestamp > ?::TIMESTAMP - INTERVAL 7 DAY) AS ux,
                   count(*) FILTER (WHERE event = 'mcp_connect_clicked'
                       AND timestamp > ?::TIMESTAMP - INTERVAL 30 DAY) AS mcp
            FROM events WHERE timestamp <= ?::TIMESTAMP AND {EMAIL} IS NOT NULL
            GROUP BY 1
        )
        SELECT coalesce(n.email, ph.email), n.credits, n.created, coalesce(n.runs, 0),
               coalesce(n.ok, 0), coalesce(ph.ux, 0), coalesce(ph.mcp, 0)
        FROM neon n FULL JOIN ph ON ph.email = n.email
        WHERE NOT regexp_matches(coalesce(n.email, ph.email), '{INTERNAL}')
        """,
        [ANCHOR_TS, ANCHOR_TS, ANCHOR_TS],
    )
    seg: dict[str, set[str]] = {
        k: set() for k in ("failing", "frustrated", "high_intent", "at_risk", "power_user")
    }
    for email, credits, created, runs, ok, ux, mcp in rows:
        rate = 100.0 * ok / runs if runs else None
        if runs > 5 and rate is not None and rate < 50:
            seg["failing"].add(email)
        if ux > 0:
            seg["frustrated"].add(email)
        if mcp > 0 and credits == 100:
            seg["high_intent"].add(email)
        if created is not None and created < ANCHOR_TS - timedelta(days=7) and runs == 0:
            seg["at_risk"].add(email)
        if credits is not None and (runs > 5 or credits < 50):
            seg["power_user"].add(email)
    return seg


def test_five_segments_have_members(
    pg: psycopg.Connection[Any], ev: duckdb.DuckDBPyConnection
) -> None:
    seg = _profiles(pg, ev)
    for name, members in seg.items():
        assert len(members) >= 0.03 * USERS, (name, len(members))
    # some users are in several segments
    everyone = [e for members in seg.values() for e in members]
    multi = {e for e in everyone if everyone.count(e) >= 2}
    assert len(multi) >= 10
    assert seg["failing"] & seg["frustrated"]
    assert seg["high_intent"] & seg["at_risk"]


# ---------------------------------------------------------------------------------- failures


def test_incident_day_clusters_failures(pg: psycopg.Connection[Any]) -> None:
    incident = (ANCHOR_TS - timedelta(days=demo.INCIDENT_DAYS_BEFORE_ANCHOR)).date()
    days = q(
        pg,
        """
        SELECT r.created_at::date AS day, count(*) FILTER (WHERE run_state = 'failed'),
               count(*), count(DISTINCT r.user_id) FILTER (WHERE run_state = 'failed')
        FROM fastapi_run r WHERE r.created_at > %s::timestamp - interval '30 days'
        GROUP BY 1 ORDER BY 1
        """,
        (ANCHOR_TS,),
    )
    by_day = {day: (failed, total, users) for day, failed, total, users in days}
    failed, total, users = by_day[incident]
    others = [v for k, v in by_day.items() if k != incident]
    assert failed == max(f for f, _, _ in by_day.values())
    assert users >= 3 * max(u for _, _, u in others)
    assert failed / total > 0.6
    other_rate = sum(f for f, _, _ in others) / sum(t for _, t, _ in others)
    assert other_rate < 0.3  # other days mostly succeed
    start, end = demo.INCIDENT_HOURS
    logs = q(
        pg,
        "SELECT run_error_log FROM fastapi_run WHERE run_state = 'failed'"
        " AND created_at >= %s AND created_at < %s",
        (
            datetime.combine(incident, datetime.min.time()) + timedelta(hours=start),
            datetime.combine(incident, datetime.min.time()) + timedelta(hours=end),
        ),
    )
    infra = ("Modal sandbox exited rc=137 (OOM)", "API timeout after 60s", "Sandbox rate limit")
    assert len(logs) >= 0.8 * failed
    assert all(any(m in log for m in infra) for (log,) in logs)
    tool_days = q(
        pg,
        "SELECT created_at::date, count(*) FROM fastapi_tool_executions WHERE status = 'failed'"
        " GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
    )
    assert tool_days[0][0] == incident


def test_tool_failure_categories(pg: psycopg.Connection[Any]) -> None:
    rows = q(
        pg,
        "SELECT error_type, error_message, tool_type, tool_provider FROM fastapi_tool_executions"
        " WHERE status = 'failed'",
    )
    types = {r[0] for r in rows}
    assert {"SandboxOOM", "TimeoutError", "InsufficientCreditsError", "ConfigurationError"} <= types
    assert {"RateLimitError", "KeyError", "TypeError", "ExternalAPIError"} <= types
    messages = {r[1] for r in rows}
    assert "Modal sandbox exited rc=137 (OOM)" in messages
    assert "Missing environment variable MODAL_TOKEN in sandbox" in messages
    for error_type, message, tool_type, provider in rows:
        if error_type in ("KeyError", "TypeError", "ValidationError"):
            assert tool_type == "custom"
        if error_type in ("ExternalAPIError", "AuthenticationError"):
            assert provider in ("hubspot", "slack", "linkedin") and provider in message.lower()
    # "Insufficient credits" is a platform bug: those users still have credits.
    broke = q(
        pg,
        """
        SELECT count(*) FROM fastapi_tool_executions t
        JOIN fastapi_user f ON t.user_id::integer = f.id JOIN wasp_user w ON w.id = f.wasp_user_id
        WHERE t.error_type = 'InsufficientCreditsError' AND w.credits = 0
        """,
    )
    assert broke[0][0] == 0
    ok = q(pg, "SELECT count(*) FROM fastapi_tool_executions WHERE status = 'success'")[0][0]
    assert ok > 0.8 * q(pg, "SELECT count(*) FROM fastapi_tool_executions")[0][0]


def test_wrong_join_key_finds_nothing(pg: psycopg.Connection[Any]) -> None:
    wrong = q(pg, "SELECT count(*) FROM fastapi_run r JOIN wasp_user w ON r.user_id = w.id")
    right = q(
        pg,
        "SELECT count(*) FROM fastapi_run r JOIN fastapi_user f ON r.user_id = f.id"
        " JOIN wasp_user w ON f.wasp_user_id = w.id",
    )
    assert wrong[0][0] == 0
    assert right[0][0] == q(pg, "SELECT count(*) FROM fastapi_run")[0][0]


def test_credits_subscriptions_last_active(pg: psycopg.Connection[Any]) -> None:
    rows = q(
        pg,
        """
        SELECT w.credits, w.subscription_status, w.last_active_timestamp, count(r.id),
               max(r.created_at)
        FROM wasp_user w LEFT JOIN fastapi_user f ON f.wasp_user_id = w.id
        LEFT JOIN fastapi_run r ON r.user_id = f.id GROUP BY w.id
        """,
    )
    for credits, _sub, last_active, runs, last_run in rows:
        assert (credits == 100) == (runs == 0)
        if runs:
            assert last_active >= last_run
    assert sum(1 for r in rows if r[0] < 50) >= 10
    assert {r[1] for r in rows} == {None, "trialing", "active", "canceled", "past_due"}


# ---------------------------------------------------------------------------------- identity


def test_internal_accounts_in_both_sources(
    pg: psycopg.Connection[Any], ev: duckdb.DuckDBPyConnection
) -> None:
    neon = q(
        pg,
        """
        SELECT w.email, count(r.id) FROM wasp_user w JOIN fastapi_user f ON f.wasp_user_id = w.id
        JOIN fastapi_run r ON r.user_id = f.id WHERE w.email LIKE '%@datagen.dev' GROUP BY 1
        """,
    )
    assert len(neon) >= 5 and all(runs > 5 for _, runs in neon)
    posthog = d(ev, f"SELECT DISTINCT {EMAIL} FROM events WHERE {EMAIL} LIKE '%@datagen.dev'")
    assert {e for (e,) in posthog} == {e for e, _ in neon}


def _email_sets(
    pg: psycopg.Connection[Any], ev: duckdb.DuckDBPyConnection
) -> tuple[set[str], set[str]]:
    neon = {e for (e,) in q(pg, "SELECT lower(trim(email)) FROM wasp_user")}
    posthog = {e for (e,) in d(ev, f"SELECT DISTINCT {EMAIL} FROM events WHERE {EMAIL} <> ''")}
    return neon, posthog


def test_people_in_one_source_only(
    pg: psycopg.Connection[Any], ev: duckdb.DuckDBPyConnection
) -> None:
    neon, posthog = _email_sets(pg, ev)
    assert len(posthog - neon) >= 0.03 * USERS  # identified visitors without an account
    assert len(neon - posthog) >= 0.03 * USERS  # accounts without events (ad blockers)
    assert len(neon & posthog) >= 0.8 * USERS


def test_person_with_several_distinct_ids(ev: duckdb.DuckDBPyConnection) -> None:
    rows = d(
        ev,
        f"""SELECT person_id, count(DISTINCT distinct_id) AS ids, any_value({EMAIL})
            FROM events GROUP BY person_id HAVING count(DISTINCT distinct_id) > 1""",
    )
    assert len(rows) >= 0.3 * USERS
    jane = [r for r in rows if r[2] == "jane.doe@acme.io"]
    assert jane and jane[0][1] == 3


def test_emails_differ_in_case_and_whitespace(
    pg: psycopg.Connection[Any], ev: duckdb.DuckDBPyConnection
) -> None:
    assert q(pg, "SELECT count(*) FROM wasp_user WHERE email = 'Jane.Doe@Acme.io'")[0][0] == 1
    raw_ph = {
        e
        for (e,) in d(
            ev, "SELECT DISTINCT json_extract_string(person_properties, '$.email') FROM events"
        )
    }
    assert "jane.doe@acme.io" in raw_ph
    cased = q(pg, "SELECT email FROM wasp_user WHERE email <> lower(email)")
    assert len(cased) >= 5
    assert sum(1 for (e,) in cased if e.lower() in raw_ph) >= 5
    spaced = q(pg, "SELECT email FROM wasp_user WHERE email <> trim(email)")
    assert len(spaced) >= 2 and all(e.strip() in raw_ph for (e,) in spaced)
    assert any(e is not None and e != e.strip() for e in raw_ph)


def test_anonymous_events(ev: duckdb.DuckDBPyConnection) -> None:
    anonymous, people = d(
        ev,
        f"SELECT count(*), count(DISTINCT person_id) FROM events WHERE {EMAIL} IS NULL",
    )[0]
    assert anonymous > 0 and people >= 0.2 * USERS


# ---------------------------------------------------------------------------------- analytics


def test_activation_funnel_drops_off(ev: duckdb.DuckDBPyConnection) -> None:
    steps = [
        "user_signed_up",
        "onboarding_started",
        "workspace_created",
        "first_item_created",
        "first_integration_connected",
        "onboarding_completed",
    ]
    counts = [
        d(ev, "SELECT count(DISTINCT person_id) FROM events WHERE event = ?", [s])[0][0]
        for s in steps
    ]
    assert all(a > b > 0 for a, b in pairwise(counts)), counts


def test_retention_decays(ev: duckdb.DuckDBPyConnection) -> None:
    rows = d(
        ev,
        """
        WITH signup AS (
            SELECT person_id, min(timestamp) AS t FROM events WHERE event = 'user_signed_up'
            GROUP BY 1
        )
        SELECT date_diff('day', s.t, e.timestamp) // 7 AS week, count(DISTINCT e.person_id)
        FROM events e JOIN signup s USING (person_id)
        WHERE s.t < ?::TIMESTAMP - INTERVAL 42 DAY AND e.timestamp >= s.t
        GROUP BY 1 ORDER BY 1
        """,
        [ANCHOR_TS],
    )
    active = dict(rows)
    assert active[0] > active[1] > active[4]


def test_event_taxonomy(ev: duckdb.DuckDBPyConnection) -> None:
    names = {r[0] for r in d(ev, "SELECT DISTINCT event FROM events")}
    assert set(demo.EVENTS) <= names
    row = d(
        ev,
        "SELECT properties FROM events WHERE event = 'mcp_connect_clicked' LIMIT 1",
    )[0][0]
    props = json.loads(row)
    assert {"template_name", "template_id", "has_oauth", "$session_id", "$pathname"} <= set(props)
    feature = d(
        ev, "SELECT count(DISTINCT properties->>'feature') FROM events WHERE event = 'feature_used'"
    )[0][0]
    assert feature >= 5


# ---------------------------------------------------------------------------------- lifecycle


def _checksums(ws: DemoWorkspace) -> dict[str, Any]:
    with psycopg.connect(start_demo_postgres(ws)) as conn:
        sums = {
            table: conn.execute(
                f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t"
            ).fetchone()
            for table in ("wasp_user", "fastapi_run", "fastapi_tool_executions")
        }
    con = open_store(ws.events_path)
    try:
        sums["events"] = con.execute(
            "SELECT count(*), md5(string_agg(uuid || event || distinct_id || person_id"
            " || CAST(timestamp AS VARCHAR) || CAST(properties AS VARCHAR)"
            " || coalesce(CAST(person_properties AS VARCHAR), ''), '|' ORDER BY uuid))"
            " FROM events"
        ).fetchone()
    finally:
        con.close()
    return sums


def test_ensure_demo_again_does_no_work(ws: DemoWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = ws.root / "manifest.json"
    before = manifest.stat().st_mtime_ns

    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("regenerated")

    monkeypatch.setattr(demo, "generate", boom)
    again = ensure_demo(ws.root.parent, users=USERS)
    assert again == ws
    assert manifest.stat().st_mtime_ns == before


def test_interrupted_generation_is_redone(ws: DemoWorkspace, tmp_path: Path) -> None:
    # Without its manifest a demo counts as incomplete.
    home = tmp_path / "home"
    (home / "demo" / "pg").mkdir(parents=True)
    assert demo.read_manifest(home) is None
    assert demo.read_manifest(ws.root.parent) is not None


def test_reset_regenerates_identically(ws: DemoWorkspace) -> None:
    before = _checksums(ws)
    manifest = ws.root / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    steps: list[str] = []
    again = ensure_demo(
        ws.root.parent, users=USERS, anchor=ANCHOR, reset=True, progress=steps.append
    )
    assert again == ws
    assert steps == [
        "generating users",
        "loading PostgreSQL",
        "writing events",
        "reading the feature times",
    ]
    assert manifest.stat().st_mtime_ns != stamp
    assert _checksums(ws) == before


def test_an_interrupted_generation_is_redone_at_its_size(tmp_path: Path) -> None:
    """A `demo --users N --reset` killed halfway was silently replaced by the
    default 2,000-user demo on the next command. It is generated again at N, with a word."""
    import signal
    import subprocess
    import sys
    import time

    from usertrack.demo.generator import GENERATING, demo_root, read_manifest, stop_demo

    home = tmp_path / "home"
    env = {**os.environ, "USERTRACK_HOME": str(home), "USERTRACK_DEMO_IDLE": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "usertrack", "demo", "--users", "400", "--reset"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (demo_root(home) / GENERATING).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert read_manifest(home) is None  # killed before it finished
        stop_demo(home)
        result = subprocess.run(
            [sys.executable, "-m", "usertrack", "segments", "-f", "json", "--no-save"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "the demo of 400 users was interrupted" in result.stderr
        manifest = read_manifest(home)
        assert manifest is not None and manifest["users"] == 400
        assert not (demo_root(home) / GENERATING).exists()
    finally:
        proc.kill()
        stop_demo(home)


def test_a_demo_made_by_an_earlier_version_is_rebuilt_at_its_size(tmp_path: Path) -> None:
    """A 100,000-user demo came back as the default 2,000 users after an upgrade that changed the
    demo's schema: it is generated again at its own size, with a word."""
    home = tmp_path / "home"
    ensure_demo(home, users=120, anchor=ANCHOR)
    manifest_path = demo.demo_root(home) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_version"] = demo.SCHEMA_VERSION - 1
    manifest_path.write_text(json.dumps(manifest))
    assert demo.read_manifest(home) is None  # outdated: rebuilt on the next use
    notes: list[str] = []
    rebuilt = ensure_demo(home, notice=notes.append)
    try:
        assert rebuilt.users == 120
        assert notes == [
            "usertrack: the demo of 120 users was made by an earlier version of usertrack;"
            " generating it again at that size"
        ]
        fresh = demo.read_manifest(home)
        assert fresh is not None and fresh["users"] == 120
        assert fresh["schema_version"] == demo.SCHEMA_VERSION
    finally:
        demo.stop_demo_postgres(rebuilt)
