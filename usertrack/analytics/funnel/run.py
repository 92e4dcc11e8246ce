"""Ordered funnels as PostHog computes them (docs/metrics.md, "Funnel").

The facts query (queries/posthog/funnel_events.sql) returns every funnel-step event of the range,
one row per event. Attempts are worked out per person in Python (a sequential scan that SQL would
only contort); the per-person results then go to DuckDB for the counts, averages and
interpolated medians per step and per breakdown value.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from usertrack.analytics.common import (
    DateRange,
    change,
    facts_connection,
    load_facts,
    period_start,
    previous_span,
    seconds_or_none,
)
from usertrack.analytics.funnel import breakdown as breakdowns
from usertrack.analytics.funnel.first_time import first_steps, keep_first_times
from usertrack.analytics.funnel.kept import QUERY, excluded_line, kept_progress, progress_key
from usertrack.analytics.funnel.order import (
    EXCLUDED,
    OTHER,
    PLAIN,
    Shape,
    later_steps,
    one_pass_progress,
    person_progress,
    shaped_progress,
    strict_events,
    strict_facts,
    strict_progress,
    unordered_periods,
    unordered_progress,
)
from usertrack.analytics.funnel.place import facts_in_place
from usertrack.analytics.funnel.step_syntax import (
    FIRST_MATCHING,
    check_steps,
    narrowing_property,
    split_step,
    step_math,
)
from usertrack.analytics.funnel.timing import (
    NO_TIMING,
    TimeToConvert,
    Timing,
    TrendPoint,
    moment,
    person_periods,
    time_to_convert,
    trend_points,
    trend_table,
)
from usertrack.analytics.proportions import THIN_SAMPLE, wilson
from usertrack.analytics.unfinished import cut
from usertrack.checks.sandbox import release
from usertrack.core.errors import UsageError
from usertrack.core.style import percent

if TYPE_CHECKING:
    import duckdb

    from usertrack.analytics.funnel.correlation import Correlation
    from usertrack.analytics.paths.run import Paths
    from usertrack.workspace import Workspace

# The product-growth guide's activation funnel ("the aha moment"), as the demo sends it.
DEFAULT_STEPS = (
    "user_signed_up",
    "onboarding_started",
    "workspace_created",
    "first_item_created",
    "onboarding_completed",
)
DEFAULT_WINDOW = timedelta(days=14)


@dataclass
class Step:
    event: str
    persons: int
    conversion_from_previous: float | None
    conversion_from_start: float | None
    drop_off: int
    average_seconds_to_convert: float | None
    median_seconds_to_convert: float | None
    name: str | None = None  # its label in a steps file (`name:`), shown instead of the event

    @property
    def shown(self) -> str:
        return self.event if self.name is None else self.name

    def document(self) -> dict[str, Any]:
        doc = dict(self.__dict__)
        if doc.pop("name") is None:
            return doc
        return {"event": doc.pop("event"), "name": self.name, **doc}


def _thin(docs: list[dict[str, Any]], steps: list[Step]) -> list[dict[str, Any]]:
    """The steps' documents, each with `sample` (the first step's persons) and the 95% interval
    of its conversion from the start (`conversion_low`, `conversion_high`, Wilson's) when that
    sample is under THIN_SAMPLE persons, as retention's points carry theirs; else as they are."""
    first = steps[0].persons if steps else 0
    if not 0 < first < THIN_SAMPLE:
        return docs
    for doc, s in zip(docs, steps, strict=True):
        low, high = wilson(s.persons, first) or (0.0, 0.0)  # first > 0: never None
        doc.update(sample=first, conversion_low=round(low, 1), conversion_high=round(high, 1))
    return docs


def _counted_as(doc: dict[str, Any], unit: str) -> dict[str, Any]:
    """A step's (or a bin's) document with its count of persons under `unit`'s name, in place."""
    if unit == "persons":
        return doc
    return {unit if k == "persons" else k: v for k, v in doc.items()}


@dataclass
class Funnel:
    as_of: datetime
    range: DateRange
    window: timedelta
    steps: list[Step]
    by: str | None = None  # the breakdowns' names, joined by ' / '
    breakdown: list[tuple[str, list[Step]]] = field(default_factory=list)
    breakdown_spec: breakdowns.Breakdown | None = None
    other: bool = False  # the last of `breakdown` is the values past the limit (PostHog's Other)
    notes: tuple[str, ...] = ()  # for stderr: a typed name the range's data does not have
    previous: Funnel | None = None  # --compare: the period of the same length before
    correlation: Correlation | None = None  # --correlation (usertrack.analytics.funnel.correlation)
    time_to_convert: TimeToConvert | None = None  # --time-to-convert
    trend_interval: str | None = None  # --trend: day, week or month
    trend: list[TrendPoint] = field(default_factory=list)
    trend_steps: tuple[int, int] = (1, 2)  # --trend: entered at the first, converted at the second
    by_account: bool = False  # --by-account: each step counts accounts, not persons
    excluded: int | None = None  # --exclude: the persons its exclusion steps left out
    # A group's funnel (--segment, a --by-segment group, --who): its thin conversions marked,
    # as a --by value's and the --compare period's always are (_thin, render.steps_cells)
    group: bool = False
    said: tuple[str, ...] = ()  # for stderr, not warnings: what --exclude left out

    def compared(self) -> list[tuple[Step, Step, float | None, float | None]]:
        """Each step with the previous period's, the change of its persons (percent) and of
        its conversion from the start (percentage points)."""
        if self.previous is None:
            return []
        out = []
        for now, before in zip(self.steps, self.previous.steps, strict=True):
            points = None
            if now.conversion_from_start is not None and before.conversion_from_start is not None:
                points = round(now.conversion_from_start - before.conversion_from_start, 1)
            out.append((now, before, change(now.persons, before.persons), points))
        return out

    def is_other(self, index: int) -> bool:
        """Whether breakdown `index` is the values past --breakdown-limit (PostHog's Other)."""
        return self.other and index == len(self.breakdown) - 1

    def value_shown(self, index: int, empty: str = "(none)") -> str:
        """Breakdown `index`'s value for people: 'Chrome / Mac OS X', `empty` for none, Other."""
        n = len(self.breakdown_spec.parts) if self.breakdown_spec else 1
        return breakdowns.shown(self.breakdown[index][0], n, self.is_other(index), empty)

    @property
    def unit(self) -> str:
        """What each step counts: "accounts" (--by-account) or "persons"."""
        return "accounts" if self.by_account else "persons"

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "as_of": self.as_of,
            "from": self.range.start,
            "to": self.range.end,
            "window_seconds": int(self.window.total_seconds()),
            "steps": [_counted_as(s.document(), self.unit) for s in self.steps],
        }
        if self.group:
            _thin(doc["steps"], self.steps)
        if self.by_account:
            doc["counted"] = "accounts"  # each step's count is under `accounts`
        if self.excluded is not None:
            doc["excluded"] = self.excluded  # persons left out by the exclusion steps
        if self.previous is not None:
            for out, (_, before, persons, points) in zip(
                doc["steps"], self.compared(), strict=True
            ):
                out["previous_persons"] = before.persons
                out["persons_change"] = persons
                out["conversion_change"] = points
            doc["previous"] = {
                "from": self.previous.range.start,
                "to": self.previous.range.end,
                "steps": _thin([s.document() for s in self.previous.steps], self.previous.steps),
            }
        if self.by is not None and self.breakdown_spec is not None:
            doc.update(self.breakdown_spec.document())
            doc["breakdown"] = []
            for i, (value, steps) in enumerate(self.breakdown):
                other = self.is_other(i)
                n = len(self.breakdown_spec.parts)
                entry: dict[str, Any] = {"value": breakdowns.documented(value, n, other)}
                if other:
                    entry["other"] = True
                entry["steps"] = _thin([s.document() for s in steps], steps)
                doc["breakdown"].append(entry)
        if self.correlation is not None:
            doc["correlation"] = self.correlation.document()
        if self.time_to_convert is not None:
            ttc = self.time_to_convert.document()
            ttc["bins"] = [_counted_as(b, self.unit) for b in ttc["bins"]]
            doc["time_to_convert"] = ttc
        if self.trend_interval is not None:
            every = self.trend_interval
            doc["trend"] = {
                "interval": every,
                "from_step": self.trend_steps[0],
                "to_step": self.trend_steps[1],
                "points": [p.document() | cut(p.start, every, self.range) for p in self.trend],
            }
        return doc


