"""A local shortcut: a statement of the local engine's own that answers a shipped query file
faster (from the events store's per-person tables, or in a cheaper form), declared against the
file's id with the gate under which it gives the file's answer.

A shortcut is taken only when all of these hold, each read from the Query and never from its
translated text (usertrack.queries.library.Origin):

- the query's text is the file's, as read (`Query.origin`: a text changed by hand has none);
- the file is byte for byte the one usertrack ships under that id (`digest`, the sha256 of the
  shipped file's text: tests/engines/test_shortcuts.py fails when the shipped file and the digest
  part, so whoever edits the file re-checks the shortcut; an edited copy in a library of one's own
  runs as written);
- the query is in the form the shortcut answers (`form`: a packed file's per-event form);
- its `{filters}` slot holds nothing the shortcut cannot apply (`filters`: NO_FILTERS, only
  `true`; PERSONS, a --by-segment group's filter of persons too, which the shortcut applies
  itself; ANY_FILTER, any --where, which it applies itself);
- `when`, where declared, holds for the values (a moment at a midnight, say);
- the store has the tables the shortcut reads (`tables`; a store built before them has not).

Anything else runs as written, translated, on the events. Every shortcut is in
usertrack.engines.local.shortcuts.REGISTRY, by file id, and tests/engines/test_shortcuts.py runs
each against its file on a store, both ways, for the same answer (a summary file's, which an
analysis counts itself: tests/engines/test_summary_shortcuts.py, by the analysis's answer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from usertrack.queries.library import Query
from usertrack.queries.person_filter import KEEP_LOCAL

# What of a `{filters}` slot a shortcut applies (Shortcut.filters).
NO_FILTERS = "none"
PERSONS = "persons"
ANY_FILTER = "any"

# A --by-segment group's filter of persons as a local run writes it (usertrack.analytics.
# by_segment.PersonSegments.person_filter), and the same test as the shortcuts apply it: the
# rows of the listed persons, or of the others; a row without a person in neither (IN of NULL).
_GROUP_FILTERS: dict[tuple[str, ...], str] = {
    (KEEP_LOCAL,): "CAST(person_id AS VARCHAR) IN (SELECT unnest($usertrack_segment_persons))",
    (f"NOT {KEEP_LOCAL}",): (
        "NOT CAST(person_id AS VARCHAR) IN (SELECT unnest($usertrack_segment_persons))"
    ),
}

# The exclusion test every part of a shortcut's statement holds: a group's persons test goes
# beside it (Shortcut.statement).
EXCLUDED = "NOT regexp_matches(coalesce(person_email_norm, ''), $exclude_pattern)"


@dataclass(frozen=True)
class Shortcut:
    """What answers the shipped file `query_id` on the local engine, and when.

    `entry`: where the engine takes it: "statement" (any run of the file: `sql` in place of
    its translation), "facts" (an analysis's facts table: `sql` after `prepare`, one row whose
    columns are more parameters), or the name of a method of LocalPostHogSource that reads it
    its own way (`sql` then what that method runs). `tables`: the store's tables it reads
    beyond the events."""

    query_id: str
    digest: str
    entry: str
    sql: str
    tables: tuple[str, ...] = ()
    form: str = "file"
    filters: str = NO_FILTERS
    prepare: str | None = None
    when: Callable[[Mapping[str, Any]], bool] | None = None
    # a shortcut that is the file's own translation in a cheaper form: `sql` unused
    edit: Callable[[str], str] | None = None
    # an ANY_FILTER shortcut's statement under a --where, from the query and its translated
    # text (None: it runs as translated); `sql` and `prepare` then unused
    filtered: Callable[[Query, str], str | None] | None = None

    def gate(self, query: Query, values: Mapping[str, Any] | None = None) -> bool:
        """Whether this shortcut answers `query` (see the module's doc), tables aside."""
        origin = query.origin
        if query.id != self.query_id or origin is None:
            return False
        if origin.digest != self.digest or origin.form != self.form:
            return False
        filters = origin.filters or ()
        if self.filters == NO_FILTERS and filters:
            return False
        if self.filters == PERSONS and filters and filters not in _GROUP_FILTERS:
            return False
        return self.when is None or (values is not None and self.when(values))

    def persons_test(self, query: Query) -> str:
        """The DuckDB test of a --by-segment group's persons in `query`'s `{filters}` (a
        PERSONS shortcut's), or `true` for none."""
        origin = query.origin
        return _GROUP_FILTERS.get(origin.filters or (), "true") if origin else "true"

    def statement(self, query: Query, translated: str = "") -> str:
        """`sql` for `query`: with a group's persons test (a PERSONS shortcut's) ANDed to each
        of its parts' exclusion test; `edit`'s of the query's `translated` text, where
        declared."""
        if self.edit is not None:
            return self.edit(translated)
        test = self.persons_test(query)
        if test == "true":
            return self.sql
        return self.sql.replace(EXCLUDED, f"{EXCLUDED} AND ({test})")

    def facts(self, query: Query, translated: str) -> tuple[str, str | None] | None:
        """What a "facts" entry runs for `query` (its translated text `translated`): the
        statement and its `prepare`, or `filtered`'s under a --where; None: as translated."""
        origin = query.origin
        if self.filtered is not None and origin is not None and origin.filters:
            found = self.filtered(query, translated)
            return None if found is None else (found, None)
        return self.statement(query, translated), self.prepare


@dataclass(frozen=True)
class MirrorShortcut:
    """A statement of usertrack's own (DuckDB, over the local copy of the app's tables:
    usertrack.engines.postgres.app_mirror) that answers the shipped PostgreSQL file `query_id`,
    declared beside that statement; every one is in usertrack.reports.mirror_shortcuts.MIRROR, by
    file id, and tests/reports/test_mirror_shortcuts.py runs each against its file on the demo's
    database.

    Its gate: the query's text is the file's as read (`Query.origin`), byte for byte the one
    usertrack ships under that id (`digest`: the test fails when the shipped file and the
    digest part, so whoever edits the file re-checks the statement), and `when`, where
    declared, holds for the values (an option the statement does not apply absent). The rest
    of where the copy may answer is the copy's own (app_mirror.copy_source: a PostgreSQL
    database, USERTRACK_APP_MIRROR, a bound on connections). `entry`: the code that takes it
    (its module's name for it); `used_by`: the command that reads it, as `usertrack query
    --list` names it."""

    query_id: str
    digest: str
    entry: str
    used_by: str
    when: Callable[[Mapping[str, Any]], bool] | None = None

    def gate(self, query: Query, values: Mapping[str, Any] | None = None) -> bool:
        """Whether this statement answers `query` (with `values`, when given) from the copy."""
        origin = query.origin
        if query.id != self.query_id or origin is None or origin.digest != self.digest:
            return False
        return self.when is None or values is None or self.when(values)
