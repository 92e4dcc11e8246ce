"""An activity answer's days and lifecycle periods, and how they are worked out from one row per
person: the days and the weeks each person was active, as the bits of two integers. These give
the same figures as usertrack.analytics.activity.run's SQL over the active days (used where the
bits do not fit), and every --by-segment group's figures from everyone's bits at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from usertrack.analytics.common import FactsTable, facts_bound
from usertrack.analytics.weeks import starting, trunc_sql


@dataclass
class Day:
    date: date
    dau: int
    wau: int  # persons active on D-6 ... D
    mau: int  # persons active on D-29 ... D
    sessions: int | None = None  # distinct $session_ids with an event on D (None: not counted)
    events: int | None = None


@dataclass
class LifecyclePeriod:
    start: date
    new: int
    returning: int
    resurrecting: int
    dormant: int  # negative, as PostHog reports it


# --------------------------------------------------------------------------------------------
# The same three answers from one row per person: the days and the weeks each was active, as
# the bits of two integers. Grouping the active days by person once, then testing bits, costs
# a fifth of the window, the self-joins and the grouping above, which each sort or hash the
# person ids again (at 100,000 users: 0.47 M active days of 0.11 M persons). Used when the bits
# fit a 64-bit integer: the series' days and the 29 before them (--days up to 35), the
# lifecycle's weeks and the one before (--periods up to 63); activity's SQL otherwise.

MASK_BITS = 64
# The key of the whole table's answer in the mask functions' dicts, and its grouping expression.
WHOLE = 0
WHOLE_SQL = "0"


def bit(index: str) -> str:
    """A bit's index as a UBIGINT from 0 to 63: DuckDB shifts every row's value before the
    aggregate's FILTER drops the rows out of range, and a shift out of range is an error. A
    UBIGINT shifted by a UBIGINT stays a UBIGINT; by an INTEGER, DuckDB makes it a HUGEINT,
    whose 128-bit ORs and ANDs cost the masks' grouping and every count over them more."""
    return f"CAST(greatest(least({index}, {MASK_BITS - 1}), 0) AS UBIGINT)"


def masks_table(con: Any, first: date, last: date, weeks: list[date]) -> bool:
    """The table `masks` (person_id; days: bit k = active on first - 29 + k, up to last;
    weeks: bit k = active in the week weeks[0] - 7 + 7k), when the bits fit; else False."""
    days = (last - first).days + 1 + 29
    if days > MASK_BITS or len(weeks) + 1 > MASK_BITS:
        return False
    con.execute(
        f"""
        CREATE TEMP TABLE masks AS
        SELECT person_id,
               bit_or(CAST(1 AS UBIGINT) << {bit("day - $origin")})
                   FILTER (WHERE day BETWEEN $origin AND $last) AS days,
               bit_or(CAST(1 AS UBIGINT)
                      << {bit(f"({trunc_sql('day', 'week', starting(weeks))} - $week0) // 7")})
                   FILTER (WHERE day >= $week0 AND day < $week_end) AS weeks
        FROM active
        GROUP BY person_id
        """,
        {
            "origin": first - timedelta(days=29),
            "last": last,
            "week0": weeks[0] - timedelta(days=7),
            "week_end": weeks[-1] + timedelta(days=7),
        },
    )
    return True


def masks_key(
    ws: Any, as_of: datetime, active: FactsTable, first: date, last: date, weeks: list[date]
) -> tuple[Any, ...] | None:
    """Where a --by-segment run keeps everyone's `masks` (`scope.facts_cache`), when the active
    days are per-person facts fetched once over everyone and each group keeps its persons'
    rows of them (usertrack.analytics.by_segment): a person's masks come from their own active
    days alone (the rows without a person, one row of masks, are in no group but everyone's),
    so a group's masks are its persons' rows of everyone's, worked out once. None otherwise."""
    if ws.scope.person_rows is None or ws.scope.facts_cache is None:
        return None
    query, values, keep = facts_bound(ws, active.query_id, as_of, active.schema, **active.params)
    if keep is None:  # a facts query without the {filters} slot: it runs per group
        return None
    return ("activity masks", query.sql, repr(sorted(values.items())), first, last, tuple(weeks))


def kept_masks(con: Any, ws: Any, whole: tuple[Any, list[tuple[str, str]]]) -> None:
    """`masks`: the rows of the group's persons (`scope.person_rows`) of everyone's (an Arrow
    table and its columns' DuckDB types, each column cast back to its own on the way in)."""
    from usertrack.engines.base import Result

    table, types = whole
    kept = ws.scope.person_rows.kept(Result(columns=list(table.column_names), rows=[], arrow=table))
    columns = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in types)
    con.register("_masks_in", kept.arrow)
    con.execute(f"CREATE TEMP TABLE masks AS SELECT {columns} FROM _masks_in")
    con.unregister("_masks_in")