@dataclass
class Dropped:
    as_of: datetime
    range: DateRange
    window: timedelta
    step: int  # 1-based index of the step they did not reach
    event: str
    previous_event: str
    persons: list[dict[str, Any]]  # person_id, email, reached_previous_at
    # --paths: what they did from the last step they reached on (usertrack.analytics.paths.run)
    paths: Paths | None = None
    names: tuple[str | None, str | None] = (None, None)  # the two steps' labels (`name:`)

    def shown(self, previous: bool = False) -> str:
        """The step's label, else its event (`previous`: the step before's)."""
        name = self.names[0 if not previous else 1]
        return name if name is not None else self.previous_event if previous else self.event

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "as_of": self.as_of,
            "from": self.range.start,
            "to": self.range.end,
            "window_seconds": int(self.window.total_seconds()),
            "step": self.step,
            "event": self.event,
            "previous_event": self.previous_event,
        }
        if self.names != (None, None):
            doc["name"], doc["previous_name"] = self.names
        doc["persons"] = self.persons
        if self.paths is not None:
            found = self.paths.document()
            doc["paths"] = {k: v for k, v in found.items() if k not in ("as_of", "from", "to")}
        return doc


def step_index(steps: list[str], text: str) -> int:
    """`--dropped STEP`: a step's event name or its number (1-based); never step 1, which no one
    can drop at."""
    text = text.strip()
    if text.isdigit() and 1 <= int(text) <= len(steps):
        index = int(text)
    elif text in steps:
        # A name that is several steps means its first step after step 1.
        named = [i for i, s in enumerate(steps, 1) if s == text]
        index = next((i for i in named if i > 1), named[0])
    else:
        from usertrack.core.rulefiles import did_you_mean

        raise UsageError(
            f"--dropped {text!r} is not a step of this funnel{did_you_mean(text, steps)}"
            f" (steps: {', '.join(steps)}; or a step number 2-{len(steps)})"
        )
    if index == 1:
        raise UsageError(f"--dropped {text!r} is the first step: no one drops before it")
    return index


