"""The tracking-plan audit: the plan_* queries run and compared with the plan, the problems to
fix, and the formatting of its figures for people."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.audit.groups import group_fill, group_problems
from usertrack.audit.pii import naming_checks, pii_findings
from usertrack.audit.plan_file import PropertySpec, TrackingPlan, closest_planned
from usertrack.core import style

if TYPE_CHECKING:
    from usertrack.workspace import Progress, Workspace


BLANK = style.MISSING  # an empty figure, for people (the house style: usertrack/core/style.py)


# --------------------------------------------------------------------------------------------
# Formatting for people (terminal and Markdown). Files for tools (JSON, CSV) keep ISO 8601 `Z`.
# Kept to these few functions so they can follow the house style in one place.


def fmt_count(value: int | float | None) -> str:
    return BLANK if value is None else style.count(round(value))


def fmt_pct(value: float | None) -> str:
    return BLANK if value is None else style.pct(value)


def fmt_time(value: datetime | None) -> str:
    return BLANK if value is None else style.moment(value)


def fmt_trend(value: float | None) -> str:
    if value is None:
        return "new"
    return f"{value:+.1f}%"


# --------------------------------------------------------------------------------------------
# The audit


@dataclass
class Audit:
    """`usertrack tracking-plan`: the plan measured against the window's events."""

    as_of: datetime
    days: int
    since: datetime
    plan_path: str
    coverage: dict[str, Any]
    events: list[dict[str, Any]]
    missing: list[str]
    stopped: list[dict[str, Any]]
    unplanned: list[dict[str, Any]]
    naming: dict[str, Any]
    person_properties: list[dict[str, Any]]
    identity: dict[str, Any]
    pii: dict[str, Any] = field(default_factory=dict)
    group_properties: list[dict[str, Any]] = field(default_factory=list)
    volume: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def type_counts(row: dict[str, Any]) -> dict[str, int]:
    return {
        "string": int(row["strings"] or 0),
        "number": int(row["numbers"] or 0),
        "boolean": int(row["booleans"] or 0),
        "list": int(row["lists"] or 0),
        "object": int(row["objects"] or 0),
    }


def _expected_json(kind: str) -> str:
    return {"datetime": "string"}.get(kind, kind)


def _comparable(value: Any) -> tuple[bool, Any]:
    """A value as a set member: true and 1 apart, and a list or object sent where a value was
    allowed (data from anyone) as its JSON text rather than an unhashable error."""
    if isinstance(value, (list, dict)):
        import json

        return (False, json.dumps(value, sort_keys=True))
    return (type(value) is bool, value)


def _value_of(raw: str) -> Any:
    import json

    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _property_result(
    spec: PropertySpec,
    volume: int,
    row: dict[str, Any] | None,
    values: list[tuple[str, int]],
) -> dict[str, Any]:
    counts = type_counts(row) if row else dict.fromkeys(("string", "number", "boolean",
                                                          "list", "object"), 0)  # fmt: skip
    filled = int(row["filled"] or 0) if row else 0
    expected = _expected_json(spec.type)
    sent = sum(counts.values())
    mismatches = sent - counts[expected]
    numeric_strings = int(row["numeric_strings"] or 0) if row else 0
    outside: list[dict[str, Any]] = []
    unseen: list[Any] = []  # allowed values never sent (listed only when the event was sent)
    if spec.allowed is not None:
        allowed = {_comparable(v) for v in spec.allowed}
        sent_values = set()
        for raw, n in values:
            value = _value_of(raw)
            if value is None:
                continue
            sent_values.add(_comparable(value))
            if _comparable(value) not in allowed:
                outside.append({"value": value if isinstance(value, str) else raw, "events": n})
        unseen = [v for v in spec.allowed if _comparable(v) not in sent_values]
    return {
        "property": spec.name,
        "type": spec.type,
        "required": spec.required,
        "allowed": list(spec.allowed) if spec.allowed is not None else None,
        "filled": filled,
        "fill_percent": style.percent(filled, volume),
        "type_mismatches": mismatches,
        "sent_as": {k: v for k, v in counts.items() if v},
        "numbers_sent_as_strings": numeric_strings if spec.type == "number" else 0,
        "outside_allowed": sum(o["events"] for o in outside),
        "outside_values": outside[:10],
        "unseen_allowed": unseen if volume else [],
    }


