"""A funnel's time to convert (PostHog's histogram) and its conversion over time (--trend),
from the per-person `progress` table of usertrack.analytics.funnel.run (docs/metrics.md,
"Funnel")."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    import duckdb

    from usertrack.analytics.common import DateRange


@dataclass
class TimeToConvert:
    """PostHog's time-to-convert histogram of the persons who reached step `to_step`: each
    one's seconds from step `from_step` to step `to_step` (1-based; by default step 1 and the
    last), in `bins` of `bin_width` seconds from `from_seconds`
    (posthog/hogql_queries/insights/funnels/funnel_time_to_convert.py)."""

    average_seconds: float | None
    bin_width_seconds: int
    bins: list[tuple[int, int]]  # (bin's first second, persons)
    from_step: int = 1
    to_step: int = 2

    def document(self) -> dict[str, Any]:
        return {
            "from_step": self.from_step,
            "to_step": self.to_step,
            "average_seconds": self.average_seconds,
            "bin_width_seconds": self.bin_width_seconds,
            "bins": [{"from_seconds": b, "persons": n} for b, n in self.bins],
        }


@dataclass(frozen=True)
class Timing:
    """What a funnel measures over time: --time-to-convert (in --bins bins, PostHog's
    binCount), --trend's interval, and the steps both run between, --from-step and --to-step
    (1-based; PostHog's funnelsFilter.funnelFromStep and funnelToStep, 0-based, which its time
    to convert and its funnel trends read alike). `to_step` None: the last step."""

    time_to_convert: bool = False
    trend: str | None = None
    from_step: int = 1
    to_step: int | None = None
    bins: int | None = None

    def steps(self, n: int) -> tuple[int, int]:
        """(from, to) in a funnel of `n` steps."""
        return self.from_step, self.to_step or n


NO_TIMING = Timing()

# PostHog's funnel_time_to_convert.py `get_query`: "Custom count is clamped between 1 and 90".
MAX_BINS = 90


def check_timing(
    from_step: int | None,
    to_step: int | None,
    bins: int | None,
    n: int,
    asked: tuple[bool, str | None, str],
) -> tuple[tuple[int, int | None], int | None]:
    """--from-step, --to-step and --bins checked against a funnel of `n` steps and what was
    `asked` (--time-to-convert, --trend, --order): ((from, to), bins), to None for the last
    step. PostHog clamps a binCount out of 1-90 and refuses a funnelToStep out of the funnel
    (funnel_time_to_convert.py, `get_query`); usertrack refuses both (exit 2)."""
    time_to_convert, trend, order = asked
    for option, value in (("--from-step", from_step), ("--to-step", to_step)):
        if value is not None and not (time_to_convert or trend):
            raise UsageError(f"{option} needs --time-to-convert or --trend (what it measures)")
        if value is not None and not 1 <= value <= n:
            raise UsageError(f"{option} {value}: a step number 1-{n} of this funnel")
    first, last = from_step or 1, to_step or n
    if first >= last:
        raise UsageError(
            f"--from-step {first} and --to-step {last}: the from step comes before the to step"
        )
    if bins is not None and not time_to_convert:
        raise UsageError("--bins needs --time-to-convert (the histogram it divides)")
    if bins is not None and not 1 <= bins <= MAX_BINS:
        raise UsageError(f"--bins {bins}: from 1 to {MAX_BINS} (PostHog's bound)")
    if trend and order == "any" and last != n:
        # funnel-udf/src/unordered_trends.rs, `loop_prop_val`: a period converts when its
        # max step reaches num_steps, whatever to_step says.
        raise UsageError(
            "--to-step and --trend with --order any: a funnel in any order converts at its"
            f" last step only (--to-step {n})"
        )
    return (first, to_step), bins


@dataclass
class TrendPoint:
    """--trend: the persons with an attempt that started in the period and reached the
    --from-step (step 1 by default), and those of them one of whose attempts started there
    reached the --to-step (the last by default): PostHog's funnel trends, reached_from /
    reached_to."""

    start: date
    entered: int
    converted: int

    @property
    def conversion_rate(self) -> float:
        return round(100.0 * self.converted / self.entered, 2) if self.entered else 0.0

    def document(self) -> dict[str, Any]:
        return {"start": self.start, "entered": self.entered, "converted": self.converted,
                "conversion_rate": self.conversion_rate}  # fmt: skip


def time_to_convert(
    con: duckdb.DuckDBPyConnection, steps: tuple[int, int], bin_count: int | None = None
) -> TimeToConvert:
    """PostHog's histogram (funnel_time_to_convert.py, `get_query`) over `progress`: a sample
    per person who reached step `to` (`steps`: (from, to), 1-based), their seconds from step
    `from` to step `to` (PostHog sums the step conversion times between funnelFromStep and
    funnelToStep); `bin_count` (PostHog's binCount, 1 to 90), else min(60, max(1,
    ceil(cbrt(samples)))); from = floor(min), to = ceil(max) (0 and 1 without samples); width
    = ceil((to - from) / bin_count), else 60; bin_count + 1 bins from `from`, each person in
    bin floor((t - from) / width); the average rounded to 2 places."""
    import math

    first, last = steps
    rows = con.execute(
        f"SELECT epoch(t{last}) - epoch(t{first}) FROM progress WHERE furthest >= {last}"
    ).fetchall()
    times = [float(t) for (t,) in rows]
    count = min(60, max(1, math.ceil(round(len(times) ** (1 / 3), 9)))) if times else 1
    if bin_count is not None:
        count = bin_count
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
    return TimeToConvert(
        average, width, [(low + k * width, c) for k, c in enumerate(bins)], first, last
    )


def person_periods(
    timeline: Sequence[tuple[int, int]],
    interval: str,
    starts: Collection[int],
    reached: Callable[[Sequence[tuple[int, int]], tuple[int, int]], list[int] | None],
) -> list[tuple[date, int]]:
    """One person's --trend rows, as PostHog's funnel trends count them (funnel-udf/src/
    trends.rs, `process_event`: a step-1 event enters the person in its interval, and each
    interval's attempts advance on their own): for each period holding one of the person's
    step-1 events (`starts`, ranks), the furthest step an attempt started in it reached;
    `reached(timeline, entry)` is the person's progress with only the step-1 events at
    entry[0] <= time < entry[1] starting an attempt. A period whose attempts are all
    excluded is left out."""
    from usertrack.analytics.common import next_period, period_start

    rows: list[tuple[date, int]] = []
    for start in sorted({period_start(moment(t), interval) for t, rank in timeline
                         if rank in starts}):  # fmt: skip
        steps = reached(timeline, (micros(start), micros(next_period(start, interval))))
        if steps:
            rows.append((start, len(steps)))
    return rows


def moment(us: int) -> datetime:
    """A time in microseconds since the epoch (UTC), as a naive UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def micros(day: date) -> int:
    """The microseconds since the epoch of the start of a UTC day."""
    return (datetime(day.year, day.month, day.day) - EPOCH) // timedelta(microseconds=1)


EPOCH = datetime(1970, 1, 1)


def trend_table(con: duckdb.DuckDBPyConnection, periods: list[tuple[str, date, int]],
                 trend: str, fast: bool) -> None:  # fmt: skip
    """`trend_progress` (person_id, period, furthest): `periods`, and for the one-pass persons
    (`fast`: one step-1 event each) the period of their step 1 and their furthest step."""
    import pyarrow as pa

    people, starts, furthest = zip(*periods, strict=True) if periods else ((), (), ())
    con.register("_periods_in", pa.table({
        "person_id": pa.array(people, pa.string()),
        "period": pa.array(starts, pa.date32()),
        "furthest": pa.array(furthest, pa.int32()),
    }))  # fmt: skip
    con.execute("CREATE TEMP TABLE trend_progress AS SELECT * FROM _periods_in")
    con.unregister("_periods_in")
    if fast:
        con.execute(
            "INSERT INTO trend_progress SELECT person_id,"
            f" CAST(date_trunc('{trend}', t1) AS DATE), furthest FROM _fast_progress"
        )


def trend_points(
    con: duckdb.DuckDBPyConnection, span: DateRange, interval: str, steps: tuple[int, int]
) -> list[TrendPoint]:
    """Each period of the range (UTC days, ISO weeks or months): the persons who entered in it,
    an attempt started there reaching step `steps[0]`, and those of them who converted there,
    one reaching step `steps[1]` (`trend_progress`: person_id, period, furthest, a row per
    person and period they started an attempt in; funnel-udf/src/trends.rs: an interval counts
    when its max step is at least from_step, and converts when it reaches to_step); every
    period, 0s included (PostHog's fill)."""
    from usertrack.analytics.common import next_period, period_start

    found = {
        d: (int(e), int(c))
        for d, e, c in con.execute(
            "SELECT period, count(*) FILTER (WHERE furthest >= $1),"
            " count(*) FILTER (WHERE furthest >= $2) FROM trend_progress GROUP BY 1",
            list(steps),
        ).fetchall()
    }
    points: list[TrendPoint] = []
    at, last = period_start(span.start, interval), period_start(span.last, interval)
    while at <= last:
        entered, converted = found.get(at, (0, 0))
        points.append(TrendPoint(at, entered, converted))
        at = next_period(at, interval)
    return points
