"""`usertrack tools`' sections from the local copy of the app's tables
(engines/postgres/app_mirror.py), row for row what the shipped query files give on PostgreSQL.

Used only where the copy may answer (usertrack.engines.postgres.app_mirror.copy_source: every query
file of the report the shipped text, the app's database PostgreSQL, ...). DuckDB counts, sums and
takes the percentiles; the finishing is PostgreSQL's arithmetic, done here exactly:
- `round(100.0 * a / b, 1)` and `round(avg(x))` on numeric: the exact ratio rounded half away
  from zero (numeric is read as a float, as the database's rows are);
- `round(percentile_cont(0.9) ...::numeric)`: DuckDB's quantile_cont interpolates as
  PostgreSQL does (lo + (hi - lo) * (0.9 * (n - 1) - floor), in double precision); float8 to
  numeric keeps 15 significant digits, then rounds half away from zero;
- text is ordered and grouped byte-wise (COLLATE "C" in the files; DuckDB's own order).
  The one aggregate that follows the database's collation, `min(tool_type)` of a tool called
  under several types, is not reproduced: such a report is asked of the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from usertrack.core.clock import naive_utc
from usertrack.engines.shortcut import MirrorShortcut

if TYPE_CHECKING:
    import duckdb

    from usertrack.engines.base import Result
    from usertrack.engines.cache import CachedSource
    from usertrack.segments.profiles import Job
    from usertrack.workspace import Progress, Workspace


# Sections' statement in place of each file, as shipped (from_copy says which is whose).
_TOOLS = "usertrack tools"
SHORTCUTS = tuple(
    MirrorShortcut(query_id, digest, entry="sections", used_by=used_by)
    for query_id, digest, used_by in (
        (
            "neon/tool_overview",
            "7bf2bbadae36492fced1f0da16e6ea2b26303dfd7db8076782aea27787da74e0",
            _TOOLS,
        ),
        (
            "neon/tool_types",
            "ced782051088db20a8a05e1fc3af088eda49a8cf88dd20cd160c73f7430152bb",
            _TOOLS,
        ),
        (
            "neon/tool_usage",
            "03249a9135ebb1612df626d3e533ab212d77cd4dbfc3ffb1f723b7168baf53f7",
            _TOOLS,
        ),
        (
            "neon/tool_providers",
            "cfb9fb49d9fce29fa44d1b7eb1afd06dd2876e0432dac7247f1bc94c411eb5cf",
            _TOOLS,
        ),
        (
            "neon/agent_executions",
            "de6c964ae13f55c00d6cc2b1741923d99aa0885bcad2ad9b8ef673941e00e6ea",
            _TOOLS,
        ),
        (
            "neon/code_executions",
            "f807012a4953d0e5c6c8ceeedecde20604328ac4c59c56ff6b445918ffab82ce",
            _TOOLS,
        ),
        (
            "neon/custom_tools",
            "678f79494e3cceda653b98f98a4b25f5c74786f1b8133ed82c9ad2b23b697757",
            _TOOLS,
        ),
        (
            "neon/tool_trend",
            "3d85332cf3ab08707b08f47b56e79778c256dd07ddbebbaa32726b17bd64ba0b",
            _TOOLS,
        ),
        (
            "neon/tool_errors",
            "054b6b63d4c009fd7714739212779b3cacb35c3350988b4efaf7fe167bc10190",
            _TOOLS,
        ),
        (
            "neon/failing_tools",
            "f81d2b2083900e854ba8bfda58bc0590401e1d3d86e1decd1bdec8cd135574d4",
            "the weekly report",
        ),
    )
)
_DECLARED = {cut.query_id: cut for cut in SHORTCUTS}


class NotFromCopy(Exception):
    """This report is asked of the database instead."""


def ratio(num: int | None, den: int | None, places: int = 0) -> Any:
    """PostgreSQL's round(num / den, places) on numeric, read as the database's rows are (a
    float, or an int after ::bigint when places is 0); None when either is NULL or den is 0."""
    if num is None or not den:
        return None
    scaled = abs(num) * 10**places
    whole = (2 * scaled + den) // (2 * den)  # half away from zero, den > 0
    if num < 0:
        whole = -whole
    if places == 0:
        return int(whole)
    return float(Decimal(whole).scaleb(-places))


def rounded(value: float | None) -> int | None:
    """round(value::numeric)::bigint of a float8 (15 significant digits, then half away)."""
    if value is None:
        return None
    return int(Decimal(f"{value:.15g}").quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _pct(part: int, whole: int | None) -> Any:
    return ratio(100 * part, whole, 1)


# ukey: one integer per normalized email (distinct users are counted as integers)
_WUSERS = """
wusers AS (
    SELECT id, min(id) OVER (PARTITION BY email) AS ukey FROM wasp_users
    WHERE kept AND (NOT $segment_only OR list_contains($segment_emails, email))
)"""
_FUSERS = (
    _WUSERS
    + """,
