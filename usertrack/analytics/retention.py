"""Retention by cohort as PostHog computes it (docs/metrics.md, "Retention").

On the local engine, two facts queries: queries/posthog/retention_activity.sql (per person and
period: a start event, a return event) and, for first-time cohorts,
queries/posthog/retention_first_starts.sql (each person's first start event ever); cohorts and
retained counts are worked out in DuckDB. Live, PostHog counts them itself
(queries/posthog/retention_summary.sql) and answers a row per cohort and period rather than one
per person (`from_summary`); in a live --by-segment or --segment run it answers the facts (a
row per person), once, and each group counts its persons' rows of them, as on the local engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from usertrack.analytics.common import (
    FactsTable,
    facts_bound,
    next_period,
    open_facts_tables,
    period_start,
)
from usertrack.errors import UsageError

MODES = ("first-time", "recurring")
SUMMARY_QUERY = "posthog/retention_summary"
DEFAULT_START = "user_signed_up"
MAX_PERIODS = 400


@dataclass
class Cohort:
    start: date
    size: int
    retained: list[int]  # persons in period 0 (the cohort), 1, 2, ... (periods begun by as_of)


@dataclass
class Retention:
    as_of: datetime
    period: str
    mode: str
    start_event: str
    return_event: str | None  # None: any event
    cohorts: list[Cohort]
    notes: tuple[str, ...] = ()  # for stderr: a typed name the range's data does not have

    def document(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "period": self.period,
            "mode": self.mode,
            "start_event": self.start_event,
            "return_event": self.return_event,
            "cohorts": [
                {"start": c.start, "size": c.size, "retained": list(c.retained)}
                for c in self.cohorts
            ],
        }


def parse_mode(text: str) -> str:
    value = text.strip().lower()
    if value not in MODES:
        raise UsageError(f"--mode {text!r} is not one of {', '.join(MODES)}")
    return value


def cohort_starts(as_of: datetime, period: str, periods: int) -> list[date]:
    """The `periods` periods ending with the last one begun by as_of, oldest first. An as_of at
    a period's first instant (`--as-of DATE` is 00:00 UTC) ends the period before, as in
    `activity`: the new one has not begun, so it is absent, not a cohort of 0."""
    if not 1 <= periods <= MAX_PERIODS:
        raise UsageError(f"--periods {periods} must be from 1 to {MAX_PERIODS}")
    last = period_start(as_of - timedelta(microseconds=1), period)
    return [next_period(last, period, -k) for k in range(periods - 1, -1, -1)]


def retention(
    ws: Any,
    as_of: datetime,
    *,
    period: str = "week",
    periods: int = 8,
    start_event: str = DEFAULT_START,
    return_event: str | None = None,
    mode: str = "first-time",
    progress: Any = None,
) -> Retention:
    if not start_event.strip():
        raise UsageError("--start is empty")
    if return_event is not None and not return_event.strip():
        return_event = None
    starts = cohort_starts(as_of, period, periods)
    since = datetime.combine(starts[0], datetime.min.time())
    source = ws.sources[ws.library.get("posthog/retention_activity").folder]
    # PostHog counts the cohorts, but not a --by-segment or --segment group's (summary_fits)
    from usertrack.analytics.by_segment import summary_fits

    if getattr(source, "facts_cursor", None) is None and summary_fits(ws):
        if progress:
            progress("fetching cohorts")
        result = ws.run_query(
            SUMMARY_QUERY,
            as_of,
            since=since,
            period=period,
            mode=mode,
            start_event=start_event,
            return_event=return_event or "",
        )
        sizes, back = from_summary(starts, list(result.columns), [tuple(r) for r in result.rows])
    else:
        sizes, back = _counted(
            ws, as_of, since, period, starts, start_event, return_event, mode, progress
        )
    cohorts = []
    for i, start in enumerate(starts):
        size = int(sizes.get(i, 0))
        later = [int(back.get((i, k), 0)) for k in range(1, len(starts) - i)]
        cohorts.append(Cohort(start=start, size=size, retained=[size, *later]))
    # In a --by-segment run, an event the whole answer's run counted (it runs first) is an
    # event of the range: a group that has none of it looks no name up.
    seen: set[str] = set()
    if ws.facts_cache is not None:
        seen = ws.facts_cache.setdefault(("retention events counted", as_of, since), set())
    typed: dict[str, str] = {}
    if any(c.size for c in cohorts):
        seen.add(start_event)
    elif start_event not in seen:
        typed["--start"] = start_event
    if return_event is not None:
        if any(n for c in cohorts for n in c.retained[1:]):
            seen.add(return_event)
        elif return_event not in seen:
            typed["--return"] = return_event
    notes: tuple[str, ...] = ()
    if typed:
        from usertrack.analytics.names import event_names, unknown

        notes = unknown(typed, event_names(ws, as_of, since.replace(tzinfo=as_of.tzinfo)), "event")
    return Retention(
        as_of=as_of,
        period=period,
        mode=mode,
        start_event=start_event,
        return_event=return_event,
        cohorts=cohorts,
        notes=notes,
    )


def from_summary(
    starts: list[date], columns: list[str], rows: list[tuple[Any, ...]]
) -> tuple[dict[int, int], dict[tuple[int, int], int]]:
    """The cohorts' sizes (by index of `starts`) and retained persons (by cohort index and
    periods later) from the rows of retention_summary.sql: a row per cohort and period, named
    by their first days; periods not among `starts` (one not begun by as_of) are left out, as
    the facts path's join leaves them out."""
    at = {c: i for i, c in enumerate(columns)}
    index = {start: i for i, start in enumerate(starts)}
    sizes: dict[int, int] = {}
    back: dict[tuple[int, int], int] = {}
    for row in rows:
        cohort, later = index.get(_day(row[at["cohort"]])), index.get(_day(row[at["period"]]))
        if cohort is None or later is None or later < cohort:
            continue
        n = int(row[at["persons"]])
        if later == cohort:
            sizes[cohort] = n
        else:
            back[(cohort, later - cohort)] = n
    return sizes, back


