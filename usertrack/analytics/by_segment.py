"""`--by-segment` and `--segment ID`: an analysis broken down by, or kept to, usertrack's segments.

The one breakdown PostHog cannot make: the segments join the app's database (credits, runs,
failures) to PostHog's events. Each PostHog person gets the primary segment of the user their
email names (`usertrack segments --format json`'s `primary`), classified as of the analysis's
`--as-of`: the history's snapshot of exactly that moment when there is one under the current
rules (usertrack/segments/history.py `baseline_for`), else computed now. A person whose email is
an app account in no segment is "no segment"; a person without an app account (no email, or an
email the app does not know, and in no segment) is "no account".

The analysis itself does not change: a group's people are kept by their person_id, a list bound
as a value of the facts query (`has({usertrack_segment_persons}, toString(person_id))`, ANDed
with any --where in the query's `{filters}` slot; "no account" is `NOT has(...)` of everyone
else), so it runs on PostHog and on the local engine alike, every person's events are read
where they are and nothing travels per event: the persons' emails come as one row per person
(queries/posthog/segment_persons.sql). `--segment ID` runs the analysis once, for that group.
`--by-segment` runs it over everyone, then for each group; the per-person facts queries (a
`person_id` column, the `{filters}` slot) run only in the first of those runs, over everyone,
and each group keeps its persons' rows of their answer (PersonRows, the scope's `facts`):
PostHog sends them once, and the local engine reads its events once. Only the queries whose
rows are aggregated (trends' counts and ranking, paths' summary) run per group: live, for a
group of at most MAX_LISTED persons (summary_fits; a larger one reads per-person rows fetched
once over everyone, trends_person_points.sql and path_events.sql); on the local engine those
of a shape it can group (usertrack.engines.local.grouped, and activity's heatmap from the store's
tables) run once for every group instead, each event's group one more grouping column
(`_grouped`), and paths splits the store's path table by person.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from usertrack.analytics.segment_persons import persons_answer, persons_query, persons_table
from usertrack.core.errors import UsageError
from usertrack.engines.concurrency import Background
from usertrack.queries.person_filter import KEEP_LOCAL, PLACEHOLDER
from usertrack.scope import PersonFacts, PersonFilter

if TYPE_CHECKING:
    from usertrack.engines.base import Result
    from usertrack.engines.person_rows import GroupNumbers, PersonRows
    from usertrack.segments.rules import SegmentsFile
    from usertrack.workspace import Progress, Workspace

NO_SEGMENT = "no segment"
NO_ACCOUNT = "no account"
_KEEP = f"has({{{PLACEHOLDER}}}, toString(person_id))"
OPTIONS = "--by-segment and --segment"
# The most person ids a group's query binds as a list live where an analysis can do without one
# (paths: its summary, else every person's sequences; trends: its counts, else every person's
# counts; summary_fits): ClickHouse parses at most max_query_size bytes (262,144 by default),
# and PostHog prints a list into the query at 39 bytes an id.
MAX_LISTED = 5_000

T = TypeVar("T")
SEGMENTS_LANE = "usertrack-segments"  # the thread a group's people are found on


def groups_of(ws: Workspace) -> tuple[str, ...]:
    """The groups a person can be in: the segments in rule order, then no segment, no account."""
    return (*(s.id for s in ws.rules.segments), NO_SEGMENT, NO_ACCOUNT)


def check_segment(ws: Workspace, text: str) -> str:
    """The group `--segment` names: a segment id of the rules, or `no segment` / `no account`
    (also written with `_` or `-`); else a UsageError (exit 2) with the closest ids."""
    from usertrack.core.rulefiles import did_you_mean

    groups = groups_of(ws)
    if text in groups:
        return text
    spaced = text.strip().lower().replace("_", " ").replace("-", " ")
    if spaced in (NO_SEGMENT, NO_ACCOUNT):
        return spaced
    close = did_you_mean(text, groups, n=2)
    known = "" if close else f" (known: {', '.join(groups)})"
    raise UsageError(f"--segment {text!r} is no segment of {ws.rules.path}{close}{known}")


@dataclass(frozen=True)
class PersonSegments:
    """Which PostHog persons are in which group, as of `as_of`: each listed person's group
    number (`numbers`, the groups' order; "no account": everyone not listed)."""

    as_of: datetime
    groups: tuple[str, ...]
    numbers: GroupNumbers
    source: str  # "snapshot" (the history's) or "computed"
    # A --who run's users: those it selects and all the profile's (it lists only the persons
    # of the selected ones); None: the listed persons are every app account's.
    users: tuple[int, int] | None = None
    # Each group's users (the classification's `primary`; "no segment": the accounts in none)
    # and how many of them have a PostHog person (`group_users`); None: not known.
    people: Mapping[str, tuple[int, int]] | None = None

    @classmethod
    def listed(
        cls, as_of: datetime, groups: tuple[str, ...], persons: dict[str, list[str]], source: str
    ) -> PersonSegments:
        """From each group's person ids (group -> ids)."""
        from usertrack.engines.person_rows import GroupNumbers

        order = {g: i for i, g in enumerate(groups)}
        numbers = {p: order.get(g, -1) for g, ids in persons.items() for p in ids}
        return cls(as_of, groups, GroupNumbers(numbers), source)

    def person_filter(self, group: str, local: bool = False) -> tuple[str, Mapping[str, Any]]:
        """The HogQL expression keeping `group`'s persons, and its bound values (`local`: in
        the form the local engine runs fastest). The values' list of ids is made when first
        read: a query the group's filter runs in, not one answered from everyone's rows."""
        keep = KEEP_LOCAL if local else _KEEP  # KEEP_LOCAL: the same on the local engine
        if group == NO_ACCOUNT:
            if not len(self.numbers):
                return ("true", {})
            return (f"NOT {keep}", _Persons(self.numbers, None))
        number = self.groups.index(group) if group in self.groups else None
        if number is None or not self._sizes.get(number, 0):
            return ("false", {})
        return (keep, _Persons(self.numbers, number))

    def listed_count(self, group: str) -> int:
        """How many person ids `person_filter(group)` binds (for "no account": everyone else's)."""
        if group == NO_ACCOUNT:
            return len(self.numbers)
        number = self.groups.index(group) if group in self.groups else None
        return 0 if number is None else self._sizes.get(number, 0)

    def persons(self, group: str, local: bool = False) -> PersonFilter:
        """The filter of a run kept to `group` (person_filter's, listed_count's)."""
        expression, values = self.person_filter(group, local)
        return PersonFilter(expression, values, self.listed_count(group))

    def person_rows(self, group: str) -> PersonRows:
        """The rows `person_filter(group)` keeps, for facts fetched over everyone (an Arrow
        table's looked up once for every group: `numbers`)."""
        from usertrack.engines.person_rows import PersonRows

        if group == NO_ACCOUNT:
            if not len(self.numbers):
                return PersonRows(everyone=True)
            return PersonRows(negate=True, numbers=self.numbers)
        if group not in self.groups:
            return PersonRows()
        return PersonRows(numbers=self.numbers, number=self.groups.index(group))

    @cached_property
    def _sizes(self) -> dict[int, int]:
        """How many persons each group number has."""
        from pyarrow._compute import call_function  # not pyarrow.compute's import (40 ms)

        counts = call_function("value_counts", [self.numbers.numbers]).to_pylist()
        return {c["values"]: c["counts"] for c in counts}

    def kept(self, option: str, group: str) -> str:
        """The line saying how many persons a run kept to `group` keeps, of how many."""
        count = self.listed_count(group)
        everyone = f"{len(self.numbers):,} persons with an app account"
        if self.users is None and self.people is not None and group in self.people:
            # `segments` counts users, a run persons: a user with no event has no person
            users, matched = self.people[group]
            persons = "person" if count == 1 else "persons"
            its = f"its {users:,} {'user' if users == 1 else 'users'}"
            if users > matched:
                its += f" ({users - matched:,} with no PostHog person)"
            return f"{option} kept {count:,} {persons} of {its}, of {everyone}"
        if self.users is None:
            return f"{option} kept {count:,} of {everyone}"
        chosen, users = self.users
        persons = "person" if count == 1 else "persons"
        of = f"those of {chosen:,} of the profile's {users:,} users"
        return f"{option} kept {count:,} {persons}, {of}"

    @property
    def rest(self) -> int:
        """The number of "no account", the group of every person not listed."""
        return self.groups.index(NO_ACCOUNT)

    @cached_property
    def table(self) -> Any:
        """Each listed person's group number (see GroupNumbers) as an Arrow table of `person_id`
        and `usertrack_group`, for a query to join."""
        import pyarrow as pa

        return pa.table({"person_id": self.numbers.ids, "usertrack_group": self.numbers.numbers})


class _Persons(Mapping[str, Any]):
    """A person filter's bound values, {PLACEHOLDER: the sorted ids of one group number, or of
    every listed person}, the list made when first read (bind) and kept."""

    def __init__(self, numbers: GroupNumbers, number: int | None) -> None:
        self._numbers, self._number = numbers, number
        self._ids: list[str] | None = None

    def __getitem__(self, key: str) -> Any:
        if key != PLACEHOLDER:
            raise KeyError(key)
        if self._ids is None:
            self._ids = self._numbers.ids_of(self._number)
        return self._ids

    def __iter__(self) -> Iterator[str]:
        return iter((PLACEHOLDER,))

    def __len__(self) -> int:
        return 1


def person_segments(
    ws: Workspace,
    as_of: datetime,
    progress: Progress | None = None,
    save: bool | None = False,
) -> PersonSegments:
    """Each identified PostHog person's group as of `as_of` (see the module's docstring).

    Who is in which segment, and which persons in none have an app account, come from the
    history's snapshot of exactly that moment when it keeps its accounts (saved since history
    version 4): the app's database is then not opened. Else it is opened (a ConfigError, exit
    4, without one), the segments are classified now (with `save`, that classification is
    saved to the history as `segments` saves it, so the next run of that moment reads it;
    None: as `segments` does by default, under the default rules file only), and, for an
    older snapshot, the app's accounts are read on a thread of their own. The persons come
    from the events meanwhile: from the store's per-person tables (the local engine), or
    PostHog's answer past a few thousand rows, as Arrow, matched to their groups there
    (`numbered_persons`; the store's kept for it and that snapshot: `_kept_numbers`); else a
    row at a time."""
    from usertrack.segments.history import (
        Snapshot,
        open_history,
        save_quietly,
        saved_baseline,
        saves_by_default,
    )
    from usertrack.workspace import add_database, check_database

    check_database(ws, needed_by=OPTIONS)  # no database: said first, as ever
    local = local_engine(ws)
    groups = groups_of(ws)
    fresh = False  # the classification made now was saved as that moment's snapshot
    with open_history(ws) as history:
        kept = _kept_numbers(ws, history, as_of, groups) if local else None
    if kept is not None and kept[1] is not None:
        numbers, people = kept[1]
        return PersonSegments(as_of, groups, numbers, "snapshot", people=people)
    fetching: Background[Any] | None = None
    # Live, segment_persons.sql runs on PostHog meanwhile: it needs only as_of.
    asking = None if local else Background(lambda: persons_answer(ws, as_of), SEGMENTS_LANE)
    try:
        with open_history(ws) as history:
            # A snapshot of that moment with its accounts says all the database would; a
            # classification made now has them too (its accounts query's rows).
            # --who's rules are its one expression: no snapshot was saved under them, and one
            # saved under the segment rules is not theirs (nothing to say of it)
            snapshot = None if ws.scope.narrow_to else saved_baseline(ws, history, as_of)
            if snapshot is None or snapshot.accounts is None:
                add_database(ws, progress, needed_by=OPTIONS)
            # The events store's persons need no database: fetched while the segments are
            # found, once the database's driver is imported (its import and pyarrow's, on two
            # threads at once, would each wait for the other: the queries would go out later).
            fetching = (
                Background(lambda: persons_table(ws, as_of), SEGMENTS_LANE) if local else None
            )
            if snapshot is None:
                if progress:
                    progress("classifying your users")
                # live, the per-user HogQL files as one bundle: at most 6 queries a command
                result = ws.classify(as_of, progress, bundle=() if local else ("posthog",))
                # --who reads its own group alone: the accounts in no segment (a query of
                # the classification) number only the "no segment" group, which it never reads
                snapshot = Snapshot.of(
                    result,
                    source="computed",
                    fingerprint=history.fingerprint,
                    accounts=not ws.scope.narrow_to,
                )
                if save is None:
                    save = saves_by_default(ws)
                if save and save_quietly(ws, history, result) and local:
                    kept = _kept_numbers(ws, history, as_of, groups)  # the snapshot just saved
                    fresh = kept is not None
            accounts = None
            narrowed = ws.scope.narrow_to is not None
            if snapshot.accounts is None and not narrowed:  # one saved before they were kept
                accounts = Background(lambda: account_emails(ws, as_of), SEGMENTS_LANE)
    except BaseException:
        if fetching is not None:  # done with the store before the workspace closes it
            fetching.settle()
        raise
    if progress:
        progress("finding their PostHog persons")
    table = fetching.result() if fetching is not None else persons_table(ws, as_of)
    # The snapshot's accounts are those in no segment: an email of `primary` never needs them.
    known = accounts.result() if accounts is not None else set(snapshot.accounts or ())
    answer = asking.result() if asking is not None else None
    if table is None and answer is not None:
        table = answer.arrow  # PostHog's rows, as Arrow past a few thousand
    if table is not None and "" not in known and "" not in snapshot.primary:
        numbers = numbered_persons(table, snapshot.primary, known, groups)
        people = group_users(snapshot.primary, known, groups, person_emails(table))
        if kept is not None and accounts is None and (snapshot.source == "snapshot" or fresh):
            _keep_numbers(ws, kept[0], numbers, people)
        users = _users(snapshot) if ws.scope.narrow_to else None
        return PersonSegments(as_of, groups, numbers, snapshot.source, users, people)
    # a row of '' can count: the events' rows, which have it
    rows = persons_query(ws, as_of, answer)
    persons: dict[str, list[str]] = {}
    emails: set[str] = set()
    for person_id, email in rows:
        group = snapshot.primary.get(email) or (NO_SEGMENT if email in known else None)
        if group is not None and person_id:
            persons.setdefault(group, []).append(str(person_id))
            emails.add(email)
    people = group_users(snapshot.primary, known, groups, emails)
    found = replace(PersonSegments.listed(as_of, groups, persons, snapshot.source), people=people)
    return replace(found, users=_users(snapshot)) if ws.scope.narrow_to else found


def group_users(
    primary: Mapping[str, str | None], known: set[str], groups: tuple[str, ...], emails: Any
) -> dict[str, tuple[int, int]]:
    """Each group's users and how many of them have a PostHog person (an email of `emails`,
    those of the persons with an id): a segment's, the emails whose primary segment it is; "no
    segment"'s, the accounts (`known`) with none, as person_segments numbers their persons."""
    seen = emails if isinstance(emails, (set, frozenset)) else set(emails)
    counts = {g: [0, 0] for g in groups if g != NO_ACCOUNT}
    for email, group in primary.items():
        if group and group in counts:
            counts[group][0] += 1
            counts[group][1] += email in seen
    if NO_SEGMENT in counts:
        for email in known:
            if not primary.get(email):
                counts[NO_SEGMENT][0] += 1
                counts[NO_SEGMENT][1] += email in seen
    return {g: (users, matched) for g, (users, matched) in counts.items()}


def person_emails(table: Any) -> set[str]:
    """The emails of `table`'s persons (person_id, email) that have a person id."""
    from pyarrow._compute import call_function as call  # not pyarrow.compute's import: 40 ms

    ids, email = table["person_id"], table["email"]
    present = call("and", [call("is_valid", [ids]), call("not_equal", [ids.cast("string"), ""])])
    present = call("coalesce", [present, False])
    return {e for e in call("unique", [call("filter", [email, present])]).to_pylist() if e}


def _users(snapshot: Any) -> tuple[int, int]:
    """A --who classification's users: those in its one segment, and all it classified."""
    return sum(1 for g in snapshot.primary.values() if g), snapshot.users


# What a kept numbering of the store's persons is of (usertrack.engines.local.storecache's `what`).
_NUMBERS = "usertrack --by-segment: the store's persons numbered by the groups of a snapshot"


def _kept_numbers(
    ws: Workspace, history: Any, as_of: datetime, groups: tuple[str, ...]
) -> tuple[str, tuple[GroupNumbers, dict[str, tuple[int, int]]] | None] | None:
    """Where the store's persons numbered by their groups are kept for the history's snapshot
    of exactly `as_of`, and the numbering kept there (None: not yet); None when it is not to be
    kept: no snapshot of that moment under the current rules with its accounts (the numbering
    then depends on the app's database), or a store that keeps no answers. They depend on
    nothing else: the store (its stamp), that snapshot (a digest of all its row holds, its
    fingerprint), the groups, and segment_persons.sql with its values."""
    from usertrack.engines.person_rows import GroupNumbers

    stamp = history.stamp(as_of)
    if stamp is None or stamp[1] is None or stamp[1] != history.fingerprint or not stamp[2]:
        return None
    query, values = ws.bind("posthog/segment_persons", as_of)
    source = ws.sources[query.folder]
    if not source.keeps_answers:
        return None
    what = repr((_NUMBERS, history.workspace, stamp[0], stamp[1], groups, query.sql))
    found = source.kept(f"{what} as of {as_of.isoformat()}", values)
    if found is None:
        return None
    name, table = found
    if table is None or table.column_names != ["person_id", "usertrack_group"]:
        return name, None  # another shape: not ours, a miss
    people = kept_users(table)
    if people is None:
        return name, None  # kept without its groups' users: a miss, kept again with them
    numbers = GroupNumbers.of_arrays(
        table["person_id"].combine_chunks(), table["usertrack_group"].combine_chunks()
    )
    return name, (numbers, people)


# The schema metadata key of a kept numbering holding its groups' users (group_users) as JSON.
_PEOPLE = b"usertrack_group_users"


def kept_users(table: Any) -> dict[str, tuple[int, int]] | None:
    import json

    text = (table.schema.metadata or {}).get(_PEOPLE)
    try:
        found = json.loads(text) if text is not None else None
        return {str(g): (int(u), int(m)) for g, (u, m) in found.items()} if found else None
    except (ValueError, TypeError, AttributeError):
        return None


def _keep_numbers(
    ws: Workspace, name: str, numbers: GroupNumbers, people: Mapping[str, tuple[int, int]]
) -> None:
    source = ws.sources.get("posthog")
    if source is not None and source.keeps_answers:
        source.keep(name, numbers_table(numbers, people))


def numbers_table(numbers: GroupNumbers, people: Mapping[str, tuple[int, int]]) -> Any:
    """The numbering as kept: `person_id` and `usertrack_group`, the groups' users (`people`)
    in the schema's metadata (`kept_users` reads them back)."""
    import json

    import pyarrow as pa

    table = pa.table({"person_id": numbers.ids, "usertrack_group": numbers.numbers})
    meta = {_PEOPLE: json.dumps({g: list(n) for g, n in people.items()}).encode()}
    return table.replace_schema_metadata(meta)


def numbered_persons(
    table: Any, primary: Mapping[str, str | None], known: set[str], groups: tuple[str, ...]
) -> GroupNumbers:
    """The persons of `table` (person_id, email: one row per person) numbered by group, as the
    row-at-a-time loop of person_segments numbers them, in Arrow: the primary segment of their
    email, else "no segment" for an account's email, else none (not listed: "no account");
    a row without a person id is not listed."""
    import pyarrow as pa
    from pyarrow._compute import CastOptions, SetLookupOptions
    from pyarrow._compute import call_function as call  # not pyarrow.compute's import: 40 ms

    from usertrack.engines.person_rows import GroupNumbers

    order = {g: i for i, g in enumerate(groups)}
    firsts = [(e, order.get(g, -1)) for e, g in primary.items() if g]  # a blank primary: none
    emails = pa.array([e for e, _ in firsts], pa.string())
    numbers = pa.array([n for _, n in firsts], pa.int32())
    ids = call("cast", [table["person_id"]], CastOptions.safe(pa.string()))
    email = call("cast", [table["email"]], CastOptions.safe(pa.string()))
    group = call("take", [numbers, call("index_in", [email], SetLookupOptions(emails))])
    in_app = call("is_in", [email], SetLookupOptions(pa.array(list(known), pa.string())))
    account = [pa.scalar(order[NO_SEGMENT], pa.int32()), pa.scalar(None, pa.int32())]
    group = call("coalesce", [group, call("if_else", [in_app, *account])])
    present = call("and", [call("is_valid", [ids]), call("not_equal", [ids, ""])])
    listed = call("and", [call("is_valid", [group]), present])
    listed = call("coalesce", [listed, pa.scalar(False, pa.bool_())])  # fill_null
    kept = [call("filter", [column, listed]).combine_chunks() for column in (ids, group)]
    return GroupNumbers.of_arrays(*kept)


# The emails of queries/neon/accounts.sql as shipped, without its aggregates and GROUP BY (a
# set is made of them) and each normalized once (OFFSET 0 keeps PostgreSQL from writing the
# expression out again in every condition): the same set, in half the server's time (0.09 s
# against 0.2 s at 100,000 accounts). Checked against the file in
# tests/analytics/test_by_segment.py.
ACCOUNT_EMAILS = """
SELECT email FROM (
    SELECT lower(btrim(w.email, E' \\t\\r\\n')) AS email
    FROM wasp_user AS w
    WHERE w.email IS NOT NULL AND w.created_at <= %(as_of)s
    OFFSET 0
) AS accounts
WHERE email <> '' AND email !~ %(exclude_pattern)s
"""


def account_emails(ws: Workspace, as_of: datetime) -> set[str]:
    """The emails of the app's accounts as of `as_of`: the `email` column of the accounts query
    (queries/neon/accounts.sql, or a --queries folder's), its other columns left in the
    database (at 100,000 accounts a third of the time is theirs); for the file as shipped,
    ACCOUNT_EMAILS, which gives the same set."""
    from dataclasses import replace

    from usertrack.queries.library import shipped

    query, values = ws.bind("neon/accounts", as_of)
    text = query.sql.rstrip().rstrip(";")
    sql = f"SELECT email FROM (\n{text}\n) AS accounts"
    if shipped(query):
        sql = ACCOUNT_EMAILS
    emails = replace(query, sql=sql)
    return {row[0] for row in ws.sources[query.folder].run(emails, values).rows}


def local_engine(ws: Workspace) -> bool:
    """Whether the workspace's events are the local engine's (the store, read by DuckDB)."""
    from usertrack.engines.local.source import LocalPostHogSource

    return isinstance(ws.sources.get("posthog"), LocalPostHogSource)


@dataclass
class Segmented:
    """An analysis kept to one group (`segment`), or over everyone (`overall`) and per group
    (`parts`, in the groups' order)."""

    overall: Any
    segment: str | None = None
    parts: list[tuple[str, Any]] = field(default_factory=list)
    # Each segment's name by its id, for people (JSON and CSV keep the ids).
    names: dict[str, str] = field(default_factory=dict)
    # `--who EXPR`: kept to the people of the profile for whom EXPR holds (`segment` is WHO).
    who: str | None = None
    # For stderr: how many persons the run kept, of how many (PersonSegments.kept).
    kept: str | None = None
    # `--by person.properties.NAME`: the parts are that property's values (by_property), not
    # segments.
    by: str | None = None

    @property
    def said(self) -> tuple[str, ...]:
        """For stderr, not warnings: the persons kept, then what the answer itself says."""
        return (*([self.kept] if self.kept else []), *getattr(self.overall, "said", ()))

    def name(self, group: str) -> str:
        """The group as people read it: the segment's name ('no segment' as it is)."""
        return self.names.get(group, group)

    @property
    def notes(self) -> list[str]:
        """The warnings of every run, each once."""
        seen: dict[str, None] = {}
        for result in (self.overall, *(r for _, r in self.parts)):
            seen.update(dict.fromkeys(getattr(result, "notes", ()) or ()))
        return list(seen)


def run(
    ws: Workspace,
    as_of: datetime,
    analyse: Callable[[Workspace], T],
    *,
    segment: str | None = None,
    by_segment: bool = False,
    progress: Progress | None = None,
    save: bool | None = False,
) -> T | Segmented:
    """`analyse(ws)` as it is without `segment` and `by_segment`; else a Segmented: kept to
    `segment`'s persons, or over everyone then each group's, each run on a view of `ws` kept
    to its persons (Workspace.scoped). `save`: whether segments classified for it are saved to
    the history (person_segments). (`--who`: usertrack.analytics.kept_people.run.)"""
    if not segment and not by_segment:
        return analyse(ws)
    if segment and by_segment:
        raise UsageError("--segment and --by-segment do not go together")
    group = check_segment(ws, segment) if segment else None
    local = local_engine(ws)
    if group is not None:
        mapping = person_segments(ws, as_of, progress, save)
        # live, as a --by-segment group's run: per-person facts come over everyone and the
        # group keeps its persons' rows, so no list of them is sent (past a few thousand
        # persons more than ClickHouse parses in one query)
        facts = None if local else PersonFacts(mapping.person_rows(group), {})
        scope = ws.scope.but(persons=mapping.persons(group, local), facts=facts)
        with list_too_long(mapping, group):
            answer = analyse(ws.scoped(scope))
        return Segmented(answer, segment=group, names=_names(ws),
                         kept=mapping.kept(f"--segment {group}", group))  # fmt: skip
    return _by_segment(ws, as_of, analyse, local, progress, save)


def _by_segment(
    ws: Workspace,
    as_of: datetime,
    analyse: Callable[[Workspace], T],
    local: bool,
    progress: Progress | None,
    save: bool | None,
) -> Segmented:
    """run's --by-segment: the whole answer, then each group's."""
    from usertrack.workspace import add_database, check_database

    if local:  # no database: said first, as ever; the demo's started on the thread
        check_database(ws, needed_by=OPTIONS)
    else:
        add_database(ws, progress, needed_by=OPTIONS)  # no database: said first, as ever
    if progress:
        progress("classifying your users")
    find = functools.partial(person_segments, as_of=as_of, save=save)
    return run_groups(ws, as_of, analyse, find, progress=progress, names=_names(ws))


def run_groups(
    ws: Workspace,
    as_of: datetime,
    analyse: Callable[[Workspace], T],
    find: Callable[[Workspace], PersonSegments],
    *,
    progress: Progress | None,
    names: dict[str, str],
    skip: frozenset[str] = frozenset(),
    by: str | None = None,
) -> Segmented:
    """`analyse` over everyone, then for each group of the persons `find` (given the whole
    answer's view) groups, but those of `skip`: --by-segment's groups, or a person property's
    values (`by`: usertrack.analytics.by_property)."""
    # The per-person facts queries run once, in the whole answer's run; each group's run
    # keeps its persons' rows of them (PersonRows). Queries whose rows are already
    # aggregated run again per group, with the group's filter in HogQL. Who is in which
    # group is found on a thread of its own meanwhile (the whole answer needs none of it):
    # live, its queries and the analysis's share the project's slots (PostHog runs 3 of a
    # project's queries at once; usertrack.engines.posthog.transport holds the rest).
    from usertrack.engines.person_rows import PersonRows

    local = local_engine(ws)
    cache: dict[Any, Any] = {}
    everyone = PersonFacts(PersonRows(everyone=True), cache, parts=True)
    whole = ws.scoped(ws.scope.but(persons=None, facts=everyone))
    kept = contextlib.ExitStack()
    found = Background(lambda: find(whole), SEGMENTS_LANE)
    try:
        if local:  # each group's in-memory DuckDB: the one before it, emptied (not a new one)
            from usertrack.checks import sandbox

            if not sandbox.keeping():
                kept.enter_context(sandbox.keep_connections())
        overall = analyse(whole)
        mapping = found.result()
        answers: dict[Any, Result | None] = {}
        parts = []
        for each in mapping.groups:
            if each in skip:
                continue
            if progress:
                progress(f"value {names.get(each, each)}" if by else f"segment {each}")
            grouped = None
            if local and len(mapping.numbers):
                grouped = functools.partial(_grouped, ws, mapping, answers, each)
            facts = PersonFacts(mapping.person_rows(each), cache, True, grouped)
            scope = ws.scope.but(persons=mapping.persons(each, local), facts=facts)
            with list_too_long(mapping, each):
                parts.append((each, analyse(ws.scoped(scope))))
        return Segmented(overall, parts=parts, names=names, by=by)
    finally:
        kept.close()
        if local:  # (the answer failed) it may be adding the database
            found.settle()  # live, its queries are left to end with the process


WHO = "who"  # the one segment of a --who run's rules


def check_who(text: str) -> str:
    """A `--who` expression checked to be one SQL expression and nothing else (as a rule of
    segments.yaml is: usertrack.checks.sandbox), without a database; else a UsageError (exit 2).
    Its columns are checked against the profile when it is built (run_who)."""
    from usertrack.checks.sql_checks import UnsafeSQLError, check_expression

    expr = text.strip()
    if not expr:
        raise UsageError("--who needs an expression over the profile, e.g. credits < 50")
    try:
        check_expression(expr, what="--who")
    except UnsafeSQLError as e:
        raise UsageError(str(e)) from None
    return expr


def who_rules(ws: Workspace, who: str) -> SegmentsFile:
    """The rules of a --who run: one segment whose rule is the expression, with the rules
    file's exclusions (so the same people are users as in `segments`)."""
    from pathlib import Path

    from usertrack.segments.rules import Segment, SegmentsFile

    rule = Segment(id=WHO, name=who, action="", rule=who, label="--who")
    return SegmentsFile(path=Path("--who"), segments=(rule,), exclude=ws.rules.exclude)


def summary_fits(ws: Workspace, *, short_list: bool = False) -> bool:
    """Whether a live analysis may have PostHog count its answer in one aggregated query for
    this run: always outside --by-segment and --segment; in a group's run (`person_rows`),
    where that query would bind the group's persons as a list, which PostHog prints into the
    ClickHouse query (parsed up to max_query_size bytes), only with `short_list` and a list of
    at most MAX_LISTED ids, and not in a --by-segment run's group (`person_parts`: a query
    per group would spend PostHog's hourly budget on each). Else the analysis reads per-person
    facts, fetched once over everyone, and the group keeps its persons' rows of them."""
    rows = ws.scope.person_rows
    if rows is None:
        return True
    if ws.scope.person_parts and not rows.everyone:
        return False
    return short_list and ws.scope.person_listed <= MAX_LISTED


@contextlib.contextmanager
def list_too_long(mapping: PersonSegments, group: str) -> Iterator[None]:
    """PostHog refusing a group's query for its length (ClickHouse's max_query_size: the
    group's persons are printed into the query as a list) said as what it is, with what works
    instead."""
    from usertrack.core.errors import QueryError

    try:
        yield
    except QueryError as e:
        if "max query size" not in str(e).lower() or e.hint:
            raise
        raise QueryError(
            f"{e} (the persons of {group!r}, {mapping.listed_count(group):,} ids, are sent in"
            " the query as a list)",
            hint=f"the shipped queries send PostHog at most {MAX_LISTED:,} ids of a group, an"
            " edited facts query without its person_id column all of them; on an export of"
            " the events (USERTRACK_EVENTS) any group size works",
        ) from None


def _grouped(
    ws: Workspace,
    mapping: PersonSegments,
    answers: dict[Any, Result | None],
    group: str,
    query_id: str,
    as_of: datetime,
    params: dict[str, Any],
) -> Result | None:
    """`group`'s rows of an aggregated query run once for every group on the local engine
    (LocalPostHogSource.run_grouped; kept in `answers` for the next groups), or None when it
    does not answer that query (it then runs for the group, its filter in the query)."""
    query = ws.library.get(query_id)
    source = ws.sources.get(query.folder)
    if source is None or not source.has_facts or "{filters}" not in query.sql:
        return None
    whole, values = ws.scoped(ws.scope.but(persons=None, facts=None)).bind(
        query_id, as_of, **params
    )
    bare, _ = ws.scoped(ws.scope.but(persons=None, facts=None, where=())).bind(
        query_id, as_of, **params
    )
    key = (whole.id, whole.sql, repr(sorted(values.items())))
    if key not in answers:
        answers[key] = source.run_grouped(whole, bare, values, mapping.table, mapping.rest)
    answer = answers[key]
    if answer is None:
        return None
    from dataclasses import replace

    number = mapping.groups.index(group)
    rows = [row[1:] for row in answer.rows if row[0] == number]
    return replace(answer, columns=answer.columns[1:], rows=rows)


def _names(ws: Workspace) -> dict[str, str]:
    return {s.id: s.name for s in ws.rules.segments}