# --------------------------------------------------------------------------------------------
# Attempts


def _progress_table(
    con: duckdb.DuckDBPyConnection,
    steps: list[str],
    window: timedelta,
    shape: Shape = PLAIN,
    trend: str | None = None,
) -> None:
    """`progress`: one row per person who did step 1, with their furthest step and step times;
    with `trend` (day, week or month), `trend_progress` too (funnel_time.trend_points').

    When every step is its own event, a person whose events are the steps in order, each once
    (0, 1, ..., m-1 by time: nearly everyone), has one attempt, which person_progress advances
    by every event while within the window of the first: the steps within that window, worked
    out in DuckDB (`one_pass_progress`); in a strict funnel with no exclusion step, every
    person's (`strict_progress`). Everyone else's events go through person_progress."""
    import pyarrow as pa

    ranks: dict[str, int] = {}
    for i, name in enumerate(steps):
        ranks.setdefault(name, i)
    later = later_steps(steps)
    limit = window // timedelta(microseconds=1)
    n = len(steps)
    narrowed = [split_step(step) for step in steps]
    starts: Collection[int] = (0,)
    # Times in microseconds and events as ranks: ints are all the attempts compare. Events of
    # one timestamp lower step first, so a step may share the previous one's time.
    excluded = [split_step(name) for name, _, _ in shape.exclusions]
    named = dict(ranks)
    for event, _, _ in excluded:
        named.setdefault(event, EXCLUDED)
    # a strict funnel reads every event: any other is rank OTHER
    join = "LEFT JOIN" if shape.order == "strict" else "JOIN"
    if any(value is not None for _, _, value in [*narrowed, *excluded]) or first_steps(steps):
        later, starts, keys = _narrowed_ranks(con, steps, excluded)
        con.execute(
            "CREATE TEMP TABLE _step_events AS"
            f" SELECT f.person_id, epoch_us(f.timestamp) AS t, coalesce(s.rank, {OTHER}) AS rank"
            f" FROM facts f {join} _step_ranks s USING ({keys})"
        )
    else:
        con.execute(
            "CREATE TEMP TABLE _step_events AS"
            f" SELECT f.person_id, epoch_us(f.timestamp) AS t, coalesce(s.rank, {OTHER}) AS rank"
            f" FROM facts f {join} (SELECT unnest($names) AS event, unnest($ranks) AS rank) s"
            " USING (event)",
            {"names": list(named), "ranks": list(named.values())},
        )
    rest = strict_events(con, starts) if shape.order == "strict" else "_step_events"
    if (
        len(ranks) == n
        and shape.order != "any"
        and not shape.exclusions
        and starts == (0,)
        and (
            shape.order != "strict" or trend is None  # a strict funnel's periods: person by person
        )
    ):
        (strict_progress if shape.order == "strict" else one_pass_progress)(con, n, limit, rest)
        kept = "person_id IS NULL OR person_id NOT IN (SELECT person_id FROM _fast)"
        rest = f"(FROM {rest} WHERE {kept})"
    rows = con.execute(f"SELECT person_id, t, rank FROM {rest} ORDER BY person_id, t, rank")
    persons: list[str] = []
    left_out: list[str] = []  # the persons an exclusion step left out of the funnel
    furthest: list[int] = []
    times: list[list[int | None]] = [[] for _ in range(n)]
    spans = [(first, last) for _, first, last in shape.exclusions]
    periods: list[tuple[str, date, int]] = []

    def progress_of(timeline: Sequence[tuple[int, int]], entry: tuple[int, int] | None = None
                    ) -> list[int] | None:  # fmt: skip
        if shape.order == "any":
            return unordered_progress(timeline, limit, n)
        if shape != PLAIN:
            return shaped_progress(timeline, later, limit, shape, spans, starts, entry)
        return person_progress(timeline, later, limit, starts, entry)

    for person, events in groupby(rows.fetchall(), key=itemgetter(0)):
        timeline = [(t, rank) for _, t, rank in events]
        reached = progress_of(timeline)
        if trend is not None and shape.order == "any":
            found = unordered_periods(timeline, limit, n, lambda t: period_start(moment(t), trend))
            periods += [(person, at, most) for at, most in found.items()]
        elif trend is not None:
            found_in = person_periods(timeline, trend, starts, progress_of)
            periods += [(person, at, most) for at, most in found_in]
        if reached is None and any(rank >= 0 for _, rank in timeline):
            left_out.append(person)
        if not reached:
            continue
        persons.append(person)
        furthest.append(len(reached))
        for i in range(n):
            times[i].append(reached[i] if i < len(reached) else None)
    data: dict[str, Any] = {
        "person_id": pa.array(persons, pa.string()),
        "furthest": pa.array(furthest, pa.int32()),
    }
    for i in range(n):
        data[f"t{i + 1}"] = pa.array(times[i], pa.timestamp("us"))
    con.register("_progress_in", pa.table(data))
    if trend is not None:
        trend_table(con, periods, trend, fast=rest.startswith("("))
    if not rest.startswith("("):  # no one-pass persons
        con.execute("CREATE TEMP TABLE progress AS SELECT * FROM _progress_in")
    else:  # the one-pass persons and the others, in person order as the loop makes them
        con.execute(
            "CREATE TEMP TABLE progress AS SELECT * FROM (SELECT * FROM _fast_progress"
            " UNION ALL SELECT * FROM _progress_in) ORDER BY person_id"
        )
        con.execute("DROP TABLE _fast_progress")
        con.execute("DROP TABLE _fast")
    con.unregister("_progress_in")
    left = "SELECT unnest($p::VARCHAR[]) AS person_id"  # `excluded`: those left_out
    con.execute(f"CREATE OR REPLACE TEMP TABLE excluded AS {left}", {"p": left_out})
    con.execute("DROP TABLE _step_events; DROP TABLE IF EXISTS _strict_events")


