"""Group properties (PostHog's group analytics) measured against the plan: each planned group
type looked up among the project's group types, and each planned property's fill rate among the
groups of that type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.audit.plan_file import TrackingPlan

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

GROUPS_QUERY = "posthog/plan_groups"


def group_fill(
    ws: Workspace, plan: TrackingPlan, as_of: datetime, step: Callable[[str], None]
) -> list[dict[str, Any]]:
    """One record per planned group type: its index (None when the project has no such type),
    how many groups it has and, per planned property, how many have it filled."""
    if not plan.group_properties:
        return []
    source = ws.sources.get(ws.library.get(GROUPS_QUERY).folder)
    known = (source.group_types() if source is not None else None) or {}
    out: list[dict[str, Any]] = []
    for kind, props in plan.group_properties:
        index = known.get(kind)
        by_key: dict[str, dict[str, Any]] = {}
        if index is not None and props:
            step(f"running {GROUPS_QUERY} ({kind})")
            rows = ws.run_query(
                GROUPS_QUERY, as_of, group_type_index=index, keys=[p.name for p in props]
            ).as_dicts()
            by_key = {r["property"]: r for r in rows}
        groups = max((int(r.get("groups") or 0) for r in by_key.values()), default=0)
        properties = []
        for p in props:
            filled = int((by_key.get(p.name) or {}).get("filled") or 0)
            properties.append(
                {
                    "property": p.name,
                    "type": p.type,
                    "required": p.required,
                    "groups": groups,
                    "filled": filled,
                    "fill_percent": round(100.0 * filled / groups, 1) if groups else None,
                }
            )
        out.append(
            {
                "group_type": kind,
                "group_type_index": index,
                "known_types": sorted(known) if index is None else None,
                "groups": groups,
                "properties": properties,
            }
        )
    return out


def group_problems(groups: list[dict[str, Any]], fmt_count: Callable[[Any], str],
                   fmt_pct: Callable[[Any], str]) -> list[str]:  # fmt: skip
    """A planned group type the project lacks, and required group properties not always filled."""
    out: list[str] = []
    for g in groups:
        if g["group_type_index"] is None:
            known = ", ".join(g["known_types"] or []) or "none"
            out.append(
                f"group type {g['group_type']}: not a group type of the project"
                f" (its group types: {known})"
            )
            continue
        for p in g["properties"]:
            if p["required"] and p["groups"] and p["filled"] < p["groups"]:
                out.append(
                    f"group property {g['group_type']}.{p['property']}: required, filled for"
                    f" {fmt_pct(p['fill_percent'])} of {fmt_count(p['groups'])} groups"
                )
    return out
