"""Personal data and secrets in property values, and the naming of what the plan declares.

posthog/plan_pii classifies string property values (emails, phone numbers, card-like numbers,
API keys and tokens, long random strings) in one bounded query; here the card-like ones are kept
only when they pass the Luhn check, the properties the plan declares are set apart (an `email`
person property is expected, not a finding), and each finding carries a masked example: the
value itself never leaves this module.

The naming checks follow the tracking plan's own convention (`object_action`, past tense,
snake_case): property names that are not snake_case, and event names whose action is not in the
past tense.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from usertrack.audit.plan_file import TrackingPlan

if TYPE_CHECKING:
    from usertrack.workspace import Workspace

PII_QUERY = "posthog/plan_pii"
ROW_CAP = 500  # plan_pii's LIMIT
KINDS = {
    "email": "email address",
    "phone": "phone number",
    "card": "card number (passes the Luhn check)",
    "credential": "API key or token",
    "random_string": "long random string (a likely secret)",
}
_PARTICLES = frozenset(["up", "in", "out", "off", "on", "down", "over", "back", "away"])
SNAKE_CASE = re.compile(r"^\$?[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Past participles that do not end in -ed (an event's action word, `object_action`).
_IRREGULAR = frozenset(
    [
        "begun",
        "bought",
        "brought",
        "built",
        "caught",
        "chosen",
        "done",
        "drawn",
        "driven",
        "eaten",
        "fallen",
        "felt",
        "found",
        "forgotten",
        "given",
        "gone",
        "got",
        "gotten",
        "grown",
        "had",
        "heard",
        "held",
        "hidden",
        "hit",
        "kept",
        "known",
        "laid",
        "led",
        "left",
        "lent",
        "lost",
        "made",
        "meant",
        "met",
        "paid",
        "put",
        "quit",
        "read",
        "rung",
        "run",
        "said",
        "seen",
        "sent",
        "set",
        "shown",
        "shut",
        "sold",
        "spent",
        "split",
        "spun",
        "stood",
        "struck",
        "swept",
        "taken",
        "taught",
        "thrown",
        "told",
        "understood",
        "undone",
        "woken",
        "won",
        "worn",
        "written",
        "upset",
        "reset",
        "rebuilt",
        "rerun",
        "resent",
        "rewritten",
        "withdrawn",
    ]
)


def luhn(digits: str) -> bool:
    """The Luhn checksum of a card number (separators ignored)."""
    nums = [int(c) for c in digits if c.isdigit()]
    if not 13 <= len(nums) <= 19:
        return False
    total = 0
    for i, n in enumerate(reversed(nums)):
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def mask(kind: str, text: str) -> str:
    """A masked example of `text`: enough to recognise the kind, never the value.

    An email keeps the first character of its name and of its domain and the top-level domain
    (`j***@e***.com`); anything else keeps its first four characters when long, two when short
    (`sk_l***`, `+4***`)."""
    text = text.strip()
    if kind == "email":
        found = re.search(r"([^\s@]+)@([^\s@]+)", text)
        if found:
            name, domain = found.groups()
            tld = domain.rsplit(".", 1)[1] if "." in domain else ""
            tail = f".{tld}" if tld and len(tld) <= 6 and tld.isalpha() else ""
            return f"{name[:1]}***@{domain[:1]}***{tail}"
    keep = 4 if len(text) >= 16 else 2
    return f"{text[:keep]}***"


def declared_names(plan: TrackingPlan) -> tuple[set[tuple[str, str]], set[str]]:
    """(event, property) pairs the plan declares, and its person properties."""
    events = {(e.name, p.name) for e in plan.events for p in e.properties}
    return events, {p.name for p in plan.person_properties}


def pii_findings(
    ws: Workspace, plan: TrackingPlan, as_of: datetime, days: int, step: Callable[[str], None]
) -> dict[str, Any]:
    """posthog/plan_pii, Luhn-checked, set apart by what the plan declares, examples masked."""
    step(f"running {PII_QUERY}")
    rows = ws.run_query(PII_QUERY, as_of, days=days).as_dicts()
    return classify_rows(plan, rows)


def classify_rows(plan: TrackingPlan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    event_props, person_props = declared_names(plan)
    merged: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for r in rows:
        kind = str(r["kind"])
        example = str(r["example"] or "")
        if kind == "card":
            if not luhn(str(r["value"] or "")):
                continue
            example = str(r["value"])
        source, event, key = str(r["source"]), str(r["event"] or ""), str(r["key"])
        found = merged.setdefault(
            (source, event, key, kind),
            {"source": source, "event": event or None, "property": key, "kind": kind,
             "what": KINDS.get(kind, kind), "count": 0, "example": mask(kind, example)},
        )  # fmt: skip
        found["count"] += int(r["events"] or 0)
    findings: list[dict[str, Any]] = []
    declared: list[dict[str, Any]] = []
    for item in merged.values():
        is_declared = (
            item["property"] in person_props
            if item["source"] == "person"
            else (item["event"], item["property"]) in event_props
        )
        (declared if is_declared else findings).append(item)
    order = lambda i: (-i["count"], i["source"], i["event"] or "", i["property"], i["kind"])  # noqa: E731
    findings.sort(key=order)
    declared.sort(key=order)
    return {
        "findings": findings,
        "declared": declared,
        "capped": len(rows) >= ROW_CAP,
        "kinds": KINDS,
    }


def past_tense(name: str) -> bool:
    """Is the action (the last word of `object_action`) in the past tense?"""
    words = [w for w in re.split(r"[_\s.:-]+|(?<=[a-z0-9])(?=[A-Z])", name) if w]
    if not words:
        return True
    if len(words) > 1 and words[-1].lower() in _PARTICLES:
        words = words[:-1]  # signed_up, logged_in, opted_out: the verb comes before
    last = words[-1].lower()
    return last.endswith("ed") or last in _IRREGULAR


def naming_checks(
    plan: TrackingPlan, event_names: list[str], property_names: list[tuple[str, str]]
) -> dict[str, list[str]]:
    """Property names that are not snake_case (`event.property`), and event names whose action
    is not in the past tense (PostHog's own `$` events and the plan's exempt prefixes aside)."""

    def exempt(name: str) -> bool:
        return any(name.startswith(p) for p in plan.exempt_prefixes) or name.startswith("$")

    props = sorted(
        {f"{event}.{key}" if event else key for event, key in property_names
         if not key.startswith("$") and not SNAKE_CASE.match(key)}
    )  # fmt: skip
    tense = sorted({n for n in event_names if not exempt(n) and not past_tense(n)})
    return {"properties_not_snake_case": props, "events_not_past_tense": tense}
