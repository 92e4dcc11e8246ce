"""What churn reads of the app's database: each email's runs (queries/neon/runs.sql, as of as_of
and as of the backtest's moment) and accounts (queries/neon/accounts.sql), each table the SQL
types of its columns and their values, for usertrack.analytics.churn.run to make its tables of.

For the files as shipped, on a database asked directly (the demo's), the three tables come from
the local copy of the app's tables (usertrack/engines/postgres/app_mirror.py, which `tools` and
`alerts` use): its check reads every run once with no grouping and no join (at 100,000 users 0.07 s
of PostgreSQL's CPU, where APP_FACTS below takes 0.6 s on one backend while the events' facts are
counted on the same two cores), and DuckDB groups the copy; the copy keeps the answer, read
back while its check finds nothing changed (as `tools`' reports). Where the copy cannot answer
(app_mirror.copy_source: USERTRACK_APP_MIRROR=0, a bound on the command's connections, ...; a
copy held by another command, a check the database refuses, an email of several users whose
subscription statuses differ, which the database orders by its own collation), APP_FACTS
answers in one statement; an edited file, or a database read through the answer cache, is
asked file by file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from usertrack.core.clock import naive_utc
from usertrack.engines.shortcut import MirrorShortcut

RUNS = {"email": "VARCHAR", "run_count": "BIGINT", "runs_completed": "BIGINT"}
ACCOUNTS = {"email": "VARCHAR", "credits": "DOUBLE", "subscription_status": "VARCHAR"}

# What churn reads of the app's database for queries/neon/runs.sql (as of as_of, and as of the
# backtest's moment {then}) and queries/neon/accounts.sql as shipped, in one statement: each
# table the JSON text of its columns' arrays, as app_facts asks of any file. The users' emails
# are normalized and matched against the pattern once for both, and every run is read once
# for both moments (a run up to {then} is one up to as_of): at 100,000 users a backtest's
# PostgreSQL CPU from 1.3 s to 0.7 s. The same rows as the files' (tests/analytics/test_churn.py).
APP_FACTS = """
WITH users AS MATERIALIZED (
    SELECT w.id, w.email, w.created_at, w.credits, w.subscription_status
    FROM (
        SELECT w.id, lower(btrim(w.email, E' \\t\\r\\n')) AS email, w.created_at, w.credits,
               w.subscription_status
        FROM wasp_user AS w
        WHERE w.email IS NOT NULL
        OFFSET 0
    ) AS w
    WHERE w.email !~ %(exclude_pattern)s
),
per_user AS MATERIALIZED (
    SELECT r.user_id, count(*) AS runs,
           count(*) FILTER (WHERE r.run_state = 'completed') AS completed,
           count(*) FILTER (WHERE r.created_at <= %(then)s) AS runs_then,
           count(*) FILTER (WHERE r.run_state = 'completed' AND r.created_at <= %(then)s)
               AS completed_then
    FROM fastapi_run AS r
    WHERE r.created_at <= %(as_of)s
    GROUP BY r.user_id
),
runs AS MATERIALIZED (
    SELECT u.email, sum(p.runs)::bigint AS run_count, sum(p.completed)::bigint AS runs_completed,
           sum(p.runs_then)::bigint AS run_count_then,
           sum(p.completed_then)::bigint AS runs_completed_then
    FROM users AS u
    JOIN fastapi_user AS f ON f.wasp_user_id = u.id
    JOIN per_user AS p ON p.user_id = f.id
    GROUP BY u.email
)
SELECT
    (SELECT json_build_object('email', array_agg(email), 'run_count', array_agg(run_count),
                              'runs_completed', array_agg(runs_completed))
     FROM runs)::text,
    (SELECT json_build_object('email', array_agg(email), 'run_count', array_agg(run_count_then),
                              'runs_completed', array_agg(runs_completed_then))
     FROM runs WHERE %(backtest)s AND run_count_then > 0)::text,
    (SELECT json_build_object('email', array_agg(email), 'credits', array_agg(credits),
                              'subscription_status', array_agg(subscription_status))
     FROM (SELECT email, min(credits) AS credits, max(subscription_status) AS subscription_status
           FROM users
           WHERE created_at <= %(as_of)s AND email <> ''
           GROUP BY email) AS a)::text
