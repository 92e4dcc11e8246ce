"""tracking-plan.yaml: the plan (tiers, events and their properties, person properties, the
naming convention), read and checked line by line, and names compared with the plan's."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usertrack.core.errors import EXIT_USAGE, UsertrackError
from usertrack.core.rulefiles import did_you_mean, read_rule_mapping, reject_unknown_keys

TYPES = ("string", "number", "boolean", "datetime", "list", "object")
SOURCES = ("backend", "frontend", "api", "mobile", "autocapture")
DEFAULT_NAMING = r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$"  # snake_case object_action
DEFAULT_EXEMPT = ("$",)  # PostHog's own events ($pageview, $identify, ...)
SIMILAR = 0.75  # difflib ratio of normalised names above which an unplanned name is "closest"

_TOP_KEYS = {"tiers", "events", "person_properties", "group_properties", "targets", "naming"}
_EVENT_KEYS = {"tier", "description", "source", "required", "optional"}
_PROPERTY_KEYS = {"type", "allowed", "description", "categories"}
_NAMING_KEYS = {"pattern", "exempt_prefixes", "description"}
_PERSON_KEYS = {"required", "optional"}
# `targets:`: the whole project's volume, all events counted (PostHog bills and limits every one)
TARGET_KEYS = {
    "events_per_day": "the fewest events a day the plan expects (the average over the window)",
    "monthly_quota": "the most events a month the project may send (a PostHog billing limit)",
}


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
    # value -> its category (`categories:`, of allowed values: feature_used's feature, for
    # `usertrack features`)
    categories: dict[str, str] | None = None


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
    # group type name (PostHog's group analytics, e.g. organization) -> its planned properties
    group_properties: tuple[tuple[str, tuple[PropertySpec, ...]], ...] = ()
    targets: tuple[tuple[str, int], ...] = ()  # TARGET_KEYS name -> value, in file order

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
        categories: dict[str, str] | None = None
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
            categories = _categories(spec.get("categories"), allowed, f"{at}: {label}")
        else:
            raise TrackingPlanError(
                f"{at}: {label}: give its type ({', '.join(TYPES)}) or a mapping with 'type'"
            )
        if not isinstance(kind, str) or kind not in TYPES:
            raise TrackingPlanError(
                f"{at}: {label}: unknown type {kind!r}{did_you_mean(str(kind), TYPES)}"
                f" (types: {', '.join(TYPES)})"
            )
        out.append(PropertySpec(name.strip(), kind, required, allowed, description, categories))
    return out


def _categories(raw: Any, allowed: tuple[Any, ...] | None, where: str) -> dict[str, str] | None:
    """`categories: {VALUE: CATEGORY}`: each key one of the property's `allowed` values."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not allowed:
        raise TrackingPlanError(
            f"{where}: 'categories' must map allowed values to a category (agent_builder: Build)"
        )
    out: dict[str, str] = {}
    for value, category in raw.items():
        if value == "__line__":
            continue
        if value not in allowed:
            known = [str(v) for v in allowed]
            raise TrackingPlanError(
                f"{where}: 'categories' names {value!r}, not an allowed value"
                f"{did_you_mean(str(value), known)}"
            )
        if not isinstance(category, str) or not category.strip():
            raise TrackingPlanError(f"{where}: the category of {value!r} must be text")
        out[str(value)] = category.strip()
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
        person = _profile_properties(raw_person, "person_properties", path, top)
    groups: list[tuple[str, tuple[PropertySpec, ...]]] = []
    raw_groups = doc.get("group_properties")
    if raw_groups is not None:
        if not isinstance(raw_groups, dict) or len(raw_groups) <= 1:
            raise TrackingPlanError(
                f"{path}:{top}: 'group_properties' must map each group type (organization) to"
                " its 'required' and/or 'optional' properties"
            )
        for kind, spec in raw_groups.items():
            if kind == "__line__":
                continue
            if not isinstance(kind, str) or not kind.strip():
                line = raw_groups["__line__"]
                raise TrackingPlanError(f"{path}:{line}: a group type must be text")
            label = f"group_properties {kind!r}"
            at = spec["__line__"] if isinstance(spec, dict) else raw_groups["__line__"]
            groups.append((kind.strip(), tuple(_profile_properties(spec, label, path, at))))
    targets = _targets(doc.get("targets"), path, top)

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
    return TrackingPlan(
        path, tiers, tuple(events), tuple(person), pattern, exempt, tuple(groups), targets
    )


def _profile_properties(raw: Any, label: str, path: Path, top: int) -> list[PropertySpec]:
    """person_properties or one group type's: `required:` and/or `optional:` properties."""
    if not isinstance(raw, dict):
        raise TrackingPlanError(f"{path}:{top}: {label} must have 'required' and/or 'optional'")
    line = raw["__line__"]
    reject_unknown_keys(
        raw, _PERSON_KEYS, f"{path}:{line}: {label}", TrackingPlanError, list_known=True
    )
    props = _properties(raw.get("required"), label, line, required=True, path=path)
    props += _properties(raw.get("optional"), label, line, required=False, path=path)
    return props


def _targets(raw: Any, path: Path, top: int) -> tuple[tuple[str, int], ...]:
    """`targets: {events_per_day: 2000, monthly_quota: 1000000}`: whole numbers above 0."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise TrackingPlanError(
            f"{path}:{top}: 'targets' must be a mapping ({', '.join(TARGET_KEYS)})"
        )
    line = raw["__line__"]
    where = f"{path}:{line}: targets"
    reject_unknown_keys(raw, set(TARGET_KEYS), where, TrackingPlanError, list_known=True)
    out: list[tuple[str, int]] = []
    for name, value in raw.items():
        if name == "__line__":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TrackingPlanError(
                f"{where}: {name} must be a whole number above 0, not {value!r}"
            )
        out.append((name, value))
    return tuple(out)


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