def event_periods(ws: Workspace, as_of: datetime, days: int) -> dict[str, dict[str, Any]]:
    """posthog/plan_events as one record per event name: `events`, `persons`, `first_seen`,
    `last_seen` of the current period and `previous_events`, `previous_persons`,
    `previous_last_seen` of the one before (0 or None when the period has no row)."""
    out: dict[str, dict[str, Any]] = {}
    for r in ws.run_query("posthog/plan_events", as_of, days=days).as_dicts():
        rec = out.setdefault(
            r["event"],
            {"event": r["event"], "events": 0, "persons": 0, "first_seen": None,
             "last_seen": None, "previous_events": 0, "previous_persons": 0,
             "previous_last_seen": None},
        )  # fmt: skip
        if r["period"] == "current":
            rec.update(
                events=int(r["events"]),
                persons=int(r["persons"]),
                first_seen=r["first_seen"],
                last_seen=r["last_seen"],
            )
        else:
            rec.update(
                previous_events=int(r["events"]),
                previous_persons=int(r["persons"]),
                previous_last_seen=r["last_seen"],
            )
    return out


_FIGURES = ("events", "filled", "strings", "numbers", "booleans", "lists", "objects",
            "numeric_strings")  # fmt: skip


def property_figures(
    ws: Workspace,
    plan: TrackingPlan,
    as_of: datetime,
    days: int,
    step: Callable[[str], None],
) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], list[tuple[str, int]]]]:
    """posthog/plan_properties summed per (event, property), and for the properties with allowed
    values, each raw JSON value sent with its count (most frequent first)."""
    with_props = [e for e in plan.events if e.properties]
    figures: dict[tuple[str, str], dict[str, Any]] = {}
    values: dict[tuple[str, str], list[tuple[str, int]]] = {}
    if not with_props:
        return figures, values
    step("running posthog/plan_properties")
    result = ws.run_query(
        "posthog/plan_properties",
        as_of,
        days=days,
        events=[e.name for e in with_props],
        event_keys=[[p.name for p in e.properties] for e in with_props],
        event_enum_keys=[[p.name for p in e.properties if p.allowed] for e in with_props],
    )
    for r in result.as_dicts():
        pair = (r["event"], r["key"])
        total = figures.setdefault(pair, dict.fromkeys(_FIGURES, 0))
        for name in _FIGURES:
            total[name] += int(r[name] or 0)
        raw = str(r["value"] or "")
        if raw not in ("", "null", '""'):  # not filled: counted in the fill rate instead
            values.setdefault(pair, []).append((raw, int(r["events"] or 0)))
    for found in values.values():  # most frequent first, whatever order the pages came in
        found.sort(key=lambda v: (-v[1], v[0]))
    return figures, values


def run_audit(
    ws: Workspace,
    plan: TrackingPlan,
    as_of: datetime,
    days: int = 30,
    progress: Progress | None = None,
) -> Audit:
    """Run the plan_* queries (a handful, each one row per event or property) and compare."""

    def step(text: str) -> None:
        if progress:
            progress(text)

    step("running posthog/plan_events")
    seen = event_periods(ws, as_of, days)
    prop_rows, values = property_figures(ws, plan, as_of, days, step)
    events_out, missing, stopped = planned_events(plan, seen, prop_rows, values)
    unplanned = unplanned_events(plan, seen)
    person = person_fill(ws, plan, as_of, days, step)
    ident = identity(ws, as_of, days, step)
    pii = pii_findings(ws, plan, as_of, days, step)
    groups = group_fill(ws, plan, as_of, step)
    names = [e.name for e in plan.events] + [u["event"] for u in unplanned]
    props = [(e.name, p.name) for e in plan.events for p in e.properties]
    props += [(f["event"] or "", f["property"]) for f in pii["findings"] if f["source"] == "event"]
    naming = {
        "pattern": plan.naming_pattern,
        "exempt_prefixes": list(plan.exempt_prefixes),
        "violations": [u["event"] for u in unplanned if u["breaks_naming"]],
        **naming_checks(plan, names, props),
    }
    audit = Audit(
        as_of=as_of,
        days=days,
        since=as_of - timedelta(days=days),
        plan_path=str(plan.path),
        coverage=coverage(plan, events_out),
        events=events_out,
        missing=missing,
        stopped=stopped,
        unplanned=unplanned,
        naming=naming,
        person_properties=person,
        identity=ident,
        pii=pii,
        group_properties=groups,
        volume=volume(plan, ident, days),
    )
    audit.problems = problems(audit)
    return audit


