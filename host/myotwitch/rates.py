"""Exact intervals for counts of events in hours of observation (Poisson rates and rate
ratios), with over-dispersion phi taken out by dividing counts and hours by it (quasi-Poisson
scaling; phi = 1 gives the plain exact interval)."""

from __future__ import annotations

import math

LEVEL = 0.95
NOT_ENOUGH = "not enough data yet"


def poisson_ci(k: float, hours: float, phi: float = 1.0) -> tuple[float, float]:
    """Exact (Garwood) 95 % interval of a rate per hour from k events in `hours`, with counts
    and hours divided by phi (>= 1) for over-dispersion."""
    from scipy.stats import chi2

    if hours <= 0:
        return (math.nan, math.nan)
    phi = max(1.0, phi)
    k, t = k / phi, hours / phi
    a = (1 - LEVEL) / 2
    lo = chi2.ppf(a, 2 * k) / 2 / t if k > 0 else 0.0
    hi = chi2.ppf(1 - a, 2 * k + 2) / 2 / t
    return float(lo), float(hi)


def rate_ratio_ci(a: float, ta: float, b: float, tb: float, phi: float = 1.0):
    """Rate ratio (a/ta)/(b/tb) with an exact conditional 95 % interval: given a+b events, a is
    binomial with p = ta*RR/(ta*RR + tb) (Clopper-Pearson on p), counts divided by phi."""
    from scipy.stats import beta

    if ta <= 0 or tb <= 0:
        return (math.nan, math.nan, math.nan)
    phi = max(1.0, phi)
    x, n = a / phi, (a + b) / phi
    al = (1 - LEVEL) / 2
    rr = (a / ta) / (b / tb) if b > 0 else math.inf
    if n <= 0:
        return (math.nan, 0.0, math.inf)
    p_lo = float(beta.ppf(al, x, n - x + 1)) if x > 0 else 0.0
    p_hi = float(beta.ppf(1 - al, x + 1, n - x)) if x < n else 1.0
    lo = p_lo / (1 - p_lo) * tb / ta
    hi = p_hi / (1 - p_hi) * tb / ta if p_hi < 1 else math.inf
    return rr, lo, hi
