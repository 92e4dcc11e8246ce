"""What one run of an analysis is kept to, and how: the scope a workspace's scoped view carries.

A workspace (usertrack.workspace) holds what lasts for its life: the settings, the query library,
the rules and the open sources. What changes from one run to the next on it (the --where
expressions, the persons of a --segment, --by-segment group, --who or --persons run, a
dashboard's shared answers, --who's narrowed profile) is a frozen `Scope`, given to a run as
`ws.scoped(scope)`: a view of the same sources and library that binds and runs queries within it.
A --by-segment run computes the whole answer and each group's on views of their own; nothing is
set on the workspace and restored after.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usertrack.engines.base import Result
    from usertrack.engines.person_rows import PersonRows

# A group's answer to an aggregated query from one run of it for every group on the local engine
# (by_segment._grouped: query id, as_of, values), or None (the query runs for the group).
GroupedRun = Callable[[str, datetime, dict[str, Any]], "Result | None"]


@dataclass(frozen=True)
class PersonFilter:
    """A filter of usertrack's own (--segment, --by-segment's groups, --who, --persons: the
    persons of usertrack.analytics.by_segment): one HogQL expression written by usertrack and
    the values of its placeholders, ANDed with the --where expressions in the queries'
    {filters} slot. Never user text: the persons are bound values."""

    expression: str
    values: Mapping[str, Any]
    # How many person ids it binds as a list (0: none): live, an analysis may take another way
    # past by_segment.MAX_LISTED (ClickHouse parses a query of at most max_query_size bytes,
    # and PostHog prints a list into the query).
    listed: int = 0


@dataclass(frozen=True)
class PersonFacts:
    """The per-person facts queries run once over everyone, each run keeping its persons' rows
    of them (`rows`, usertrack.engines.person_rows): their answers, and what the analyses work
    out of them once for every group, in `cache` (keyed by query text and values), shared by
    every run of one --by-segment, --segment, --who or --persons command."""

    rows: PersonRows
    cache: dict[Any, Any]
    # A --by-segment run's (the whole answer's and every group's): live, a group's figures
    # come from the rows fetched once over everyone, never from a query of its own (each query
    # counts against PostHog's hourly budget: a handful a command).
    parts: bool = False
    # A --by-segment group's run on the local engine: its answer to an aggregated query from
    # one run of it for every group.
    grouped_run: GroupedRun | None = None


@dataclass(frozen=True)
class Narrowing:
    """`--who EXPR`: the profile is built of the columns EXPR names alone where it can be
    (usertrack.segments.narrow), never kept or shared."""

    columns: tuple[str, ...]
    expression: str


@dataclass(frozen=True)
class Scope:
    """One run's mode. The empty scope is a command's plain run."""

    # --where expressions (usertrack.analytics.where, checked): the queries' {filters} slot.
    where: tuple[str, ...] = ()
    persons: PersonFilter | None = None
    facts: PersonFacts | None = None
    # What a dashboard's panels share (each moment's classification, each failure report by
    # rules, moment and days, each unfiltered query's answer), computed once for every panel
    # that asks; None outside a dashboard.
    shared: dict[Any, Any] | None = None
    narrow_to: Narrowing | None = None
    # Run on a thread of its own while a profile build waits for its queries (build_profiles):
    # what the command needs after, such as the modules that write its answer, imported then.
    meanwhile: Callable[[], None] | None = None

    def but(self, **changes: Any) -> Scope:
        """This scope with `changes` (dataclasses.replace)."""
        return replace(self, **changes)

    @property
    def person_filter(self) -> tuple[str, Mapping[str, Any]] | None:
        """The persons' filter as (expression, values), or None."""
        if self.persons is None:
            return None
        return self.persons.expression, self.persons.values

    @property
    def person_listed(self) -> int:
        return 0 if self.persons is None else self.persons.listed

    @property
    def person_rows(self) -> PersonRows | None:
        """The persons whose rows of the facts fetched over everyone this run keeps."""
        return None if self.facts is None else self.facts.rows

    @property
    def facts_cache(self) -> dict[Any, Any] | None:
        return None if self.facts is None else self.facts.cache

    @property
    def person_parts(self) -> bool:
        return self.facts is not None and self.facts.parts

    @property
    def grouped_run(self) -> GroupedRun | None:
        return None if self.facts is None else self.facts.grouped_run


NO_SCOPE = Scope()
