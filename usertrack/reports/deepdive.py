"""`usertrack user EMAIL`: the analyst workflow's per-user deep dive, both sources, one answer.

What it gathers, as of a moment and over the last N days:
- the profile (the same columns `segments` computes, from the same per-user queries) and each
  segment the user is in, with the values of the columns its rule uses ("why");
- one timeline merging PostHog events (posthog/user_events) and Neon rows: runs, tool calls,
  code executions, deployments (neon/user_timeline);
- the MCP servers clicked (posthog/user_mcp_servers), the tools used with success rates
  (neon/user_tool_usage);
- failures (neon/failures, restricted to the email) categorized with failures.yaml, tool level
  and workflow level apart;
- the timeline check of the analyst workflow (see `timeline_check`).

The email is normalised as the join's key is (usertrack.core.emails), and it is always a bound value
(never text in SQL or HogQL). Only this user's rows are read: every per-user query of the library
is wrapped as `SELECT * FROM (<query>) WHERE <normalised email> = <bound email>`, which PostgreSQL
and DuckDB push down into the query, so the profile costs a few milliseconds instead of a pass
over every user, and its values are exactly the ones `segments` shows.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core import pseudonyms, style
from usertrack.core.clock import naive_utc
from usertrack.core.errors import NotFoundError, UsageError
from usertrack.queries.library import Param, Query, resolve_params
from usertrack.segments.profile_labels import profile_label

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb

    from usertrack.core.config import Settings
    from usertrack.engines.base import Result
    from usertrack.reports.failures import FailureRules
    from usertrack.workspace import Progress, Workspace

# The parameter that carries the email into the wrapped per-user queries.
FILTER_PARAM = "usertrack_email"
EVENTS_CAP = 1000  # posthog/user_events' LIMIT
# The timeline check (the analyst workflow: "if a user has days with 100 % success, likely
# platform").
CLUSTER_SHARE = 0.6  # the failures on the worst days...
CLUSTER_DAYS = 2  # ...at most this many dates...
MIN_FAILURES = 3  # ...out of at least this many failures
PLATFORM_VERDICT = "likely platform, not the user's code"
PLATFORM_OWNER = "Platform"  # failures.yaml's owner of the platform's failures


@dataclass
class SegmentWhy:
    id: str
    name: str
    action: str
    rule: str
    why: dict[str, Any]


@dataclass
class TimelineItem:
    at: datetime
    source: str  # "posthog" or "neon"
    kind: str  # an event name, or run / tool call / code execution / deployment
    level: str | None = None  # "workflow" (runs), "tool" (tool calls), else None
    name: str | None = None
    status: str | None = None
    detail: str | None = None
    run_id: str | None = None  # the run of a run or (where the table says) of a tool call


@dataclass
class FailureGroup:
    cause: str
    category: str
    owner: str
    failures: int
    users: int
    first_seen: datetime
    last_seen: datetime
    tools: list[str]
    example: str | None


@dataclass
class TimelineCheck:
    """Do the failures cluster on a few dates while other days succeed?

    Each failure counts once: a failed run, or a failed tool call outside any failed run (the
    tool call that made a run fail is that run's failure). Only the failures the platform could
    own count toward the pattern: those failures.yaml gives to the Platform owner, or to nobody
    (uncategorized); the user's code or a third party's 401s and 5xx say nothing about the
    platform. The rule: with at least 3 such failures, if the worst 2 dates hold at least 60 %
    of them and at least one other day with runs or tool calls had no failure at all, the
    failures are "likely platform, not the user's code" (the analyst workflow).
    """

    verdict: str
    platform_likely: bool
    failures: int  # each once: a failed run and the failed tool calls inside it are one
    platform_failures: int  # of them, those failures.yaml gives to the platform or to nobody
    failure_dates: int  # dates with a failure the platform could own
    worst_dates: list[date]
    worst_share: float | None
    clean_dates: list[date]
    days: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DeepDive:
    email: str
    as_of: datetime
    days: int
    since: datetime
    profile: dict[str, Any]
    segments: list[SegmentWhy]
    timeline: list[TimelineItem]
    events_capped: bool
    mcp_servers: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    workflow_failures: list[FailureGroup]
    tool_failures: list[FailureGroup]
    timeline_check: TimelineCheck
    rules_path: str


# --------------------------------------------------------------------------------------------
# Opening: the workspace and failures.yaml at once


def _import_drivers() -> None:
    """Import, on the calling thread, every module that both the side thread and the workspace
    would otherwise import at the same moment. Python's per-module import locks do not make two
    threads importing one package safe: psycopg's `__init__` and its `conninfo` module import
    each other, and a thread that enters through `psycopg.conninfo` (the workspace checking the
    DSN) while another runs `import psycopg` meets the half-initialised module, an ImportError."""
    import duckdb  # noqa: F401
    import psycopg  # noqa: F401
    import yaml  # noqa: F401

    import usertrack.checks.sandbox
    import usertrack.core.bounds
    import usertrack.reports.failures
    import usertrack.segments.rules  # noqa: F401


def _read_rules(path: Path) -> FailureRules:
    """The side thread's work: read and check failures.yaml (its modules already imported)."""
    from usertrack.reports.failures import load_failure_rules

    return load_failure_rules(path)  # opens a DuckDB to check the `when` clauses


def open_with_rules(
    settings: Settings, *, failures_path: Path, **workspace_options: Any
) -> tuple[Workspace, FailureRules]:
    """`open_workspace` and `load_failure_rules` side by side.

    Opening the workspace mostly waits (for the demo PostgreSQL to start, for a connection);
    meanwhile a thread reads and checks failures.yaml. The modules both need are imported here
    first, never on two threads at once. A bad failures.yaml is reported first, as the likelier
    mistake.
    """
    from usertrack.workspace import open_workspace

    _import_drivers()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usertrack-rules") as pool:
        pending = pool.submit(_read_rules, failures_path)
        try:
            ws = open_workspace(settings, **workspace_options)
        except BaseException:
            pending.result()
            raise
        try:
            return ws, pending.result()
        except BaseException:
            ws.close()
            raise


# --------------------------------------------------------------------------------------------
# Running the queries for one email


def one_user_query(query: Query) -> Query:
    """`query` (a per-user query) restricted to one email, passed as the bound FILTER_PARAM."""
    from usertrack.core.emails import email_key_sql

    body = query.sql.rstrip().rstrip(";")
    placeholder = f"%({FILTER_PARAM})s" if query.dialect == "postgres" else f"{{{FILTER_PARAM}}}"
    # The same normalisation as the join's (usertrack.core.emails), so `user` finds whoever
    # `segments` joined, even from a query file that returns emails as written.
    key = email_key_sql(query.dialect, "usertrack_one.email")
    sql = f"SELECT * FROM (\n{body}\n) AS usertrack_one\nWHERE {key} = {placeholder}"
    return dataclasses.replace(
        query,
        sql=sql,
        params=(*query.params, Param(FILTER_PARAM, None, 0)),
        sql_line=query.sql_line - 1,  # the body moved one line down: errors keep the file's line
    )


def _profile(
    ws: Workspace,
    con: duckdb.DuckDBPyConnection,
    results: dict[str, Result],
    as_of: datetime,
    email: str,
    excluded: str,
) -> None:
    """Create `profile` from the per-user results (as build_profiles does), this email only."""

    from usertrack.segments.profiles import create_profile, join_per_user, load_result

    loaded = []
    for key, result in results.items():
        if not key.startswith("profile:"):
            continue
        query = ws.library.get(key.removeprefix("profile:"))
        table = load_result(con, query, result)
        loaded.append((query, table, list(result.columns)))
    join_per_user(con, loaded, excluded=excluded)
    create_profile(con, ws.library.get("join/profile"), as_of)
    con.execute("DELETE FROM profile WHERE email IS DISTINCT FROM $email", {"email": email})


def known_emails(ws: Workspace, as_of: datetime, progress: Progress | None = None) -> list[str]:
    """Every email of the profile (internal accounts excluded), for suggestions."""
    run = ws.profiles(as_of, progress)
    try:
        return [e for (e,) in run.con.execute("SELECT email FROM profile").fetchall()]
    finally:
        run.close()


def _email_of_pseudonym(
    ws: Workspace, name: str, as_of: datetime, progress: Progress | None
) -> str:
    """The email of the person whose pseudonym is `name` (usertrack.core.pseudonyms): each
    known email's pseudonym is worked out with this user's key; NotFoundError if none is it."""
    found = pseudonyms.email_of(name, known_emails(ws, as_of, progress))
    if found is None:
        raise NotFoundError(
            f"no user {{pseudonym!r}} as of {style.moment(as_of)}: no email of either source"
            " has that pseudonym under this pseudonym key",
            hint="pseudonyms are made with the key in your config folder (docs/privacy.md):"
            " another key makes others",
            data={"pseudonym": name},
        )
    return found


def not_found(
    ws: Workspace, email: str, as_of: datetime, progress: Progress | None
) -> NotFoundError:
    emails = known_emails(ws, as_of, progress)
    close = difflib.get_close_matches(email, emails, n=3, cutoff=0.6)
    # The email asked for and the closest ones (anyone can give PostHog an email) are data.
    return NotFoundError(
        f"no user {{email!r}} as of {style.moment(as_of)} in either source"
        " (emails match trimmed and case-insensitively; internal accounts are left out)",
        hint="did you mean {close}?" if close else None,
        data={"email": email, "close": close},
    )


def deep_dive(
    ws: Workspace,
    email: str,
    as_of: datetime,
    rules: FailureRules,
    *,
    days: int = 30,
    progress: Progress | None = None,
) -> DeepDive:
    """Everything about one user; NotFoundError (with close emails) when nobody has that email."""

    from usertrack.reports.failures import categorize, cause_summary
    from usertrack.segments.profiles import Job, exclude_pattern, normalize_email, run_by_source
    from usertrack.segments.rules import classify, why_columns

    norm = normalize_email(email)
    if norm is None:
        raise UsageError("EMAIL is empty")
    if pseudonyms.looks_like_pseudonym(norm):  # `--anonymize`'s name for someone: whose it is
        norm = _email_of_pseudonym(ws, norm, as_of, progress)
    if days < 1:
        raise UsageError(f"--days {days} must be at least 1")
    excluded = exclude_pattern(ws.rules.exclude)
    if re.search(excluded, norm):
        raise not_found(ws, norm, as_of, progress)

    from usertrack.segments.kept import kept, user_rows

    # Everyone's classification at this moment, kept by an earlier command of this process
    # (the MCP server's `segments`): the person's row is read there, not computed again.
    everyone = kept(ws, as_of)
    base = {"as_of": as_of, "exclude_pattern": excluded}
    deep = {**base, "email": norm, "days": days}
    work: dict[str, list[tuple[str, Query, dict[str, Any]]]] = {k: [] for k in ws.sources}
    for kind in ws.sources:
        for query in ws.library.in_folder(kind, per_user=True):
            if query.insight is None and everyone is None:
                work[kind].append(
                    (f"profile:{query.id}", one_user_query(query), {**base, FILTER_PARAM: norm})
                )
    wanted = {
        "neon": ["neon/user_timeline", "neon/user_tool_usage"],
        "posthog": ["posthog/user_events", "posthog/user_mcp_servers"],
    }
    for kind, ids in wanted.items():
        if kind not in ws.sources:
            continue
        for query_id in ids:
            query = ws.library.get(query_id)
            given = {k: v for k, v in deep.items() if k in query.param_names}
            work[kind].append((query_id, query, given))
    if "neon" in ws.sources:
        # The failures of `usertrack failures`, restricted to this email: one query file says
        # what a failure row is, for the whole base and for one person.
        failures_query = ws.library.get("neon/failures")
        given = {k: v for k, v in deep.items() if k in failures_query.param_names}
        work["neon"].append(
            ("neon/failures", one_user_query(failures_query), {**given, FILTER_PARAM: norm})
        )
    jobs: dict[str, list[Job]] = {
        kind: [(key, q, resolve_params(q, given, now_value=as_of)) for key, q, given in items]
        for kind, items in work.items()
    }
    from usertrack.checks.sandbox import connect_while, release
    from usertrack.segments.profiles import PROFILE_SETTINGS

    # This deep dive's own DuckDB (closed below), opened while the queries run.
    con, results = connect_while(
        lambda: run_by_source(ws.sources, jobs, progress), settings=PROFILE_SETTINGS, reuse=True
    )
    try:
        if everyone is None:
            _profile(ws, con, results, as_of, norm, excluded)
            if con.execute("SELECT count(*) FROM profile").fetchone() != (1,):
                raise not_found(ws, norm, as_of, progress)
            classification = classify(ws.rules, con, as_of)
            users = classification.users
        else:
            classification = everyone
            users = user_rows(everyone, norm)
            if len(users) != 1:
                raise not_found(ws, norm, as_of, progress)
        ws.warn_if_past(as_of, tuple(c for c in ws.current_only() if c in classification.columns))
        user = users[0]
        profile = {c: user[c] for c in classification.columns}
        segments = []
        for seg in classification.segments:
            if seg.id in user["segments"]:
                # The rule's own columns (DuckDB's parse tree of it), not `show`: the values
                # that make the rule true for this user.
                cols = why_columns(seg, classification.columns)
                segments.append(
                    SegmentWhy(seg.id, seg.name, seg.action, seg.rule, {c: user[c] for c in cols})
                )

        failures = results.get("neon/failures")
        groups: dict[str, list[FailureGroup]] = {"workflow": [], "tool": []}
        categorized: list[dict[str, Any]] = []
        # Most people have no failures: nothing to categorize (DuckDB would still plan the
        # rules' regular expressions, about 0.015 s) and no causes.
        if failures is not None and failures.rows:
            categorize(rules, con, failures)
            cur = con.execute("SELECT level, occurred_at, run_id, category, owner FROM categorized")
            names = [d[0] for d in cur.description]
            categorized = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            for row in _renamed(cause_summary(con)):
                groups[row.pop("level")].append(FailureGroup(**row))
    finally:
        release(con)

    neon_items = _neon_timeline(results.get("neon/user_timeline"))
    events = results.get("posthog/user_events")
    timeline = sorted(
        neon_items + _posthog_timeline(events),
        key=lambda i: (i.at, i.source != "posthog", i.kind),
    )
    return DeepDive(
        email=norm,
        as_of=as_of,
        days=days,
        since=as_of - timedelta(days=days),
        profile=profile,
        segments=segments,
        timeline=timeline,
        events_capped=events is not None and len(events.rows) >= EVENTS_CAP,
        mcp_servers=_dicts(results.get("posthog/user_mcp_servers")),
        tools=_dicts(results.get("neon/user_tool_usage")),
        workflow_failures=groups["workflow"],
        tool_failures=groups["tool"],
        timeline_check=timeline_check(neon_items, categorized),
        rules_path=str(rules.path),
    )


def _renamed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["tools"] = [t for t in (row["tools"] or []) if t]
    return rows


def _dicts(result: Result | None) -> list[dict[str, Any]]:
    return result.as_dicts() if result is not None else []


def _moment_of(value: Any) -> datetime:
    """A timestamp as a source gives it (ISO text, a datetime, a date) as naive UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return naive_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time())
    raise TypeError(f"not a timestamp: {value!r}")


def _neon_timeline(result: Result | None) -> list[TimelineItem]:
    items = []
    for row in _dicts(result):
        items.append(
            TimelineItem(
                at=_moment_of(row["at"]),
                source="neon",
                kind=row["kind"],
                level=row.get("level"),
                name=row.get("name"),
                status=row.get("status"),
                detail=row.get("detail"),
                run_id=row.get("run_id"),
            )
        )
    return items


def _posthog_timeline(result: Result | None) -> list[TimelineItem]:
    items = []
    for row in _dicts(result):
        detail = row.get("mcp_server") or row.get("exception_message")
        items.append(
            TimelineItem(
                at=_moment_of(row["timestamp"]),
                source="posthog",
                kind=row["event"],
                name=row.get("page"),
                detail=detail,
            )
        )
    return items


def counted_once(failures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each failure once: a failed tool call inside a failed run of the list (the same
    `run_id`) is part of that run's failure, not another one. Rows are neon/failures' (level,
    occurred_at, run_id, and the category and owner failures.yaml gave them)."""

    def run_of(f: dict[str, Any]) -> str | None:
        return None if f.get("run_id") is None else str(f["run_id"])

    failed_runs = {run_of(f) for f in failures if f["level"] == "workflow"} - {None}
    return [f for f in failures if f["level"] == "workflow" or run_of(f) not in failed_runs]


def could_be_platform(failure: dict[str, Any]) -> bool:
    """A failure failures.yaml gives to the platform, or to nobody yet (uncategorized)."""
    from usertrack.reports.failures import UNKNOWN_OWNER

    owner = str(failure.get("owner") or UNKNOWN_OWNER).casefold()
    return owner in (PLATFORM_OWNER.casefold(), UNKNOWN_OWNER.casefold())


def timeline_check(items: list[TimelineItem], failures: list[dict[str, Any]]) -> TimelineCheck:
    """The analyst workflow's timeline check (TimelineCheck): `items` (the user's runs and tool
    calls) say which days were active, `failures` (neon/failures' rows, categorized) what
    failed and whose it is."""
    per_day: dict[date, dict[str, Any]] = {}

    def day_of(moment: datetime) -> dict[str, Any]:
        return per_day.setdefault(
            moment.date(),
            {"day": moment.date(), "runs": 0, "runs_failed": 0, "tool_calls": 0,
             "tool_failures": 0, "failures": 0, "platform_failures": 0},
        )  # fmt: skip

    for item in items:
        if item.level not in ("workflow", "tool"):
            continue
        day = day_of(item.at)
        failed = item.status == "failed"
        if item.level == "workflow":
            day["runs"] += 1
            day["runs_failed"] += failed
        else:
            day["tool_calls"] += 1
            day["tool_failures"] += failed
    once = counted_once(failures)
    left_out: dict[str, int] = {}
    for failure in once:
        day = day_of(_moment_of(failure["occurred_at"]))
        day["failures"] += 1
        if could_be_platform(failure):
            day["platform_failures"] += 1
        else:
            category = str(failure.get("category"))
            left_out[category] = left_out.get(category, 0) + 1
    days = [per_day[d] for d in sorted(per_day)]
    total = len(once)
    platform_total = sum(d["platform_failures"] for d in days)
    failing = [d for d in days if d["platform_failures"]]
    worst = sorted(failing, key=lambda d: (-d["platform_failures"], d["day"]))[:CLUSTER_DAYS]
    worst_dates = sorted(d["day"] for d in worst)
    share = sum(d["platform_failures"] for d in worst) / platform_total if platform_total else None
    clean = [d["day"] for d in days if not d["failures"]]
    dates = ", ".join(d.isoformat() for d in worst_dates)
    others = total - platform_total
    # What failures.yaml puts on someone else (the user's code, a third party), by category.
    by_count = sorted(left_out.items(), key=lambda kv: (-kv[1], kv[0]))
    elsewhere = ", ".join(f"{n:,} {category}" for category, n in by_count)
    counted = style.counted(platform_total, "failure")
    of_them = f"{counted} the platform could own" if others else counted
    also = f" (not the platform's by failures.yaml, left out: {elsewhere})" if others else ""

    platform = False
    if total == 0:
        verdict = "no failures in the window" if days else "no runs or tool calls in the window"
    elif platform_total == 0:
        verdict = (
            f"none of the {style.counted(total, 'failure')} is the platform's by failures.yaml"
            f" ({elsewhere}): not a platform pattern; read the causes"
        )
    elif platform_total < MIN_FAILURES:
        verdict = f"{of_them}: too few to see a pattern{also}"
    elif share is not None and share >= CLUSTER_SHARE and clean:
        platform = True
        verdict = (
            f"{PLATFORM_VERDICT}: {100 * share:.1f}% of {of_them} fell on {dates},"
            f" while {style.counted(len(clean), 'other active day')} had no failure{also}"
        )
    elif share is not None and share >= CLUSTER_SHARE:
        verdict = (
            f"failures cluster on {dates} ({100 * share:.1f}% of {of_them}), but no active day"
            f" went without failures to compare with{also}: read the causes"
        )
    else:
        verdict = (
            f"{of_them} spread over {len(failing)} of {len(days)} active days"
            f" (the worst {len(worst)} hold {100 * (share or 0):.1f}%): a recurring cause,"
            f" not one bad day{also}; read the causes"
        )
    return TimelineCheck(
        verdict=verdict,
        platform_likely=platform,
        failures=total,
        platform_failures=platform_total,
        failure_dates=len(failing),
        worst_dates=worst_dates if platform_total else [],
        worst_share=round(share, 3) if share is not None else None,
        clean_dates=clean,
        days=days,
    )


# --------------------------------------------------------------------------------------------
# Rendering for files (the terminal tables are in usertrack.rendering.terminal)


def _iso(moment: datetime) -> str:
    from usertrack.rendering.export import jsonable

    return str(jsonable(moment))


def to_json(dd: DeepDive) -> str:
    """The deep dive as JSON (timestamps ISO 8601 UTC, no Decimal: see export.json_text)."""
    from usertrack.rendering.export import json_text

    doc = dataclasses.asdict(dd)
    doc["failures"] = {
        "workflow": doc.pop("workflow_failures"),
        "tool": doc.pop("tool_failures"),
    }
    return json_text(doc)


def to_markdown(dd: DeepDive, limit: int = 100) -> str:
    from usertrack.core.style import human_header, md_text
    from usertrack.rendering.export import md_table

    def _day(value: Any) -> str:
        return style.human(value, "first_seen")  # a failure range is read in days

    out = [f"# {md_text(dd.email)}\n"]
    out.append(
        f"As of {style.moment(dd.as_of)}; timeline and failures over the last {dd.days} days,"
        " the profile as each row says.\n"
    )
    out.append("## Profile\n")
    out.append(
        md_table(
            ["Column", "Value"],
            [[profile_label(k), style.human(v, k)] for k, v in dd.profile.items()],
        )
    )
    out.append("\n## Segments\n")
    if dd.segments:
        for seg in dd.segments:
            why = style.LIST_SEP.join(
                f"{md_text(human_header(k))} = {_md_value(v, k)}" for k, v in seg.why.items()
            )
            out.append(
                f"- **{md_text(seg.name)}** ({md_text(seg.action)}): {style.md_code(seg.rule)}"
                f" — {why}"
            )
        out.append("")
    else:
        out.append("In no segment.\n")
    out.append("## Failures\n")
    out.append(f"Timeline check: {md_text(dd.timeline_check.verdict)}.\n")
    for title, groups in (
        ("Workflow level (fastapi\\_run)", dd.workflow_failures),
        ("Tool level (fastapi\\_tool\\_executions)", dd.tool_failures),
    ):
        out.append(f"### {title}\n")
        if groups:
            out.append(
                md_table(
                    ["Cause", "Owner", "Failures", "First seen", "Last seen", "Tools"],
                    [
                        [g.cause, g.owner, g.failures, _day(g.first_seen), _day(g.last_seen),
                         g.tools]
                        for g in groups
                    ],
                )
            )  # fmt: skip
        else:
            out.append("No failures.\n")
    out.append("## Tools used\n")
    if dd.tools:
        out.append(
            md_table(
                ["Tool", "Provider", "Uses", "Success rate", "Failures", "Last use"],
                [
                    [t["tool_name"], t["tool_provider"], t["uses"], t["success_rate"],
                     t["failures"], t["last_use"]]
                    for t in dd.tools
                ],
                ["tool_name", "tool_provider", "uses", "success_rate", "failures", "last_use"],
            )
        )  # fmt: skip
    else:
        out.append("No tool calls.\n")
    out.append("\n## MCP servers clicked\n")
    if dd.mcp_servers:
        out.append(
            md_table(
                ["Server", "Clicks", "First click", "Last click"],
                [
                    [m["mcp_server"], m["clicks"], m["first_click"], m["last_click"]]
                    for m in dd.mcp_servers
                ],
            )
        )
    else:
        out.append("None.\n")
    shown = dd.timeline[-limit:]
    out.append(f"\n## Timeline ({len(shown):,} of {len(dd.timeline):,}, latest)\n")
    out.append(
        md_table(
            ["At", "Source", "What", "Name", "Status", "Detail"],
            [[i.at, i.source, i.kind, i.name, i.status, i.detail] for i in shown],
        )
    )
    return "\n".join(out)


def _md_value(value: Any, column: str | None = None) -> str:
    from usertrack.core.style import md_text

    return md_text(value, column) if value is not None else "null"
