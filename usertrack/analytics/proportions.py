"""Proportions and whether two of them differ by more than chance (docs/metrics.md, "Retention:
--compare"): Wilson's score interval and the pooled two-proportion z-test, in the standard
library's arithmetic (no SciPy for a handful of numbers)."""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the normal distribution's two-sided 95% quantile
# The z-test's normal approximation holds when each group expects at least this many of each
# outcome under the pooled rate (the usual rule for a 2x2 table); below it: too few to tell.
MIN_EXPECTED = 5.0
ALPHA = 0.05

CHANGED = "changed"
NOISE = "within noise"
TOO_FEW = "too few to tell"


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson's score interval for successes / trials, in percent; None for no trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, 100 * (centre - half)), min(100.0, 100 * (centre + half))


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """The two-sided p-value of the pooled two-proportion z-test of x1/n1 against x2/n2; None
    when a group is empty. Equal rates (including all 0 or all 1) give 1."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def judged(x1: int, n1: int, x2: int, n2: int) -> tuple[float | None, str]:
    """(p-value, verdict): CHANGED when p < ALPHA, NOISE when not, TOO_FEW when a group expects
    fewer than MIN_EXPECTED of either outcome under the pooled rate (the test does not hold)."""
    p_value = two_proportion_p(x1, n1, x2, n2)
    if p_value is None:
        return None, TOO_FEW
    pooled = (x1 + x2) / (n1 + n2)
    expected = min(n * rate for n in (n1, n2) for rate in (pooled, 1 - pooled))
    if expected < MIN_EXPECTED:
        return p_value, TOO_FEW
    return p_value, CHANGED if p_value < ALPHA else NOISE


# A rate over fewer persons than this is stated with its sample and its 95% interval, never
# alone: at n < 30 the interval is wider than most changes anyone acts on (2 of 26 is 7.7%,
# and anything from 2.1% to 24.1%). The usual floor for a normal approximation of a proportion.
THIN_SAMPLE = 30


def rate_text(percent: float | None, persons: int | None, size: int | None) -> str:
    """A rate as people read it: `7.7% (2 of 26; 2.1-24.1%)` over a sample under THIN_SAMPLE
    (its size and Wilson's 95% interval), else `54.6%`; `-` for no rate."""
    if percent is None:
        return "-"
    shown = f"{percent:.1f}%"
    if persons is None or size is None or size >= THIN_SAMPLE:
        return shown
    interval = wilson(persons, size)
    bounds = f"; {interval[0]:.1f}-{interval[1]:.1f}%" if interval else ""
    return f"{shown} ({persons} of {size}{bounds})"
