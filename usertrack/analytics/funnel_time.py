"""A funnel's time to convert (PostHog's histogram) and its conversion over time (--trend),
from the per-person `progress` table of usertrack.analytics.funnel (docs/metrics.md, "Funnel")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
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
    """--trend: the persons whose counted attempt's step 1 fell in the period, and those of
    them who reached the last step (PostHog's funnel trends: reached_from / reached_to)."""

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


def trend_points(
    con: duckdb.DuckDBPyConnection, n: int, span: DateRange, interval: str
) -> list[TrendPoint]:
    """Each period of the range (UTC days, ISO weeks or months): the persons whose counted
    attempt's step 1 falls in it and those of them who reached step `n`; every period, 0s
    included (PostHog's fill)."""
    from usertrack.analytics.common import next_period, period_start

    found = {
        d: (int(e), int(c))
        for d, e, c in con.execute(
            f"SELECT CAST(date_trunc('{interval}', t1) AS DATE), count(*),"
            f" count(*) FILTER (WHERE furthest >= {n}) FROM progress GROUP BY 1"
        ).fetchall()
    }
    points: list[TrendPoint] = []
    at, last = period_start(span.start, interval), period_start(span.last, interval)
    while at <= last:
        entered, converted = found.get(at, (0, 0))
        points.append(TrendPoint(at, entered, converted))
        at = next_period(at, interval)
    return points
