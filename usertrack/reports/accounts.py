"""`usertrack accounts`: the customers of a B2B product, an account being a team of users.

The account key (usertrack.segments.account_key: the app table that ties a user to an account,
configured once, docs/connecting.md, "Accounts") is checked against the database and quoted into
queries/neon/account_health.sql, whose rows are one per account; the summary (accounts, active
accounts, by health) is counted here from them. Definitions: docs/metrics.md, "Accounts".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.engines.concurrency import Background
from usertrack.engines.postgres.source import database_of
from usertrack.segments.account_key import (
    GROUPS_QUERY,
    AccountKey,
    check_key,
    group_type_index,
    with_account_key,
)

if TYPE_CHECKING:
    from rich.console import Console

    from usertrack.engines.base import Result
    from usertrack.workspace import Progress, Workspace

QUERY = "neon/account_health"
HEALTH = ("healthy", "at risk", "dormant")


@dataclass
class AccountReport:
    """What `usertrack accounts` answers: one row per account, and its summary."""

    as_of: datetime
    days: int
    key: AccountKey
    result: Result
    # the account segments of the rules file, in its order: id, name, action, accounts
    segments: list[dict[str, Any]] = field(default_factory=list)
    # --segment ID: the segment (of persons) whose members' accounts are kept, and the line
    # saying how many were kept (for stderr)
    segment: str | None = None
    kept: str | None = None

    @property
    def said(self) -> tuple[str, ...]:
        return (self.kept,) if self.kept else ()

    @property
    def since(self) -> datetime:
        return self.as_of - timedelta(days=self.days)

    def summary(self) -> dict[str, int]:
        """Accounts, active accounts (an active member in the window), members, active members
        and the accounts of each health."""
        columns = list(self.result.columns)
        rows = self.result.rows

        def column(name: str) -> list[Any]:
            at = columns.index(name)
            return [r[at] for r in rows]

        active = column("active_members")
        healths = column("health")
        out = {
            "accounts": len(rows),
            "active_accounts": sum(1 for n in active if n > 0),
            "members": sum(map(int, column("members"))),
            "active_members": sum(map(int, active)),
        }
        for health in HEALTH:
            out[health.replace(" ", "_")] = healths.count(health)
        return out


def account_report(
    ws: Workspace,
    as_of: datetime,
    *,
    days: int = 30,
    key: AccountKey | None = None,
    progress: Progress | None = None,
    segment: str | None = None,
    save: bool | None = None,
) -> AccountReport:
    """Check the account key, then run queries/neon/account_health.sql with it quoted in.
    `segment` (a group --segment names, checked: by_segment.check_segment): only the accounts
    with a member in it (kept_accounts); `save` as `segments --save` (tool_usage.segment_emails).
    """
    key = key or AccountKey.configured()
    source = ws.sources["neon"]
    conn = database_of(source).connect()
    if progress:
        progress("checking the account key")
    check_key(conn, key)
    query, params = ws.bind(QUERY, as_of, days=days)
    query = with_account_key(query, key, conn)
    if progress:
        progress("counting the accounts and fetching their groups")
    # the accounts' groups come from the events store or PostHog while the database counts
    groups = Background(lambda: _groups_and_rules(ws, as_of, key), "usertrack-groups")
    from usertrack.reports.accounts_copy import from_copy

    result = from_copy(ws, query, params, key.names()) or source.run(query, params)
    found, rules_con = groups.result()
    try:
        columns, cells = columns_with_groups(result, found)
    except BaseException:
        if rules_con is not None:
            rules_con.close()
        raise
    from usertrack.segments.account_rules import segment_counts, segments_of_columns

    chosen = segments_of_columns(ws.rules, columns, cells, len(result.rows), rules_con)
    # the rows made once, from the columns (not a tuple rebuilt a row at a time per step)
    result = dataclasses.replace(
        result, columns=[*columns, "segment"], rows=list(zip(*cells, chosen, strict=True))
    )
    kept = None
    if segment is not None:
        accounts, kept = kept_accounts(ws, as_of, segment, progress, save)
        at = result.columns.index("account")
        rows = list(result.rows)
        keep = [str(r[at]) in accounts for r in rows]
        kept = f"--segment {segment} kept {sum(keep):,} of {len(rows):,} accounts{kept}"
        chosen = [c for c, k in zip(chosen, keep, strict=True) if k]
        result = dataclasses.replace(result, rows=[r for r, k in zip(rows, keep, strict=True) if k])
    report = AccountReport(as_of=as_of, days=days, key=key, result=result, segment=segment,
                           kept=kept)  # fmt: skip
    report.segments = segment_counts(ws.rules, chosen)
    return report


def kept_accounts(
    ws: Workspace, as_of: datetime, segment: str, progress: Progress | None, save: bool | None
) -> tuple[set[str], str]:
    """The accounts with at least one member in `segment` as of `as_of` (its users' emails as
    `tools --segment` finds them; each user's account as --by-account counts it, the first by
    key of a user in several), and how many users those were, said after the kept line."""
    import json

    from usertrack.reports.tool_usage import segment_emails
    from usertrack.segments.account_key import member_accounts

    emails = set(segment_emails(ws, as_of, segment, progress, save))
    found = member_accounts(ws, as_of, progress)
    listed, accounts = (
        (json.loads(v) if v else [] for v in found.rows[0]) if found.rows else ([], [])
    )
    kept = {str(a) for e, a in zip(listed, accounts, strict=True) if e in emails and a is not None}
    users = "user" if len(emails) == 1 else "users"
    return kept, f", those with a member among its {len(emails):,} {users}"


def _groups_and_rules(
    ws: Workspace, as_of: datetime, key: AccountKey
) -> tuple[dict[str, tuple[Any, Any, Any]] | None, Any]:
    """account_groups, and the connection the account segments are evaluated on
    (account_rules.rules_connection), both readied while the app's database counts."""
    from usertrack.segments.account_rules import rules_connection

    con = rules_connection(ws.rules)
    try:
        return account_groups(ws, as_of, key), con
    except BaseException:
        if con is not None:
            con.close()
        raise