def planned_events(
    plan: TrackingPlan,
    seen: dict[str, dict[str, Any]],
    prop_rows: dict[tuple[str, str], dict[str, Any]],
    values: dict[tuple[str, str], list[tuple[str, int]]],
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """Each planned event with its figures and properties' (status seen, stopped or missing),
    the names of the missing ones, and the stopped ones with their previous period's figures."""
    events_out: list[dict[str, Any]] = []
    missing: list[str] = []
    stopped: list[dict[str, Any]] = []
    for spec in plan.events:
        row = seen.get(spec.name) or {}
        volume = int(row.get("events") or 0)
        previous = int(row.get("previous_events") or 0)
        if volume:
            status = "seen"
        elif previous:
            status = "stopped"
            stopped.append(
                {
                    "event": spec.name,
                    "tier": spec.tier,
                    "previous_events": previous,
                    "previous_last_seen": row.get("previous_last_seen"),
                }
            )
        else:
            status = "missing"
            missing.append(spec.name)
        events_out.append(
            {
                "event": spec.name,
                "tier": spec.tier,
                "source": spec.source,
                "status": status,
                "events": volume,
                "persons": int(row.get("persons") or 0),
                "first_seen": row.get("first_seen") if volume else None,
                "last_seen": row.get("last_seen") if volume else None,
                "previous_events": previous,
                "trend_percent": (
                    round(100.0 * (volume - previous) / previous, 1) if previous else None
                ),
                "properties": [
                    _property_result(
                        p, volume, prop_rows.get((spec.name, p.name)),
                        values.get((spec.name, p.name), []),
                    )
                    for p in spec.properties
                ],
            }
        )  # fmt: skip
    return events_out, missing, stopped


def coverage(plan: TrackingPlan, events_out: list[dict[str, Any]]) -> dict[str, Any]:
    """The share of planned events seen, overall and per tier."""
    tiers = []
    for tier, description in plan.tiers.items():
        mine = [e for e in events_out if e["tier"] == tier]
        hit = sum(1 for e in mine if e["status"] == "seen")
        tiers.append(
            {
                "tier": tier,
                "description": description,
                "planned": len(mine),
                "seen": hit,
                "percent": style.percent(hit, len(mine)),
            }
        )
    hit = sum(1 for e in events_out if e["status"] == "seen")
    return {"planned": len(events_out), "seen": hit, "percent": style.percent(hit, len(events_out)),
            "tiers": tiers}  # fmt: skip


def unplanned_events(plan: TrackingPlan, seen: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Events seen that the plan does not name, by volume, each with its closest planned name."""
    planned = [e.name for e in plan.events]
    unplanned: list[dict[str, Any]] = []
    for name, row in seen.items():
        if name in planned or not int(row["events"] or 0):
            continue
        closest, score = closest_planned(name, planned)
        unplanned.append(
            {
                "event": name,
                "events": int(row["events"]),
                "persons": int(row["persons"] or 0),
                "closest_planned": closest,
                "similarity": score if closest else None,
                "breaks_naming": plan.breaks_naming(name),
            }
        )
    unplanned.sort(key=lambda u: (-u["events"], u["event"]))
    return unplanned


def person_fill(
    ws: Workspace, plan: TrackingPlan, as_of: datetime, days: int, step: Callable[[str], None]
) -> list[dict[str, Any]]:
    """posthog/plan_persons: each planned person property's fill rate among identified persons."""
    person: list[dict[str, Any]] = []
    if plan.person_properties:
        step("running posthog/plan_persons")
        rows = ws.run_query(
            "posthog/plan_persons", as_of, days=days, keys=[p.name for p in plan.person_properties]
        ).as_dicts()
        by_key = {r["key"]: r for r in rows}
        for p in plan.person_properties:
            r = by_key.get(p.name) or {}
            persons, filled = int(r.get("persons") or 0), int(r.get("filled") or 0)
            person.append(
                {
                    "property": p.name,
                    "type": p.type,
                    "required": p.required,
                    "persons": persons,
                    "filled": filled,
                    "fill_percent": style.percent(filled, persons),
                }
            )
    return person


def identity(
    ws: Workspace, as_of: datetime, days: int, step: Callable[[str], None]
) -> dict[str, Any]:
    """posthog/plan_identity: events and persons identified (by email), persons with several
    distinct_ids, events from internal accounts."""
    step("running posthog/plan_identity")
    ident_rows = ws.run_query("posthog/plan_identity", as_of, days=days).as_dicts()
    ident = ident_rows[0] if ident_rows else {}
    total = int(ident.get("events") or 0)
    return {
        "definition": "an event is identified when its person has an email"
        " (person.properties.email)",
        "events": total,
        "identified_events": int(ident.get("identified_events") or 0),
        "identified_percent": style.percent(int(ident.get("identified_events") or 0), total),
        "persons": int(ident.get("persons") or 0),
        "identified_persons": int(ident.get("identified_persons") or 0),
        "multi_id_persons": int(ident.get("multi_id_persons") or 0),
        "most_distinct_ids": int(ident.get("most_distinct_ids") or 0),
        "internal_events": int(ident.get("internal_events") or 0),
        "internal_percent": style.percent(int(ident.get("internal_events") or 0), total),
    }


MONTH_DAYS = 30  # a month, for the quota: the window's daily average times 30


def volume(plan: TrackingPlan, ident: dict[str, Any], days: int) -> dict[str, Any]:
    """Every event of the window (internal accounts too: PostHog counts them) per day, and over a
    30-day month, against the plan's `targets:` when it sets them."""
    targets = dict(plan.targets)
    total = int(ident.get("events") or 0)
    per_day = total / days if days else 0.0
    out: dict[str, Any] = {
        "events": total,
        "per_day": round(per_day, 1),
        "per_month": round(per_day * MONTH_DAYS),
        "target_per_day": targets.get("events_per_day"),
        "below_target": None,
        "monthly_quota": targets.get("monthly_quota"),
        "quota_percent": None,
    }
    if out["target_per_day"] is not None:
        out["below_target"] = per_day < out["target_per_day"]
    if out["monthly_quota"] is not None:
        out["quota_percent"] = style.percent(per_day * MONTH_DAYS, out["monthly_quota"])
    return out


def volume_sentence(audit: Audit) -> str:
    """The project's volume in words, with the plan's targets when it sets them."""
    v = audit.volume
    text = (
        f"Volume: {fmt_count(v['events'])} events in the last {audit.days} days,"
        f" {fmt_count(v['per_day'])} a day, {fmt_count(v['per_month'])} a 30-day month"
    )
    if v.get("target_per_day") is not None:
        text += f"; target {fmt_count(v['target_per_day'])} a day"
    if v.get("monthly_quota") is not None:
        text += f"; {fmt_pct(v['quota_percent'])} of the quota of {fmt_count(v['monthly_quota'])}"
    return text + "."


def _volume_problems(audit: Audit) -> list[str]:
    v = audit.volume
    out: list[str] = []
    if v.get("below_target"):
        out.append(
            f"events per day: {fmt_count(v['per_day'])} on average over the last {audit.days}"
            f" days, below the plan's target of {fmt_count(v['target_per_day'])}"
        )
    quota = v.get("monthly_quota")
    if quota is not None and v["per_month"] > quota:
        out.append(
            f"events per month: {fmt_count(v['per_month'])} at the last {audit.days} days' rate,"
            f" over the plan's quota of {fmt_count(quota)} ({fmt_pct(v['quota_percent'])})"
        )
    return out


def problems(audit: Audit) -> list[str]:
    """One line per thing to fix, most important first (for people: terminal and Markdown)."""
    out = pii_problems(audit.pii)
    for e in audit.events:
        for p in e["properties"]:
            if e["status"] != "seen":
                continue
            if p["required"] and p["filled"] < e["events"]:
                out.append(
                    f"{e['event']}.{p['property']}: required, missing from"
                    f" {fmt_count(e['events'] - p['filled'])} of {fmt_count(e['events'])} events"
                    f" (filled {fmt_pct(p['fill_percent'])})"
                )
            if p["type_mismatches"]:
                sent = ", ".join(
                    f"{fmt_count(n)} as {k}"
                    for k, n in p["sent_as"].items()
                    if k != _expected_json(p["type"])
                )
                out.append(
                    f"{e['event']}.{p['property']}: {p['type']} expected, {sent}"
                    + (
                        f" ({fmt_count(p['numbers_sent_as_strings'])} numbers sent as strings)"
                        if p["numbers_sent_as_strings"]
                        else ""
                    )
                )
            if p["outside_allowed"]:
                shown = ", ".join(repr(o["value"]) for o in p["outside_values"][:3])
                out.append(
                    f"{e['event']}.{p['property']}: {fmt_count(p['outside_allowed'])} events"
                    f" outside the allowed values ({shown})"
                )
            if p["unseen_allowed"]:
                shown = ", ".join(repr(v) for v in p["unseen_allowed"][:5])
                more = len(p["unseen_allowed"]) - 5
                out.append(
                    f"{e['event']}.{p['property']}: allowed values never sent in the last"
                    f" {audit.days} days: {shown}" + (f" and {more} more" if more > 0 else "")
                )
    for s in audit.stopped:
        out.append(
            f"{s['event']}: stopped (last seen {fmt_time(s['previous_last_seen'])},"
            f" {fmt_count(s['previous_events'])} events in the previous {audit.days} days)"
        )
    for name in audit.missing:
        out.append(f"{name}: planned, never seen in the last {2 * audit.days} days")
    for pp in audit.person_properties:
        if pp["required"] and pp["persons"] and pp["filled"] < pp["persons"]:
            out.append(
                f"person property {pp['property']}: required, filled for"
                f" {fmt_pct(pp['fill_percent'])} of {fmt_count(pp['persons'])} identified persons"
            )
    out += group_problems(audit.group_properties, fmt_count, fmt_pct)
    out += _volume_problems(audit)
    for name in audit.naming.get("events_not_past_tense", []):
        out.append(f"{name}: the action is not in the past tense (object_action, e.g. x_viewed)")
    for name in audit.naming.get("properties_not_snake_case", []):
        out.append(f"{name}: the property name is not snake_case")
    for u in audit.unplanned:
        if u["closest_planned"]:
            out.append(
                f"{u['event']}: not in the plan, {fmt_count(u['events'])} events; likely"
                f" {u['closest_planned']} (similarity {u['similarity']:.2f})"
            )
    return out


def pii_problems(pii: dict[str, Any]) -> list[str]:
    """Personal data or secrets in properties the plan does not declare: first, they are leaks.
    The example is masked (usertrack.audit.pii.mask); the value is never shown."""
    out = []
    for f in pii.get("findings", []):
        where = (
            f"person property {f['property']}"
            if f["source"] == "person"
            else f"{f['event']}.{f['property']} (event property)"
        )
        unit = "persons" if f["source"] == "person" else "events"
        article = "an" if f["what"][:1].lower() in "aeiou" else "a"
        out.append(
            f"{where}: {fmt_count(f['count'])} {unit} carry {article} {f['what']}"
            f" (e.g. {f['example']}), not declared in the plan"
        )
    if pii.get("capped"):
        out.append("personal data scan: the first 500 groups only; more may be sent")
    return out