fusers AS (
    SELECT CAST(f.id AS VARCHAR) AS fid_text, f.id AS fid, w.ukey
    FROM fastapi_users AS f JOIN wusers AS w ON w.id = f.wasp_user_id
)"""
)
_CALLS = (
    "WITH"
    + _FUSERS
    + """,
calls AS (
    SELECT t.*, u.ukey FROM tool_calls AS t JOIN fusers AS u ON u.fid_text = t.user_id
    WHERE t.ts > $since AND t.ts <= $as_of AND ($tool = '*' OR t.tool_name = $tool)
)
"""
)


class Sections:
    """The sections' rows from the copy, for one window and set of users."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        since: datetime,
        as_of: datetime,
        segment_emails: list[str] | None,
    ) -> None:
        self.con = con
        self.since = since
        self.as_of = as_of
        self.values: dict[str, Any] = {
            "since": since,
            "as_of": as_of,
            "segment_only": segment_emails is not None,
            "segment_emails": segment_emails or [],
        }

    def _rows(self, sql: str, **more: Any) -> list[tuple[Any, ...]]:
        wanted = {**self.values, **more}
        names = {k: v for k, v in wanted.items() if f"${k}" in sql}
        return self.con.execute(sql, names).fetchall()

    def overview(self) -> Result:
        (row,) = self._rows(
            _CALLS
            # tools: the file's groups of tool_name, a NULL name one of them
            + """SELECT count(*), count(DISTINCT ukey),
                count(DISTINCT tool_name) + CAST(count(*) > count(tool_name) AS BIGINT), sum(ms),
                count(ms), count(*) FILTER (WHERE status = 'success'),
                count(*) FILTER (WHERE status = 'failed') FROM calls""",
            tool="*",
        )
        calls, users, tools, ms, timed, ok, failed = row
        return _result(
            ["calls", "users", "tools", "avg_ms", "successes", "failures", "success_rate"],
            [(calls, users, tools, ratio(ms, timed), ok, failed, _pct(ok, calls or None))],
        )

    def tool_types(self) -> Result:
        rows = self._rows(
            _CALLS
            + """SELECT tool_type, count(*) AS n, count(DISTINCT ukey),
                count(*) FILTER (WHERE status = 'success'),
                count(*) FILTER (WHERE status = 'failed')
            FROM calls GROUP BY tool_type ORDER BY n DESC, tool_type""",
            tool="*",
        )
        total = sum(r[1] for r in rows)
        return _result(
            ["tool_type", "calls", "share", "users", "successes", "failures", "success_rate"],
            [(t, n, _pct(n, total), u, s, f, _pct(s, n)) for t, n, u, s, f in rows],
        )

    def tool_usage(self, tool: str, limit: int) -> Result:
        rows = self._rows(
            _CALLS
            + """, per AS (
                -- distinct users as groups of (tool, user): cheaper than two DISTINCT counts
                SELECT tool_name, ukey, bool_or(status = 'failed') AS hit FROM calls GROUP BY ALL
            ),
            users AS (
                SELECT tool_name, count(*) AS users, count(*) FILTER (WHERE hit) AS hit
                FROM per GROUP BY ALL
            ),
            kinds AS (
                SELECT tool_name, min(tool_type) AS tool_type, count(DISTINCT tool_type) AS types,
                    list_sort(list(DISTINCT p)) AS providers
                FROM (SELECT DISTINCT tool_name, tool_type, coalesce(tool_provider, '') AS p
                      FROM calls)
                GROUP BY ALL
            ),
            main AS (
                SELECT tool_name, count(*) AS n, count(*) FILTER (WHERE status = 'success') AS ok,
                    count(*) FILTER (WHERE status = 'failed') AS failed, sum(ms) AS ms,
                    count(ms) AS timed, quantile_cont(ms::DOUBLE, 0.9) AS p90,
                    min(ts) FILTER (WHERE status = 'failed') AS lo,
                    max(ts) FILTER (WHERE status = 'failed') AS hi
                FROM calls GROUP BY ALL
            )
            SELECT m.tool_name, k.tool_type, k.types, k.providers, m.n, u.users, m.ok, m.failed,
                m.ms, m.timed, m.p90, u.hit, m.lo, m.hi
            FROM main AS m
            JOIN users AS u ON u.tool_name IS NOT DISTINCT FROM m.tool_name
            JOIN kinds AS k ON k.tool_name IS NOT DISTINCT FROM m.tool_name
            ORDER BY m.n DESC, m.tool_name LIMIT $limit""",
            tool=tool,
            limit=limit,
        )
        if any(r[2] > 1 for r in rows):
            raise NotFromCopy("a tool called under several types")
        out = []
        for name, type_, _, providers, n, users, ok, failed, ms, timed, p90, hit, lo, hi in rows:
            out.append(
                (
                    name,
                    type_,
                    ", ".join(providers),
                    n,
                    users,
                    ok,
                    failed,
                    _pct(ok, n),
                    ratio(ms, timed),
                    rounded(p90),
                    hit,
                    lo,
                    hi,
                )
            )
        columns = ["tool_name", "tool_type", "providers", "calls", "users", "successes"]
        columns += ["failures", "success_rate", "avg_ms", "p90_ms", "affected_users"]
        return _result([*columns, "first_failure", "last_failure"], out)

    def failing_tools(self, limit: int) -> Result:
        """neon/failing_tools: the tools with a failed call, by tool and provider. A call
        without a tool name is in no row (the file joins its two counts on the name)."""
        rows = self._rows(
            _CALLS
            + """SELECT tool_name, coalesce(tool_provider, '') AS provider, count(*) AS n,
                count(*) FILTER (WHERE status = 'failed') AS failed,
                count(DISTINCT ukey) FILTER (WHERE status = 'failed') AS hit
            FROM calls WHERE tool_name IS NOT NULL GROUP BY ALL HAVING failed > 0
            ORDER BY failed DESC, hit DESC, tool_name, provider LIMIT $limit""",
            tool="*",
            limit=limit,
        )
        return _result(
            ["tool_name", "tool_provider", "calls", "failures", "failure_rate", "affected_users"],
            [(t, p, n, f, _pct(f, n), u) for t, p, n, f, u in rows],
        )

    def tool_providers(self) -> Result:
        rows = self._rows(
            _CALLS
            + """SELECT coalesce(tool_provider, '') AS provider, count(*) AS n,
                count(DISTINCT tool_name), count(DISTINCT ukey),
                count(*) FILTER (WHERE status = 'success'),
                count(*) FILTER (WHERE status = 'failed'), sum(ms), count(ms)
            FROM calls WHERE tool_type = 'mcp' GROUP BY provider ORDER BY n DESC, provider""",
            tool="*",
        )
        return _result(
            [
                *("tool_provider", "calls", "tools", "users", "successes", "failures"),
                *("success_rate", "avg_ms"),
            ],
            [
                (p, n, t, u, s, f, _pct(s, n), ratio(ms, timed))
                for p, n, t, u, s, f, ms, timed in rows
            ],
        )

    def tool_trend(self, tool: str) -> Result:
        rows = self._rows(
            _CALLS
            + """SELECT day, count(*),
                count(*) FILTER (WHERE status = 'success'),
                count(*) FILTER (WHERE status = 'failed'), count(DISTINCT ukey)
            FROM calls GROUP BY day""",
            tool=tool,
        )
        by_day = {r[0]: r[1:] for r in rows}
        day = datetime.combine(self.since.date(), datetime.min.time())
        last = self.as_of - timedelta(microseconds=1)
        out = []
        while day <= last:
            calls, ok, failed, users = by_day.get(day.date(), (0, 0, 0, 0))
            out.append((day.date(), calls, ok, failed, users))
            day += timedelta(days=1)
        return _result(["day", "calls", "successes", "failures", "users"], out)

    def tool_errors(self, tool: str, limit: int) -> Result:
        rows = self._rows(
            _CALLS
            + """SELECT coalesce(error_type, '') AS et, coalesce(error_preview, '') AS ep,
                count(*) AS n, count(DISTINCT ukey), min(ts), max(ts)
            FROM calls WHERE status = 'failed' AND tool_name = $tool GROUP BY et, ep
            ORDER BY n DESC, et, ep LIMIT $limit""",
            tool=tool,
            limit=limit,
        )
        return _result(
            ["error_type", "error_preview", "occurrences", "users", "first_seen", "last_seen"],
            rows,
        )

    def agent_executions(self) -> Result:
        rows = self._rows(
            "WITH"
            + _WUSERS
            + """
            SELECT a.status, count(*) AS n, count(DISTINCT u.ukey), count(DISTINCT a.agent_id),
                sum(a.ms), count(a.ms), quantile_cont(a.ms::DOUBLE, 0.9), min(a.ts),
                max(a.completed_at) FILTER (WHERE a.completed_at <= $as_of)
            FROM agent_runs AS a JOIN wusers AS u ON u.id = a.user_id
            WHERE a.ts > $since AND a.ts <= $as_of
            GROUP BY a.status ORDER BY n DESC, a.status"""
        )
        total = sum(r[1] for r in rows)
        return _result(
            [
                *("status", "runs", "share", "users", "agents", "avg_ms", "p90_ms"),
                *("first_started", "last_completed"),
            ],
            [
                (s, n, _pct(n, total), u, ag, ratio(ms, timed), rounded(p90), first, last)
                for s, n, u, ag, ms, timed, p90, first, last in rows
            ],
        )

    def code_executions(self, limit: int) -> Result:
        rows = self._rows(
            "WITH"
            + _FUSERS
            + """
            SELECT coalesce(c.script_name, '') AS script, count(*) AS n, count(DISTINCT u.ukey),
                count(*) FILTER (WHERE c.status = 'success'),
                count(*) FILTER (WHERE c.status <> 'success'), sum(c.ms), count(c.ms),
                quantile_cont(c.ms::DOUBLE, 0.5), quantile_cont(c.ms::DOUBLE, 0.9)
            FROM code_runs AS c JOIN fusers AS u ON u.fid = c.user_id
            WHERE c.ts > $since AND c.ts <= $as_of
            GROUP BY script ORDER BY n DESC, script LIMIT $limit""",
            limit=limit,
        )
        return _result(
            [
                *("script_name", "runs", "users", "successes", "failures", "success_rate"),
                *("avg_ms", "median_ms", "p90_ms"),
            ],
            [
                (s, n, u, ok, f, _pct(ok, n), ratio(ms, timed), rounded(p50), rounded(p90))
                for s, n, u, ok, f, ms, timed, p50, p90 in rows
            ],
        )

    def custom_tools(self, limit: int) -> Result:
        rows = self._rows(
            "WITH"
            + _FUSERS
            + """
            SELECT d.name, count(*) AS n, count(DISTINCT u.ukey), sum(d.code_chars),
                count(d.code_chars), max(d.ts)
            FROM deployments AS d JOIN fusers AS u ON u.fid = d.user_id
            WHERE d.ts > $since AND d.ts <= $as_of
            GROUP BY d.name ORDER BY n DESC, d.name LIMIT $limit""",
            limit=limit,
        )
        return _result(
            ["name", "deployments", "users", "code_chars", "last_created"],
            [(name, n, u, ratio(chars, timed), last) for name, n, u, chars, timed, last in rows],
        )


