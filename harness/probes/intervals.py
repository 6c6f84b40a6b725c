"""Probe metrics as per-item samples, summarised with harness.evaluate.stats' bootstrap CIs.

A probe keeps, for each metric, the per-item values keyed by book_id. The estimate (value,
ci_low, ci_high, n) comes from `bootstrap_estimates`; two checkpoints are compared with
`paired_bootstrap` on the items both probed. Items are put in book_id order first, so neither the
value nor the interval depends on the order items were probed in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.evaluate.stats import STATISTIC, DEFAULT_RESAMPLES, Estimate, bootstrap_estimates, paired_bootstrap

ProbeMetric = Estimate  # value, ci_low, ci_high, n
_EMPTY = Estimate(math.nan, math.nan, math.nan, 0)


def metric_dict(metric: Estimate) -> dict[str, float | int | None]:
    """JSON-ready metric; an undefined value (no items) becomes null rather than NaN."""
    def num(x: float) -> float | None:
        return None if math.isnan(x) else x
    return {"value": num(metric.value), "ci_low": num(metric.ci_low), "ci_high": num(metric.ci_high),
            "n": metric.n}


@dataclass(frozen=True, eq=False)
class MetricSample:
    """Per-item values behind one metric, keyed by book_id, and its statistic (mean, median or pNN)."""

    book_ids: np.ndarray
    values: np.ndarray
    statistic: str = "mean"

    def __post_init__(self) -> None:
        if not STATISTIC.match(self.statistic):
            raise ValueError(f"statistic must be mean, median or pNN (a percentile), not {self.statistic!r}")
        ids = np.asarray(self.book_ids, dtype=str)
        order = np.argsort(ids, kind="stable")  # canonical order
        object.__setattr__(self, "book_ids", ids[order])
        object.__setattr__(self, "values", np.asarray(self.values, dtype=np.float64)[order])

    def __len__(self) -> int:
        return len(self.values)

    def estimate(self, *, seed: int = 0, resamples: int = DEFAULT_RESAMPLES) -> Estimate:
        """The statistic with its seeded 95% percentile-bootstrap CI; no items gives NaN with n=0."""
        if len(self) == 0:
            return _EMPTY
        return bootstrap_estimates({"x": self.values}, statistics={"x": self.statistic},
                                   resamples=resamples, seed=seed)["x"]


def paired_difference(base: MetricSample, other: MetricSample, *, seed: int = 0,
                      resamples: int = DEFAULT_RESAMPLES) -> Estimate:
    """statistic(other) - statistic(base) on the items both hold, with a paired bootstrap 95% CI."""
    _, ia, ib = np.intersect1d(base.book_ids, other.book_ids, return_indices=True)
    if len(ia) == 0:
        return _EMPTY
    return paired_bootstrap({"x": base.values[ia]}, {"x": other.values[ib]}, statistics={"x": base.statistic},
                            resamples=resamples, seed=seed)["x"]
