"""The failure report's summaries over the categorized failures (usertrack.reports.failures):
by cause, by category, the failing tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import duckdb


class _Categories(Protocol):
    """A failures.yaml's categories (usertrack.reports.failures.FailureRules)."""

    @property
    def categories(self) -> dict[str, str]: ...  # category -> default owner


# The failure columns the summaries read (beside cause, category and owner): the report's
# categorized table keeps these alone (its error logs, a week's 13 MB at 100,000 users, are
# read by the rules only).
SUMMARIZED = (
    "level",
    "occurred_at",
    "email",
    "tool_name",
    "tool_provider",
    "error_message",
    "duration_ms",
)


def as_dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def cause_summary(
    con: duckdb.DuckDBPyConnection, level: str | None = None, table: str = "categorized"
) -> list[dict[str, Any]]:
    """Failures by level and cause: count, users, first/last seen, tools, an example message.

    With `level`, that level's rows only; without, both levels (each row says its `level`).
    """
    # The example is the commonest message, ties to the first in text order: `mode` breaks ties
    # by whichever thread saw a value first, and the demo's messages are all different. Each
    # message's count comes from a grouping of its own, joined back (a window over every row
    # sorts them: 0.09 s against 0.06 s for a week's 96,000 failures at 100,000 users).
    keys = ("level", "cause", "category", "owner")
    same = " AND ".join(f"g.{k} IS NOT DISTINCT FROM e.{k}" for k in keys)
    rows = as_dicts(
        con.execute(
            f"""WITH failed AS (
                    SELECT * FROM "{table}" WHERE $level IS NULL OR level = $level
                ),
                examples AS (
                    SELECT level, cause, category, owner,
                           arg_min(error_message, (-seen, error_message))
                               FILTER (WHERE error_message IS NOT NULL) AS example
                    FROM (
                        SELECT level, cause, category, owner, error_message, count(*) AS seen
                        FROM failed
                        GROUP BY level, cause, category, owner, error_message
                    )
                    GROUP BY level, cause, category, owner
                )
                SELECT g.*, e.example
                FROM (
                    SELECT level, cause, category, owner, count(*) AS failures,
                           count(DISTINCT email) AS users,
                           min(occurred_at) AS first_seen, max(occurred_at) AS last_seen,
                           list_sort(list_distinct(list(tool_name))) AS tools
                    FROM failed
                    GROUP BY level, cause, category, owner
                ) AS g
                JOIN examples AS e ON {same}
                ORDER BY level DESC, failures DESC, cause""",
            {"level": level},
        )
    )
    if level is not None:
        for row in rows:
            del row["level"]
    return rows


def without_level(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "level"}


def category_summary(
    con: duckdb.DuckDBPyConnection, spec: _Categories, table: str = "categorized"
) -> list[dict[str, Any]]:
    """Failures by category, workflow and tool level side by side (never added up)."""
    rows = as_dicts(
        con.execute(
            f"""SELECT category, any_value(owner) AS owner,
                       count(*) FILTER (WHERE level = 'workflow') AS workflow_failures,
                       count(*) FILTER (WHERE level = 'tool') AS tool_failures,
                       count(DISTINCT email) AS users,
                       min(occurred_at) AS first_seen, max(occurred_at) AS last_seen
                FROM "{table}" GROUP BY category"""
        )
    )
    for row in rows:  # a category's owner is the file's, not whichever rule came first
        row["owner"] = spec.categories.get(row["category"], row["owner"])
    order = {c: i for i, c in enumerate(spec.categories)}
    rows.sort(
        key=lambda r: (-(r["workflow_failures"] + r["tool_failures"]), order.get(r["category"], 99))
    )
    return rows


def failing_tools(
    con: duckdb.DuckDBPyConnection, limit: int = 15, table: str = "categorized"
) -> list[dict[str, Any]]:
    """The analyst workflow's "Tool Failure Analysis" over the categorized tool-level failures,
    with the commonest cause of each tool."""
    return as_dicts(
        con.execute(
            f"""SELECT tool_name, tool_provider, count(*) AS failures,
                       count(DISTINCT email) AS affected_users,
                       round(avg(duration_ms)) AS avg_ms,
                       min(occurred_at) AS first_failure, max(occurred_at) AS last_failure,
                       arg_min(cause, (-seen, cause)) FILTER (WHERE cause IS NOT NULL)
                           AS top_cause  -- ties to the first in text order, as above
                FROM (
                    SELECT *, count(*) OVER (
                        PARTITION BY tool_name, tool_provider, cause) AS seen
                    FROM "{table}" WHERE level = 'tool'
                )
                GROUP BY tool_name, tool_provider
                ORDER BY failures DESC, affected_users DESC, tool_name
                LIMIT ?""",
            [limit],
        )
    )
