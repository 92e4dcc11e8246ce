"""The tracking-plan audit as files for tools and people: JSON, CSV and Markdown (the terminal
report is in usertrack.audit.tracking_plan_view)."""

from __future__ import annotations

from typing import Any

from usertrack.audit.audit_run import (
    BLANK,
    Audit,
    fmt_count,
    fmt_pct,
    fmt_time,
    fmt_trend,
    volume_sentence,
)
from usertrack.core import style


def audit_json(audit: Audit) -> str:
    import dataclasses

    from usertrack.rendering.export import json_text

    return json_text(dataclasses.asdict(audit))


CSV_COLUMNS = ("event", "tier", "status", "events", "persons", "first_seen", "last_seen",
               "previous_events", "trend_percent", "closest_planned", "breaks_naming",
               "property", "type", "required", "fill_percent", "type_mismatches",
               "outside_allowed")  # fmt: skip


def audit_csv(audit: Audit) -> str:
    """One row per planned event and property (an event without properties: one row), then one
    row per unplanned event (status `unplanned`)."""
    from usertrack.rendering.export import csv_text

    rows: list[list[Any]] = []
    for e in audit.events:
        base = [e["event"], e["tier"], e["status"], e["events"], e["persons"], e["first_seen"],
                e["last_seen"], e["previous_events"], e["trend_percent"], None, False]  # fmt: skip
        for p in e["properties"] or [None]:
            extra = (
                [p["property"], p["type"], p["required"], p["fill_percent"],
                 p["type_mismatches"], p["outside_allowed"]]
                if p else [None] * 6
            )  # fmt: skip
            rows.append(base + extra)
    for u in audit.unplanned:
        rows.append([u["event"], None, "unplanned", u["events"], u["persons"], None, None, None,
                     None, u["closest_planned"], u["breaks_naming"]] + [None] * 6)  # fmt: skip
    return csv_text(CSV_COLUMNS, rows)


def audit_markdown(audit: Audit) -> str:
    from usertrack.rendering.export import md_table

    c = audit.coverage
    out = [
        f"# Tracking-plan audit, last {audit.days} days to {fmt_time(audit.as_of)}\n",
        f"**Coverage: {fmt_pct(c['percent'])}** of planned events seen"
        f" ({fmt_count(c['seen'])} of {fmt_count(c['planned'])})."
        f" Plan: {style.md_code(audit.plan_path)}.\n",
        md_table(
            ["Tier", "Seen", "Planned", "Coverage"],
            [[t["tier"], t["seen"], t["planned"], fmt_pct(t["percent"])] for t in c["tiers"]],
        ),
        "\n## To fix\n",
    ]
    out.append("\n".join(f"- {style.md_text(p)}" for p in audit.problems) or "Nothing.")
    out.append("\n## Planned events\n")
    out.append(
        md_table(
            ["Event", "Tier", "Status", "Events", "Persons", "First seen", "Last seen",
             "Trend", "Required properties filled"],
            [[e["event"], e["tier"], e["status"], fmt_count(e["events"]),
              fmt_count(e["persons"]), fmt_time(e["first_seen"]), fmt_time(e["last_seen"]),
              fmt_trend(e["trend_percent"]) if e["events"] else BLANK,
              ", ".join(f"{p['property']} {fmt_pct(p['fill_percent'])}"
                        for p in e["properties"] if p["required"])]
             for e in audit.events],
        )
    )  # fmt: skip
    out.append("\n## Unplanned events\n")
    out.append(
        md_table(
            ["Event", "Events", "Persons", "Closest planned", "Breaks naming"],
            [[u["event"], fmt_count(u["events"]), fmt_count(u["persons"]),
              u["closest_planned"] or "", "yes" if u["breaks_naming"] else ""]
             for u in audit.unplanned],
        )
        if audit.unplanned
        else "None."
    )  # fmt: skip
    if audit.person_properties:
        out.append("\n## Person properties (identified persons active in the window)\n")
        out.append(
            md_table(
                ["Property", "Filled", "Persons", "Fill rate"],
                [[p["property"], fmt_count(p["filled"]), fmt_count(p["persons"]),
                  fmt_pct(p["fill_percent"])] for p in audit.person_properties],
            )
        )  # fmt: skip
    shown = [g for g in audit.group_properties if g["group_type_index"] is not None]
    if shown:
        out.append("\n## Group properties (every group of the type)\n")
        out.append(
            md_table(
                ["Group type", "Property", "Filled", "Groups", "Fill rate"],
                [[g["group_type"], p["property"], fmt_count(p["filled"]),
                  fmt_count(p["groups"]), fmt_pct(p["fill_percent"])]
                 for g in shown for p in g["properties"]],
            )
        )  # fmt: skip
    out.append("\n## Personal data and secrets in properties\n")
    out.append(_pii_markdown(audit))
    out.append("\n## Volume\n")
    out.append(volume_sentence(audit))
    i = audit.identity
    out.append("\n## Identification\n")
    out.append(
        f"{fmt_pct(i['identified_percent'])} of {fmt_count(i['events'])} events come from"
        f" identified persons ({i['definition']}). {fmt_count(i['multi_id_persons'])} of"
        f" {fmt_count(i['persons'])} persons have several distinct_ids (up to"
        f" {i['most_distinct_ids']}). {fmt_count(i['internal_events'])} events"
        f" ({fmt_pct(i['internal_percent'])}) are from internal accounts."
    )
    return "\n".join(out) + "\n"


def _pii_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [[f["source"], f["event"] or "", f["property"], f["what"], fmt_count(f["count"]),
             f["example"]] for f in items]  # fmt: skip


def _pii_markdown(audit: Audit) -> str:
    """The scan's findings (examples masked), then what the plan declares and was found."""
    from usertrack.rendering.export import md_table

    head = ["Where", "Event", "Property", "Looks like", "Count", "Example (masked)"]
    found = audit.pii.get("findings", [])
    out = [md_table(head, _pii_rows(found)) if found else "None found."]
    declared = audit.pii.get("declared", [])
    if declared:
        out.append("\nDeclared in the plan (expected, not a finding):\n")
        out.append(md_table(head, _pii_rows(declared)))
    return "\n".join(out)
