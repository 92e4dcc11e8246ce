"""The demo's PostgreSQL schema and the DuckDB SELECTs that turn the generated frames into rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

POSTGRES_TABLES = (
    "wasp_user",
    "fastapi_user",
    "fastapi_run",
    "fastapi_tool_executions",
    "fastapi_code_execution",
    "fastapi_deployment",
    "wasp_agentexecution",
    "organization_member",
)

SCHEMA_SQL = """
DROP TABLE IF EXISTS organization_member, wasp_agentexecution, fastapi_deployment,
    fastapi_code_execution, fastapi_tool_executions, fastapi_run, fastapi_user, wasp_user CASCADE;
CREATE TABLE wasp_user (
    id integer PRIMARY KEY,
    email text NOT NULL,
    credits integer NOT NULL DEFAULT 100,
    subscription_status text,
    last_active_timestamp timestamp without time zone NOT NULL,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE fastapi_user (
    id integer PRIMARY KEY,
    wasp_user_id integer NOT NULL,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE fastapi_run (
    id bigint PRIMARY KEY,
    user_id integer NOT NULL,
    run_state text NOT NULL,
    created_at timestamp without time zone NOT NULL,
    run_error_log text
);
CREATE TABLE fastapi_tool_executions (
    id bigint PRIMARY KEY,
    user_id text NOT NULL,
    run_id bigint,
    tool_name text NOT NULL,
    tool_type text NOT NULL,
    tool_provider text,
    status text NOT NULL,
    execution_duration_ms integer,
    error_type text,
    error_message text,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE fastapi_code_execution (
    id bigint PRIMARY KEY,
    user_id integer NOT NULL,
    name text,
    script_name text,
    status text NOT NULL,
    execution_time_ms integer,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE fastapi_deployment (
    id bigint PRIMARY KEY,
    user_id integer NOT NULL,
    name text NOT NULL,
    description text,
    final_code text,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE wasp_agentexecution (
    id bigint PRIMARY KEY,
    agent_id integer NOT NULL,
    user_id integer NOT NULL,
    status text NOT NULL,
    entry_prompt text,
    result text,
    duration_ms integer,
    started_at timestamp without time zone NOT NULL,
    completed_at timestamp without time zone
);
CREATE TABLE organization_member (
    user_id integer PRIMARY KEY,
    organization_id integer NOT NULL
);
"""

INDEX_SQL = """
CREATE UNIQUE INDEX wasp_user_email_key ON wasp_user (email);
CREATE INDEX wasp_user_created_at_idx ON wasp_user (created_at);
CREATE INDEX fastapi_user_wasp_user_id_idx ON fastapi_user (wasp_user_id);
CREATE INDEX fastapi_run_user_id_idx ON fastapi_run (user_id, created_at);
CREATE INDEX fastapi_tool_executions_user_id_idx ON fastapi_tool_executions (user_id, created_at);
CREATE INDEX fastapi_tool_executions_created_at_idx ON fastapi_tool_executions (created_at);
CREATE INDEX fastapi_code_execution_user_id_idx ON fastapi_code_execution (user_id);
CREATE INDEX fastapi_deployment_user_id_idx ON fastapi_deployment (user_id);
CREATE INDEX wasp_agentexecution_user_id_idx ON wasp_agentexecution (user_id);
CREATE INDEX organization_member_organization_id_idx ON organization_member (organization_id);
ANALYZE;
"""


def uuid_sql(hi: str, lo: str) -> str:
    """SQL text of a canonical UUID string from two UBIGINT halves (cast via UHUGEINT: fast)."""
    return f"CAST(CAST((CAST({hi} AS UHUGEINT) << 64) | CAST({lo} AS UHUGEINT) AS UUID) AS VARCHAR)"


def table_sql() -> dict[str, str]:
    """The DuckDB SELECTs that turn the registered frames into the final rows of each table."""
    return {**_postgres_sql(), **_events_sql()}


def _postgres_sql() -> dict[str, str]:
    """Each PostgreSQL table's rows, from its frame and the vocabularies."""
    code_body = (
        "'import os\\nimport httpx\\n\\n\\ndef main(params: dict) -> dict:\\n'"
        ' || \'    """\' || t.description || \'."""\\n\''
        " || '    api_key = os.environ.get(\"DATAGEN_API_KEY\")\\n'"
        " || '    rows = params.get(\"rows\", [])\\n'"
        " || repeat('    rows = [r for r in rows if r]\\n', 1 + d.variant * 3)"
        ' || \'    return {"tool": "\' || t.value || \'", "count": len(rows)}\\n\''
    )
    code_body = code_body.replace("\\n", "' || chr(10) || '")
    return {
        "wasp_user": """
            SELECT a.id, a.email, a.credits, s.value AS subscription_status,
                   a.last_active AS last_active_timestamp, a.created AS created_at
            FROM demo_acc a JOIN demo_v_sub s ON s.code = a.sub ORDER BY a.id""",
        "fastapi_user": "SELECT id, wasp_user_id, created AS created_at FROM demo_fu ORDER BY id",
        "fastapi_run": """
            SELECT r.id, r.user_id,
                   (['completed', 'failed', 'running', 'cancelled'])[r.state + 1] AS run_state,
                   r.created AS created_at,
                   CASE WHEN r.state = 1 THEN
                       'Workflow run ' || r.id || ' failed at step ' || least(r.step, r.steps)
                       || ' of ' || r.steps || ': ' || e.value || chr(10)
                       || 'category=' || e.category || ' error_type=' || e.type || chr(10)
                       || 'Traceback (most recent call last):' || chr(10) || '  ' || e.trace
                   END AS run_error_log
            FROM demo_run r LEFT JOIN demo_v_err e ON e.code = r.err ORDER BY r.id""",
        "fastapi_tool_executions": """
            SELECT t.id, CAST(t.user_id AS VARCHAR) AS user_id, t.run_id, v.value AS tool_name,
                   v.type AS tool_type, v.provider AS tool_provider,
                   CASE WHEN t.err >= 0 THEN 'failed' ELSE 'success' END AS status,
                   t.ms AS execution_duration_ms, e.type AS error_type, e.value AS error_message,
                   t.created AS created_at
            FROM demo_tool t JOIN demo_v_tool v ON v.code = t.tool
            LEFT JOIN demo_v_err e ON e.code = t.err ORDER BY t.id""",
        "fastapi_code_execution": """
            SELECT c.id, c.user_id, s.value AS name, s.script AS script_name,
                   (['success', 'error', 'timeout'])[c.status + 1] AS status,
                   c.ms AS execution_time_ms, c.created AS created_at
            FROM demo_code c JOIN demo_v_script s ON s.code = c.script ORDER BY c.id""",
        "fastapi_deployment": f"""
            SELECT d.id, d.user_id, t.value || CASE WHEN d.variant > 0 THEN '_v' || (d.variant + 1)
                       ELSE '' END AS name,
                   t.description AS description, {code_body} AS final_code,
                   d.created AS created_at
            FROM demo_dep d JOIN demo_v_tool t ON t.code = d.tool ORDER BY d.id""",
        "wasp_agentexecution": """
            SELECT a.id, a.agent_id, a.user_id,
                   (['completed', 'failed', 'running', 'cancelled'])[a.state + 1] AS status,
                   p.value AS entry_prompt,
                   CASE a.state WHEN 0 THEN res.value WHEN 1 THEN 'Error: ' || e.value
                        WHEN 3 THEN 'Cancelled by user' END AS result,
                   CASE WHEN a.state <> 2 THEN a.ms END AS duration_ms,
                   a.started AS started_at,
                   CASE WHEN a.state <> 2 THEN a.started + to_milliseconds(a.ms) END AS completed_at
            FROM demo_agent a JOIN demo_v_prompt p ON p.code = a.prompt
            JOIN demo_v_result res ON res.code = a.prompt
            LEFT JOIN demo_v_err e ON e.code = a.err ORDER BY a.id""",
        "organization_member": """
            SELECT user_id, org_id AS organization_id FROM demo_org_member ORDER BY user_id""",
    }


def _events_sql() -> dict[str, str]:
    """The events' rows, and the strings they share (persons, sessions, referrers)."""
    from usertrack.engines.local.eventstore import HOT_PERSON_PROPERTIES, HOT_PROPERTIES

    sql: dict[str, str] = {}

    # The events are rendered in the event frame's order (time order, see in_time_order) and
    # stored as they come, not sorted (a sort of 5 million wide rows costs seconds and memory).
    # So the SELECT is a scan and projections only, which DuckDB keeps in order: no join (a hash
    # join's output comes in another order). What a join would look up is in the scanned table
    # already, as dictionaries (see store.events_select) rendered here. Properties are JSON
    # fragments joined: the event's path, its own variant (see event_extras), its session's id and
    # referrer, its person's device on that session; each fragment is a json_object with its
    # braces cut, so the text is that of one json_object of all the keys.
    def fragment(*pairs: str) -> str:
        obj = f"CAST(json_object({', '.join(pairs)}) AS VARCHAR)"
        return f"substr({obj}, 2, length({obj}) - 2)"

    def device(browser: str, os_: str, device_type: str) -> str:
        return fragment(
            f"'$browser', {browser}",
            f"'$os', {os_}",
            f"'$device_type', {device_type}",
            "'$geoip_country_code', co.value",
            "'$lib', 'web'",
        )

    # Per person (in pid order) and, for the device, the same on a phone (a session's third slot).
    sql["events_persons"] = f"""
        SELECT {uuid_sql("hi", "lo")} AS person_id,
               coalesce(did0, {uuid_sql("anon_hi", "anon_lo")}) AS did0,
               {uuid_sql("anon_hi", "anon_lo")} AS did1,
               {uuid_sql("dev_hi", "dev_lo")} AS did2,
               CAST(CASE WHEN email IS NULL THEN json_object(
                        '$initial_referring_domain', ir.value, '$geoip_country_code', co.value)
                    ELSE json_object('email', email, 'name', name,
                        '$initial_referring_domain', ir.value, '$geoip_country_code', co.value)
                    END AS VARCHAR) AS person_properties,
               email,
               co.value AS "$geoip_country_code",
               {device("br.value", "os.value", "CASE WHEN mobile THEN 'Mobile' ELSE 'Desktop' END")}
                   AS device,
               br.value AS "$browser",
               CASE WHEN mobile THEN 'Mobile' ELSE 'Desktop' END AS "$device_type",
               {device("'Mobile Safari'", "'iOS'", "'Mobile'")} AS "phone device",
               'Mobile Safari' AS "phone $browser",
               'Mobile' AS "phone $device_type"
        FROM demo_pers JOIN demo_v_ref ir ON ir.code = init_ref
        JOIN demo_v_country co ON co.code = country
        JOIN demo_v_browser br ON br.code = browser
        JOIN demo_v_os os ON os.code = os
        ORDER BY pid"""
    sql["events_sessions"] = f"SELECT {uuid_sql('hi', 'lo')} FROM demo_sess ORDER BY sid"
    referrer = fragment(
        "'$referrer', CASE WHEN value = '$direct' THEN '$direct'"
        " ELSE 'https://' || value || '/' END",
        "'$referring_domain', value",
    )
    sql["events_referrers"] = f"SELECT {referrer} FROM demo_v_ref ORDER BY code"
    hot = ", ".join([*HOT_PROPERTIES.values(), *HOT_PERSON_PROPERTIES.values()])
    sql["events"] = f"""
        SELECT {uuid_sql("hi", "lo")} AS uuid, event, distinct_id, person_id, ts AS timestamp,
               '{{' || path || extra || ',"$session_id":"' || session_id || '",' || referrer
                   || ',' || device || '}}' AS properties,
               person_properties, {hot}, "$group_0"
        FROM demo_events"""
    return sql
