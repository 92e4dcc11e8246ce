"""The weekly report's app-database tables from the local copy of the app's tables
(usertrack/engines/postgres/app_mirror.py) where it answers: the failing tools (as `usertrack tools`
reads them, usertrack.reports.tool_sections), the failing runs
(usertrack.reports.failing_runs_copy) and the key metrics of both weeks, row for row what
queries/neon/weekly_metrics.sql gives on PostgreSQL.

weekly_metrics.sql reads the week's runs whole and joins them to the accounts, then looks up
each account's runs before the week: at 100,000 users about 0.4 s of the database's CPU a week,
asked for this week and the one before. In a dashboard the classification checks every run of
the copy up to the week's end (usertrack/segments/profile_copy.py), in the same snapshot of the
database: the metrics read nothing more of it, and DuckDB counts both weeks from the copy. The
median days from sign-up to first run is PostgreSQL's own: the week's first runs and their
accounts' sign-ups are sent to it in one statement with the file's percentile_cont, so its
numeric division and its rounding are the file's.

Used only in a dashboard (whose classification checks the same runs: alone, the report would
copy every run of the app first), where the copy may answer for the file
(app_mirror.copy_source: the shipped text on a PostgreSQL database, ...), the answers not
already in the answer cache and no run dated at or before the copy's first moment
(profile_copy.SINCE). Otherwise, or when the copy cannot be used (held by another command, a
check the database refuses), the file runs on the database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.clock import naive_utc
from usertrack.engines.shortcut import MirrorShortcut

if TYPE_CHECKING:
    from usertrack.engines.base import Result
    from usertrack.workspace import Workspace

Progress = Callable[[str], None]
Wanted = tuple[str, datetime, Mapping[str, Any]]  # (query id, as_of, extra params)

FILE = "neon/weekly_metrics"
# _METRICS (with _MEDIAN on the database) in place of the file, as shipped
SHORTCUT = MirrorShortcut(
    FILE,
    digest="5ae93f18f005ebe22462be48af8f3b05bcd486abe132ef3f3893565e3f9733e0",
    entry="key_metrics",
    used_by="a dashboard's weekly report",
)
METRICS = ("neon_metrics", "neon_metrics_before")  # the report's keys of the file's answers
COLUMNS = [
    "runs",
    "runs_completed",
    "first_runs",
    "median_days_to_first_run",
    "accounts",
    "accounts_using_credits",
]

# weekly_metrics.sql's accounts and their runs of the window over the copy; an account's first
# run falls in the window when none of its runs is dated at or before the window's start.
_METRICS = """
WITH accounts AS (
    SELECT id, created_at, low_credits
    FROM wasp_users
    WHERE created_at <= $as_of AND kept
),
per_account AS (
    SELECT a.id AS account_id, a.created_at, r.runs, r.runs_completed, r.first_run_at
    FROM (
        SELECT f.wasp_user_id AS account_id, count(*) AS runs,
               count(*) FILTER (WHERE r.run_state = 'completed') AS runs_completed,
               min(r.ts) AS first_run_at
        FROM runs AS r
        JOIN fastapi_users AS f ON f.id = r.user_id
        WHERE r.ts > $since AND r.ts <= $as_of
        GROUP BY f.wasp_user_id
    ) AS r
    JOIN accounts AS a ON a.id = r.account_id
),
earlier AS (
    SELECT DISTINCT f.wasp_user_id AS account_id
    FROM runs AS b
    JOIN fastapi_users AS f ON f.id = b.user_id
    WHERE b.ts > $first AND b.ts <= $since
),
first_runs AS (
    SELECT account_id, created_at, first_run_at
    FROM per_account
    WHERE account_id NOT IN (SELECT account_id FROM earlier WHERE account_id IS NOT NULL)
)
SELECT
    (SELECT coalesce(sum(runs), 0) FROM per_account)::BIGINT,
    (SELECT coalesce(sum(runs_completed), 0) FROM per_account)::BIGINT,
    (SELECT count(*) FROM accounts)::BIGINT,
    (SELECT count(*) FILTER (WHERE low_credits) FROM accounts)::BIGINT,
    (SELECT count(*) FROM first_runs)::BIGINT,
    (SELECT string_agg(CAST(epoch_us(created_at) AS VARCHAR), ',' ORDER BY account_id)
       FROM first_runs),
    (SELECT string_agg(CAST(epoch_us(first_run_at) AS VARCHAR), ',' ORDER BY account_id)
       FROM first_runs)
"""

# The file's median over the first runs sent (one pair of lists per week asked): each moment
# sent as its microseconds since 1970 (one text of them, not a value per moment to bind) and
# made the same timestamp again, exactly (an interval's microseconds are whole numbers).
_MEDIAN = """
(SELECT percentile_cont(0.5) WITHIN GROUP (
            ORDER BY extract(epoch FROM first_run_at - created_at) / 86400.0)
   FROM (
       SELECT TIMESTAMP 'epoch' + c * INTERVAL '1 microsecond' AS created_at,
              TIMESTAMP 'epoch' + f * INTERVAL '1 microsecond' AS first_run_at
       FROM unnest(string_to_array(%(created{i})s, ',')::int8[],
                   string_to_array(%(first{i})s, ',')::int8[]) AS sent (c, f)
   ) AS first_runs)