def account_groups(
    ws: Workspace, as_of: datetime, key: AccountKey
) -> dict[str, tuple[Any, Any, Any]] | None:
    """Each PostHog group of the account key's group type by its key: (name, plan, seats), from
    queries/posthog/account_groups.sql; None without group analytics."""
    index = group_type_index(ws, key)
    if index is None:
        return None
    result = ws.run_query(GROUPS_QUERY, as_of, group_type_index=index)
    return {str(r[0]): (r[1], r[2], r[3]) for r in result.rows}


def columns_with_groups(
    result: Result, groups: dict[str, tuple[Any, Any, Any]] | None
) -> tuple[list[str], list[list[Any]]]:
    """The accounts' columns with their group's name after the key and its seats after the plan
    (None where the account has no group, or without group analytics), and each column's values
    in the rows' order: the rows are made once, by the caller."""
    columns = list(result.columns)
    count = len(result.rows)
    cells: list[list[Any]] = (
        [list(c) for c in zip(*result.rows, strict=True)] if count else [[] for _ in columns]
    )
    at = columns.index("account")
    plan = columns.index("plan")
    if groups:
        found = [groups.get(str(a), (None, None, None)) for a in cells[at]]
        names = [g[0] for g in found]
        seats = [g[2] for g in found]
    else:
        names = [None] * count
        seats = [None] * count
    cells.insert(plan + 1, seats)
    columns.insert(plan + 1, "seats")
    cells.insert(at + 1, names)
    columns.insert(at + 1, "name")
    return columns, cells


# ------------------------------------------------------------------------------- the answers


def to_json(report: AccountReport) -> str:
    from usertrack.rendering.export import json_text_with_records

    doc: dict[str, Any] = {
        "as_of": report.as_of,
        "days": report.days,
        "since": report.since,
        "account_key": {
            "table": report.key.table,
            "column": report.key.column,
            "user_column": report.key.user_column,
            "group_type": report.key.group_type,
        },
        **({"segment": report.segment} if report.segment is not None else {}),
        "summary": report.summary(),
        "account_segments": report.segments,
    }
    return json_text_with_records(doc, "accounts", report.result.columns, report.result.rows)


def to_csv(report: AccountReport) -> str:
    from usertrack.rendering.export import csv_text

    return csv_text(report.result.columns, report.result.rows)


def heading(report: AccountReport) -> str:
    from usertrack.core import style

    kept = "" if report.segment is None else f", with a member in the segment {report.segment}"
    return (
        f"Accounts ({report.key.table}.{report.key.column}) as of"
        f" {style.moment(report.as_of)}, last {report.days} days{kept}"
    )


def summary_line(report: AccountReport) -> str:
    s = report.summary()
    return (
        f"{s['active_accounts']:,} of {s['accounts']:,} accounts active in the app"
        f" ({s['active_members']:,} of {s['members']:,} members): {s['healthy']:,} healthy,"
        f" {s['at_risk']:,} at risk, {s['dormant']:,} dormant."
    )


def segments_line(report: AccountReport) -> str | None:
    """The account segments with their actions and accounts, and those in none."""
    if not report.segments:
        return None
    listed = "; ".join(f"{s['name']} ({s['action']}): {s['accounts']:,}" for s in report.segments)
    none = len(report.result.rows) - sum(s["accounts"] for s in report.segments)
    return f"Account segments: {listed}; in none: {none:,}."


def _shown(report: AccountReport, limit: int) -> Result:
    return dataclasses.replace(report.result, rows=report.result.rows[:limit])


def to_markdown(report: AccountReport, limit: int) -> str:
    from usertrack.core import style
    from usertrack.core.style import md_text
    from usertrack.rendering.export import md_table

    shown = _shown(report, limit)
    out = [f"# {md_text(heading(report))}\n", md_text(summary_line(report)) + "\n"]
    if segments_line(report):
        out.append(md_text(segments_line(report) or "") + "\n")
    if not shown.rows:
        out.append("No account.\n")
    else:
        headers = [style.human_header(c) for c in shown.columns]
        out.append(md_table(headers, [list(r) for r in shown.rows], list(shown.columns)))
        if len(report.result.rows) > limit:
            out.append(f"The first {limit:,} of {len(report.result.rows):,} accounts.\n")
    return "\n".join(out)


def render(console: Console, report: AccountReport, limit: int) -> None:
    """The report as a rich table (values as plain text: never markup)."""
    from usertrack.rendering.terminal import plain, render_result_table

    console.print(plain(heading(report)))
    console.print(plain(summary_line(report)))
    if segments_line(report):
        console.print(plain(segments_line(report) or ""))
    console.print()
    render_result_table(console, _shown(report, limit), title="Accounts, most active first")
    if len(report.result.rows) > limit:
        console.print(plain(f"The first {limit:,} of {len(report.result.rows):,} accounts."))
