"""The weekly report's failing runs from the local copy of the app's tables
(usertrack/engines/postgres/app_mirror.py), row for row what queries/neon/failing_runs.sql gives on
PostgreSQL.

The file reads every run of the window (the runs have no index on their time), joins the failed
ones to the users and takes each one's first error line: at 100,000 users about 0.7 s of the
database's CPU for a week. The copy keeps a failed run's first error line (up to 500
characters, as failures.sql reads it), checked against the database as every copy is; DuckDB
groups the lines. The file's error shapes (numbers replaced by N, with a look-behind, which
DuckDB's regular expressions do not have) are PostgreSQL's own: the few distinct lines of the
week are sent to it in one statement with the file's two regexp_replace calls.

Used only where the copy may answer (app_mirror.copy_source: the shipped file on a PostgreSQL
database, ...), an answer not already in the answer cache, and no first line the copy may have
cut (500 characters or more). Otherwise, or when the copy cannot be used, the file runs on the
database.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.clock import naive_utc
from usertrack.engines.shortcut import MirrorShortcut

if TYPE_CHECKING:
    from usertrack.engines.base import Result
    from usertrack.queries.library import Query
    from usertrack.workspace import Workspace

FILE = "neon/failing_runs"
# _LINES and _GROUPED (with _SHAPES on the database) in place of the file, as shipped
SHORTCUT = MirrorShortcut(
    FILE,
    digest="a5379e183d33f48f2e9683e097aac3b6cea8c0b5304eb246d9cb732666f2daeb",
    entry="failing_runs",
    used_by="the weekly report",
)
COLUMNS = ["error", "failed_runs", "affected_users", "first_failed_at", "last_failed_at"]
_CUT = 500  # the copy's first error lines: left(..., 500)

# failing_runs.sql's `failed` over the copy: each failed run of the users kept, its email and
# first error line (the file reads '' for a run without a log), whether that line starts
# "Workflow run N failed at step N of N: " (digits for each N) and the text after it.
_LINES = """
WITH failed AS (
    SELECT r.ts, w.email, coalesce(r.error_message, '') AS line
    FROM runs AS r
    JOIN fastapi_users AS f ON f.id = r.user_id
    JOIN wasp_users AS w ON w.id = f.wasp_user_id
    WHERE w.kept AND r.run_state = 'failed' AND r.ts > $since AND r.ts <= $as_of
),
flagged AS (
    SELECT *, regexp_matches(line, '^Workflow run [0-9]+ failed at step [0-9]+ of [0-9]+: ')
              AS stripped
    FROM failed
)
SELECT ts, email, line, stripped,
       CASE WHEN stripped THEN substr(line, strpos(line, ': ') + 2) ELSE line END AS text
FROM flagged
"""

# The file's `shapes`, word for word, over the distinct lines sent.
_SHAPES = """
SELECT
    stripped,
    text,
    CASE WHEN stripped THEN numbered ELSE
        regexp_replace(numbered, '^Workflow run N failed at step N of N: ', '')
    END AS error
FROM (
    SELECT
        stripped,
        text,
        regexp_replace(
            text,
            '(?<![0-9])(?<!(status|code|http|exit|exited|returned|rc)[ :=]{0,2})[0-9]+(?![0-9])'
            '(?! (Bad Request|Unauthorized|Forbidden|Not Found|Too Many Requests'
            '|Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout))',
            'N', 'gi'
        ) AS numbered
    FROM unnest(%(stripped)s::boolean[], %(texts)s::text[]) AS distinct_lines (stripped, text)
) AS numbered
"""

_GROUPED = """
SELECT coalesce(nullif(s.error, ''), '(no error log)') AS error,
       count(*) AS failed_runs,
       count(DISTINCT f.email) AS affected_users,
       min(f.ts) AS first_failed_at,
       max(f.ts) AS last_failed_at
FROM lines AS f
JOIN shapes AS s ON s.stripped = f.stripped AND s.text = f.text
GROUP BY 1
ORDER BY failed_runs DESC, affected_users DESC, error
LIMIT $limit
"""


def from_copy(ws: Workspace, query: Query, values: dict[str, Any]) -> Result | None:
    """failing_runs.sql's rows for `values` from the checked copy, or None when the file
    answers instead (see the module)."""
    import duckdb
    import psycopg

    from usertrack.engines.base import Result
    from usertrack.engines.postgres import app_mirror

    cached = app_mirror.answer_cache(ws)
    if cached is not None and cached.peek(query, values) is not None:
        return None  # the answer cache answers at once
    postgres = app_mirror.copy_source(ws, [(SHORTCUT, query, values)])
    if postgres is None:
        return None
    at = naive_utc(values["as_of"])
    since = at - timedelta(days=int(values["days"]))
    pattern = str(values["exclude_pattern"])
    path = app_mirror.mirror_path(ws.settings.home, postgres.identity)
    try:
        with app_mirror.AppMirror(path) as mirror:
            mirror.refresh(postgres, since, at, (app_mirror.RUNS,), pattern)
            if mirror.meta("exclude_pattern") != pattern:
                return None
            con = mirror.con.cursor()
            try:
                con.execute(f"CREATE TEMP TABLE lines AS {_LINES}", {"since": since, "as_of": at})
                (cut,) = con.execute(
                    "SELECT count(*) FROM lines WHERE length(line) >= $cut", {"cut": _CUT}
                ).fetchone() or (1,)
                if cut:
                    return None  # a first line the copy may have cut: the file reads it whole
                distinct = con.execute("SELECT DISTINCT stripped, text FROM lines").fetchall()
                with postgres.session() as conn, conn.transaction():  # read-only
                    cur = psycopg.ClientCursor(conn)
                    cur.execute(
                        _SHAPES,
                        {"stripped": [s for s, _ in distinct], "texts": [t for _, t in distinct]},
                    )
                    shapes = cur.fetchall()
                con.execute("CREATE TEMP TABLE shapes (stripped BOOLEAN, text VARCHAR, error TEXT)")
                if shapes:
                    con.executemany("INSERT INTO shapes VALUES (?, ?, ?)", shapes)
                rows = con.execute(_GROUPED, {"limit": int(values["limit"])}).fetchall()
            finally:
                con.close()
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except (app_mirror.MirrorUnavailable, duckdb.Error, psycopg.Error):
        return None
    result = Result(
        columns=list(COLUMNS), rows=[tuple(r) for r in rows], meta={"from": "app mirror"}
    )
    if cached is not None:
        cached.store_answer(query, values, result)
    return result
