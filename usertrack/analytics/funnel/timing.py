"""A funnel's time to convert (PostHog's histogram) and its conversion over time (--trend),
from the per-person `progress` table of usertrack.analytics.funnel.run (docs/metrics.md,
"Funnel")."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from usertrack.analytics.common import DateRange


@dataclass
class TimeToConvert:
    """PostHog's time-to-convert histogram of the persons who reached the last step: each
    one's seconds from step 1 to the last step, in `bins` of `bin_width` seconds from
    `from_seconds` (posthog/hogql_queries/insights/funnels/funnel_time_to_convert.py)."""

    average_seconds: float | None
    bin_width_seconds: int
    bins: list[tuple[int, int]]  # (bin's first second, persons)

    def document(self) -> dict[str, Any]:
        return {
            "average_seconds": self.average_seconds,
            "bin_width_seconds": self.bin_width_seconds,
            "bins": [{"from_seconds": b, "persons": n} for b, n in self.bins],
        }


@dataclass
class TrendPoint:
    """--trend: the persons with an attempt that started in the period, and those of them one
    of whose attempts started there reached the last step (PostHog's funnel trends:
    reached_from / reached_to)."""

    start: date
    entered: int
    converted: int

    @property
    def conversion_rate(self) -> float:
        return round(100.0 * self.converted / self.entered, 2) if self.entered else 0.0

    def document(self) -> dict[str, Any]:
        return {"start": self.start, "entered": self.entered, "converted": self.converted,
                "conversion_rate": self.conversion_rate}  # fmt: skip


def time_to_convert(con: duckdb.DuckDBPyConnection, n: int) -> TimeToConvert:
    """PostHog's histogram (funnel_time_to_convert.py) over `progress`: a sample per person who
    reached step `n`, their seconds from step 1 to step n; bin_count = min(60, max(1,
    ceil(cbrt(samples)))); from = floor(min), to = ceil(max) (0 and 1 without samples); width
    = ceil((to - from) / bin_count), else 60; bin_count + 1 bins from `from`, each person in
    bin floor((t - from) / width); the average rounded to 2 places."""
    import math

    rows = con.execute(
        f"SELECT epoch(t{n}) - epoch(t1) FROM progress WHERE furthest >= {n}"
    ).fetchall()
    times = [float(t) for (t,) in rows]
    count = min(60, max(1, math.ceil(round(len(times) ** (1 / 3), 9)))) if times else 1
    low = math.floor(min(times)) if times else 0
    high = math.ceil(max(times)) if times else 1
    width = math.ceil((high - low) / count)
    width = width if width > 0 else 60
    bins = [0] * (count + 1)
    for t in times:
        k = math.floor((t - low) / width)
        if 0 <= k <= count:
            bins[k] += 1
    average = round(sum(times) / len(times), 2) if times else None
    return TimeToConvert(average, width, [(low + k * width, c) for k, c in enumerate(bins)])


def person_periods(
    timeline: Sequence[tuple[int, int]],
    interval: str,
    n: int,
    starts: Collection[int],
    reached: Callable[[Sequence[tuple[int, int]], tuple[int, int]], list[int] | None],
) -> list[tuple[date, bool]]:
    """One person's --trend rows, as PostHog's funnel trends count them (funnel-udf/src/
    trends.rs, `process_event`: a step-1 event enters the person in its interval, and each
    interval's attempts advance on their own): for each period holding one of the person's
    step-1 events (`starts`, ranks), whether an attempt started in it reached step `n`;
    `reached(timeline, entry)` is the person's progress with only the step-1 events at
    entry[0] <= time < entry[1] starting an attempt. A period whose attempts are all
    excluded is left out."""
    from usertrack.analytics.common import next_period, period_start

    rows: list[tuple[date, bool]] = []
    for start in sorted({period_start(moment(t), interval) for t, rank in timeline
                         if rank in starts}):  # fmt: skip
        steps = reached(timeline, (micros(start), micros(next_period(start, interval))))
        if steps:
            rows.append((start, len(steps) >= n))
    return rows


def moment(us: int) -> datetime:
    """A time in microseconds since the epoch (UTC), as a naive UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def micros(day: date) -> int:
    """The microseconds since the epoch of the start of a UTC day."""
    return (datetime(day.year, day.month, day.day) - EPOCH) // timedelta(microseconds=1)


EPOCH = datetime(1970, 1, 1)


def trend_table(con: duckdb.DuckDBPyConnection, periods: list[tuple[str, date, bool]],
                 trend: str, n: int, fast: bool) -> None:  # fmt: skip
    """`trend_progress` (person_id, period, converted): `periods`, and for the one-pass persons
    (`fast`: one step-1 event each) the period of their step 1, converted with step `n`."""
    import pyarrow as pa

    people, starts, converted = zip(*periods, strict=True) if periods else ((), (), ())
    con.register("_periods_in", pa.table({
        "person_id": pa.array(people, pa.string()),
        "period": pa.array(starts, pa.date32()),
        "converted": pa.array(converted, pa.bool_()),
    }))  # fmt: skip
    con.execute("CREATE TEMP TABLE trend_progress AS SELECT * FROM _periods_in")
    con.unregister("_periods_in")
    if fast:
        con.execute(
            "INSERT INTO trend_progress SELECT person_id,"
            f" CAST(date_trunc('{trend}', t1) AS DATE), furthest >= {n} FROM _fast_progress"
        )


def trend_points(
    con: duckdb.DuckDBPyConnection, span: DateRange, interval: str
) -> list[TrendPoint]:
    """Each period of the range (UTC days, ISO weeks or months): the persons who entered in it
    and those of them who converted there (`trend_progress`: person_id, period, converted, a
    row per person and period they entered in); every period, 0s included (PostHog's fill)."""
    from usertrack.analytics.common import next_period, period_start

    found = {
        d: (int(e), int(c))
        for d, e, c in con.execute(
            "SELECT period, count(*), count(*) FILTER (WHERE converted) FROM trend_progress"
            " GROUP BY 1"
        ).fetchall()
    }
    points: list[TrendPoint] = []
    at, last = period_start(span.start, interval), period_start(span.last, interval)
    while at <= last:
        entered, converted = found.get(at, (0, 0))
        points.append(TrendPoint(at, entered, converted))
        at = next_period(at, interval)
    return points
