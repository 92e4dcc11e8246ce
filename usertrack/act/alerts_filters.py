"""Which people an alerts pass shows: the alerts of the plans and the recency asked for
(`--plan`, `--active-within`), and everyone active now with whether they need help (`--active`).

Alerts about the whole project (a metric, a failure spike) name no person: no filter on people
leaves them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from usertrack.act.alerts import AlertRun
from usertrack.core.errors import UsageError

# One row of `alerts --active`, in the order every output shows it.
ACTIVE_FIELDS = (
    "email",
    "name",
    "plan",
    "needs_support",
    "triggers",
    "current_page",
    "time_on_page_seconds",
    "in_session",
    "session_events",
    "session_errors",
    "day_events",
    "day_errors",
    "last_active_at",
    "distinct_id",
)


@dataclass(frozen=True)
class PeopleFilter:
    """`--plan` (the app's subscription status, any of them, case apart) and `--active-within`
    (the person's last event at most this long before the moment)."""

    plans: tuple[str, ...] = ()
    active_within: timedelta | None = None

    def __bool__(self) -> bool:
        return bool(self.plans) or self.active_within is not None

    def keeps(self, person: dict[str, Any], as_of: datetime) -> bool:
        if not person.get("email"):  # about the whole project
            return True
        if self.plans and (person.get("plan") or "").lower() not in {p.lower() for p in self.plans}:
            return False
        if self.active_within is not None:
            last = person.get("last_active_at", person.get("last_event_at"))
            if not isinstance(last, datetime) or _aware(as_of) - _aware(last) > self.active_within:
                return False
        return True

    def described(self) -> str:
        parts = []
        if self.plans:
            parts.append("plan " + " or ".join(self.plans))
        if self.active_within is not None:
            parts.append(f"active within {_duration(self.active_within)}")
        return ", ".join(parts)


def duration_seconds(text: str, option: str) -> float:
    """'90', '90s', '10m' or '1h' as seconds; anything else, or none above zero, a UsageError
    naming the option."""
    units = {"s": 1, "m": 60, "h": 3600}
    body, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(body) * units[unit]
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a duration like 60s, 10m or 1h") from None
    if not value > 0:  # 0s, -5m (and nan)
        raise UsageError(f"{option} {text!r} must be above zero (a duration like 60s, 10m or 1h)")
    return value


def people_filter(plans: Sequence[str] | None, within: str | None) -> PeopleFilter:
    """`--plan` (repeatable: a list from the command, a tuple from a dashboard panel) and
    `--active-within`, checked (exit 2)."""
    for name in plans or ():
        if not name.strip() or len(name) > 100:
            raise UsageError(f"--plan {name[:100]!r}: a plan name (1 to 100 characters)")
    span = timedelta(seconds=duration_seconds(within, "--active-within")) if within else None
    return PeopleFilter(tuple(p.strip() for p in plans or ()), span)


def narrow(run: AlertRun, people: PeopleFilter) -> int:
    """Leave out of `run` the alerts of people the filter does not keep; how many went."""
    if not people:
        return 0
    kept = [a for a in run.alerts if people.keeps(a, run.as_of)]
    gone = len(run.alerts) - len(kept)
    run.alerts[:] = kept
    return gone


def active_people(run: AlertRun, people: PeopleFilter) -> list[dict[str, Any]]:
    """Everyone the pass saw active in the lookback (alert_activity's people), most recent first,
    each with the triggers that fired for them (needs_support when any did)."""
    fired: dict[str, list[str]] = {}
    for alert in run.alerts:
        if alert.get("email"):
            fired.setdefault(alert["email"], []).append(alert["trigger"])
    out = []
    for row in run.active:
        if not people.keeps(row, run.as_of):
            continue
        since = row.get("page_since")
        on_page = None
        if row.get("current_page") and isinstance(since, datetime):
            seconds = (_aware(run.as_of) - _aware(since)).total_seconds()
            on_page = max(0, int(seconds))
        triggers = sorted(set(fired.get(row["email"], [])))
        out.append(
            {
                "email": row["email"],
                "name": row.get("name") or None,
                "plan": row.get("plan"),
                "needs_support": bool(triggers),
                "triggers": triggers,
                "current_page": row.get("current_page") or None,
                "time_on_page_seconds": on_page,
                "in_session": bool(row.get("in_session")),
                "session_events": row.get("session_events"),
                "session_errors": row.get("session_errors"),
                "day_events": row.get("day_events"),
                "day_errors": row.get("day_errors"),
                "last_active_at": row.get("last_event_at"),
                "distinct_id": row.get("distinct_id"),
            }
        )
    far_past = datetime.min.replace(tzinfo=UTC)
    out.sort(key=lambda p: p["email"])
    out.sort(key=lambda p: _aware(p["last_active_at"] or far_past), reverse=True)
    return out


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