def kept_created(con: Any, ws: Any, as_of: datetime, weeks: list[date]) -> None:
    """`created`: the group's persons' rows of activity_created's answer (fetched once for the
    run: it takes no filter), all the lifecycle joins its masks with."""
    from usertrack.analytics.common import arrow_schema, fetch_facts, store_rows

    schema = arrow_schema({"person_id": "VARCHAR", "created_at": "TIMESTAMP"})
    since = datetime.combine(weeks[0], datetime.min.time())
    found = fetch_facts(ws, "posthog/activity_created", as_of, schema, since=since)
    store_rows(con, ws.scope.person_rows.kept(found), "created", schema, "posthog/activity_created")


def series_of_masks(
    con: Any, first: date, last: date, group: str = WHOLE_SQL
) -> dict[Any, list[Day]]:
    """_series from `masks`, per value of `group` (an expression over masks' columns; the
    whole table's: WHOLE): on day i (bit i + 29), DAU has that bit, WAU one of the 7 ending
    there, MAU one of the 30. A group without a row of masks has no key (part_of)."""
    n = (last - first).days + 1
    rows = con.execute(
        f"""
        WITH d AS (
            SELECT i, CAST(1 AS UBIGINT) << CAST(i + 29 AS UBIGINT) AS dau,
                   ((CAST(1 AS UBIGINT) << CAST(7 AS UBIGINT)) - 1) << CAST(i + 23 AS UBIGINT)
                       AS wau,
                   ((CAST(1 AS UBIGINT) << CAST(30 AS UBIGINT)) - 1) << CAST(i AS UBIGINT)
                       AS mau
            FROM range(0, $n) t(i)
        )
        SELECT {group} AS g, i,
               count(*) FILTER (WHERE days & d.dau <> 0),
               count(*) FILTER (WHERE days & d.wau <> 0),
               count(*) FILTER (WHERE days & d.mau <> 0)
        FROM d LEFT JOIN masks ON true
        GROUP BY ALL ORDER BY g, i
        """,
        {"n": n},
    ).fetchall()
    by: dict[Any, list[Day]] = {}
    for g, i, x, w, m in rows:
        day = Day(date=first + timedelta(days=int(i)), dau=int(x), wau=int(w), mau=int(m))
        by.setdefault(g, []).append(day)
    return by


def lifecycle_of_masks(
    con: Any, weeks: list[date], group: str = WHOLE_SQL
) -> dict[Any, list[LifecyclePeriod]]:
    """_lifecycle from `masks`, per value of `group` (as series_of_masks): in week i (bit
    i + 1), an active person is new in the week of their creation, else returning when active
    the week before (bit i), else resurrecting; one active the week before and not in week i
    is dormant. As the self-joins of _lifecycle find no match for a NULL person_id, events
    without a person are never returning and are dormant after every week they were active."""
    rows = con.execute(
        f"""
        WITH k AS (SELECT i, CAST(i * 7 AS INTEGER) AS offset FROM range(0, $n) t(i)),
        p AS (
            SELECT {group} AS g, m.person_id IS NOT NULL AS known, m.weeks,
                   {trunc_sql("c.created_at", "week", starting(weeks))} AS created_week
            FROM masks m LEFT JOIN created c ON c.person_id = m.person_id
            WHERE m.weeks IS NOT NULL
        ),
        bits AS (
            SELECT p.g, k.i, $week0 + k.offset AS week, p.known, p.created_week,
                   (p.weeks >> CAST(k.i + 1 AS UBIGINT)) & 1 = 1 AS active,
                   (p.weeks >> CAST(k.i AS UBIGINT)) & 1 = 1 AS before
            FROM p, k
        )
        SELECT g, i,
               count(*) FILTER (WHERE active AND created_week = week),
               count(*) FILTER (WHERE active AND created_week IS DISTINCT FROM week
                                AND known AND before),
               count(*) FILTER (WHERE active AND created_week IS DISTINCT FROM week
                                AND NOT (known AND before))
        FROM bits GROUP BY g, i
        """,
        {"n": len(weeks), "week0": weeks[0]},
    ).fetchall()
    dormant = con.execute(
        f"""
        SELECT {group} AS g, k.i, count(*)
        FROM masks m, range(0, $n) k(i)
        WHERE (m.weeks >> CAST(k.i AS UBIGINT)) & 1 = 1
          AND NOT (m.person_id IS NOT NULL AND (m.weeks >> CAST(k.i + 1 AS UBIGINT)) & 1 = 1)
        GROUP BY ALL
        """,
        {"n": len(weeks)},
    ).fetchall()
    counted = {(g, int(i)): (int(new), int(ret), int(res)) for g, i, new, ret, res in rows}
    gone = {(g, int(i)): int(n) for g, i, n in dormant}
    keys = {g for g, _ in counted} | {g for g, _ in gone}
    none = (0, 0, 0)
    return {
        g: [
            LifecyclePeriod(
                start=week,
                new=counted.get((g, i), none)[0],
                returning=counted.get((g, i), none)[1],
                resurrecting=counted.get((g, i), none)[2],
                dormant=-gone.get((g, i), 0),
            )
            for i, week in enumerate(weeks)
        ]
        for g in keys
    }