"""


def app_facts(
    ws: Any, as_of: datetime, then: datetime | None, progress: Any, pool: Any
) -> dict[str, Any] | None:
    """The app's runs per email as of as_of and as of the backtest's moment (`then`, if any),
    and its accounts, each its columns' SQL types and values (lists) to come from `pool`; None
    without an app database."""
    from usertrack.workspace import add_database

    if "neon" not in ws.sources and ws.demo is None and not ws.settings.database_url:
        return None
    opening = None
    if ws.demo is not None and "neon" not in ws.sources:
        # the demo's database opens on a thread too (its driver's import, the server's check)
        # while the events' facts are counted
        opening = pool.submit(add_database, ws, None, needed_by="churn")
    else:
        add_database(ws, progress, needed_by="churn")
    if progress:
        progress("fetching runs and accounts from the app's database")

    def table(query_id: str, moment: datetime, types: dict[str, str]) -> tuple[Any, Any]:
        from dataclasses import replace

        if opening is not None:
            opening.result()

        from usertrack.engines.postgres.source import PostgresSource

        query, values = ws.bind(query_id, moment)
        source = ws.sources[query.folder]
        if isinstance(source, PostgresSource):
            # The columns churn reads, each one array in one JSON text: a single value to
            # fetch and to bind, where 100,000 rows cost a Python tuple each and then every
            # value bound again (the database also leaves the file's other columns uncounted).
            text = query.sql.rstrip().rstrip(";")
            arrays = ", ".join(f"'{c}', array_agg(q.\"{c}\")" for c in types)
            sql = f"SELECT json_build_object({arrays})::text FROM (\n{text}\n) AS q"
            # On one backend: parallel workers would only share the two cores the events'
            # facts are counted on meanwhile, for a fifth more of the server's CPU.
            serial = (*query.settings, ("max_parallel_workers_per_gather", "0"))
            asked = replace(query, sql=sql, settings=serial)
            return types, source.run(asked, values).rows[0][0] or "{}"
        # As Arrow columns where the source gives them (a live database's answer cache keeps
        # a per-user answer so): at 200,000 users the live weekly dashboard's runs and
        # accounts made Python rows from it, then lists, bound to DuckDB one value at a time
        # (about 0.8 s of CPU); an Arrow table is scanned by DuckDB as it is (run._with_app).
        result = ws.run_query(query_id, moment, arrow_over=0)
        if result.arrow is not None:
            return types, result.arrow.select(list(types))
        at = {c: i for i, c in enumerate(result.columns)}
        return types, {c: [r[at[c]] for r in result.rows] for c in types}

    def together() -> dict[str, Any]:
        """APP_FACTS' three texts, one statement for the files as shipped."""
        from dataclasses import replace

        from usertrack.engines.postgres.source import PostgresSource

        if opening is not None:
            opening.result()
        query, values = ws.bind("neon/runs", as_of)
        source = ws.sources[query.folder]
        if not isinstance(source, PostgresSource):  # not asked directly after all: file by file
            found = {"runs_now": table("neon/runs", as_of, RUNS),
                     "accounts": table("neon/accounts", as_of, ACCOUNTS)}  # fmt: skip
            if then is not None:
                found["runs_then"] = table("neon/runs", then, RUNS)
            return found
        bound = facts_bound(ws, values, then)
        copied = from_copy(ws, source, bound)
        if copied is not None:
            return copied
        serial = (*query.settings, ("max_parallel_workers_per_gather", "0"))
        asked = replace(query, sql=APP_FACTS, settings=serial)
        now, before, accounts = source.run(asked, bound).rows[0]
        found = {"runs_now": (RUNS, now or "{}"), "accounts": (ACCOUNTS, accounts or "{}")}
        if then is not None:
            found["runs_then"] = (RUNS, before or "{}")
        return found

    if (
        _one_statement(ws, opening)
        and _as_shipped(ws, "neon/runs")
        and _as_shipped(ws, "neon/accounts")
    ):
        job = pool.submit(together)
        names = ("runs_now", "accounts", *(("runs_then",) if then is not None else ()))
        return {name: _Part(job, name) for name in names}
    jobs = {
        "runs_now": pool.submit(table, "neon/runs", as_of, RUNS),
        "accounts": pool.submit(table, "neon/accounts", as_of, ACCOUNTS),
    }
    if then is not None:
        jobs["runs_then"] = pool.submit(table, "neon/runs", then, RUNS)
    return jobs


