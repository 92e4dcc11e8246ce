"""The lists across users a weekly review reads row by row, each one query file of queries/neon/:

- `tools --by-user`: each user's tool calls of the window (tool_users);
- `tools --executions`: the code executions one by one, newest first (code_execution_list);
- `tools --custom`: the custom tools created, with their creator and description
  (custom_tool_list);
- `failures --runs`: the failed workflow runs one by one, newest first, their error cut to 200
  characters (failed_run_list).

And from PostHog's events, each one query file of queries/posthog/:
- `tools --mcp-clicks`: MCP connect clicks per person, with servers and referrers (mcp_click_list);
- `failures --js-errors`: JavaScript exceptions by error, with persons affected (js_errors);
- `sessions --pages`: pageviews by page, with unique visitors (page_views).

Each list is bounded by `--limit`: the query is asked one row more than that, and an answer that
gets it drops it and says the list was cut (`more`); a PostHog file, whose LIMIT is its own, is
cut here to `--limit` alike. Each row names its user by email, which
`usertrack user EMAIL` opens (`--anonymize` writes a pseudonym instead, as everywhere it writes
output). Descriptions and error texts are the app's users' own words: written as text in every
format, never markup (the terminal's `plain`, Markdown's `md_text`, CSV's `csv_cell`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from usertrack.engines.base import Result
    from usertrack.workspace import Workspace


@dataclass(frozen=True)
class ListKind:
    """One list: its key in the answer, its query file, its title and the option that asks it."""

    key: str
    query_id: str
    title: str
    option: str


BY_USER = ListKind("by_user", "neon/tool_users", "Tool calls by user", "--by-user")
EXECUTIONS = ListKind(
    "executions", "neon/code_execution_list", "Code executions, newest first", "--executions"
)
CUSTOM = ListKind(
    "custom", "neon/custom_tool_list", "Custom tools created, newest first", "--custom"
)
FAILED_RUNS = ListKind(
    "runs", "neon/failed_run_list", "Failed workflow runs, newest first", "--runs"
)
MCP_CLICKS = ListKind(
    "mcp_clicks", "posthog/mcp_click_list", "MCP connect clicks by person", "--mcp-clicks"
)
JS_ERRORS = ListKind("js_errors", "posthog/js_errors", "JavaScript errors", "--js-errors")
PAGES = ListKind("pages", "posthog/page_views", "Pages by views", "--pages")

OPENS = "`usertrack user EMAIL` opens one of them."

# The options that ask a list instead of the command's own answer, by command and parameter name
# (as the command, an MCP tool and a dashboard panel have them).
ASKED_BY: dict[str, tuple[tuple[str, ListKind], ...]] = {
    "tools": (
        ("by_user", BY_USER), ("executions", EXECUTIONS), ("custom", CUSTOM),
        ("mcp_clicks", MCP_CLICKS),
    ),
    "failures": (("runs", FAILED_RUNS), ("js_errors", JS_ERRORS)),
    "sessions": (("pages", PAGES),),
}  # fmt: skip
# `sessions --pages` is every page over --days: no option that keeps people or another range.
_PAGES_ALONE = ("since", "until", "where", "who", "segment", "persons", "by")


def asked(command: str, o: Mapping[str, Any]) -> ListKind | None:
    """The list `command`'s options (by parameter name) ask, None for the command's own answer;
    two lists, or a list with an option it does not go with, a UsageError (exit 2)."""
    kinds = [kind for name, kind in ASKED_BY.get(command, ()) if o.get(name)]
    if len(kinds) > 1:
        raise UsageError(f"{kinds[0].option} and {kinds[1].option} do not go together")
    if not kinds:
        return None
    kind = kinds[0]
    if o.get("tool") is not None:
        raise UsageError(f"--tool and {kind.option} do not go together")
    if kind is PAGES:
        given = [f"--{k}" for k in _PAGES_ALONE if o.get(k)]
        if o.get("by_segment"):
            given.append("--by-segment")
        if given:
            raise UsageError(f"--pages and {given[0]} do not go together")
    return kind


@dataclass
class UserList:
    """One list's rows (at most `limit`), and whether the query had more (`more`)."""

    kind: ListKind
    as_of: datetime
    days: int
    limit: int
    result: Result
    more: bool
    segment: str | None = None
    who: str | None = None
    bound: str = "--limit"  # the option that bounds it (`sessions --pages`: --top)

    @property
    def since(self) -> datetime:
        return self.as_of - timedelta(days=self.days)

    @property
    def names_people(self) -> bool:
        return "email" in self.result.columns


def user_list(
    ws: Workspace,
    kind: ListKind,
    as_of: datetime,
    *,
    days: int,
    limit: int,
    segment: str | None = None,
    who: str | None = None,
    segment_emails: list[str] | None = None,
    bound: str = "--limit",
) -> UserList:
    """Run `kind`'s query over (as_of - days, as_of], asked `limit` + 1 rows: the last one, when
    it comes, only says the list goes on. `segment_emails` keeps those users only (`--segment`,
    `--who`), for the lists whose file takes them."""
    from usertrack.engines.base import Result

    names = ws.library.get(kind.query_id).param_names
    params: dict[str, Any] = {"days": days}
    if "limit" in names:
        params["limit"] = limit + 1
    if segment_emails is not None:
        if "segment_only" not in names:
            raise UsageError(f"{kind.option} does not go with --segment or --who")
        # PostHog's files take 0/1 (HogQL has no bound boolean), the database's true/false
        on: bool | int = 1 if kind.query_id.startswith("posthog/") else True
        params.update(segment_only=on, segment_emails=segment_emails)
    found = ws.run_query(kind.query_id, as_of, **params)
    more = len(found.rows) > limit
    result = Result(columns=list(found.columns), rows=list(found.rows[:limit]), meta=found.meta)
    return UserList(kind, as_of, days, limit, result, more, segment, who, bound)


