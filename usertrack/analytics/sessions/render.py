"""Sessions (the user-activity specification's "sessions") as JSON, csv and Markdown. The
terminal's rich tables are in usertrack.analytics.sessions.view, which only the CLI imports.

Pages and property values are written by whoever sends events: in Markdown they are escaped
text.
"""

from __future__ import annotations

from typing import Any

from usertrack.analytics.common import csv_rows, md_section
from usertrack.analytics.paths.render import about, label, share_rows
from usertrack.analytics.sessions.run import Listed, Sessions
from usertrack.core import style
from usertrack.rendering.export import md_table

BY_TITLES = {"device_type": "Device type", "browser": "Browser", "country": "Country"}


def sessions_csv(s: Sessions) -> str:
    """Tidy counts: one row per dimension and value (`all` is every session), with the distinct
    users of its sessions, an entry page's bounce rate and an exit page's mean seconds before
    exit; the mean, median and the whole bounce rate are in the JSON and the tables."""
    rows: list[list[Any]] = [["all", "", s.sessions, s.users, "", ""]]
    rows += [["bucket", b, n, "", "", ""] for b, n in s.buckets]
    rows += [["entry_page", r.value, r.sessions, r.users, _blank(r.bounce_rate), ""]
             for r in s.entry_pages]  # fmt: skip
    rows += [["exit_page", r.value, r.sessions, r.users, "", _blank(r.mean_seconds)]
             for r in s.exit_pages]  # fmt: skip
    for key, values in s.by.items():
        rows += [[key, "" if r.value is None else r.value, r.sessions, r.users, "", ""]
                 for r in values]  # fmt: skip
    header = ["dimension", "value", "sessions", "users", "bounce_rate", "seconds_before_exit"]
    return csv_rows(header, rows)


def _blank(value: float | None) -> Any:
    return "" if value is None else value


def sessions_summary(s: Sessions) -> list[tuple[str, str]]:
    per_user = "-" if s.sessions_per_user is None else f"{s.sessions_per_user:.2f}"
    return [
        ("Sessions", style.count(s.sessions)),
        ("Users", style.count(s.users)),
        ("Sessions per user", per_user),
        ("Mean duration", style.duration(s.mean_seconds)),
        ("Median duration", style.duration(s.median_seconds)),
        ("Bounce rate", style.pct(s.bounce_rate)),
    ]


# A list's columns after its value, sessions and share: (header, cell of a Listed row).
LIST_EXTRAS: dict[str, list[tuple[str, Any]]] = {
    "entry": [("Users", lambda r: style.count(r.users)),
              ("Bounce rate", lambda r: style.pct(r.bounce_rate))],
    "exit": [("Users", lambda r: style.count(r.users)),
             ("Time before exit", lambda r: style.duration(r.mean_seconds))],
    "by": [("Users", lambda r: style.count(r.users))],
}  # fmt: skip


def listed_rows(rows: list[Listed], total: int, kind: str) -> list[list[str]]:
    """A list's cells: value, sessions, share, then its LIST_EXTRAS."""
    return [
        [label(r.value), style.count(r.sessions), style.share(r.sessions, total),
         *(cell(r) for _, cell in LIST_EXTRAS[kind])]
        for r in rows
    ]  # fmt: skip


def session_lists(s: Sessions) -> list[tuple[str, str, str, list[Listed]]]:
    """(title, header, kind of LIST_EXTRAS, rows) of each list after the length buckets."""
    lists = [("Entry pages", "Page", "entry", s.entry_pages),
             ("Exit pages", "Page", "exit", s.exit_pages)]  # fmt: skip
    lists += [(BY_TITLES[k], BY_TITLES[k], "by", v) for k, v in s.by.items()]
    return lists


def sessions_markdown(s: Sessions) -> str:
    lines = [style.md_text(f"Sessions as of {style.moment(s.as_of)}: {about(s.range)}.")]
    tables = [md_table(["Metric", "Value"], [list(r) for r in sessions_summary(s)])]
    tables.append(f"\n## {style.md_text('Length')}\n")
    tables.append(
        md_table(["Length", "Sessions", "Share"], share_rows(list(s.buckets), s.sessions))
    )
    for title, header, kind, rows in session_lists(s):
        tables.append(f"\n## {style.md_text(title)}\n")
        headers = [header, "Sessions", "Share", *(h for h, _ in LIST_EXTRAS[kind])]
        tables.append(md_table(headers, listed_rows(rows, s.sessions, kind)))
    return md_section("Sessions", lines, tables)
