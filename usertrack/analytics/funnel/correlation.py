"""Funnel correlation as PostHog computes it (docs/metrics.md, "Funnel correlation").

For the persons who entered the funnel (did step 1 in the range), which events, and with
`--correlation-properties`, which person-property values, go with converting (reaching the last
step) or with dropping: PostHog's odds ratio with its +1 prior, its significance rule (a row
needs min(25, 2% of the persons) persons behind it) and its top 10 each way
(posthog/hogql_queries/insights/funnels/funnel_correlation_query_runner.py), with the phi
coefficient and its strength that PostHog's correlation details show
(frontend/src/scenes/funnels/funnelCorrelationDetailsLogic.ts).

The funnel's attempts are usertrack's (usertrack.analytics.funnel.run); the events come from
queries/posthog/correlation_events.sql, which sends per person only each event's first time
after each step-1 event, never every event; on the local engine, with the shipped file, the
funnel's persons meet the store's events in one statement instead (`_local_counts`). Counts are
of persons, never of events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import UsageError, not_with

if TYPE_CHECKING:
    import duckdb

    from usertrack.analytics.by_segment import Background
    from usertrack.analytics.common import DateRange
    from usertrack.engines.base import Result
    from usertrack.workspace import Workspace

EVENTS_QUERY = "posthog/correlation_events"
PROPERTIES_QUERY = "posthog/correlation_properties"
KEYS_QUERY = "posthog/person_property_keys"

# funnel_correlation_query_runner.py: PRIOR_COUNT, MIN_PERSON_COUNT, MIN_PERSON_PERCENTAGE, the
# top 10 each way, and "skewed" past 1:10 converters to droppers.
PRIOR_COUNT = 1
MIN_PERSON_COUNT = 25
MIN_PERSON_PERCENTAGE = 0.02
TOP = 10
SKEW = 10
MAX_PROPERTIES = 20


@dataclass
class Row:
    """An event (or a person property's value) and the persons behind it."""

    name: str  # the event name, or the property's name
    value: str | None  # the property's value ('' when a person lacks it); None for an event
    converted: int  # persons who did it (have it) and converted
    dropped: int  # ... and dropped
    odds_ratio: float
    correlation: str  # "success" (odds ratio > 1) or "failure"
    phi: float | None  # the phi coefficient of the 2x2 table, -1 to 1
    strength: str  # of |phi|: "strong" over 0.5, "moderate" over 0.3, else "weak"

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"event": self.name} if self.value is None else {
            "property": self.name, "value": self.value}  # fmt: skip
        doc.update(
            converted=self.converted,
            dropped=self.dropped,
            odds_ratio=self.odds_ratio,
            correlation=self.correlation,
            phi=self.phi,
            strength=self.strength,
        )
        return doc


@dataclass
class Correlation:
    converted: int  # persons who entered the funnel and reached its last step
    dropped: int  # ... and did not
    min_persons: float  # the significance threshold: min(25, 2% of the persons)
    skewed: bool  # over 10 converters per dropper or the reverse, or none of either
    excluded: list[str]  # the events left out: the funnel's steps
    events: list[Row] = field(default_factory=list)  # top positive, then top negative
    # Events left out as outcomes of converting: no converter did them before converting,
    # some did after (within the window): (event, those converters, droppers who did them)
    after_conversion: list[tuple[str, int, int]] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)
    property_rows: list[Row] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "converted_persons": self.converted,
            "dropped_persons": self.dropped,
            "min_persons": self.min_persons,
            "skewed": self.skewed,
            "excluded_events": self.excluded,
            "after_conversion_events": [
                {"event": name, "converted_after": after, "dropped": dropped}
                for name, after, dropped in self.after_conversion
            ],
            "events": [r.document() for r in self.events],
        }
        if self.properties:
            doc["properties"] = self.properties
            doc["property_values"] = [r.document() for r in self.property_rows]
        return doc


# --------------------------------------------------------------------------------------------
# The arithmetic (funnel_correlation_query_runner.py)


def odds_ratio(converted: int, dropped: int, converted_total: int, dropped_total: int,
               prior: int = PRIOR_COUNT) -> float:  # fmt: skip
    """`get_entity_odds_ratio`: the odds of converting with the event over the odds without it,
    each of the four cells of the 2x2 table plus `prior`."""
    return ((converted + prior) * (dropped_total - dropped + prior)) / (
        (converted_total - converted + prior) * (dropped + prior)
    )


def min_persons(total: int) -> float:
    """`are_results_insignificant`: a row with fewer persons behind it than this is left out."""
    return min(MIN_PERSON_COUNT, MIN_PERSON_PERCENTAGE * total)