"""


def from_copy(
    ws: Workspace, wanted: Mapping[str, Wanted], progress: Progress | None
) -> dict[str, Any]:
    """The report's tables (`wanted`: its key -> (query id, as_of, params)) the copy answers:
    the failing tools, the failing runs and the key metrics of both weeks; {} for none."""
    if "neon" not in ws.sources:
        return {}
    copied: dict[str, Any] = {}
    copied.update(key_metrics(ws, {k: wanted[k] for k in METRICS if k in wanted}))
    if "failing_tools" in wanted:
        copied.update(_tools(ws, wanted["failing_tools"], progress))
    if "failing_runs" in wanted:
        runs = _runs(ws, wanted["failing_runs"])
        if runs is not None:
            copied["failing_runs"] = runs
    return copied


def _tools(ws: Workspace, wanted: Wanted, progress: Progress | None) -> dict[str, Result]:
    """{"failing_tools": its rows} from the app's tables' local copy, or {} (the file runs)."""
    from usertrack.reports.tool_sections import from_copy as tools_from_copy

    query_id, as_of, params = wanted
    job = ("failing_tools", *ws.bind(query_id, as_of, **params))
    results = tools_from_copy(
        ws, [job], since=as_of - timedelta(days=int(params["days"])), as_of=as_of, tool="*",
        limit=int(params["limit"]), segment_emails=None, progress=progress,
    )  # fmt: skip
    return results or {}


def _runs(ws: Workspace, wanted: Wanted) -> Any:
    """The failing runs from the app's tables' local copy (usertrack.reports.failing_runs_copy),
    or None (the file runs)."""
    from usertrack.reports.failing_runs_copy import from_copy as runs_from_copy

    query_id, as_of, params = wanted
    return runs_from_copy(ws, *ws.bind(query_id, as_of, **params))


def key_metrics(ws: Workspace, wanted: Mapping[str, Wanted]) -> dict[str, Result]:
    """weekly_metrics.sql's row for each of `wanted` from the checked copy, or {} when the file
    answers them (see the module)."""
    import duckdb
    import psycopg

    from usertrack.engines.base import Result
    from usertrack.engines.postgres import app_mirror
    from usertrack.segments.profile_copy import SINCE, dated_before

    if not wanted or ws.scope.shared is None or any(w[0] != FILE for w in wanted.values()):
        return {}
    jobs = {key: ws.bind(query_id, at, **params) for key, (query_id, at, params) in wanted.items()}
    cached = app_mirror.answer_cache(ws)
    if cached is not None and any(cached.peek(q, v) is not None for q, v in jobs.values()):
        return {}  # the answer cache answers at once
    postgres = app_mirror.copy_source(ws, [(SHORTCUT, q, v) for q, v in jobs.values()])
    patterns = {str(v["exclude_pattern"]) for _, v in jobs.values()}
    if postgres is None or len(patterns) != 1:
        return {}
    (pattern,) = patterns
    first = naive_utc(SINCE)
    end = max(naive_utc(v["as_of"]) for _, v in jobs.values())
    if dated_before(ws, postgres):
        return {}  # a run the copy's window leaves out
    path = app_mirror.mirror_path(ws.settings.home, postgres.identity)
    counted: dict[str, tuple[Any, ...]] = {}
    try:
        with app_mirror.AppMirror(path) as mirror:
            mirror.refresh(postgres, SINCE, end, (app_mirror.RUNS,), pattern)
            if mirror.meta("exclude_pattern") != pattern:
                return {}
            cur = mirror.con.cursor()
            try:
                for key, (_, values) in jobs.items():
                    at = naive_utc(values["as_of"])
                    since = at - timedelta(days=int(values["days"]))
                    window = {"first": first, "since": since, "as_of": at}
                    row = cur.execute(_METRICS, window).fetchone()
                    assert row is not None
                    counted[key] = row
            finally:
                cur.close()
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except (app_mirror.MirrorUnavailable, duckdb.Error):
        return {}
    try:
        medians = _medians(postgres, [counted[key][5:7] for key in jobs])
    except psycopg.Error:
        return {}
    out: dict[str, Result] = {}
    for (key, (query, values)), median in zip(jobs.items(), medians, strict=True):
        runs, completed, accounts, using, firsts = counted[key][:5]
        row = (int(runs), int(completed), int(firsts), median, int(accounts), int(using))
        out[key] = Result(columns=list(COLUMNS), rows=[row], meta={"from": "app mirror"})
        if cached is not None:
            cached.store_answer(query, values, out[key])
    return out


def _medians(postgres: Any, weeks: list[tuple[Any, Any]]) -> list[float | None]:
    """The file's median days from sign-up to first run of each week's (created_at,
    first_run_at) microseconds, each a text of them in the same order, computed by PostgreSQL
    in one statement (None for a week without)."""
    asked = [i for i, (created, _) in enumerate(weeks) if created]
    found: dict[int, float | None] = {}
    if asked:
        values: dict[str, Any] = {}
        for i in asked:
            values[f"created{i}"], values[f"first{i}"] = weeks[i]
        sql = "SELECT " + ", ".join(_MEDIAN.format(i=i) for i in asked)
        with postgres.session() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(sql, values)
            row = cur.fetchone()
        assert row is not None
        found = {i: None if v is None else float(v) for i, v in zip(asked, row, strict=True)}
    return [found.get(i) for i in range(len(weeks))]