def _narrowed_ranks(
    con: duckdb.DuckDBPyConnection,
    steps: list[str],
    excluded: list[tuple[str, str | None, str | None]],
) -> tuple[list[tuple[int, ...]], set[int], str]:
    """The table `_step_ranks` (event, breakdown, rank) for a funnel with steps or exclusions
    narrowed by a property (`EVENT:PROPERTY=VALUE`, the facts' `breakdown` that property's
    value) or first-time steps (the facts' `first_time` and `first_matching` then key it too:
    usertrack.analytics.funnel.first_time): each distinct key of the facts gets the rank of
    the set of steps it can be (its event, and the value and first time where the step names
    them), and `later` and the starting ranks for those sets; an exclusion's events (their
    value too where it names one) get EXCLUDED. Each step alone is a set, so a funnel whose
    steps are each their own event ranks them by their index, as a funnel in any order reads
    them. Returns `later`, the starting ranks and the key's columns."""
    narrowed = [split_step(step) for step in steps]
    maths = [step_math(step)[0] for step in steps]
    keys = "event, breakdown" + (", first_time, first_matching" if any(maths) else "")
    found_keys = con.execute(f"SELECT DISTINCT {keys} FROM facts").fetchall()
    matches: dict[tuple[Any, ...], tuple[int, ...]] = {}
    for key in found_keys:
        event, value = key[0], key[1] or ""
        first, matching = (key[2], key[3]) if any(maths) else (True, True)
        found = tuple(
            i for i, ((name, _, wanted), math) in enumerate(zip(narrowed, maths, strict=True))
            if name == event and wanted in (None, value)
            and (math is None or (matching if math == FIRST_MATCHING and wanted else first))
        )  # fmt: skip
        if found:
            matches[key] = found
    singles = {(i,) for i in range(len(narrowed))}
    sets = sorted(set(matches.values()) | singles, key=lambda m: (m[0], m))
    rank = {m: i for i, m in enumerate(sets)}
    rows = [(*key, rank[m]) for key, m in matches.items()]
    rows += [
        (*key, EXCLUDED) for key in found_keys
        if any(key[0] == name and wanted in (None, key[1] or "") for name, _, wanted in excluded)
    ]  # fmt: skip
    flags = ", first_time BOOLEAN, first_matching BOOLEAN" if any(maths) else ""
    con.execute(
        f"CREATE TEMP TABLE _step_ranks (event VARCHAR, breakdown VARCHAR{flags}, rank INTEGER)"
    )
    if rows:
        marks = ", ".join("?" for _ in rows[0])
        con.executemany(f"INSERT INTO _step_ranks VALUES ({marks})", rows)
    later = [tuple(sorted((k for k in m if k > 0), reverse=True)) for m in sets]
    return later, {rank[m] for m in sets if 0 in m}, keys