def phi(converted: int, dropped: int, converted_total: int, dropped_total: int) -> float | None:
    """The phi coefficient of the 2x2 table (funnelCorrelationDetailsLogic.ts); None when a
    margin is empty."""
    tp, fn = converted, dropped
    tn, fp = dropped_total - dropped, converted_total - converted
    denominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    if denominator <= 0:
        return None
    return (tp * tn - fp * fn) / math.sqrt(denominator)


def strength(value: float | None) -> str:
    if value is None:
        return "-"
    size = abs(value)
    return "strong" if size > 0.5 else "moderate" if size > 0.3 else "weak"


def ranked(counts: Sequence[tuple[str, str | None, int, int]], converted_total: int,
           dropped_total: int) -> list[Row]:  # fmt: skip
    """The significant rows of `counts` (name, value, converted, dropped): the top 10 with an
    odds ratio over 1, highest first, then the top 10 of the others, lowest first. Ties go to
    the row with more persons, then by name and value (PostHog leaves them in query order)."""
    if not converted_total or not dropped_total:
        return []
    floor = min_persons(converted_total + dropped_total)
    rows = []
    for name, value, converted, dropped in counts:
        if converted + dropped < floor:
            continue
        ratio = odds_ratio(converted, dropped, converted_total, dropped_total)
        score = phi(converted, dropped, converted_total, dropped_total)
        rows.append(
            Row(
                name=name,
                value=value,
                converted=converted,
                dropped=dropped,
                odds_ratio=round(ratio, 4),
                correlation="success" if ratio > 1 else "failure",
                phi=None if score is None else round(score, 4),
                strength=strength(score),
            )
        )

    def key(r: Row, sign: int) -> tuple[float, int, str, str]:
        return (sign * r.odds_ratio, -(r.converted + r.dropped), r.name, r.value or "")

    positive = sorted((r for r in rows if r.correlation == "success"), key=lambda r: key(r, -1))
    negative = sorted((r for r in rows if r.correlation == "failure"), key=lambda r: key(r, 1))
    return positive[:TOP] + negative[:TOP]


# --------------------------------------------------------------------------------------------
# Options and facts


def parse_properties(texts: Sequence[str] | None) -> list[str]:
    """`--correlation-properties PROP[,PROP]` (repeatable): the person property names, in the
    order given, each once."""
    names: list[str] = []
    for text in texts or ():
        for part in text.split(","):
            name = part.strip()
            if not name:
                raise UsageError(
                    f"--correlation-properties {text!r} holds an empty property name"
                    " (give PROP[,PROP], e.g. plan,$browser)"
                )
            if name not in names:
                names.append(name)
    if len(names) > MAX_PROPERTIES:
        raise UsageError(f"--correlation-properties: at most {MAX_PROPERTIES} properties")
    return names


def check_options(*, by: str | None, compare: bool, dropped: str | None) -> None:
    """--correlation is of the whole funnel over the range: not per breakdown value, not of the
    previous period, not of a drop-off list."""
    not_with("--correlation", ("--by", by is not None), ("--compare", compare),
             ("--dropped", dropped is not None), last=True)  # fmt: skip


def correlate(
    con: duckdb.DuckDBPyConnection,
    ws: Workspace,
    steps: list[str],
    as_of: datetime,
    span: DateRange,
    window: timedelta,
    properties: Sequence[str] = (),
    progress: Any = None,
    fetched: Background[Result] | None = None,
) -> Correlation:
    """The correlation of the funnel whose per-person progress is the table `progress` of `con`
    (usertrack.analytics.funnel.run: person_id, furthest, t1 ... tN); `fetched`, the events to
    correlate already asked for (`prefetch`)."""
    import pyarrow as pa

    from usertrack.analytics.common import load_facts

    n = len(steps)
    totals = con.execute(
        f"SELECT count(*) FILTER (WHERE furthest = {n}), count(*) FILTER (WHERE furthest < {n})"
        " FROM progress"
    ).fetchall()[0]  # fetched to the end: the connection takes the facts next
    converted_total, dropped_total = int(totals[0]), int(totals[1])
    result = Correlation(
        converted=converted_total,
        dropped=dropped_total,
        min_persons=round(min_persons(converted_total + dropped_total), 2),
        skewed=_skewed(converted_total, dropped_total),
        excluded=sorted(set(steps)),
        properties=list(properties),
    )
    if converted_total and dropped_total:  # else nothing to compare (PostHog answers [])
        counted = _event_counts(con, ws, steps, as_of, span, window, progress, fetched)
        # An event no converter did before converting but some did after is an outcome of
        # converting (an upgrade after onboarding): counted only until conversion, it would
        # read as going with dropping. Left out, and said.
        outcomes = {name for name, _, c, _, after in counted if not c and after}
        result.after_conversion = sorted(
            ((name, after, d) for name, _, _, d, after in counted if name in outcomes),
            key=lambda r: (-r[1], r[0]),
        )
        result.events = ranked(
            [(name, v, c, d) for name, v, c, d, _ in counted if name not in outcomes],
            converted_total,
            dropped_total,
        )
    if properties:
        if progress:
            progress("fetching the person properties to correlate")
        schema = {"person_id": pa.string(), "key": pa.string(), "value": pa.string(),
                  "present": pa.int64()}  # fmt: skip
        load_facts(con, ws, PROPERTIES_QUERY, as_of, "props", schema, since=span.start,
                   until=span.end, event=steps[0], keys=list(properties))  # fmt: skip
        _check_known(con, ws, steps[0], as_of, span, properties)
        rows = con.execute(
            f"""
            SELECT k.key, coalesce(k.value, ''),
                   count(DISTINCT p.person_id) FILTER (WHERE p.furthest = {n}),
                   count(DISTINCT p.person_id) FILTER (WHERE p.furthest < {n})
            FROM progress p JOIN props k USING (person_id)
            GROUP BY k.key, coalesce(k.value, '')
            """
        ).fetchall()
        result.property_rows = ranked(rows, converted_total, dropped_total)
    return result


