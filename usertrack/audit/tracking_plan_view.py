"""The tracking-plan audit in the terminal (rich). Only the CLI imports this module.

Every data cell is a rich `Text` (event names and values come from whoever sends events: never
markup); the figures use the formatting functions of usertrack.audit.audit_run.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from usertrack.audit.audit_run import (
    BLANK,
    Audit,
    fmt_count,
    fmt_pct,
    fmt_time,
    fmt_trend,
    volume_sentence,
)
from usertrack.rendering.terminal import Col, fitted_table, plain

STATUS_STYLE = {"seen": "green", "stopped": "red", "missing": "yellow"}


def _t(value: Any, style: str = "") -> Text:
    """A cell: the value as text, never markup, control characters shown (rendering.terminal)."""
    return plain(value, style_=style)


def _coverage_style(percent: float | None) -> str:
    if percent is None:
        return ""
    return "green" if percent >= 95 else "yellow" if percent >= 60 else "red"


def render_audit(console: Console, audit: Audit, limit: int = 15) -> None:
    width = console.width
    c = audit.coverage
    head = Text()
    head.append("Coverage ", style="bold")
    head.append(fmt_pct(c["percent"]), style=f"bold {_coverage_style(c['percent'])}")
    head.append(
        f"  {fmt_count(c['seen'])} of {fmt_count(c['planned'])} planned events seen in the"
        f" {audit.days} days to {fmt_time(audit.as_of)}  (plan: "
    )
    head.append_text(plain(audit.plan_path))
    head.append(")")
    console.print(head)

    tiers = fitted_table(
        width,
        [
            Col("Tier"),
            Col("Seen", right=True),
            Col("Planned", right=True),
            Col("Coverage", right=True),
            Col("Description", wrap=True, drop=1),
        ],
        [
            [
                t["tier"],
                fmt_count(t["seen"]),
                fmt_count(t["planned"]),
                _t(fmt_pct(t["percent"]), _coverage_style(t["percent"])),
                t["description"],
            ]
            for t in c["tiers"]
        ],
        title="Coverage by tier",
    )
    console.print(tiers)

    if audit.problems:
        console.print(Text("To fix", style="bold"))
        from rich.padding import Padding
        from rich.table import Table

        for line in audit.problems[:limit]:
            # A hanging indent: a long line wraps under its own text, not at the margin.
            bullet = Table.grid(padding=0)
            bullet.add_column(no_wrap=True)
            bullet.add_column(overflow="fold")
            bullet.add_row(Text("• "), plain(line))
            console.print(Padding(bullet, (0, 0, 0, 2), expand=False))
        if len(audit.problems) > limit:
            console.print(Text(f"  … and {len(audit.problems) - limit} more (--format md)"))

    rows, ends = [], []
    for n, e in enumerate(audit.events):
        fills = [p["fill_percent"] for p in e["properties"] if p["required"] and e["events"]]
        if n + 1 == len(audit.events) or audit.events[n + 1]["tier"] != e["tier"]:
            ends.append(n)
        rows.append(
            [
                e["event"],
                _t(e["status"], STATUS_STYLE.get(e["status"], "")),
                fmt_count(e["events"]),
                fmt_count(e["persons"]),
                fmt_trend(e["trend_percent"]) if e["events"] else BLANK,
                fmt_pct(min(f for f in fills if f is not None)) if fills else BLANK,
            ]
        )
    events = fitted_table(
        width,
        [
            Col("Event"),
            Col("Status"),
            Col("Events", right=True),
            Col("Persons", right=True, drop=2),
            Col("Trend", right=True, drop=1),
            Col("Least filled", right=True, drop=3),
        ],
        rows,
        title="Planned events (by tier)",
    )
    if len(events.rows) == len(rows):  # one row per event (not stacked): a rule between tiers
        for n in ends:
            events.rows[n].end_section = True
    console.print(events)

    if audit.unplanned:
        un = fitted_table(
            width,
            [
                Col("Event"),
                Col("Events", right=True),
                Col("Persons", right=True, drop=2),
                Col("Closest planned", drop=3),
                Col("Naming", drop=1),
            ],
            [
                [
                    u["event"],
                    fmt_count(u["events"]),
                    fmt_count(u["persons"]),
                    u["closest_planned"] or "",
                    _t("breaks convention" if u["breaks_naming"] else "", "yellow"),
                ]
                for u in audit.unplanned[:limit]
            ],
            title="Unplanned events (by volume)",
        )
        console.print(un)

    _render_profiles(console, audit, width)
    _render_pii(console, audit, width, limit)
    console.print(Text(volume_sentence(audit)))

    i = audit.identity
    console.print(
        Text(
            f"Identified: {fmt_pct(i['identified_percent'])} of {fmt_count(i['events'])} events"
            f" ({i['definition']}); {fmt_count(i['multi_id_persons'])} of"
            f" {fmt_count(i['persons'])} persons have several distinct_ids;"
            f" {fmt_count(i['internal_events'])} events from internal accounts"
            f" ({fmt_pct(i['internal_percent'])})."
        )
    )


def _render_profiles(console: Console, audit: Audit, width: int) -> None:
    """The fill rates of the planned person properties and group properties."""
    if audit.person_properties:
        pp = fitted_table(
            width,
            [
                Col("Property"),
                Col("Required", right=True, drop=1),
                Col("Filled", right=True),
                Col("Persons", right=True),
                Col("Fill rate", right=True),
            ],
            [
                [
                    p["property"],
                    "yes" if p["required"] else "no",
                    fmt_count(p["filled"]),
                    fmt_count(p["persons"]),
                    fmt_pct(p["fill_percent"]),
                ]
                for p in audit.person_properties
            ],
            title="Person properties (identified persons)",
        )
        console.print(pp)

    if audit.group_properties:
        gp = fitted_table(
            width,
            [
                Col("Group type"),
                Col("Property"),
                Col("Required", right=True, drop=1),
                Col("Filled", right=True),
                Col("Groups", right=True),
                Col("Fill rate", right=True),
            ],
            [
                [g["group_type"], p["property"], "yes" if p["required"] else "no",
                 fmt_count(p["filled"]), fmt_count(p["groups"]), fmt_pct(p["fill_percent"])]
                for g in audit.group_properties
                if g["group_type_index"] is not None
                for p in g["properties"]
            ],
            title="Group properties (every group of the type)",
        )  # fmt: skip
        if gp.rows:
            console.print(gp)


def _render_pii(console: Console, audit: Audit, width: int, limit: int) -> None:
    """Personal data and secrets in properties the plan does not declare, examples masked."""
    found = audit.pii.get("findings", [])
    if found:
        leaks = fitted_table(
            width,
            [
                Col("Where", drop=2),
                Col("Event"),
                Col("Property"),
                Col("Looks like", drop=1),
                Col("Count", right=True),
                Col("Example (masked)"),
            ],
            [
                [
                    f["source"],
                    f["event"] or "",
                    f["property"],
                    f["what"],
                    fmt_count(f["count"]),
                    f["example"],
                ]
                for f in found[:limit]
            ],
            title="Personal data and secrets in properties not declared by the plan",
        )
        console.print(leaks)
