"""The tool query files that read every call of the window (shaped for speed at millions of
calls: counted per account first, keys hashed) give exactly what the plain definitions of their
figures give: count(DISTINCT email), string_agg(DISTINCT ...) and percentile_cont(0.9) over
every call of the kept users.

Both run on the demo's PostgreSQL with the same bound values: every tool, one tool, a short
window and a segment's emails only. The plain definitions are written out below, one SELECT
each, as docs/metrics.md defines the figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

USERS = """
WITH users AS (
    SELECT f.id::text AS fid_text, lower(btrim(w.email, E' \\t\\r\\n')) AS email
    FROM fastapi_user AS f
    JOIN wasp_user AS w ON w.id = f.wasp_user_id
    WHERE lower(btrim(w.email, E' \\t\\r\\n')) !~ %(exclude_pattern)s
      AND (NOT %(segment_only)s
           OR lower(btrim(w.email, E' \\t\\r\\n')) = ANY(%(segment_emails)s::text[]))
)
"""
WINDOW = """
  t.created_at > %(as_of)s - %(days)s * INTERVAL '1 day' AND t.created_at <= %(as_of)s
"""

PLAIN = {
    "neon/tool_usage": USERS
    + """
SELECT
    t.tool_name,
    min(t.tool_type) AS tool_type,
    string_agg(DISTINCT coalesce(t.tool_provider, ''), ', '
               ORDER BY coalesce(t.tool_provider, '')) AS providers,
    count(*) AS calls,
    count(DISTINCT u.email) AS users,
    count(*) FILTER (WHERE t.status = 'success') AS successes,
    count(*) FILTER (WHERE t.status = 'failed') AS failures,
    round(100.0 * count(*) FILTER (WHERE t.status = 'success') / count(*), 1) AS success_rate,
    round(avg(t.execution_duration_ms))::bigint AS avg_ms,
    round((percentile_cont(0.9) WITHIN GROUP (ORDER BY t.execution_duration_ms))::numeric)::bigint
        AS p90_ms,
    count(DISTINCT u.email) FILTER (WHERE t.status = 'failed') AS affected_users,
    min(t.created_at) FILTER (WHERE t.status = 'failed') AS first_failure,
    max(t.created_at) FILTER (WHERE t.status = 'failed') AS last_failure
FROM fastapi_tool_executions AS t
JOIN users AS u ON u.fid_text = t.user_id
WHERE """
    + WINDOW
    + """
  AND (%(tool)s = '*' OR t.tool_name = %(tool)s)
GROUP BY t.tool_name
ORDER BY calls DESC, t.tool_name COLLATE "C"
LIMIT %(limit)s
""",
    "neon/tool_providers": USERS
    + """
SELECT
    coalesce(t.tool_provider, '') AS tool_provider,
    count(*) AS calls,
    count(DISTINCT t.tool_name) AS tools,
    count(DISTINCT u.email) AS users,
    count(*) FILTER (WHERE t.status = 'success') AS successes,
    count(*) FILTER (WHERE t.status = 'failed') AS failures,
    round(100.0 * count(*) FILTER (WHERE t.status = 'success') / count(*), 1) AS success_rate,
    round(avg(t.execution_duration_ms))::bigint AS avg_ms
FROM fastapi_tool_executions AS t
JOIN users AS u ON u.fid_text = t.user_id
WHERE t.tool_type = 'mcp' AND """
    + WINDOW
    + """
GROUP BY coalesce(t.tool_provider, '')
ORDER BY calls DESC, coalesce(t.tool_provider, '') COLLATE "C"
""",
    "neon/tool_trend": USERS
    + """,
days AS (
    SELECT d::date AS day
    FROM generate_series(
        date_trunc('day', %(as_of)s::timestamp - %(days)s * INTERVAL '1 day'),
        %(as_of)s::timestamp - INTERVAL '1 microsecond',
        INTERVAL '1 day'
    ) AS d
),
calls AS (
    SELECT t.created_at::date AS day, count(*) AS calls,
           count(*) FILTER (WHERE t.status = 'success') AS successes,
           count(*) FILTER (WHERE t.status = 'failed') AS failures,
           count(DISTINCT u.email) AS users
    FROM fastapi_tool_executions AS t
    JOIN users AS u ON u.fid_text = t.user_id
    WHERE """
    + WINDOW
    + """
      AND (%(tool)s = '*' OR t.tool_name = %(tool)s)
    GROUP BY 1
)
SELECT d.day, coalesce(c.calls, 0)::bigint AS calls,
       coalesce(c.successes, 0)::bigint AS successes,
       coalesce(c.failures, 0)::bigint AS failures, coalesce(c.users, 0) AS users
FROM days AS d LEFT JOIN calls AS c ON c.day = d.day
ORDER BY d.day
""",
}


@pytest.fixture(scope="module")
def demo(demo_home: Path) -> Iterator[tuple[Any, datetime, list[str], str]]:
    """The demo's workspace, its as-of moment, a few emails of callers, and its busiest tool."""
    from usertrack.core.config import load_settings, resolve_queries_dir, resolve_segments_file
    from usertrack.workspace import open_workspace

    mp = pytest.MonkeyPatch()
    mp.setenv("USERTRACK_HOME", str(demo_home))
    try:
        with open_workspace(
            load_settings(),
            queries_dir=resolve_queries_dir(None),
            segments_path=resolve_segments_file(REPO / "segments.yaml"),
        ) as ws:
            as_of = ws.default_as_of()
            top = ws.run_query("neon/tool_usage", as_of, days=30, tool="*", limit=1)
            conn = ws.sources["neon"].connect()  # type: ignore[attr-defined]
            emails = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT lower(btrim(w.email, E' \\t\\r\\n')) FROM wasp_user AS w"
                    " JOIN fastapi_user AS f ON f.wasp_user_id = w.id"
                    " JOIN fastapi_tool_executions AS t ON t.user_id = f.id::text"
                    " ORDER BY 1 LIMIT 40"
                ).fetchall()
            ]
            conn.rollback()
            yield ws, as_of, emails, top.rows[0][0]
    finally:
        mp.undo()


def _plain(ws: Any, query_id: str, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The plain definition's rows, bound and read as the Postgres source reads rows."""
    from usertrack.engines.postgres.source import bindable

    conn = ws.sources["neon"].connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('TimeZone', 'UTC', true)")
            cur.execute(PLAIN[query_id].encode(), {k: bindable(v) for k, v in values.items()})
            return cur.fetchall()
    finally:
        conn.rollback()


@pytest.mark.parametrize("query_id", sorted(PLAIN))
@pytest.mark.parametrize("case", ["every tool", "one tool", "7 days", "segment"])
def test_the_hashed_query_gives_the_plain_definitions_answer(
    demo: tuple[Any, datetime, list[str], str], query_id: str, case: str
) -> None:
    ws, as_of, emails, busiest = demo
    query = ws.library.get(query_id)
    given: dict[str, Any] = {"days": 7 if case == "7 days" else 30}
    if "tool" in query.param_names:
        given["tool"] = busiest if case == "one tool" else "*"
    if "limit" in query.param_names:
        given["limit"] = 1000
    if case == "segment":
        given.update(segment_only=True, segment_emails=emails)
    _, values = ws.bind(query_id, as_of, **given)
    shipped = ws.run_query(query_id, as_of, **given)
    expected = _plain(ws, query_id, values)
    assert shipped.rows, f"{query_id} ({case}): the demo gives no row to compare"
    assert [tuple(r) for r in shipped.rows] == [tuple(r) for r in expected]
