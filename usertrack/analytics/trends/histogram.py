"""Trends' histogram breakdown (`--by PROP --histogram-bins N`): the numbers of an event property
cut into N equal buckets between their smallest and largest, each bucket a series (docs/metrics.md,
"Trends").

PostHog's breakdownFilter.breakdown_histogram_bin_count, as
posthog/hogql_queries/insights/trends/trends_query_builder.py (`_inner_breakdown_subquery`)
builds it: the min and max of the property over the series' events (its `min_max` CTE), bucket
x of N from `(diff / N) * x + min` to `(diff / N) * (x + 1) + min` (the last one's upper end
0.01 higher, so that the max falls in it), a number in the first bucket with lower end <= it <
upper end, and a bucket labelled by ClickHouse's toString of the pair, `[10,17.5]`; an event
without a number is in PostHog's null bucket (usertrack's '', shown "(none)"). The ends come
from queries/posthog/trends_histogram.sql; the buckets are counted by trends_counts.sql,
trends_persons.sql and trends_actor_counts.sql (their `{edges}` and `{buckets}`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from usertrack.core.errors import UsageError

if TYPE_CHECKING:
    from datetime import datetime

    from usertrack.workspace import Workspace

# PostHog's own input takes any count from 1 (frontend BreakdownTagMenu.tsx, `min={1}`); past a
# hundred buckets a chart or a table of them says nothing, and --breakdown-limit stops at 100 too.
MIN_BINS, MAX_BINS = 1, 100
ENDS = "posthog/trends_histogram"


def check_bins(bins: int | None, by: str | None, compare: bool) -> None:
    """Refuse a --histogram-bins no run could answer, before any query."""
    if bins is None:
        return
    if not MIN_BINS <= bins <= MAX_BINS:
        raise UsageError(f"--histogram-bins {bins} must be from {MIN_BINS} to {MAX_BINS}")
    if by is None:
        raise UsageError("--histogram-bins needs --by PROPERTY: the property whose numbers it bins")
    if compare:
        raise UsageError(
            "--histogram-bins and --compare do not go together: each period's buckets would be"
            " other ones"
        )


@dataclass(frozen=True)
class Buckets:
    """One event's buckets: `edges` (each bucket's lower end, then the last one's upper end)
    and `labels` (each bucket's), both in bucket order; none when no event had a number."""

    edges: tuple[float, ...]
    labels: tuple[str, ...]

    def params(self) -> dict[str, Any]:
        """The facts queries' `edges` and `buckets`: '' before the first bucket and after the
        last (no number, or one past the last end)."""
        return {"edges": list(self.edges), "buckets": ["", *self.labels, ""]}

    def order(self, found: dict[str, Any]) -> list[str]:
        """The buckets with events in bucket order, then '' (the events without a number)
        when any: the series, as PostHog's are only the buckets with events."""
        return [b for b in (*self.labels, "") if b in found]


def buckets(lowest: float, highest: float, bins: int) -> Buckets:
    """PostHog's `bins` buckets from `lowest` to `highest`, each end worked out as its
    ClickHouse expression does, in the same order of operations."""
    diff = highest - lowest
    lows = [((diff / bins) * x) + lowest for x in range(bins)]
    top = ((diff / bins) * bins) + lowest + 0.01
    highs = [*lows[1:], top]
    labels = tuple(
        f"[{clickhouse_float(a)},{clickhouse_float(b)}]" for a, b in zip(lows, highs, strict=True)
    )
    return Buckets((*lows, top), labels)


def fetch(ws: Workspace, as_of: datetime, bounds: dict[str, Any], bins: int) -> Buckets:
    """The buckets of one event's `by` over its range (`bounds`: the facts queries' range,
    event and breakdown), from trends_histogram.sql's ends; none without a number."""
    keys = ("since", "until", "event", "by", "by_of")
    (row,) = ws.run_query(ENDS, as_of, **{k: bounds[k] for k in keys}).as_dicts() or [{}]
    if not int(row.get("numbers") or 0):
        return Buckets((), ())
    return buckets(float(row["min"]), float(row["max"]), bins)


def clickhouse_float(x: float) -> str:
    """A Float64 as ClickHouse's toString writes it: the shortest digits that read back as
    the same number, plain from 1e-6 up to below 1e21 (`10`, `17.5`, `0.00001`), else with an
    exponent (`1e21`, `1.5e-7`), as JavaScript writes numbers."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    sign, digits_t, exponent = Decimal(repr(x)).as_tuple()
    digits = "".join(map(str, digits_t)).rstrip("0") or "0"
    exp = int(exponent) + len(digits_t) - len(digits)  # x = digits * 10**exp
    k, n = len(digits), exp + len(digits)  # n: where the decimal point goes
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
        text = f"{mantissa}e{n - 1}"
    return ("-" if sign else "") + text