def _day(value: Any) -> date:
    """A period's first day as PostHog's JSON gives it (ISO text) or DuckDB does (a date)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _counted(
    ws: Any,
    as_of: datetime,
    since: datetime,
    period: str,
    starts: list[date],
    start_event: str,
    return_event: str | None,
    mode: str,
    progress: Any,
) -> tuple[dict[int, int], dict[tuple[int, int], int]]:
    """The cohorts' sizes and retained persons (as `from_summary`'s) from the facts queries,
    counted in DuckDB (the local engine)."""
    facts = [
        FactsTable(
            "posthog/retention_activity",
            "activity",
            {
                "person_id": "VARCHAR",
                "period_start": "DATE",
                # 0/1: a HogQL comparison is ClickHouse's UInt8, not a boolean
                "did_start": "BIGINT",
                "did_return": "BIGINT",
            },
            {
                "since": since,
                "period": period,
                "start_event": start_event,
                "return_event": return_event or "",
            },
            "fetching activity per period",
        )
    ]
    if mode == "first-time":
        facts.append(
            FactsTable(
                "posthog/retention_first_starts",
                "firsts",
                {"person_id": "VARCHAR", "first_start": "TIMESTAMP"},
                {"since": since, "start_event": start_event},
                "fetching first start events",
            )
        )
    key = _cohorts_key(ws, as_of, facts, period, starts, mode)
    whole = ws.facts_cache.get(key) if key is not None else None
    if whole is not None:  # a group's run: its persons' rows of everyone's cohorts
        return _kept_counts(ws, *whole)
    # On the local engine the facts are temporary tables of a cursor on the events store
    # (open_facts_tables): the analysis's own tables are temporary too. In a --by-segment run
    # too: its groups read the cohorts kept below, never the facts' rows.
    with open_facts_tables(ws, as_of, facts, progress, whole_in_place=True) as con:
        con.execute(
            "CREATE TEMP TABLE periods AS SELECT unnest($starts) AS start,"
            " generate_subscripts($starts, 1) - 1 AS idx",
            {"starts": starts},
        )
        if mode == "first-time":
            cohort_sql = f"""
                SELECT f.person_id, p.idx FROM firsts f
                JOIN periods p ON p.start = CAST(date_trunc('{period}', f.first_start) AS DATE)
            """
        else:
            cohort_sql = """
                SELECT a.person_id, p.idx FROM activity a
                JOIN periods p ON p.start = a.period_start WHERE a.did_start > 0
            """
        con.execute(f"CREATE TEMP TABLE cohort AS {cohort_sql}")
        sizes = dict(con.execute("SELECT idx, count(*) FROM cohort GROUP BY idx").fetchall())
        returns = """
            FROM cohort c
            JOIN (SELECT a.person_id, p.idx FROM activity a
                  JOIN periods p ON p.start = a.period_start WHERE a.did_return > 0) r
              ON r.person_id = c.person_id AND r.idx > c.idx
        """
        if key is None:
            kept = con.execute(
                f"SELECT c.idx, r.idx - c.idx AS k, count(DISTINCT c.person_id) {returns}"
                " GROUP BY ALL"
            ).fetchall()
        else:  # each person's returns kept for the groups, and counted from them
            returned = con.sql(
                f"SELECT DISTINCT c.person_id, c.idx, r.idx - c.idx AS k {returns}"
            ).to_arrow_table()
            ws.facts_cache[key] = (
                con.sql("SELECT person_id, idx FROM cohort").to_arrow_table(),
                returned,
            )
            kept = _count_by(returned, "idx", "k")
    return {int(i): int(n) for i, n in sizes.items()}, {
        (int(i), int(k)): int(n) for i, k, n in kept
    }


def _cohorts_key(
    ws: Any,
    as_of: datetime,
    facts: list[FactsTable],
    period: str,
    starts: list[date],
    mode: str,
) -> tuple[Any, ...] | None:
    """Where a --by-segment run keeps everyone's cohorts, each row a person's (`ws.facts_cache`),
    when the facts are per-person facts fetched once over everyone and each group keeps its
    persons' rows of them (usertrack.analytics.by_segment): a person's cohorts and returns come
    from their own rows alone, so a group's sizes and retained persons are counted from its
    persons' rows of everyone's, worked out once. None otherwise."""
    if ws.person_rows is None or ws.facts_cache is None:
        return None
    key: list[Any] = ["retention cohorts", period, tuple(starts), mode]
    for t in facts:
        query, values, keep = facts_bound(ws, t.query_id, as_of, t.schema, **t.params)
        if keep is None:  # a facts query without the {filters} slot: it runs per group
            return None
        key += [query.sql, repr(sorted(values.items()))]
    return tuple(key)


def _kept_counts(
    ws: Any, cohort: Any, returned: Any
) -> tuple[dict[int, int], dict[tuple[int, int], int]]:
    """_counted's answer for the group's persons (`ws.person_rows`), from everyone's cohort rows
    (person_id, idx) and distinct returns (person_id, idx, k): the rows kept by person, then
    counted (a person returns once per cohort and k, as count(DISTINCT person_id) counts)."""
    from usertrack.sources.base import Result

    def kept(table: Any) -> Any:
        return ws.person_rows.kept(Result(columns=table.column_names, rows=[], arrow=table)).arrow

    sizes = _count_by(kept(cohort), "idx")
    back = _count_by(kept(returned), "idx", "k")
    return {int(i): int(n) for i, n in sizes}, {(int(i), int(k)): int(n) for i, k, n in back}


def _count_by(table: Any, first: str, second: str | None = None) -> list[tuple[int, ...]]:
    """`count(*) GROUP BY first[, second]` of an Arrow table's integer columns (each >= 0, as
    cohort indexes and their distances are): pyarrow.compute's value_counts of one key, the
    pair as first * width + second (Table.group_by would import pyarrow's acero engine, a third
    of a second, for a handful of groups)."""
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return []
    if second is None:
        counted = pc.value_counts(table[first]).to_pylist()
        return [(int(c["values"]), int(c["counts"])) for c in counted]
    width = int(pc.max(table[second]).as_py()) + 1
    key = pc.add(pc.multiply(table[first].cast("int64"), width), table[second].cast("int64"))
    return [
        (int(c["values"]) // width, int(c["values"]) % width, int(c["counts"]))
        for c in pc.value_counts(key).to_pylist()
    ]