def heading(found: UserList) -> str:
    from usertrack.core import style

    kept = f", segment {found.segment}" if found.segment else ""
    if found.who is not None:
        kept = f", who {found.who}"
    return f"{found.kind.title} as of {style.moment(found.as_of)}, last {found.days} days{kept}"


def cut_note(found: UserList) -> str | None:
    """What a person reads when the list was cut; None when every row is shown."""
    if not found.more:
        return None
    return f"The first {found.limit:,} rows: there are more (raise {found.bound} to see them)."


def to_json(found: UserList) -> str:
    from usertrack.rendering.export import json_text

    doc: dict[str, Any] = {
        "as_of": found.as_of,
        "days": found.days,
        "since": found.since,
        "list": found.kind.key,
        "query": found.kind.query_id,
    }
    if found.segment is not None:
        doc["segment"] = found.segment
    if found.who is not None:
        doc["who"] = found.who
    doc.update(limit=found.limit, more=found.more, rows=found.result.as_dicts())
    return json_text(doc)


def to_csv(found: UserList) -> str:
    """Only the rows (a cut list is told on stderr by the command, as a notice)."""
    from usertrack.rendering.export import csv_text

    return csv_text(found.result.columns, found.result.rows)


def to_markdown(found: UserList) -> str:
    from usertrack.core import style
    from usertrack.core.style import md_text
    from usertrack.rendering.export import md_table

    result = found.result
    out = [f"# {md_text(heading(found))}\n"]
    if not result.rows:
        out.append("None in the window.\n")
        return "\n".join(out)
    headers = [style.human_header(c) for c in result.columns]
    out.append(md_table(headers, [list(r) for r in result.rows], list(result.columns)))
    note = cut_note(found)
    lines = [style.counted(len(result.rows), "row") + "."]
    if note:
        lines.append(note)
    if found.names_people:
        lines.append(OPENS)
    out.append(md_text(" ".join(lines)) + "\n")
    return "\n".join(out)


def render(console: Console, found: UserList) -> None:
    """The list as one rich table (values as plain text: never markup), its caption saying how
    many rows, whether there are more, and how to open a user."""
    from usertrack.rendering.terminal import plain, render_result_table

    console.print(plain(heading(found)))
    console.print()
    render_result_table(console, found.result, title=found.kind.title)
    note = cut_note(found)
    if note:
        console.print(plain(note))
    if found.result.rows and found.names_people:
        console.print(plain(OPENS))


# ------------------------------------------------------------------------- the users' overview

OVERVIEW_QUERY = "neon/user_overview"
NEW_DAYS = 7  # "new" users: signed up in the 7 days to the moment, as the weekly review counts


@dataclass
class Overview:
    """`segments --overview`: the users at a glance (one row of user_overview)."""

    as_of: datetime
    days: int
    figures: dict[str, Any]


def overview(ws: Workspace, as_of: datetime, *, days: int = NEW_DAYS) -> Overview:
    """The app's figures (user_overview.sql) and the users' average engagement score, churn's
    (`usertrack churn`'s `engagement.average`: one definition)."""
    from usertrack.analytics.churn.run import churn

    found = ws.run_query(OVERVIEW_QUERY, as_of, days=days)
    rows = found.as_dicts()
    figures = rows[0] if rows else dict.fromkeys(found.columns)
    scored = churn(ws, as_of, periods=2, top=0, backtest=False)
    return Overview(as_of, days, {**figures, "avg_engagement": scored.average_score})


def _overview_lines(found: Overview) -> list[tuple[str, Any]]:
    return overview_lines(found.figures, found.days)


def overview_lines(f: Mapping[str, Any], days: int) -> list[tuple[str, Any]]:
    """The overview's figures (`overview_json`'s, by key) as (label, value), in their order."""
    return [
        ("Users", f.get("users")),
        (f"New in the last {days} days", f.get("new_users")),
        ("Using credits (under 100 left)", f.get("users_using_credits")),
        ("Average credits left", f.get("avg_credits")),
        ("Average revenue (credits spent)", f.get("avg_revenue")),
        ("Average engagement score", f.get("avg_engagement")),
    ]


def overview_heading(found: Overview) -> str:
    from usertrack.core import style

    return f"Users as of {style.moment(found.as_of)}"


def overview_json(found: Overview) -> str:
    from usertrack.rendering.export import json_text

    return json_text({"as_of": found.as_of, "new_days": found.days, **found.figures})


def overview_csv(found: Overview) -> str:
    from usertrack.rendering.export import csv_text

    names = list(found.figures)
    return csv_text(["as_of", "new_days", *names],
                    [[found.as_of, found.days, *(found.figures[n] for n in names)]])  # fmt: skip


def overview_markdown(found: Overview) -> str:
    from usertrack.core.style import md_text
    from usertrack.rendering.export import cell_text, md_table

    rows = [[name, cell_text(value)] for name, value in _overview_lines(found)]
    return f"# {md_text(overview_heading(found))}\n\n" + md_table(["", "Value"], rows)


def render_overview(console: Console, found: Overview) -> None:
    from usertrack.rendering.export import cell_text
    from usertrack.rendering.terminal import Col, fitted_table, plain

    rows = [[plain(name), plain(cell_text(value))] for name, value in _overview_lines(found)]
    console.print(
        fitted_table(console.width, [Col(""), Col("Value", right=True)], rows,
                     title=plain(overview_heading(found)))
    )  # fmt: skip
