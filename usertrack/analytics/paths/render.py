"""Paths (the user-activity specification's "journeys") as JSON, csv and Markdown, with a
mermaid flowchart, and the cells that sessions' output shares (`about`, `label`,
`share_rows`). The terminal's rich tables are in usertrack.analytics.paths.view, which only the
CLI imports.

Pages, event names and property values are written by whoever sends events: in Markdown they
are escaped text, and in mermaid every character that is not plainly safe is an entity code,
so no label can close the diagram, start a link or carry HTML.
"""

from __future__ import annotations

import re
from typing import Any

from usertrack.analytics.common import csv_rows, md_section
from usertrack.analytics.paths.run import Paths
from usertrack.core import style
from usertrack.rendering.export import md_table

NONE_LABEL = "(none)"
ARROW = " → "


def about(span: Any) -> str:
    return style.span(span.start, span.end)


def label(value: str | None) -> str:
    return NONE_LABEL if value is None or value == "" else value


def share_rows(values: list[tuple[Any, int]], total: int) -> list[list[str]]:
    return [[label(v), style.count(n), style.share(n, total)] for v, n in values]


# --------------------------------------------------------------------------------------- paths


def completion_cell(done: float | None) -> str:
    """A path's completion as a percentage ('-' for none)."""
    return style.pct(None if done is None else 100 * done)


def dropoff_cell(dropoff: list[dict[str, Any]]) -> str:
    """A path's drop-off: each step some sequences leave it before, as its node and the share
    lost there ('/app -33.3%'), in the path's order; '-' when none leaves it."""
    lost = [f"{d['node']} -{completion_cell(d['rate'])}" for d in dropoff if d["rate"]]
    return ", ".join(lost) or "-"


def conversion_cell(conversions: int, followed: int) -> str:
    """A path's conversion rate and the sequences it is of: '50.0% of 2' ('-' of none)."""
    if followed <= 0:
        return "-"
    return f"{completion_cell(conversions / followed)} of {style.count(followed)}"


def path_rows(p: Paths) -> list[list[str]]:
    """The paths' rows of the table and Markdown: path, sequences, share, completion, drop-off
    and, with --to, the conversion rate (`path_headers`)."""
    total = p.total_sequences
    rows = [
        [ARROW.join(nodes), style.count(n), style.share(n, total), completion_cell(done),
         dropoff_cell(lost)]
        for (nodes, n), (done, lost) in zip(p.paths, p.completions(), strict=True)
    ]  # fmt: skip
    if p.end is not None:
        for row, (_, n), k in zip(rows, p.paths, p.followed, strict=True):
            row.append(conversion_cell(n, k))
    return rows


PATH_HEADERS = ["Path", "Sequences", "Share", "Completion", "Drop-off"]
CONVERSION_HEADER = "Conversion"


def path_headers(p: Paths) -> list[str]:
    return [*PATH_HEADERS, CONVERSION_HEADER] if p.end is not None else PATH_HEADERS


# Said under the paths with --to (Markdown's table; the terminal's caption).
CONVERSION_NOTE = (
    "Conversion: of the sequences that took a path's steps before the goal, the share that"
    " went straight on to the goal."
)


def paths_about(p: Paths) -> str:
    # A path kept to where it ends (--to alone) shows its last steps, up to that end.
    which = "last" if p.end is not None and p.start is None else "first"
    parts = [about(p.range), f"{which} {p.steps} steps"]
    if p.start is not None:
        parts.append(f"from {p.start}")
    if p.end is not None:
        parts.append(f"to {p.end}")
    return ", ".join(parts)


def paths_csv(p: Paths) -> str:
    """One row per path: its sequences, its completion, then its nodes (step_1 ...), then the
    drop-off rate at each step from the second (dropoff_2 ...); with --to, then the sequences
    that followed its steps before the goal and its conversion rate."""
    width = max((len(nodes) for nodes, _ in p.paths), default=0)
    goal = ["followed", "conversion_rate"] if p.end is not None else []
    header = [
        "count",
        "completion",
        *(f"step_{i}" for i in range(1, width + 1)),
        *(f"dropoff_{i}" for i in range(2, width + 1)),
        *goal,
    ]
    converted = p.document().get("conversions", {}).get("paths", [{}] * len(p.paths))
    rows = []
    for (nodes, n), (done, lost), c in zip(p.paths, p.completions(), converted, strict=True):
        pad = [""] * (width - len(nodes))
        rates = [d["rate"] for d in lost]
        ends = [c["followed"], c["conversion_rate"]] if goal else []
        rows.append([n, done, *nodes, *pad, *rates, *pad, *ends])  # as many rates as steps - 1
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
            f" {style.counted(p.total_sequences, 'sequence')}."
        )
    ]
    tables: list[str] = []
    if p.edge_totals:
        tables.append("\n## Flow\n")
        tables.append(style.md_text(EDGE_TOTALS_NOTE) + "\n\n")
        tables.append(mermaid(p))
    tables.append("\n## Most common paths\n")
    total = p.total_sequences
    tables.append(md_table(path_headers(p), path_rows(p)))
    said = (
        "Completion: of the sequences that begin with a path's first node, the share that"
        " follow the whole path; drop-off: the share lost at a step."
    )
    if p.end is not None:
        said += " " + CONVERSION_NOTE
    tables.append("\n" + style.md_text(said) + "\n")
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