def _events_params(steps: list[str], span: DateRange, window: timedelta) -> dict[str, Any]:
    return {"since": span.start, "until": span.end, "steps": sorted(set(steps)),
            "event": steps[0], "window_seconds": int(window.total_seconds())}  # fmt: skip


def _events_schema() -> dict[str, Any]:
    import pyarrow as pa

    return {"person_id": pa.string(), "event": pa.string(), "timestamp": pa.timestamp("us")}


def prefetch(ws: Workspace, steps: list[str], as_of: datetime, span: DateRange,
             window: timedelta) -> Background[Result] | None:  # fmt: skip
    """The events to correlate asked for on a thread, while the funnel's own facts are fetched:
    their query does not depend on the funnel's answer, and PostHog runs up to 3 queries of a
    project at once (the source keeps to that), so live the two run side by side instead of
    one after the other. None where the local engine counts in its store (`_local_counts`)
    or within a --by-segment group's run (the answer over everyone is cut per group there)."""
    from usertrack.analytics.by_segment import Background
    from usertrack.analytics.common import fetch_facts

    source = ws.sources.get("posthog")
    if ws.scope.person_rows is not None or source is None:
        return None
    if source.has_facts and _shipped(ws, EVENTS_QUERY):
        return None
    params = _events_params(steps, span, window)
    schema = _events_schema()
    return Background(lambda: fetch_facts(ws, EVENTS_QUERY, as_of, schema, **params))


def _event_counts(con: duckdb.DuckDBPyConnection, ws: Workspace, steps: list[str],
                  as_of: datetime, span: DateRange, window: timedelta,
                  progress: Any, fetched: Background[Result] | None = None,
                  ) -> list[tuple[str, None, int, int, int]]:  # fmt: skip
    """Each event done inside the bounds of the funnel whose progress is the table `progress`
    of `con`, with the converted and the dropped persons who did it there, and the converters
    who did it only after converting (from their last step to step 1 + the window)."""
    n = len(steps)
    if progress:
        progress("fetching the events to correlate")
    # PostHog's bounds: strictly after the step-1 time of the person's counted attempt, strictly
    # before their last step's time, or the step-1 time + the window when they dropped.
    bound = f"coalesce(p.t{n}, p.t1 + to_microseconds($window))"
    window_us = window // timedelta(microseconds=1)
    if fetched is None:
        local = _local_counts(con, ws, steps, as_of, span, bound, window_us)
        if local is not None:
            return local
    from usertrack.analytics.common import load_facts, store_rows

    schema = _events_schema()
    if fetched is not None:
        store_rows(con, fetched.result(), "later", schema, EVENTS_QUERY)
    else:
        load_facts(con, ws, EVENTS_QUERY, as_of, "later", schema,
                   **_events_params(steps, span, window))  # fmt: skip
    rows = con.execute(
        f"""
        SELECT event, count(*) FILTER (WHERE converted AND inside),
               count(*) FILTER (WHERE NOT converted AND inside),
               count(*) FILTER (WHERE converted AND NOT inside)
        FROM (
            SELECT l.event, p.person_id, any_value(p.furthest = {n}) AS converted,
                   bool_or(l.timestamp < {bound}) AS inside
            FROM progress p JOIN later l USING (person_id)
            WHERE l.timestamp > p.t1 AND l.timestamp < p.t1 + to_microseconds($window)
            GROUP BY l.event, p.person_id
        ) AS d
        GROUP BY event
        """,
        {"window": window_us},
    ).fetchall()
    return [(str(name), None, int(c), int(d), int(a)) for name, c, d, a in rows]


