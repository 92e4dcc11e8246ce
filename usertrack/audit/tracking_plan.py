"""tracking-plan.yaml, and the audit: is the data the segments stand on actually being sent?

Seed 003 is a PostHog tracking plan: a tiered event taxonomy, the properties each event must
carry, the person properties to enrich, naming conventions and a coverage figure ("about 60 % of
critical flows today, 95 % as the target"). `usertrack tracking-plan` measures such a plan
against the events of the last N days:

- coverage: the share of planned events seen, overall and per tier;
- per planned event: volume, people, first and last seen, the trend against the previous period
  of the same length, and per property its fill rate, type mismatches and values outside the
  allowed set;
- missing (never seen in either period) and stopped (seen in the previous period, not this one);
- unplanned events by volume, each with its closest planned name (a likely typo or rename), and
  those that break the naming convention;
- person properties: fill rate among identified persons;
- identification: events from identified persons (the person has an email: the definition
  usertrack joins on), persons with several distinct_ids, events from internal accounts.

Everything is read with the query files `posthog/plan_*` (one row per event, per event x
property, per property: never per event row), on live PostHog, an events export or the demo alike.
Planned names and keys are bound as array values; the comparison with the plan is done here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usertrack.errors import EXIT_USAGE, UsageError, UsertrackError
from usertrack.rendering import style
from usertrack.rulefiles import did_you_mean, read_rule_mapping, reject_unknown_keys

if TYPE_CHECKING:
    from usertrack.workspace import Progress, Workspace

TYPES = ("string", "number", "boolean", "datetime", "list", "object")
SOURCES = ("backend", "frontend", "api", "mobile", "autocapture")
DEFAULT_NAMING = r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$"  # snake_case object_action
DEFAULT_EXEMPT = ("$",)  # PostHog's own events ($pageview, $identify, ...)
BLANK = style.MISSING  # an empty figure, for people (the house style: usertrack/rendering/style.py)
SIMILAR = 0.75  # difflib ratio of normalised names above which an unplanned name is "closest"

_TOP_KEYS = {"tiers", "events", "person_properties", "naming"}
_EVENT_KEYS = {"tier", "description", "source", "required", "optional"}
_PROPERTY_KEYS = {"type", "allowed", "description"}
_NAMING_KEYS = {"pattern", "exempt_prefixes", "description"}
_PERSON_KEYS = {"required", "optional"}


class TrackingPlanError(UsertrackError):
    """tracking-plan.yaml is malformed; the message names the file and line (exit code 2)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class PropertySpec:
    name: str
    type: str
    required: bool
    allowed: tuple[Any, ...] | None = None
    description: str = ""


