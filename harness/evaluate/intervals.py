"""Interval and test methods for proportions, the ones a metric declares in the registry.

- Clopper-Pearson: the exact interval of one proportion (recall@K, accuracy, flip and failure
  rates over n queries). It never covers less than the nominal level; it over-covers on small n.
- Tango's score interval for the difference of two paired proportions (the same queries under two
  models), from the discordant counts alone; its score test is Tango's (Nam's) test of a
  non-inferiority margin, and at margin 0 the exact McNemar test is used.

Bootstrap intervals (rank statistics, similarity quantiles) live in harness.evaluate.stats.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np

_BISECTION_STEPS = 60


def z_quantile(q: float) -> float:
    """The standard normal quantile."""
    return NormalDist().inv_cdf(q)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    i = np.arange(k + 1, dtype=np.float64)
    return float(np.exp(np.logaddexp.reduce(_log_choose(k, n) + i * math.log(p) + (n - i) * math.log1p(-p))))


@functools.lru_cache(maxsize=4096)
def _log_choose(k: int, n: int) -> np.ndarray:
    """log C(n, j) for j = 0..k: the same for every step of a bisection, so computed once."""
    values = np.array([math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) for j in range(k + 1)])
    values.setflags(write=False)
    return values


@functools.lru_cache(maxsize=65536)
def clopper_pearson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """The exact two-sided interval of a proportion k / n."""
    if n <= 0:
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if k == 0 else _bisect(lambda p: 1.0 - binomial_cdf(k - 1, n, p) >= tail)
    high = 1.0 if k == n else _bisect(lambda p: binomial_cdf(k, n, p) <= tail)
    return low, high


def tango_z(gained: int, lost: int, n: int, delta0: float) -> float:
    """Tango's score statistic for H0: p(b hit) - p(a hit) = delta0 over n paired queries, where
    `gained` queries are misses of a and hits of b and `lost` the reverse (1998, Stat Med 17:891)."""
    if n <= 0:
        return math.nan
    a2 = 2.0 * n
    b1 = -gained - lost + (2.0 * n - gained + lost) * delta0
    c0 = -lost * delta0 * (1.0 - delta0)
    q21 = (math.sqrt(max(b1 * b1 - 4.0 * a2 * c0, 0.0)) - b1) / (2.0 * a2)  # restricted MLE of P(lost)
    variance = n * (2.0 * q21 + delta0 * (1.0 - delta0))
    if variance <= 0:
        return 0.0 if gained - lost == n * delta0 else math.copysign(math.inf, gained - lost - n * delta0)
    return (gained - lost - n * delta0) / math.sqrt(variance)


@functools.lru_cache(maxsize=65536)
def tango_interval(gained: int, lost: int, n: int, confidence: float) -> tuple[float, float]:
    """The score interval of the paired difference: every delta0 the two-sided test keeps."""
    if n <= 0:
        return math.nan, math.nan
    z = z_quantile(1.0 - (1.0 - confidence) / 2.0)
    low = _bisect(lambda d: tango_z(gained, lost, n, d) <= z, -1.0, 1.0)
    high = _bisect(lambda d: tango_z(gained, lost, n, d) <= -z, -1.0, 1.0)
    return low, high


@functools.lru_cache(maxsize=65536)
def paired_p_greater(gained: int, lost: int, n: int, delta0: float) -> float:
    """One-sided p-value of 'the difference is at most delta0' (small p: it is larger). At delta0 = 0
    the exact McNemar test; otherwise Tango's score test."""
    if n <= 0:
        return 1.0
    if delta0 == 0.0:  # P(at least `gained` of the discordant pairs go b's way | a fair coin)
        return 1.0 - binomial_cdf(gained - 1, gained + lost, 0.5)
    return 1.0 - NormalDist().cdf(tango_z(gained, lost, n, delta0))


def _bisect(accept: Callable[[float], bool], low: float = 0.0, high: float = 1.0) -> float:
    """The boundary where `accept` turns true on [low, high] (false below, true above)."""
    for _ in range(_BISECTION_STEPS):
        mid = (low + high) / 2.0
        if accept(mid):
            high = mid
        else:
            low = mid
    return (low + high) / 2.0