def _steps_from(con: duckdb.DuckDBPyConnection, steps: list[str], where: str = "TRUE",
                params: list[Any] | None = None, table: str = "progress"
                ) -> list[Step]:  # fmt: skip
    n = len(steps)
    parts = []
    for i in range(1, n + 1):
        parts.append(f"count(*) FILTER (WHERE furthest >= {i})")
        if i == 1:
            parts.append("NULL, NULL")
        else:
            diff = f"epoch(t{i}) - epoch(t{i - 1})"
            parts.append(
                f"avg({diff}) FILTER (WHERE furthest >= {i} AND {diff} > 0),"
                f" quantile_cont({diff}, 0.5) FILTER (WHERE furthest >= {i} AND {diff} > 0)"
            )
    (row,) = con.execute(
        f"SELECT {', '.join(parts)} FROM {table} WHERE {where}", params or []
    ).fetchall()  # all: a result left unfinished would refuse the connection's next query
    result: list[Step] = []
    first = row[0]
    previous = first
    for i in range(n):
        persons, average, median = row[3 * i], row[3 * i + 1], row[3 * i + 2]
        result.append(
            Step(
                event=steps[i],
                persons=persons,
                conversion_from_previous=percent(persons, previous),
                conversion_from_start=percent(persons, first),
                drop_off=previous - persons,
                average_seconds_to_convert=seconds_or_none(average),
                median_seconds_to_convert=seconds_or_none(median),
            )
        )
        previous = persons
    return result