class _Part:
    """One table of a job that answers several (its dict's `name`), as a future of its own."""

    def __init__(self, job: Any, name: str) -> None:
        self.job, self.name = job, name

    def result(self) -> Any:
        return self.job.result()[self.name]


def _one_statement(ws: Any, opening: Any) -> bool:
    """Whether the app's database is asked directly (the demo's: opening on a thread, or open),
    not through the answer cache (DATABASE_URL's), which keeps each file's rows."""
    if opening is not None:
        return True
    from usertrack.engines.postgres.source import PostgresSource

    return isinstance(ws.sources.get("neon"), PostgresSource)


def _as_shipped(ws: Any, query_id: str) -> bool:
    """Whether the query `query_id` is the file usertrack ships (its origin's digest the
    shipped file's; an app query has no filter slot: it runs as listed)."""
    from usertrack.queries.library import shipped

    return bool(shipped(ws.library.get(query_id)))


# The copy's check reaches back to this moment: every run up to as_of (a later one bounds the
# copy's days kept before it, KEPT_DAYS_BEFORE, inside Python's dates).
EARLIEST = datetime(1, 3, 2, tzinfo=UTC)

# APP_FACTS' three tables from the copy (tables runs, fastapi_users, wasp_users of
# usertrack.engines.postgres.app_mirror), the same rows: the runs up to each moment per user, summed
# per normalized email over the users the exclusion pattern keeps (an empty email included, as the
# files join it), and each kept email's accounts made up to as_of.
_COPY_RUNS = """
WITH per_user AS (
    SELECT user_id, count(*) AS runs,
           count(*) FILTER (WHERE run_state = 'completed') AS completed,
           count(*) FILTER (WHERE ts <= $then) AS runs_then,
           count(*) FILTER (WHERE run_state = 'completed' AND ts <= $then) AS completed_then
    FROM runs
    WHERE ts <= $as_of
    GROUP BY user_id
),
per_email AS (
    SELECT w.email, CAST(sum(p.runs) AS BIGINT) AS run_count,
           CAST(sum(p.completed) AS BIGINT) AS runs_completed,
           CAST(sum(p.runs_then) AS BIGINT) AS run_count_then,
           CAST(sum(p.completed_then) AS BIGINT) AS runs_completed_then
    FROM wasp_users AS w
    JOIN fastapi_users AS f ON f.wasp_user_id = w.id
    JOIN per_user AS p ON p.user_id = f.id
    WHERE w.kept
    GROUP BY w.email
)
SELECT
    (SELECT CAST(json_object('email', list(email), 'run_count', list(run_count),
                             'runs_completed', list(runs_completed)) AS VARCHAR)
     FROM per_email),
    (SELECT CAST(json_object('email', list(email), 'run_count', list(run_count_then),
                             'runs_completed', list(runs_completed_then)) AS VARCHAR)
     FROM per_email WHERE $backtest AND run_count_then > 0)
"""
_COPY_ACCOUNTS = """
WITH accounts AS (
    SELECT email, min(credits) AS credits, max(subscription_status) AS subscription_status,
           count(DISTINCT subscription_status) AS statuses
    FROM wasp_users
    WHERE kept AND created_at <= $as_of AND email <> ''
    GROUP BY email
)
SELECT CAST(json_object('email', list(email), 'credits', list(credits),
                        'subscription_status', list(subscription_status)) AS VARCHAR),
       coalesce(max(statuses), 0)
FROM accounts
"""


