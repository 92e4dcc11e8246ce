"""`--by person.properties.NAME` on paths, sessions, features, activity and churn: the
analysis over everyone, then once for each value of the person property, over the persons with
that value.

Each person has one value (queries/posthog/person_values.sql: the property as their latest
event up to as_of carries it, '' for none), so the groups partition the persons: the
`--breakdown-limit` values with the most persons (ties by value), then "(other)", every person
of the other values. Each group's run is a `--by-segment` group's (usertrack.analytics.by_segment
run_groups): the same analysis kept to the group's persons by their person_id, on PostHog and
on the local engine alike. The funnel, retention and trends read a person property per event
instead (their breakdowns are PostHog's); these have no such breakdown in PostHog.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from usertrack.analytics.by_segment import NO_ACCOUNT, PersonSegments, run_groups
from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    from usertrack.analytics.by_segment import Segmented
    from usertrack.workspace import Progress, Workspace

QUERY = "posthog/person_values"
PREFIX = "person.properties."
DEFAULT_LIMIT = 25  # --breakdown-limit's default, PostHog's
OTHER = "(other)"  # the group of every person whose value is not shown
NONE = "(none)"  # how the value '' (no such property) is shown
T = TypeVar("T")


def check_by(by: str, limit: int | None) -> str:
    """The person property `--by` names (`person.properties.NAME`), and `--breakdown-limit`
    checked; else a UsageError (exit 2)."""
    name = by.removeprefix(PREFIX) if by.startswith(PREFIX) else ""
    if not name.strip():
        raise UsageError(
            f"--by {by!r}: these analyses break down by a person property only:"
            " person.properties.NAME"
        )
    if limit is not None and not 1 <= limit <= 100:
        raise UsageError(f"--breakdown-limit {limit} must be from 1 to 100")
    return name


def value_of(group: str) -> str | None:
    """A group's value of the property ('' for none), None for "(other)"."""
    return group[1:] if group.startswith("=") else None


def person_values(
    ws: Workspace, as_of: datetime, name: str, limit: int
) -> tuple[PersonSegments, dict[str, str]]:
    """Each person's group (PersonSegments: every person with an event up to as_of listed in
    one group; NO_ACCOUNT, everyone else, has no event to count) and each group's name."""
    rows = ws.run_query(QUERY, as_of, property=name).rows
    values = {str(person_id): str(value or "") for person_id, value in rows}
    counts = Counter(values.values())
    shown = sorted(counts, key=lambda v: (-counts[v], v))[:limit]
    keys = {v: f"={v}" for v in shown}
    persons: dict[str, list[str]] = {}
    for person_id, value in values.items():
        persons.setdefault(keys.get(value, OTHER), []).append(person_id)
    groups = (*keys.values(), *([OTHER] if OTHER in persons else []), NO_ACCOUNT)
    names = {key: value or NONE for value, key in keys.items()} | {OTHER: OTHER}
    return PersonSegments.listed(as_of, groups, persons, "computed"), names


def run(
    ws: Workspace,
    as_of: datetime,
    analyse: Callable[[Workspace], T],
    by: str,
    limit: int | None,
    progress: Progress | None = None,
) -> Segmented:
    """`analyse` over everyone, then for each value of the person property `by` (the
    `limit` values with the most persons, then "(other)")."""
    name = check_by(by, limit)
    names: dict[str, str] = {}

    def find(whole: Workspace) -> PersonSegments:
        mapping, found = person_values(whole, as_of, name, limit or DEFAULT_LIMIT)
        names.update(found)
        return mapping

    if progress:
        progress(f"finding each person's {name}")
    return run_groups(ws, as_of, analyse, find, progress=progress, names=names,
                      skip=frozenset({NO_ACCOUNT}), by=f"{PREFIX}{name}")  # fmt: skip
