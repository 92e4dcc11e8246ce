"""The tracking-plan audit in the terminal (rich). Only the CLI imports this module.

Every data cell is a rich `Text` (event names and values come from whoever sends events: never
markup); the figures use the formatting functions of usertrack.tracking_plan.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from usertrack.tracking_plan import BLANK, Audit, fmt_count, fmt_pct, fmt_time, fmt_trend

STATUS_STYLE = {"seen": "green", "stopped": "red", "missing": "yellow"}


def _t(value: Any, style: str = "") -> Text:
    return Text("" if value is None else str(value), style=style)


def _coverage_style(percent: float | None) -> str:
    if percent is None:
        return ""
    return "green" if percent >= 95 else "yellow" if percent >= 60 else "red"


def render_audit(console: Console, audit: Audit, limit: int = 15) -> None:
    c = audit.coverage
    head = Text()
    head.append("Coverage ", style="bold")
    head.append(fmt_pct(c["percent"]), style=f"bold {_coverage_style(c['percent'])}")
    head.append(
        f"  {c['seen']} of {c['planned']} planned events seen in the {audit.days} days to"
        f" {fmt_time(audit.as_of)}  (plan: "
    )
    head.append(audit.plan_path)
    head.append(")")
    console.print(head)

    tiers = Table(title="Coverage by tier", title_justify="left")
    for col in ("tier", "seen", "planned", "coverage", "description"):
        tiers.add_column(col, justify="right" if col in ("seen", "planned", "coverage") else "left")
    for t in c["tiers"]:
        tiers.add_row(
            _t(t["tier"]),
            _t(fmt_count(t["seen"])),
            _t(fmt_count(t["planned"])),
            _t(fmt_pct(t["percent"]), _coverage_style(t["percent"])),
            _t(t["description"]),
        )
    console.print(tiers)

    if audit.problems:
        console.print(Text("To fix", style="bold"))
        for line in audit.problems[:limit]:
            console.print(Text("  • ") + Text(line))
        if len(audit.problems) > limit:
            console.print(Text(f"  … and {len(audit.problems) - limit} more (--format md)"))

    events = Table(title="Planned events (by tier)", title_justify="left")
    events.add_column("event", no_wrap=True)
    events.add_column("status")
    for col in ("events", "persons", "trend", "least filled"):
        events.add_column(col, justify="right")
    for n, e in enumerate(audit.events):
        fills = [p["fill_percent"] for p in e["properties"] if p["required"] and e["events"]]
        last_of_tier = n + 1 == len(audit.events) or audit.events[n + 1]["tier"] != e["tier"]
        events.add_row(
            _t(e["event"]),
            _t(e["status"], STATUS_STYLE.get(e["status"], "")),
            _t(fmt_count(e["events"])),
            _t(fmt_count(e["persons"])),
            _t(fmt_trend(e["trend_percent"]) if e["events"] else BLANK),
            _t(fmt_pct(min(f for f in fills if f is not None)) if fills else BLANK),
            end_section=last_of_tier,
        )
    console.print(events)

    if audit.unplanned:
        un = Table(title="Unplanned events (by volume)", title_justify="left")
        for col in ("event", "events", "persons", "closest planned", "naming"):
            un.add_column(col, justify="right" if col in ("events", "persons") else "left")
        for u in audit.unplanned[:limit]:
            un.add_row(
                _t(u["event"]),
                _t(fmt_count(u["events"])),
                _t(fmt_count(u["persons"])),
                _t(u["closest_planned"] or ""),
                _t("breaks convention" if u["breaks_naming"] else "", "yellow"),
            )
        console.print(un)

    if audit.person_properties:
        pp = Table(title="Person properties (identified persons)", title_justify="left")
        for col in ("property", "required", "filled", "persons", "fill rate"):
            pp.add_column(col, justify="left" if col == "property" else "right")
        for p in audit.person_properties:
            pp.add_row(
                _t(p["property"]),
                _t("yes" if p["required"] else "no"),
                _t(fmt_count(p["filled"])),
                _t(fmt_count(p["persons"])),
                _t(fmt_pct(p["fill_percent"])),
            )
        console.print(pp)

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