def _result(columns: list[str], rows: list[tuple[Any, ...]]) -> Result:
    from usertrack.engines.base import Result

    return Result(columns=columns, rows=[tuple(r) for r in rows], meta={"from": "app mirror"})


def from_copy(
    ws: Workspace,
    jobs: list[Job],
    *,
    since: datetime,
    as_of: datetime,
    tool: str | None,
    limit: int,
    segment_emails: list[str] | None,
    progress: Progress | None,
) -> dict[str, Result] | None:
    """The report's sections from the checked local copy, or None when they are asked of the
    database instead: where the copy may not answer (app_mirror.copy_source), answers already
    in the answer cache, a copy another command holds, or a report the copy does not reproduce
    (NotFromCopy)."""
    import pickle

    import duckdb

    from usertrack.engines.postgres import app_mirror

    cached = app_mirror.answer_cache(ws)
    if cached is not None and all(cached.peek(q, p) is not None for _, q, p in jobs):
        return None  # the answer cache answers at once
    if any(q.id not in _DECLARED for _, q, _ in jobs):
        return None  # a section the copy has no statement of
    source = app_mirror.copy_source(ws, [(_DECLARED[q.id], q, p) for _, q, p in jobs])
    if source is None:
        return None
    specs = (app_mirror.TOOL_CALLS,) if tool is not None else app_mirror.TOOLS
    since, as_of = naive_utc(since), naive_utc(as_of)  # as the copy holds moments
    path = app_mirror.mirror_path(ws.settings.home, source.identity)
    try:
        with app_mirror.AppMirror(path) as mirror:
            if progress:
                progress("checking the local copy of the app's tool calls")
            copied = mirror.refresh(source, since, as_of, specs, str(jobs[0][2]["exclude_pattern"]))
            if progress and copied:
                progress(f"copied {sum(copied.values()):,} changed rows")
            key = _answer_key(jobs, since, as_of)
            kept = mirror.kept_answer(key)
            if kept is not None:
                results: dict[str, Result] = pickle.loads(kept)
                return _stored(cached, jobs, results)
            sections = Sections(mirror.con, since, as_of, segment_emails)
            every = tool or "*"
            code_limit, custom_limit = _limit(jobs, "code_executions"), _limit(jobs, "custom_tools")
            # each file's statement (SHORTCUTS)
            make = {
                "neon/tool_overview": sections.overview,
                "neon/tool_types": sections.tool_types,
                "neon/tool_usage": lambda: sections.tool_usage(every, limit),
                "neon/tool_providers": sections.tool_providers,
                "neon/agent_executions": sections.agent_executions,
                "neon/code_executions": lambda: sections.code_executions(code_limit),
                "neon/custom_tools": lambda: sections.custom_tools(custom_limit),
                "neon/tool_trend": lambda: sections.tool_trend(every),
                "neon/tool_errors": lambda: sections.tool_errors(every, _limit(jobs, "errors")),
                "neon/failing_tools": lambda: sections.failing_tools(_limit(jobs, "failing_tools")),
            }
            results = {k: make[q.id]() for k, q, _ in jobs}
            mirror.keep_answer(key, pickle.dumps(results))
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except (app_mirror.MirrorUnavailable, NotFromCopy, duckdb.Error):
        return None  # a damaged copy among them: the files answer
    return _stored(cached, jobs, results)


def _stored(
    cached: CachedSource | None, jobs: list[Job], results: dict[str, Result]
) -> dict[str, Result]:
    """The answers, kept in the answer cache too when the database has one."""
    if cached is not None:
        for key, query, params in jobs:
            cached.store_answer(query, params, results[key])
    return results


def _answer_key(jobs: list[Job], since: datetime, as_of: datetime) -> str:
    """What a report's answer depends on besides the copy: the sections, their values
    (window, users kept, tool, limits, exclusion pattern) and this code's version."""
    import hashlib
    import json
    from pathlib import Path

    from usertrack import __version__
    from usertrack.engines.postgres.app_mirror import layout

    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    material: list[Any] = [__version__, layout(), code, str(since), str(as_of)]
    material += [[k, q.id, sorted((n, str(v)) for n, v in p.items())] for k, q, p in jobs]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def _limit(jobs: list[Job], key: str) -> int:
    """The limit bound for section `key` (0 when the report has no such section)."""
    for k, _, params in jobs:
        if k == key:
            return int(params["limit"])
    return 0