@dataclass(frozen=True)
class EventSpec:
    name: str
    tier: str
    description: str
    source: str
    properties: tuple[PropertySpec, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class TrackingPlan:
    path: Path
    tiers: dict[str, str]  # tier id -> its description, in file order
    events: tuple[EventSpec, ...]
    person_properties: tuple[PropertySpec, ...] = ()
    naming_pattern: str = DEFAULT_NAMING
    exempt_prefixes: tuple[str, ...] = DEFAULT_EXEMPT

    def event(self, name: str) -> EventSpec | None:
        return next((e for e in self.events if e.name == name), None)

    def breaks_naming(self, name: str) -> bool:
        if any(name.startswith(p) for p in self.exempt_prefixes):
            return False
        return re.search(self.naming_pattern, name) is None


# --------------------------------------------------------------------------------------------
# Loading and checking tracking-plan.yaml


def _text(value: Any, where: str, what: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise TrackingPlanError(f"{where}: {what} must be text")
    return value.strip()


def _properties(
    raw: Any, where: str, line: int, *, required: bool, path: Path
) -> list[PropertySpec]:
    """`name: type` or `name: {type, allowed, description}`, for each property of a mapping."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        section = "required" if required else "optional"
        raise TrackingPlanError(
            f"{path}:{line}: {where}: '{section}' must map each property to its type"
            " (team_slug: string)"
        )
    line = raw.get("__line__", line)
    out = []
    for name, spec in raw.items():
        if name == "__line__":
            continue
        if not isinstance(name, str) or not name.strip():
            raise TrackingPlanError(f"{path}:{line}: {where}: a property name must be text")
        at = f"{path}:{spec.get('__line__', line) if isinstance(spec, dict) else line}"
        label = f"{where}, property {name!r}"
        allowed: tuple[Any, ...] | None = None
        description = ""
        kind: Any
        if isinstance(spec, str):
            kind = spec
        elif isinstance(spec, dict):
            reject_unknown_keys(
                spec, _PROPERTY_KEYS, f"{at}: {label}", TrackingPlanError, list_known=True
            )
            kind = spec.get("type")
            description = _text(spec.get("description"), f"{at}: {label}", "'description'")
            if "allowed" in spec:
                values = spec["allowed"]
                if (
                    not isinstance(values, list)
                    or not values
                    or not all(
                        isinstance(v, (str, int, float, bool)) and v is not None for v in values
                    )
                ):
                    raise TrackingPlanError(
                        f"{at}: {label}: 'allowed' must be a non-empty list of values"
                    )
                allowed = tuple(values)
        else:
            raise TrackingPlanError(
                f"{at}: {label}: give its type ({', '.join(TYPES)}) or a mapping with 'type'"
            )
        if not isinstance(kind, str) or kind not in TYPES:
            raise TrackingPlanError(
                f"{at}: {label}: unknown type {kind!r}{did_you_mean(str(kind), TYPES)}"
                f" (types: {', '.join(TYPES)})"
            )
        out.append(PropertySpec(name.strip(), kind, required, allowed, description))
    return out


def load_tracking_plan(path: Path) -> TrackingPlan:
    """Read tracking-plan.yaml and check it whole; every problem names `file:line`."""
    doc, top = read_rule_mapping(
        path,
        TrackingPlanError,
        "tracking plan",
        "a mapping with 'tiers' and 'events'",
        _TOP_KEYS,
        list_known=True,
    )

    raw_tiers = doc.get("tiers")
    if not isinstance(raw_tiers, dict) or len(raw_tiers) <= 1:
        raise TrackingPlanError(
            f"{path}:{top}: 'tiers' must map each tier to its description"
            " (critical: Critical funnel events)"
        )
    tier_line = raw_tiers["__line__"]
    tiers: dict[str, str] = {}
    for tier, text in raw_tiers.items():
        if tier == "__line__":
            continue
        if not isinstance(tier, str) or not isinstance(text, str):
            raise TrackingPlanError(
                f"{path}:{tier_line}: tier {tier!r} must have a description as text"
            )
        tiers[tier] = text.strip()

    raw_events = doc.get("events")
    if not isinstance(raw_events, dict) or len(raw_events) <= 1:
        raise TrackingPlanError(
            f"{path}:{top}: 'events' must map each planned event name to its description,"
            " tier, source and properties"
        )
    events_line = raw_events["__line__"]
    events: list[EventSpec] = []
    for name, spec in raw_events.items():
        if name == "__line__":
            continue
        if not isinstance(name, str) or not name.strip():
            raise TrackingPlanError(f"{path}:{events_line}: an event name must be text")
        if not isinstance(spec, dict):
            raise TrackingPlanError(
                f"{path}:{events_line}: event {name!r} must be a mapping with tier,"
                " description and source"
            )
        line = spec["__line__"]
        where = f"{path}:{line}: event {name!r}"
        reject_unknown_keys(spec, _EVENT_KEYS, where, TrackingPlanError, list_known=True)
        tier = spec.get("tier")
        if tier is None:
            raise TrackingPlanError(f"{where}: no 'tier' (one of: {', '.join(tiers)})")
        if tier not in tiers:
            raise TrackingPlanError(
                f"{where}: unknown tier {tier!r}{did_you_mean(str(tier), tiers)}"
                f" (tiers: {', '.join(tiers)})"
            )
        source = _text(spec.get("source"), where, "'source'", required=True)
        if source not in SOURCES:
            raise TrackingPlanError(
                f"{where}: unknown source {source!r}{did_you_mean(source, SOURCES)}"
                f" (sources: {', '.join(SOURCES)})"
            )
        description = _text(spec.get("description"), where, "'description'", required=True)
        props = _properties(
            spec.get("required"), f"event {name!r}", line, required=True, path=path
        ) + _properties(spec.get("optional"), f"event {name!r}", line, required=False, path=path)
        names = [p.name for p in props]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise TrackingPlanError(f"{where}: property {twice[0]!r} is both required and optional")
        events.append(EventSpec(name, tier, description, source, tuple(props), line))

    person: list[PropertySpec] = []
    raw_person = doc.get("person_properties")
    if raw_person is not None:
        if not isinstance(raw_person, dict):
            raise TrackingPlanError(
                f"{path}:{top}: 'person_properties' must have 'required' and/or 'optional'"
            )
        pline = raw_person["__line__"]
        reject_unknown_keys(
            raw_person,
            _PERSON_KEYS,
            f"{path}:{pline}: person_properties",
            TrackingPlanError,
            list_known=True,
        )
        person = _properties(
            raw_person.get("required"), "person_properties", pline, required=True, path=path
        ) + _properties(
            raw_person.get("optional"), "person_properties", pline, required=False, path=path
        )

    pattern, exempt = DEFAULT_NAMING, DEFAULT_EXEMPT
    raw_naming = doc.get("naming")
    if raw_naming is not None:
        if not isinstance(raw_naming, dict):
            raise TrackingPlanError(f"{path}:{top}: 'naming' must be a mapping with 'pattern'")
        nline = raw_naming["__line__"]
        where = f"{path}:{nline}: naming"
        reject_unknown_keys(raw_naming, _NAMING_KEYS, where, TrackingPlanError, list_known=True)
        pattern = _text(raw_naming.get("pattern", DEFAULT_NAMING), where, "'pattern'")
        try:
            re.compile(pattern)
        except re.error as e:
            raise TrackingPlanError(f"{where}: bad regular expression {pattern!r}: {e}") from None
        raw_exempt = raw_naming.get("exempt_prefixes", list(DEFAULT_EXEMPT))
        if not isinstance(raw_exempt, list) or not all(
            isinstance(p, str) and p for p in raw_exempt
        ):
            raise TrackingPlanError(f"{where}: 'exempt_prefixes' must be a list of prefixes")
        exempt = tuple(raw_exempt)
    return TrackingPlan(path, tiers, tuple(events), tuple(person), pattern, exempt)


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


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


# --------------------------------------------------------------------------------------------
# Comparing names


def normalise_name(name: str) -> str:
    """Lower-cased, separators removed: `signedUp`, `Signed Up` and `signed_up` agree."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def closest_planned(name: str, planned: list[str]) -> tuple[str | None, float]:
    """The planned name most like `name` (normalised forms, difflib ratio), if similar enough."""
    mine = normalise_name(name)
    best, score = None, 0.0
    for candidate in planned:
        theirs = normalise_name(candidate)
        ratio = 1.0 if mine == theirs else difflib.SequenceMatcher(None, mine, theirs).ratio()
        if ratio > score:
            best, score = candidate, ratio
    if best is None or score < SIMILAR:
        return None, round(score, 2)
    return best, round(score, 2)


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
    problems: list[str] = field(default_factory=list)


def _type_counts(row: dict[str, Any]) -> dict[str, int]:
    return {
        "string": int(row["strings"] or 0),
        "number": int(row["numbers"] or 0),
        "boolean": int(row["booleans"] or 0),
        "list": int(row["lists"] or 0),
        "object": int(row["objects"] or 0),
    }


def _expected_json(kind: str) -> str:
    return {"datetime": "string"}.get(kind, kind)


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
    counts = _type_counts(row) if row else dict.fromkeys(("string", "number", "boolean",
                                                          "list", "object"), 0)  # fmt: skip
    filled = int(row["filled"] or 0) if row else 0
    expected = _expected_json(spec.type)
    sent = sum(counts.values())
    mismatches = sent - counts[expected]
    numeric_strings = int(row["numeric_strings"] or 0) if row else 0
    outside: list[dict[str, Any]] = []
    if spec.allowed is not None:
        allowed = {(type(v) is bool, v) for v in spec.allowed}
        for raw, n in values:
            value = _value_of(raw)
            if value is None:
                continue
            if (type(value) is bool, value) not in allowed:
                outside.append({"value": value if isinstance(value, str) else raw, "events": n})
    return {
        "property": spec.name,
        "type": spec.type,
        "required": spec.required,
        "allowed": list(spec.allowed) if spec.allowed is not None else None,
        "filled": filled,
        "fill_percent": _pct(filled, volume),
        "type_mismatches": mismatches,
        "sent_as": {k: v for k, v in counts.items() if v},
        "numbers_sent_as_strings": numeric_strings if spec.type == "number" else 0,
        "outside_allowed": sum(o["events"] for o in outside),
        "outside_values": outside[:10],
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
    planned = [e.name for e in plan.events]

    prop_rows, values = property_figures(ws, plan, as_of, days, step)

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
                "percent": _pct(hit, len(mine)),
            }
        )
    hit = sum(1 for e in events_out if e["status"] == "seen")
    coverage = {"planned": len(events_out), "seen": hit, "percent": _pct(hit, len(events_out)),
                "tiers": tiers}  # fmt: skip

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
    naming = {
        "pattern": plan.naming_pattern,
        "exempt_prefixes": list(plan.exempt_prefixes),
        "violations": [u["event"] for u in unplanned if u["breaks_naming"]],
    }

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
                    "fill_percent": _pct(filled, persons),
                }
            )

    step("running posthog/plan_identity")
    ident_rows = ws.run_query("posthog/plan_identity", as_of, days=days).as_dicts()
    ident = ident_rows[0] if ident_rows else {}
    total = int(ident.get("events") or 0)
    identity = {
        "definition": "an event is identified when its person has an email"
        " (person.properties.email)",
        "events": total,
        "identified_events": int(ident.get("identified_events") or 0),
        "identified_percent": _pct(int(ident.get("identified_events") or 0), total),
        "persons": int(ident.get("persons") or 0),
        "identified_persons": int(ident.get("identified_persons") or 0),
        "multi_id_persons": int(ident.get("multi_id_persons") or 0),
        "most_distinct_ids": int(ident.get("most_distinct_ids") or 0),
        "internal_events": int(ident.get("internal_events") or 0),
        "internal_percent": _pct(int(ident.get("internal_events") or 0), total),
    }
    audit = Audit(
        as_of=as_of,
        days=days,
        since=as_of - timedelta(days=days),
        plan_path=str(plan.path),
        coverage=coverage,
        events=events_out,
        missing=missing,
        stopped=stopped,
        unplanned=unplanned,
        naming=naming,
        person_properties=person,
        identity=identity,
    )
    audit.problems = problems(audit)
    return audit


def problems(audit: Audit) -> list[str]:
    """One line per thing to fix, most important first (for people: terminal and Markdown)."""
    out = []
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
    for u in audit.unplanned:
        if u["closest_planned"]:
            out.append(
                f"{u['event']}: not in the plan, {fmt_count(u['events'])} events; likely"
                f" {u['closest_planned']} (similarity {u['similarity']:.2f})"
            )
    return out


# --------------------------------------------------------------------------------------------
# Rendering for files (the terminal report is in usertrack.audit.tracking_plan_view)


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


# --------------------------------------------------------------------------------------------
# `tracking-plan init`: a first plan from the events seen


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
            counts = _type_counts(k)
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