def load_progress(
    ws: Workspace,
    steps: list[str],
    as_of: datetime,
    span: DateRange,
    window: timedelta,
    by: breakdowns.Breakdown | None,
    progress: Any = None,
    shape: Shape = PLAIN,
    emails: bool = False,
    by_account: bool = False,
    in_place: bool = False,
    trend: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """`progress` (each person's furthest step and step times) and `facts` (their events) of
    the funnel in a DuckDB connection; `emails`: a strict funnel's other events in `facts`,
    and every event's email in it (also with `by_account`; else each event's email is '').
    `in_place`: the caller reads nothing else (usertrack.analytics.funnel.place). `trend`
    (day, week or month): `trend_progress` too, worked out from this run's own facts."""
    import pyarrow as pa

    excluded = [name for name, _, _ in shape.exclusions]
    schema = {
        "person_id": pa.string(),
        "timestamp": pa.timestamp("us"),
        "event": pa.string(),
        "breakdown": pa.string(),
        "email": pa.string(),
    }
    params: dict[str, Any] = {
        "since": span.start,
        "until": span.end,
        "steps": sorted({split_step(step)[0] for step in [*steps, *excluded]}),
        **(by.params() if by is not None else breakdowns.no_params()),
        **({} if by is not None else {"by": narrowing_property([*steps, *excluded]) or ""}),
        "every": 1 if shape.order == "strict" else 0,
        "emails": 1 if emails or by_account else 0,
    }
    key = None if trend else progress_key(ws, steps, as_of, window, schema, params, shape)
    plain = in_place and key is None and shape == PLAIN and not (by or emails or by_account)
    plain = plain and not first_steps(steps)  # keep_first_times edits the facts
    placed = facts_in_place(ws, QUERY, as_of, params) if plain else None
    con = facts_connection() if placed is None else placed
    whole = (
        ws.scope.facts_cache.get(key)
        if key is not None and ws.scope.facts_cache is not None
        else None
    )
    if whole is not None and by is None:
        # A group's run of --by-segment: its persons' rows of everyone's progress, which is
        # all _steps_from reads (the facts only make the --by breakdown's first touches).
        kept_progress(con, ws, whole)
        return con
    if progress:
        progress("fetching funnel events")
    lean = shape.order == "strict" and not params["by"] and not emails  # no other event read
    if placed is None and not (lean and strict_facts(con, ws, QUERY, as_of, schema, params)):
        load_facts(con, ws, QUERY, as_of, "facts", schema, **params)
    if whole is not None:
        kept_progress(con, ws, whole)
        return con
    keep_first_times(con, ws, steps, as_of, span, params["by"])
    if progress:
        progress("working out the funnel")
    if shape == PLAIN and trend is None:
        _progress_table(con, steps, window)
    else:
        _progress_table(con, steps, window, shape, trend)
    if key is not None and ws.scope.facts_cache is not None:
        ws.scope.facts_cache[key] = tuple(
            con.sql(f"SELECT * FROM {t}").to_arrow_table() for t in ("progress", "excluded")
        )
    return con


def funnel(
    ws: Workspace,
    as_of: datetime,
    span: DateRange,
    *,
    steps: list[str] | None = None,
    window: timedelta = DEFAULT_WINDOW,
    by: breakdowns.Breakdown | None = None,
    compare: bool = False,
    correlation: bool = False,
    correlation_properties: Sequence[str] = (),
    time_to_convert: bool = False,
    trend: str | None = None,
    shape: Shape = PLAIN,
    progress: Any = None,
    by_account: bool = False,
    between: tuple[int, int | None] = (1, None),
    bins: int | None = None,
) -> Funnel:
    """The funnel of `steps` over `span`, as of `as_of`, optionally broken down by `by`; with
    `time_to_convert`, PostHog's histogram of the converters' times (in `bins` bins, else
    PostHog's automatic count); with `trend` (day, week or month), the conversion of each
    period's entrants; both from step `between[0]` to step `between[1]` (1-based; None: the
    last); with
    `compare`, also the funnel of the previous period of the same length (no breakdown); with
    `correlation` (or `correlation_properties`), the events (and those person properties'
    values) that go with converting or dropping (usertrack.analytics.funnel.correlation)."""
    chosen = check_steps(list(steps or DEFAULT_STEPS))
    correlation = correlation or bool(correlation_properties)
    fetched = None
    if correlation:
        from usertrack.analytics.funnel.correlation import check_options, prefetch

        check_options(by=None if by is None else by.label, compare=compare, dropped=None)
        fetched = prefetch(ws, chosen, as_of, span, window)
    previous = None
    if compare:
        # The previous period's funnel depends on nothing of this one's: worked out on a thread
        # meanwhile (its queries and DuckDB's work side by side with these; live, PostHog runs
        # up to 3 of a project's queries at once).
        from usertrack.analytics.by_segment import Background

        before = previous_span(span)
        previous = Background(
            lambda: funnel(ws, as_of, before, steps=chosen, window=window, shape=shape),
            "usertrack-previous",
        )
    try:
        result = _funnel(ws, chosen, as_of, span, window, by, correlation,
                         correlation_properties, progress, fetched,
                         Timing(time_to_convert, trend, between[0], between[1], bins),
                         shape, by_account)  # fmt: skip
    except BaseException:
        if previous is not None:  # done with the sources before the workspace closes them
            previous.settle()
        raise
    if previous is not None:
        if progress:
            progress("the previous period")
        result.previous = previous.result()
        result.previous.notes = ()
    return result


def _funnel(
    ws: Workspace,
    chosen: list[str],
    as_of: datetime,
    span: DateRange,
    window: timedelta,
    by: breakdowns.Breakdown | None,
    correlation: bool,
    correlation_properties: Sequence[str],
    progress: Any,
    fetched: Any,
    more: Timing = NO_TIMING,
    shape: Shape = PLAIN,
    by_account: bool = False,
) -> Funnel:
    """`funnel` over `span` alone (its previous period aside); `more`: the time to convert and
    the --trend asked."""
    from usertrack.analytics.by_account import account_progress, members_meanwhile

    with members_meanwhile(ws, as_of, progress, by_account) as members:  # while events count
        con = load_progress(ws, chosen, as_of, span, window, by, progress, shape,
                            by_account=by_account, in_place=not correlation,
                            trend=more.trend)  # fmt: skip
    try:
        notes: tuple[str, ...] = ()
        if members is not None:
            notes = account_progress(con, ws, as_of, progress, members)
        result = Funnel(as_of=as_of, range=span, window=window, steps=_steps_from(con, chosen))
        if shape.exclusions:
            (result.excluded,) = con.execute("SELECT count(*) FROM excluded").fetchone() or (0,)
            result.said = (excluded_line(result.excluded, shape.exclusions),)
        result.by_account, result.group = by_account, ws.scope.persons is not None
        if more.time_to_convert:
            result.time_to_convert = time_to_convert(con, more.steps(len(chosen)), more.bins)
        if more.trend is not None:
            result.trend_interval, result.trend_steps = more.trend, more.steps(len(chosen))
            result.trend = trend_points(con, span, more.trend, result.trend_steps)
        if correlation:
            from usertrack.analytics.funnel.correlation import correlate

            result.correlation = correlate(
                con, ws, chosen, as_of, span, window, correlation_properties, progress, fetched
            )
        if by is not None:
            result.by, result.breakdown_spec = by.label, by
            event = None if by.step is None else split_step(chosen[by.step - 1])[0]
            result.breakdown, result.other = breakdowns.broken_down(
                con, by, len(chosen), event,
                lambda own: _progress_table(own, chosen, window, shape),
                lambda where, values: _steps_from(con, chosen, where, values, "_bd"))  # fmt: skip
    finally:
        release(con)  # emptied and handed out again within sandbox.keep_connections
    result.notes = (*_unknown_names(ws, span, result), *notes)
    return result


def _unknown_names(ws: Workspace, span: DateRange, result: Funnel) -> tuple[str, ...]:
    """Notes for a step no one reached whose name no event in the range has, and for a --by no
    step event carried (every person's value empty): typos, not answers."""
    from usertrack.analytics.names import event_names, property_keys, unknown

    notes: tuple[str, ...] = ()
    # In a --by-segment run, a step the whole answer's run saw reached (it runs first) is an
    # event of the range: a group that did not reach it asks PostHog nothing.
    reached: set[str] = set()
    if ws.scope.facts_cache is not None:
        reached = ws.scope.facts_cache.setdefault(("funnel steps reached", span), set())
        reached.update(s.event for s in result.steps if s.persons)
    empty = {
        f"step {i}": s.event
        for i, s in enumerate(result.steps, 1)
        if not s.persons and s.event not in reached
    }
    if empty:
        notes += unknown(empty, event_names(ws, span.end, span.start), "event")
    spec = result.breakdown_spec
    if (
        spec is not None
        and result.steps[0].persons
        and all(not value.replace(breakdowns.SEPARATOR, "") for value, _ in result.breakdown)
    ):
        keys = property_keys(ws, span.end, span.start, [s.event for s in result.steps])
        for kind, name in spec.parts:
            if kind == "event":
                notes += unknown({"--by": name}, keys, "property of these events")
    return notes


def dropped(
    ws: Workspace,
    as_of: datetime,
    span: DateRange,
    step: str,
    *,
    steps: list[str] | None = None,
    window: timedelta = DEFAULT_WINDOW,
    paths: bool = False,
    path_steps: int | None = None,
    top: int | None = None,
    shape: Shape = PLAIN,
    progress: Any = None,
) -> Dropped:
    """The people who reached the step before `step` and not `step` (their furthest step is
    the one before it), newest first, with their latest email in range; with `paths`, the
    paths of those people (and no one else) from the last step they reached, over the same
    range (`path_steps` nodes, the `top` first: the paths command's defaults)."""
    chosen = check_steps(list(steps or DEFAULT_STEPS))
    index = step_index(chosen, step)
    con = load_progress(ws, chosen, as_of, span, window, None, progress, shape, emails=True)
    try:
        rows = con.execute(
            f"""
            SELECT p.person_id, e.email, p.t{index - 1} AS reached
            FROM progress p
            LEFT JOIN (SELECT person_id, arg_max(email, timestamp) AS email
                       FROM facts WHERE email <> '' GROUP BY person_id) e
                USING (person_id)
            WHERE p.furthest = ?
            ORDER BY reached DESC, p.person_id
            """,
            [index - 1],
        ).fetchall()
    finally:
        release(con)
    result = Dropped(
        as_of=as_of,
        range=span,
        window=window,
        step=index,
        event=chosen[index - 1],
        previous_event=chosen[index - 2],
        persons=[
            {"person_id": pid, "email": email, "reached_previous_at": reached}
            for pid, email, reached in rows
        ],
    )
    if paths:
        from usertrack.analytics.kept_people import run_persons
        from usertrack.analytics.paths import run as paths_mod

        ids = [str(pid) for pid, _, _ in rows if pid]
        steps_n = path_steps or paths_mod.DEFAULT_STEPS
        kept = top or paths_mod.DEFAULT_TOP
        if progress:
            progress("the droppers' paths")
        result.paths = run_persons(ws, as_of, ids, lambda droppers: paths_mod.paths(
            droppers, as_of, span, steps=steps_n, start=result.previous_event, top=kept,
        ))  # fmt: skip
        result.paths.notes = ()  # the step is an event of the range: it was reached
    return result
