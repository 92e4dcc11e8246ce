"""What retention's options mean, each checked: --mode, --start and --return (any event, or
EVENT:PROPERTY=VALUE), --by (an event or a person property), --min-occurrences and --cumulative
(docs/metrics.md, "Retention"). usertrack.analytics.retention.run counts the cohorts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from usertrack.core.errors import UsageError, one_of

MODES = ("first-time", "recurring")
# --period: PostHog's retentionFilter period (Hour, Day, Week, Month); an hour is a UTC hour
# from its first instant (toStartOfHour, posthog/hogql_queries/utils/query_date_range.py)
PERIODS = ("hour", "day", "week", "month")
DEFAULT_START = "user_signed_up"
ANY = "any"  # --start any: any event starts a cohort (PostHog's All events)
MAX_OCCURRENCES = 1000  # --min-occurrences' bound
PERSON_PROPERTY = "person.properties."  # --by person.properties.X: a person property


def parse_mode(text: str) -> str:
    return one_of(text, MODES, "--mode")


def parse_period(text: str, week_start: str = "monday") -> str:
    """--period, checked: hour, day, week or month. An hour starts where it starts: a Sunday
    week start has no hours to move, and is refused with them rather than left unsaid."""
    value = one_of(text, PERIODS, "--period")
    if week_start == "sunday" and value == "hour":
        raise UsageError("--week-start sunday goes with --period week, not hour")
    return value


@dataclass(frozen=True)
class Narrowing:
    """--start / --return EVENT:PROPERTY=VALUE: only the start (return) events whose event
    property PROPERTY is VALUE count, as a funnel step's (PostHog's targetEntity and
    returningEntity with `properties`); ("", "") keeps every one."""

    start: tuple[str, str] = ("", "")
    back: tuple[str, str] = ("", "")

    def start_values(self) -> dict[str, str]:
        """The query files' parameters for the start event."""
        return {"start_property": self.start[0], "start_value": self.start[1]}

    def values(self) -> dict[str, str]:
        """The query files' parameters for both events."""
        back = {"return_property": self.back[0], "return_value": self.back[1]}
        return {**self.start_values(), **back}

    def document(self) -> dict[str, Any]:
        """The JSON's `start_where` / `return_where` ({"property", "value"}), where narrowed."""
        doc: dict[str, Any] = {}
        for key, (prop, value) in (("start_where", self.start), ("return_where", self.back)):
            if prop:
                doc[key] = {"property": prop, "value": value}
        return doc


def split_event(text: str) -> tuple[str, tuple[str, str]]:
    """--start or --return as the event and its narrowing: `EVENT:PROPERTY=VALUE` as a
    funnel step reads it (usertrack.analytics.funnel.run.split_step), else the whole text."""
    from usertrack.analytics.funnel.run import split_step

    event, prop, value = split_step(text)
    return (text, ("", "")) if prop is None else (event, (prop, value or ""))


def label(event: str, where: tuple[str, str]) -> str:
    return f"{event} where {where[0]} = {where[1]}" if where[0] else event


@dataclass(frozen=True)
class Returns:
    """What counts as coming back in a later period: PostHog's retentionFilter `cumulative`
    (a return in that period or any later one) and `minimumOccurrences` (at least this many
    return events in the period)."""

    cumulative: bool = False
    min_occurrences: int = 1


def start_of(text: str) -> str:
    """--start as the query files take it: '' for `any` (any event, PostHog's All events:
    `{"type": "events", "id": null}`), else the event's name; an empty one is refused."""
    if not text.strip():
        raise UsageError("--start is empty: name an event, or any for any event")
    return "" if text.strip() == ANY else text


def breakdown_of(by: str) -> tuple[str, bool]:
    """--by as retention_breakdown.sql takes it: the property's name, and whether it is a
    person property (`person.properties.X`, PostHog's breakdown_type person) rather than one of
    the start event's; an empty name is refused."""
    if not by.strip():
        raise UsageError("--by is empty: name an event property, e.g. --by '$browser'")
    if by.startswith(PERSON_PROPERTY):
        name = by[len(PERSON_PROPERTY) :]
        if not name.strip():
            raise UsageError(f"--by {by!r} names no person property: person.properties.NAME")
        return name, True
    return by, False


def check_options(min_occurrences: int, by_account: bool) -> None:
    """--min-occurrences is a whole number from 1, and counts one person's return events: an
    account's members' are not added up, so it does not go with --by-account."""
    if isinstance(min_occurrences, bool) or not 1 <= min_occurrences <= MAX_OCCURRENCES:
        raise UsageError(f"--min-occurrences {min_occurrences} must be from 1 to {MAX_OCCURRENCES}")
    if by_account and min_occurrences > 1:
        raise UsageError("--min-occurrences and --by-account do not go together")
