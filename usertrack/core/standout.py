"""Which days stand out: the one rule shared by `usertrack failures`, its failure-spike alert and
the demo generator (which sizes its spike story to clear the rule).

Plain statistics over rows of a daily trend, importing nothing of usertrack: the demo uses it
without reaching up into the reports.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def standout_days(
    trend: list[dict[str, Any]],
    keys: Sequence[tuple[str, str]] = (
        ("runs_failed", "runs"),
        ("tool_failures", "tool_calls"),
    ),
    baseline: list[dict[str, Any]] | None = None,
) -> None:
    """Mark the days whose failures stand out, in place (`stands_out`, `why`).

    A day stands out at a level when its failures are at least twice the median day's and at
    least 5 more, and its failure rate is at least 1.5 times the median day's rate (so a day that
    is merely busier does not stand out). The median day is of `baseline` (default: the trend
    itself, the window's typical day; the failure-spike alert passes the previous days, without
    the day judged).
    """
    for row in trend:
        row["stands_out"] = False
        row["why"] = ""
    typical = trend if baseline is None else baseline
    for failed_key, total_key in keys:
        counts = [int(r[failed_key] or 0) for r in trend]
        base_counts = [int(r[failed_key] or 0) for r in typical]
        rates = [(r[failed_key] or 0) / r[total_key] for r in typical if r[total_key]]
        if not counts or not base_counts:
            continue
        med = statistics.median(base_counts)
        med_rate = statistics.median(rates) if rates else 0.0
        label = "workflow" if failed_key == "runs_failed" else "tool"
        # which days the median is of, said with it: a window's own, or the days before one
        days = len(typical)
        of = f"the {days} days before" if baseline is not None else f"the {days} days shown"
        for row, count in zip(trend, counts, strict=True):
            total = row[total_key] or 0
            rate = count / total if total else 0.0
            if count >= 2 * med and count >= med + 5 and rate >= 1.5 * med_rate and count > 0:
                row["stands_out"] = True
                what = total_key.replace("_", " ")
                note = (
                    f"{label} failures {count} vs a median of {med:g} over {of}"
                    f" ({100 * rate:.1f}% vs {100 * med_rate:.1f}% of {what})"
                )
                row["why"] = f"{row['why']}; {note}" if row["why"] else note