def active_days_of_masks(
    con: Any, first: date, last: date, group: str = WHOLE_SQL
) -> dict[Any, list[tuple[int, int]]]:
    """_active_days from `masks`, per value of `group` (as lifecycle_of_masks): the bits from
    29 on are the days first ... last."""
    rows = con.execute(
        f"SELECT {group} AS g, bit_count(days >> 29) AS n, count(*) FROM masks"
        " WHERE days >> 29 <> 0 GROUP BY ALL"
    ).fetchall()
    by: dict[Any, dict[int, int]] = {}
    for g, n, k in rows:
        by.setdefault(g, {})[int(n)] = int(k)
    total = (last - first).days + 1
    return {g: [(n, each.get(n, 0)) for n in range(1, total + 1)] for g, each in by.items()}


# --------------------------------------------------------------------------------------------
# A --by-segment run's groups: each group's series, lifecycle and active days are its persons'
# rows of everyone's masks (kept_masks), so all the groups' are worked out at once, the
# group one more grouping column, in the first group's run; each group's run takes its part.

REST = -2  # the group of persons with no number: "no account" (PersonRows' negate)


def group_part(
    ws: Any,
    key: tuple[Any, ...],
    whole: tuple[Any, list[tuple[str, str]]],
    as_of: datetime,
    first: date,
    last: date,
    weeks: list[date],
) -> tuple[list[Day], list[LifecyclePeriod], list[tuple[int, int]]] | None:
    """The series, lifecycle and active days of the run's group (`scope.person_rows`) from every
    group's, worked out once per run (`scope.facts_cache`); None for a group not kept by numbers
    (everyone: the answer as it is)."""
    rows = ws.scope.person_rows
    if rows.numbers is None or rows.everyone:
        return None
    every = ("activity groups", *key)
    answers = ws.scope.facts_cache.get(every)
    if answers is None:
        answers = ws.scope.facts_cache[every] = every_group(ws, whole, rows.numbers, as_of, weeks,
                                                       first, last)  # fmt: skip
    series, lifecycle, active_days = answers
    group = REST if rows.negate else rows.number
    return part_of(group, series, lifecycle, active_days, first, last, weeks)


def part_of(
    key: Any,
    series: dict[Any, list[Day]],
    lifecycle: dict[Any, list[LifecyclePeriod]],
    active_days: dict[Any, list[tuple[int, int]]],
    first: date,
    last: date,
    weeks: list[date],
) -> tuple[list[Day], list[LifecyclePeriod], list[tuple[int, int]]]:
    """`key`'s series, lifecycle and active days of the mask functions' answers; all zero for
    a key they do not have (no row of masks)."""
    days = (last - first).days + 1
    return (
        series.get(key)
        or [Day(date=first + timedelta(days=i), dau=0, wau=0, mau=0) for i in range(days)],
        lifecycle.get(key) or [LifecyclePeriod(week, 0, 0, 0, 0) for week in weeks],
        active_days.get(key) or [(n, 0) for n in range(1, days + 1)],
    )


def every_group(
    ws: Any,
    whole: tuple[Any, list[tuple[str, str]]],
    numbers: Any,
    as_of: datetime,
    weeks: list[date],
    first: date,
    last: date,
) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
    """Every group's series, lifecycle and active days (keyed by group number; REST: the
    persons with none), from everyone's masks and creation times."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from usertrack.analytics.common import arrow_schema, facts_connection, fetch_facts, store_rows
    from usertrack.checks.sandbox import release

    table, types = whole
    number = numbers.of(table)  # a row without a person is in no group
    none = pa.scalar(None, pa.int32())
    group = pc.if_else(pc.is_valid(table["person_id"]), pc.fill_null(number, REST), none)
    schema = arrow_schema({"person_id": "VARCHAR", "created_at": "TIMESTAMP"})
    since = datetime.combine(weeks[0], datetime.min.time())
    created = fetch_facts(ws, "posthog/activity_created", as_of, schema, since=since)
    con = facts_connection()
    try:
        columns = ", ".join(f'CAST("{name}" AS {kind}) AS "{name}"' for name, kind in types)
        con.register("_masks_in", table.append_column("usertrack_group", group.cast(pa.int32())))
        con.execute(
            f"CREATE TEMP TABLE masks AS SELECT {columns}, usertrack_group FROM _masks_in"
            " WHERE usertrack_group IS NOT NULL"
        )
        con.unregister("_masks_in")
        store_rows(con, created, "created", schema, "posthog/activity_created")
        by = "usertrack_group"
        return (
            series_of_masks(con, first, last, by),
            lifecycle_of_masks(con, weeks, by),
            active_days_of_masks(con, first, last, by),
        )
    finally:
        release(con)
