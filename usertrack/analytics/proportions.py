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