# _COPY_RUNS and _COPY_ACCOUNTS in place of the files, as shipped (both, or neither)
SHORTCUTS = (
    MirrorShortcut(
        "neon/runs",
        digest="0c47236558a4ad96e3811f06a1a1743023d1dbe103da069984aeea7cbbfd4ba3",
        entry="churn",
        used_by="usertrack churn",
    ),
    MirrorShortcut(
        "neon/accounts",
        digest="d61b2d17a989c3498b53b45b685ca4f698f09a8772d940e599bfd6423bc32e1e",
        entry="churn",
        used_by="usertrack churn",
    ),
)

# Between the kept answer's three JSON texts (which hold no NUL: JSON escapes it).
_SEPARATOR = b"\x00"


def _statements_hash() -> str:
    """What the kept answer's texts depend on beside the copy and the values: the statements
    that make them and usertrack's version."""
    import hashlib

    from usertrack import __version__

    text = repr((__version__, _COPY_ACCOUNTS, _COPY_RUNS)).encode()
    return hashlib.sha256(text).hexdigest()[:16]


def facts_bound(ws: Any, values: dict[str, Any], then: datetime | None) -> dict[str, Any]:
    """APP_FACTS' values (and from_copy's): neon/runs.sql's as bound at as_of (`values`), the
    backtest's moment (`then`, if any) as it binds it."""
    return {
        "as_of": values["as_of"],
        "then": ws.bind("neon/runs", then or values["as_of"])[1]["as_of"],
        "exclude_pattern": values["exclude_pattern"],
        "backtest": then is not None,
    }


def from_copy(ws: Any, source: Any, bound: dict[str, Any]) -> dict[str, Any] | None:
    """APP_FACTS' tables (runs_now, accounts, and runs_then with the backtest) from the local
    copy of the app's tables, checked against the database (`source`, a PostgresSource) for
    every run up to as_of; None where APP_FACTS answers instead (see the module)."""
    import duckdb

    from usertrack.engines.postgres import app_mirror, mirror_file

    asked = [(cut, ws.library.get(cut.query_id), None) for cut in SHORTCUTS]
    if app_mirror.copy_source(ws, asked) is None:
        return None

    as_of, then = naive_utc(bound["as_of"]), naive_utc(bound["then"])
    pattern = str(bound["exclude_pattern"])
    try:
        mirror = app_mirror.AppMirror(app_mirror.mirror_path(ws.settings.home, source.identity))
    except app_mirror.MirrorUnavailable:
        return None
    try:
        mirror.refresh(source, EARLIEST, as_of, (app_mirror.RUNS,), pattern)
        # the answer of this generation of the copy (which the check has just found equal to
        # the database) when asked before: the texts as made then
        key = f"churn {as_of.isoformat()} {then.isoformat()} {bound['backtest']} {pattern}"
        key += f" {_statements_hash()}"  # an upgrade's statements: not the old answer
        kept = mirror.kept_answer(key)
        if kept is not None:
            accounts, now, before = (t.decode() or None for t in kept.split(_SEPARATOR))
        else:
            con = mirror.con
            accounts, statuses = con.execute(_COPY_ACCOUNTS, {"as_of": as_of}).fetchall()[0]
            if statuses > 1:  # ordered by the database's collation: asked of the database
                return None
            now, before = con.execute(
                _COPY_RUNS, {"as_of": as_of, "then": then, "backtest": bound["backtest"]}
            ).fetchall()[0]
            texts = (accounts or "", now or "", before or "")
            mirror.keep_answer(key, _SEPARATOR.join(t.encode() for t in texts))
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None  # Ctrl-C inside DuckDB: the command stops
    except (app_mirror.MirrorUnavailable, duckdb.Error) as e:
        if mirror_file.damage_seen(e):
            mirror.damaged = True  # replaced once closed
        return None  # a copy another command holds, a check refused, a damaged copy
    finally:
        mirror.close()
    found = {"runs_now": (RUNS, now or "{}"), "accounts": (ACCOUNTS, accounts or "{}")}
    if bound["backtest"]:
        found["runs_then"] = (RUNS, before or "{}")
    return found
