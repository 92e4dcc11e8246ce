"""`tracking-plan init`: a first tracking-plan.yaml from the events seen, written only where no
file is."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.audit.audit_run import event_periods, fmt_time, type_counts
from usertrack.audit.plan_file import DEFAULT_EXEMPT, DEFAULT_NAMING
from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    from usertrack.workspace import Progress, Workspace


_JSON_TO_TYPE = {"string": "string", "number": "number", "boolean": "boolean", "list": "list",
                 "object": "object"}  # fmt: skip
TOP_PROPERTIES = 8


def draft_plan(
    ws: Workspace, as_of: datetime, days: int = 30, progress: Progress | None = None
) -> str:
    """tracking-plan.yaml text for the events seen in the window: every event in one tier with
    its top properties and their observed types (required when on 95 % of its events)."""
    import json

    if progress:
        progress("running posthog/plan_events")
    seen = sorted(
        (r for r in event_periods(ws, as_of, days).values() if r["events"]),
        key=lambda r: (-int(r["events"]), r["event"]),
    )
    if not seen:
        raise UsageError(
            f"no events in the {days} days to {fmt_time(as_of)}: nothing to write a plan from"
        )
    keys: dict[str, list[dict[str, Any]]] = {}
    if progress:
        progress("running posthog/plan_keys")
    for r in ws.run_query(
        "posthog/plan_keys", as_of, days=days, events=[r["event"] for r in seen]
    ).as_dicts():
        keys.setdefault(r["event"], []).append(r)

    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=True)  # a JSON string is a YAML scalar

    lines = [
        f"# A first tracking plan, written by `usertrack tracking-plan init` from the events of"
        f" the {days} days to {fmt_time(as_of)}.",
        "# Every event is in one tier: sort them into tiers, write what each one means, and",
        "# check the properties (required: seen on at least 95 % of the event's sends).",
        "naming:",
        f"  pattern: {q(DEFAULT_NAMING)}",
        f"  exempt_prefixes: [{', '.join(q(p) for p in DEFAULT_EXEMPT)}]",
        "tiers:",
        "  unsorted: Every event seen, to be sorted into tiers",
        "events:",
    ]
    for r in seen:
        name, volume = r["event"], int(r["events"])
        lines.append(f"  {q(name)}:")
        lines.append("    tier: unsorted")
        lines.append(
            f"    description: {q(f'seen {volume:,} times in the last {days} days; describe it')}"
        )
        lines.append(f"    source: {'autocapture' if name.startswith('$') else 'backend'}")
        props = [
            k for k in keys.get(name, []) if name.startswith("$") or not k["key"].startswith("$")
        ]
        props.sort(key=lambda k: (-int(k["filled"] or 0), k["key"]))
        required: list[str] = []
        optional: list[str] = []
        for k in props[:TOP_PROPERTIES]:
            counts = type_counts(k)
            kind = max(counts, key=lambda t: counts[t])
            if not counts[kind]:
                continue
            entry = f"      {q(k['key'])}: {_JSON_TO_TYPE[kind]}"
            (required if int(k["filled"] or 0) >= 0.95 * volume else optional).append(entry)
        if required:
            lines.append("    required:")
            lines.extend(required)
        if optional:
            lines.append("    optional:")
            lines.extend(optional)
    return "\n".join(lines) + "\n"


def write_new(path: Path, text: str) -> None:
    """Write `path` whole, never over an existing file (exit 2 naming it)."""
    from usertrack.rendering.output import write_atomic

    exists = UsageError(
        f"{path} already exists: usertrack never overwrites a plan"
        " (remove it, or choose another --out)"
    )
    if path.exists():
        raise exists
    try:
        write_atomic(path, text, overwrite=False)
    except FileExistsError:
        raise exists from None
