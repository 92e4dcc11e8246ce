"""Sessions and paths (the user-activity specification's "sessions and journeys") as JSON, csv
and Markdown, with a mermaid flowchart of the paths. The terminal's rich tables are in
usertrack.analytics.paths.view, which only the CLI imports.

Pages, event names and property values are written by whoever sends events: in Markdown they
are escaped text, and in mermaid every character that is not plainly safe is an entity code,
so no label can close the diagram, start a link or carry HTML.
"""

from __future__ import annotations

import re
from typing import Any

from usertrack.analytics.common import csv_rows, duration, json_document, md_section
from usertrack.analytics.paths.run import Paths
from usertrack.analytics.sessions.run import Listed, Sessions
from usertrack.core import style
from usertrack.rendering.export import md_table

NONE_LABEL = "(none)"
ARROW = " → "
BY_TITLES = {"device_type": "Device type", "browser": "Browser", "country": "Country"}


def about(span: Any) -> str:
    return style.span(span.start, span.end)


def label(value: str | None) -> str:
    return NONE_LABEL if value is None or value == "" else value


# ------------------------------------------------------------------------------------ sessions


def sessions_json(s: Sessions) -> str:
    return json_document(s.document())


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
        ("Mean duration", duration(s.mean_seconds)),
        ("Median duration", duration(s.median_seconds)),
        ("Bounce rate", style.pct(s.bounce_rate)),
    ]


def share_rows(values: list[tuple[Any, int]], total: int) -> list[list[str]]:
    return [[label(v), style.count(n), style.share(n, total)] for v, n in values]


# A list's columns after its value, sessions and share: (header, cell of a Listed row).
LIST_EXTRAS: dict[str, list[tuple[str, Any]]] = {
    "entry": [("Users", lambda r: style.count(r.users)),
              ("Bounce rate", lambda r: style.pct(r.bounce_rate))],
    "exit": [("Users", lambda r: style.count(r.users)),
             ("Time before exit", lambda r: duration(r.mean_seconds))],
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


# --------------------------------------------------------------------------------------- paths


def paths_about(p: Paths) -> str:
    # A path kept to where it ends (--to alone) shows its last steps, up to that end.
    which = "last" if p.end is not None and p.start is None else "first"
    parts = [about(p.range), f"{which} {p.steps} steps"]
    if p.start is not None:
        parts.append(f"from {p.start}")
    if p.end is not None:
        parts.append(f"to {p.end}")
    return ", ".join(parts)


def paths_json(p: Paths) -> str:
    return json_document(p.document())


def paths_csv(p: Paths) -> str:
    """One row per path: its sequences, then its nodes (step_1 ...)."""
    width = max((len(nodes) for nodes, _ in p.paths), default=0)
    header = ["count", *(f"step_{i}" for i in range(1, width + 1))]
    rows = [[n, *nodes, *([""] * (width - len(nodes)))] for nodes, n in p.paths]
    return csv_rows(header, rows)


# Mermaid labels: only these characters stay as they are; every other one becomes mermaid's
# entity code `#<decimal>;` (quotes, brackets, backticks, `<`, `|`, newlines ...).
_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 _./:-]")


def mermaid_text(text: str) -> str:
    return "".join(ch if _MERMAID_SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text)


# Said with every flat list of edges (Markdown's table and flowchart; the terminal's table says
# EDGE_TOTALS_CAPTION): what a count is.
EDGE_TOTALS_NOTE = (
    "An edge's count sums PostHog's positional edges over the steps: every time a sequence takes"
    " it, so twice in one sequence counts 2."
)
EDGE_TOTALS_CAPTION = "Summed over the steps: twice in one sequence counts 2."


def mermaid(p: Paths) -> str:
    """A left-to-right flowchart of the edges summed over the steps (`Paths.edge_totals`): node
    ids are generated, labels are quoted text."""
    ids: dict[str, str] = {}
    lines = ["flowchart LR"]
    for source, target, _ in p.edge_totals:
        for node in (source, target):
            if node not in ids:
                ids[node] = f"n{len(ids)}"
                lines.append(f'    {ids[node]}["{mermaid_text(node)}"]')
    for source, target, n in p.edge_totals:
        lines.append(f"    {ids[source]} -->|{n}| {ids[target]}")
    return "```mermaid\n" + "\n".join(lines) + "\n```\n"


def paths_markdown(p: Paths) -> str:
    lines = [
        style.md_text(
            f"Paths as of {style.moment(p.as_of)}: {paths_about(p)};"
            f" {style.count(p.total_sequences)} sequences."
        )
    ]
    tables: list[str] = []
    if p.edge_totals:
        tables.append("\n## Flow\n")
        tables.append(style.md_text(EDGE_TOTALS_NOTE) + "\n\n")
        tables.append(mermaid(p))
    tables.append("\n## Most common paths\n")
    total = p.total_sequences
    rows = [[ARROW.join(nodes), style.count(n), style.share(n, total)] for nodes, n in p.paths]
    tables.append(md_table(["Path", "Sequences", "Share"], rows))
    for title, values in (("Entry nodes", p.entry_nodes), ("Exit nodes", p.exit_nodes)):
        tables.append(f"\n## {title}\n")
        tables.append(md_table(["Node", "Sequences", "Share"], share_rows(values, total)))
    tables.append("\n## Edges\n")
    if p.edge_totals:
        tables.append(style.md_text(EDGE_TOTALS_NOTE) + "\n\n")
    tables.append(
        md_table(["From", "To", "Count"], [[s, t, style.count(n)] for s, t, n in p.edge_totals])
    )
    return md_section("Paths", lines, tables)
