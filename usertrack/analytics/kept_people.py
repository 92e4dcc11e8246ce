"""Analyses kept to people that are no segment of the rules file: those a `--who` expression
selects over the profile (run_who), and those behind another answer (run_persons: a funnel's
droppers), each run as a `--segment` group's run is (usertrack.analytics.by_segment)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from usertrack.analytics.by_segment import (
    NO_ACCOUNT,
    NO_SEGMENT,
    WHO,
    PersonSegments,
    Segmented,
    list_too_long,
    local_engine,
    person_segments,
    who_rules,
)
from usertrack.core.errors import UsageError
from usertrack.scope import Narrowing, PersonFacts

if TYPE_CHECKING:
    from usertrack.workspace import Progress, Workspace

T = TypeVar("T")


def run(
    ws: Workspace,
    as_of: datetime,
    analyse: Callable[[Workspace], T],
    *,
    segment: str | None = None,
    by_segment: bool = False,
    who: str | None = None,
    progress: Progress | None = None,
    save: bool | None = False,
    lists: bool = True,
) -> T | Segmented:
    """by_segment.run, or with `who` run_who. `lists`: whether the analysis reads per-person
    facts where a live list of persons would be too long (False: a live selection past
    MAX_LISTED persons is refused, exit 2, rather than sent)."""
    from usertrack.analytics import by_segment as groups

    if who is None:
        return groups.run(ws, as_of, analyse, segment=segment, by_segment=by_segment,
                          progress=progress, save=save)  # fmt: skip
    if segment or by_segment:
        option = "--segment" if segment else "--by-segment"
        raise UsageError(f"--who and {option} do not go together")
    return run_who(ws, as_of, analyse, who, progress=progress, lists=lists)


def run_who(
    ws: Workspace,
    as_of: datetime,
    analyse: Callable[[Workspace], T],
    who: str,
    *,
    progress: Progress | None = None,
    lists: bool = True,
) -> Segmented:
    """`analyse(view)` kept to the PostHog persons whose email names a user of the joined profile
    (app and PostHog columns, as `segments` builds it as of `as_of`) for whom `who` holds: a
    `--segment` run whose rules are that one expression (who_rules). Nothing is saved to the
    history. An unknown column is a UsageError naming the closest ones (exit 2)."""
    from usertrack.core.errors import SegmentsFileError

    narrowed = ws.scope.but(narrow_to=Narrowing(who_columns(ws, who), who))
    who_ws = ws.scoped(narrowed, rules=who_rules(ws, who))
    try:
        mapping = person_segments(who_ws, as_of, progress, save=False)
    except SegmentsFileError as e:
        raise UsageError(str(e).replace(" in rule", "", 1), hint=e.hint) from None
    local = local_engine(ws)
    from usertrack.analytics import by_segment as groups

    limit = groups.MAX_LISTED  # read when run (a test lowers it)
    if not lists and not local and mapping.listed_count(WHO) > limit:
        raise UsageError(
            f"--who {who!r} selects {mapping.listed_count(WHO):,} persons: live, this"
            f" analysis sends them to PostHog as a list, at most {limit:,}",
            hint="narrow the expression, or read an export of the events (USERTRACK_EVENTS)",
        )
    # as --segment live: per-person facts over everyone, kept
    facts = PersonFacts(mapping.person_rows(WHO), {}) if not local and lists else None
    scope = narrowed.but(persons=mapping.persons(WHO, local), facts=facts)
    with list_too_long(mapping, WHO):
        answer = analyse(who_ws.scoped(scope))
    return Segmented(answer, segment=WHO, who=who, kept=mapping.kept("--who", WHO))


def who_columns(ws: Workspace, who: str) -> tuple[str, ...]:
    """The profile columns `who` names. When profile.sql is one plain SELECT (its columns known
    without running it), a name that is none of them (nor `as_of`) is a UsageError naming the
    closest ones, before any query runs."""
    from usertrack.checks.sql_checks import expression_columns
    from usertrack.core.rulefiles import did_you_mean
    from usertrack.segments.narrow import profile_items

    names = expression_columns(who)
    items = profile_items(ws.library.get("join/profile").sql)
    if items is not None:
        columns = [name for name, _ in items] + ["as_of"]
        for name in names:
            if name not in columns:
                raise UsageError(
                    f"--who: unknown column {name!r}{did_you_mean(name, columns, 3)}"
                    f" (available: {', '.join(columns)})"
                )
    return tuple(n for n in names if n != "as_of")


PERSONS = "persons"  # the one group of run_persons


def run_persons(
    ws: Workspace, as_of: datetime, ids: list[str], analyse: Callable[[Workspace], T]
) -> T:
    """`analyse(view)` kept to the PostHog persons `ids` (the people behind another answer: a
    funnel's droppers), as a --segment group's run is: by person id, ANDed with --where; live,
    per-person facts come over everyone and the persons' rows are kept, and a list of them is
    sent only up to MAX_LISTED (summary_fits). `ws`'s own group, if any, is not that view's."""
    from usertrack.engines.person_rows import PersonRows

    mapping = PersonSegments.listed(
        as_of, (PERSONS, NO_SEGMENT, NO_ACCOUNT), {PERSONS: ids}, "computed"
    )
    local = local_engine(ws)
    # per-person facts over everyone, the persons' rows kept, on both engines: locally the
    # store's path table answers (paths' _rolled: a few persons' rows alone), not every event
    # filtered
    facts = PersonFacts(PersonRows(ids=frozenset(ids)), {})
    scope = ws.scope.but(persons=mapping.persons(PERSONS, local), facts=facts)
    with list_too_long(mapping, PERSONS):
        return analyse(ws.scoped(scope))
