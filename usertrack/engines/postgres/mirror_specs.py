"""The tables of the local copy of the app's tables (usertrack/engines/postgres/app_mirror.py): for
each, the app's table, its time column and the columns kept, as PostgreSQL computes them when a row
is copied (a change of any starts a new copy: app_mirror.layout)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    """One mirrored table: the app's table, its time column and the columns kept (name, the
    expression PostgreSQL computes on row `t`, the DuckDB type)."""

    name: str
    table: str
    ts: str
    columns: tuple[tuple[str, str, str], ...]


TOOL_CALLS = Spec(
    "tool_calls",
    "fastapi_tool_executions",
    "created_at",
    (
        ("user_id", "t.user_id", "VARCHAR"),
        ("tool_name", "t.tool_name", "VARCHAR"),
        ("tool_type", "t.tool_type", "VARCHAR"),
        ("tool_provider", "t.tool_provider", "VARCHAR"),
        ("status", "t.status", "VARCHAR"),
        ("ms", "t.execution_duration_ms", "BIGINT"),
        ("error_type", "CASE WHEN t.status = 'failed' THEN t.error_type END", "VARCHAR"),
        (
            "error_preview",
            "CASE WHEN t.status = 'failed' THEN left(t.error_message, 200) END",
            "VARCHAR",
        ),
        # the failure report's (usertrack/reports/failure_copy.py), as neon/failures.sql reads
        # a failed call: its message, and its run where the table has a run_id column
        (
            "error_message",
            "CASE WHEN t.status = 'failed' THEN left(t.error_message, 500) END",
            "VARCHAR",
        ),
        ("run_id", "CASE WHEN t.status = 'failed' THEN to_jsonb(t) ->> 'run_id' END", "VARCHAR"),
    ),
)
AGENT_RUNS = Spec(
    "agent_runs",
    "wasp_agentexecution",
    "started_at",
    (
        ("user_id", "t.user_id", "BIGINT"),
        ("status", "t.status", "VARCHAR"),
        ("agent_id", "t.agent_id", "BIGINT"),
        ("ms", "t.duration_ms", "BIGINT"),
        ("completed_at", "t.completed_at::timestamp", "TIMESTAMP"),
    ),
)
CODE_RUNS = Spec(
    "code_runs",
    "fastapi_code_execution",
    "created_at",
    (
        ("user_id", "t.user_id", "BIGINT"),
        ("script_name", "t.script_name", "VARCHAR"),
        ("status", "t.status", "VARCHAR"),
        ("ms", "t.execution_time_ms", "BIGINT"),
    ),
)
DEPLOYMENTS = Spec(
    "deployments",
    "fastapi_deployment",
    "created_at",
    (
        ("user_id", "t.user_id", "BIGINT"),
        ("name", "t.name", "VARCHAR"),
        ("code_chars", "length(t.final_code)", "BIGINT"),
    ),
)
# The workflow runs an alerts pass counts (its run windows and failure days), and a failed
# run's id and error as neon/failures.sql reads them (usertrack/reports/failure_copy.py).
_FAILED_RUN = "CASE WHEN t.run_state = 'failed' THEN {} END"
RUNS = Spec(
    "runs",
    "fastapi_run",
    "created_at",
    (
        ("user_id", "t.user_id", "BIGINT"),
        ("run_state", "t.run_state", "VARCHAR"),
        ("run_id", _FAILED_RUN.format("t.id::text"), "VARCHAR"),
        (
            "error_message",
            _FAILED_RUN.format("left(split_part(t.run_error_log, chr(10), 1), 500)"),
            "VARCHAR",
        ),
        ("run_error_log", _FAILED_RUN.format("left(t.run_error_log, 2000)"), "VARCHAR"),
    ),
)
TOOLS = (TOOL_CALLS, AGENT_RUNS, CODE_RUNS, DEPLOYMENTS)  # what `usertrack tools` reads
TIMED = (*TOOLS, RUNS)
# The users, whole tables: fastapi_user.id -> wasp_user.id, and each wasp_user's normalized
# email (as every query file writes it), whether the exclusion pattern keeps it, and its plan.
_EMAIL = "lower(btrim(t.email, E' \\t\\r\\n'))"
FASTAPI_USERS = Spec(
    "fastapi_users",
    "fastapi_user",
    "",
    (("id", "t.id", "BIGINT"), ("wasp_user_id", "t.wasp_user_id", "BIGINT")),
)
WASP_USERS = Spec(
    "wasp_users",
    "wasp_user",
    "",
    (
        ("id", "t.id", "BIGINT"),
        ("email", _EMAIL, "VARCHAR"),
        ("kept", f"{_EMAIL} !~ %(exclude_pattern)s", "BOOLEAN"),
        ("created_at", "t.created_at::timestamp", "TIMESTAMP"),
        # churn's accounts (usertrack/analytics/churn/app.py)
        ("credits", "t.credits::float8", "DOUBLE"),
        ("subscription_status", "t.subscription_status::text", "VARCHAR"),
        # the key metrics' accounts using credits (usertrack/reports/weekly_copy.py), as
        # neon/weekly_metrics.sql compares them, whatever the credits' type
        ("low_credits", "t.credits < 100", "BOOLEAN"),
        # `usertrack accounts`' active members (usertrack/reports/accounts_copy.py)
        ("last_active", "t.last_active_timestamp::timestamp", "TIMESTAMP"),
    ),
)
WHOLE = (FASTAPI_USERS, WASP_USERS)