# On the local engine the funnel's persons meet the store's events in one scan of the store
# (LocalPostHogSource.analysis_rows): each event of the range that is not a step, inside its
# person's bounds, counted once per person. It answers what correlation_events.sql and the join
# above answer (an event lies inside the bounds exactly when its first time after the counted
# attempt's step-1 event does, and that step-1 event is one of the query's), without grouping
# every event after every step-1 event per person and name and handing the groups over: at 5.35 M
# events 1.8 M joined rows grouped into 250,000, then moved into this connection.
_LOCAL_COUNTS = """
SELECT event, count(*) FILTER (WHERE converted AND inside),
       count(*) FILTER (WHERE NOT converted AND inside),
       count(*) FILTER (WHERE converted AND NOT inside)
FROM (
    SELECT e.event, p.person_id, any_value(p.converted) AS converted,
           bool_or(e.timestamp < p.bound) AS inside
    FROM events AS e
    JOIN _funnel_persons AS p
      ON e.person_id = p.person_id AND e.timestamp > p.t1 AND e.timestamp < p.reach
    WHERE NOT list_contains($steps, e.event)
      AND e.timestamp >= CAST(CAST($since AS TIMESTAMPTZ) AS TIMESTAMP)
      AND e.timestamp < CAST(CAST($until AS TIMESTAMPTZ) AS TIMESTAMP)
      AND e.timestamp <= CAST(CAST($as_of AS TIMESTAMPTZ) AS TIMESTAMP)
    GROUP BY e.event, p.person_id
) AS d
GROUP BY event
"""


def _local_counts(con: duckdb.DuckDBPyConnection, ws: Workspace, steps: list[str],
                  as_of: datetime, span: DateRange, bound: str,
                  window_us: int) -> list[tuple[str, None, int, int, int]] | None:  # fmt: skip
    """The event counts from the local engine's store itself, or None where they come from the
    query file: another source (PostHog sends a row per person), or a library whose
    correlation_events.sql is not the shipped one (an edited file runs as written)."""
    source = ws.sources.get("posthog")
    if source is None or not source.has_facts or not _shipped(ws, EVENTS_QUERY):
        return None
    from usertrack.engines.local.source import wire_value

    n = len(steps)
    persons = con.sql(
        f"SELECT person_id, furthest = {n} AS converted, t1, {bound} AS bound,"
        " p.t1 + to_microseconds($window) AS reach"
        " FROM progress AS p WHERE person_id IS NOT NULL",
        params={"window": window_us},
    ).to_arrow_table()
    values = {
        "steps": sorted(set(steps)),
        "since": wire_value(span.start),
        "until": wire_value(span.end),
        "as_of": wire_value(as_of),
    }
    where = f"{EVENTS_QUERY} (the funnel's persons on the local store)"
    rows = source.analysis_rows(_LOCAL_COUNTS, values, {"_funnel_persons": persons}, where)
    return [(str(name), None, int(c), int(d), int(a)) for name, c, d, a in rows]


def _shipped(ws: Workspace, query_id: str) -> bool:
    """Whether the workspace's query `query_id` is the one usertrack ships (its origin's
    digest the shipped file's)."""
    from usertrack.queries.library import shipped

    return shipped(ws.library.get(query_id))


def _skewed(converted: int, dropped: int) -> bool:
    if not converted or not dropped:
        return True
    return converted / dropped > SKEW or dropped / converted > SKEW


def _check_known(con: duckdb.DuckDBPyConnection, ws: Workspace, event: str, as_of: datetime,
                 span: DateRange, properties: Sequence[str]) -> None:  # fmt: skip
    """A typed property none of the funnel's persons has is a usage error (exit 2) naming the
    closest key they have: an answer of one '' value would read as data."""
    had = {
        r[0]
        for r in con.execute(
            "SELECT key FROM props JOIN progress USING (person_id) GROUP BY key"
            " HAVING max(present) > 0"
        ).fetchall()
    }
    missing = [p for p in properties if p not in had]
    if not missing or not con.execute("SELECT count(*) FROM progress").fetchall()[0][0]:
        return
    from usertrack.core.rulefiles import did_you_mean

    result = ws.run_query(KEYS_QUERY, as_of, since=span.start, until=span.end, event=event)
    known = {str(r["key"]): int(r["persons"]) for r in result.as_dicts() if r["key"] is not None}
    name = missing[0]
    hint = did_you_mean(name, known, n=3)
    if not hint and known:
        shown = sorted(known, key=lambda k: (-known[k], k))[:8]
        more = ", ..." if len(known) > len(shown) else ""
        hint = f" (they have: {', '.join(shown)}{more})"
    raise UsageError(
        f"--correlation-properties {name!r} is no property of the funnel's persons{hint}"
    )
