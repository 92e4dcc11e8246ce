"""Trends' maths and series: what each series counts (`-m`, or its own as `EVENT@MATH`) and
how a series is named (PostHog's aggregation_operations.py for each math)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from usertrack.core.errors import UsageError

PERSON_MATHS = ("dau", "weekly_active", "monthly_active")
PROPERTY_MATHS = ("sum", "avg", "min", "max", "median", "p90")
# Each person's events per point, then their average, minimum, maximum or percentile (PostHog's
# count-per-actor maths, aggregation_operations.py `is_count_per_actor_variant`).
ACTOR_MATHS = tuple(
    f"{m}_count_per_actor" for m in ("avg", "min", "max", "median", "p75", "p90", "p95", "p99")
)
# Distinct $session_ids per point (PostHog's unique_session).
SESSIONS = "unique_session"
MATHS = ("total", *PERSON_MATHS, SESSIONS, *ACTOR_MATHS, *PROPERTY_MATHS)
# weekly_active and monthly_active: the days each point looks back over (PostHog's
# inclusive_lookback, aggregation_operations.py `_interval_placeholders`).
LOOKBACK = {"weekly_active": 7, "monthly_active": 30}
# The intervals at which they are dau instead: PostHog's trends runner sets weekly_active to dau
# for an interval of a week or longer and monthly_active for a month
# (posthog/hogql_queries/insights/utils/utils.py `series_should_be_set_to_dau`, applied by
# trends_query_runner.py through `convert_active_user_math_based_on_interval`).
AS_DAU = {"weekly_active": ("week", "month"), "monthly_active": ("month",)}
OTHER = "$$_posthog_breakdown_other_$$"  # PostHog's BREAKDOWN_OTHER_STRING_LABEL


@dataclass(frozen=True)
class Math:
    name: str  # one of MATHS
    property: str | None = None  # for PROPERTY_MATHS

    def label(self) -> str:
        return f"{self.name}:{self.property}" if self.property else self.name


def parse_math(text: str) -> Math:
    """`total`, `dau`, `weekly_active`, `monthly_active`, `unique_session`, a count-per-actor
    math (`avg_count_per_actor`, ...), or `sum|avg|min|max|median|p90:PROP`."""
    name, sep, prop = text.strip().partition(":")
    name = name.strip().lower()
    if name in PROPERTY_MATHS:
        if not prop.strip():
            raise UsageError(
                f"--math {text!r} needs a property: {name}:PROPERTY (e.g. {name}:price)"
            )
        return Math(name, prop.strip())
    if name in MATHS and not sep:
        return Math(name)
    raise UsageError(
        f"--math {text!r} is not one of total, dau, weekly_active, monthly_active,"
        f" {SESSIONS}, {', '.join(ACTOR_MATHS)},"
        " or sum, avg, min, max, median, p90 with :PROPERTY"
    )


def lookback(math: Math, interval: str) -> int:
    """The days each point of `math` looks back over at `interval`: 7 or 30 for a rolling
    weekly_active or monthly_active, 0 where the interval holds the window (then the math is
    dau, the persons of the interval) and for every other math."""
    if interval in AS_DAU.get(math.name, ()):
        return 0
    return LOOKBACK.get(math.name, 0)


def own_math(text: str) -> tuple[str, Math | None]:
    """An EVENT argument and its own math: `EVENT@MATH` (`pageview@dau`, `purchase@sum:price`)
    counts that series with MATH instead of `-m`'s, so a formula can set a total against unique
    persons (PostHog gives each series its own math). Only a known math after the last `@`
    is one: any other `@` belongs to the event's name."""
    event, at, rest = text.rpartition("@")
    name = rest.partition(":")[0].strip().lower()
    if not at or not event.strip() or name not in MATHS:
        return text, None
    try:
        return event, parse_math(rest)
    except UsageError as error:
        raise UsageError(f"EVENT {text!r}: {str(error).removeprefix('--math ')}") from None


# The active-persons maths by the names people read them by.
ACTIVE_NAMES = {"dau": "DAU", "weekly_active": "WAU", "monthly_active": "MAU"}


def active_label(math: Math, events: Sequence[str]) -> str | None:
    """An active-persons math named with the events it counts, 'DAU ($pageview)' (activity's
    DAU counts any event, a trend's only its own: the label says which); None for another."""
    name = ACTIVE_NAMES.get(math.name)
    return None if name is None or not events else f"{name} ({', '.join(events)})"


def series_label(event: str, breakdown: str | None, math: str | None = None) -> str:
    """A series as people read it: the event (with its own math, when it has one), and its
    breakdown value, `other` for PostHog's bucket of the values past --top, `(none)` for
    events without the property."""
    name = f"{event} ({math})" if math else event
    if breakdown is None:
        return name
    shown = "other" if breakdown == OTHER else (breakdown or "(none)")
    return f"{name} / {shown}"


@dataclass
class Series:
    event: str  # the event's name; a formula's series: PostHog's label, "Formula (TEXT)"
    breakdown: str | None  # None without --by; '' for events without the property; OTHER
    data: list[float]
    math: Math | None = None  # the series' own math (EVENT@MATH); None: the run's -m
    formula: str | None = None  # the formula's text, for a --formula series

    @property
    def label(self) -> str:
        return series_label(self.event, self.breakdown, self.math.label() if self.math else None)

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        """What names the series in its answer (and in the period before, with --compare)."""
        return (self.event, self.math.label() if self.math else None, self.breakdown)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"event": self.event}
        if self.formula is not None:
            doc["formula"] = self.formula
        if self.math is not None:
            doc["math"] = self.math.name
            if self.math.property:
                doc["math_property"] = self.math.property
        if self.breakdown is not None:
            doc["breakdown"] = self.breakdown
            doc["other"] = self.breakdown == OTHER
        doc["data"] = self.data
        return doc
