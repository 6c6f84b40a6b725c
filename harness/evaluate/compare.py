"""The comparison engine: per-query samples in; estimates, differences, tests and flips out.

Every command that says "the candidate is better by X [CI], p = P" gets X, the interval and P
from here: the pytest suites, `bookclip compare`, `report --against`, probes, `finetune
--evaluate` and interpolation. What is computed for a key comes from the metric registry
(harness.evaluate.metrics): its statistic, its direction and its paired test.

- estimate: the statistic with a percentile-bootstrap CI (seeded; every metric of one query
  set is resampled with the same indices);
- compare_values: the paired bootstrap of statistic(b) - statistic(a) over the same queries,
  its CI, and the p-value of the registered test (exact McNemar on per-query 0/1 outcomes,
  the two-sided bootstrap p otherwise);
- compare_evaluations: every metric two evaluations share, with flip lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from harness.errors import EvaluationError
from harness.evaluate.intervals import clopper_pearson, paired_p_greater, tango_interval
from harness.evaluate.metrics import better_sign, direction_of, lookup, parse_key
from harness.evaluate.metrics import statistic_of as _statistic
from harness.evaluate.results import Evaluation
from harness.evaluate.stats import (
    Estimate,
    Flips,
    bca_interval,
    bootstrap_distributions,
    difference_distribution,
    flips,
    jackknife,
    mcnemar_exact,
    percentile_interval,
    statistic,
)
from harness.settings import DEFAULT_STAT_SETTINGS, StatSettings

FLIP_K = 5


@dataclass(frozen=True)
class Difference:
    """`value` (model b) minus `reference` (model a) on one metric key over the same queries.

    `samples` is the bootstrap distribution of the difference (kept for gates, not written).
    `gained`/`lost` count queries that became hits / misses, for 0/1 metrics.
    """

    key: str
    reference: float
    value: float
    delta: float
    ci_low: float
    ci_high: float
    n: int
    p_value: float
    test: str  # "mcnemar" or "bootstrap"
    higher_is_better: bool | None
    gained: int | None = None
    lost: int | None = None
    interval: str = "paired-percentile"  # how ci_low/ci_high were made ("tango" for 0/1 outcomes)
    samples: np.ndarray | None = field(default=None, compare=False, repr=False)

    def one_sided_p(self, bound: float) -> float:
        """P-value of 'the compared model is not better than the reference by more than `bound`'
        (`bound` in the better direction: +x for a `delta` rule, -margin for `non_inferior`), from
        the metric's declared test: exact McNemar at 0 and Tango's score test at a margin for 0/1
        outcomes; the paired bootstrap otherwise, (count + 1) / (B + 1) so p stays above zero."""
        sign = better_sign(self.higher_is_better)
        if self.test == "mcnemar" and self.gained is not None and self.lost is not None:
            better, worse = (self.gained, self.lost) if sign > 0 else (self.lost, self.gained)
            return paired_p_greater(better, worse, self.n, bound)
        if self.samples is None:
            raise EvaluationError(f"{self.key}: no bootstrap samples kept to test against {bound:g}")
        improvement = sign * np.asarray(self.samples, dtype=np.float64)
        return bootstrap_tail_p(int(np.count_nonzero(improvement <= bound)), improvement.size)

    @property
    def significant(self) -> str:
        """'better', 'worse' or '' : whether the whole CI lies on one side of zero."""
        if self.higher_is_better is None or not (math.isfinite(self.ci_low) and math.isfinite(self.ci_high)):
            return ""
        sign = better_sign(self.higher_is_better)
        low, high = sorted((sign * self.ci_low, sign * self.ci_high))
        return "better" if low > 0 else "worse" if high < 0 else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "reference": self.reference,
            "value": self.value,
            "delta": self.delta,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "p_value": self.p_value,
            "test": self.test,
            "interval": self.interval,
            "higher_is_better": self.higher_is_better,
            "gained": self.gained,
            "lost": self.lost,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Difference:
        def num(x: Any) -> float:
            return float("nan") if x is None else float(x)

        hib = d.get("higher_is_better")
        return cls(
            str(d["key"]),
            num(d["reference"]),
            num(d["value"]),
            num(d["delta"]),
            num(d["ci_low"]),
            num(d["ci_high"]),
            int(d["n"]),
            num(d["p_value"]),
            str(d["test"]),
            None if hib is None else bool(hib),
            None if d.get("gained") is None else int(d["gained"]),
            None if d.get("lost") is None else int(d["lost"]),
            str(d.get("interval", "paired-percentile")),
        )


@dataclass(frozen=True)
class Comparison:
    """Model b against model a on every metric both were measured on."""

    reference: Mapping[str, Any]  # spec, fingerprint of model a
    model: Mapping[str, Any]
    differences: Mapping[str, Difference]
    flips: Mapping[str, Flips]  # "<view>/<direction>" -> improved / regressed queries at FLIP_K


# --------------------------------------------------------------------------- estimates


def estimate(key: str, values: np.ndarray, settings: StatSettings = DEFAULT_STAT_SETTINGS) -> Estimate:
    """The registered statistic of `key` over per-query `values`, with its CI (NaN, n=0 when empty)."""
    return estimates({key: values}, settings)[key]


def estimates(values: Mapping[str, np.ndarray], settings: StatSettings = DEFAULT_STAT_SETTINGS) -> dict[str, Estimate]:
    """estimate() for several keys over the same queries, resampled with the same indices."""
    out: dict[str, Estimate] = {}
    by_length: dict[int, dict[str, np.ndarray]] = {}
    for key, v in values.items():
        v = np.asarray(v, dtype=np.float64)
        if v.size == 0:
            out[key] = Estimate(math.nan, math.nan, math.nan, 0, _interval(key))
        else:
            by_length.setdefault(len(v), {})[key] = v
    for group in by_length.values():
        exact = {key: v for key, v in group.items() if _interval(key) == "clopper-pearson"}
        for key, v in exact.items():
            hits = _zero_one(key, v)
            low, high = clopper_pearson(int(hits.sum()), len(hits), settings.confidence)
            out[key] = Estimate(float(v.mean()), low, high, len(v), "clopper-pearson")
        rest = {key: v for key, v in group.items() if key not in exact}
        if rest:
            kinds = {key: _statistic(key) for key in rest}
            dists = bootstrap_distributions(rest, statistics=kinds, resamples=settings.resamples, seed=settings.seed)
            for key, v in rest.items():
                value = statistic(v, kinds[key])
                low, high = _interval_of(key, value, dists[key], partial(jackknife, v, kinds[key]), settings)
                out[key] = Estimate(value, low, high, len(v), _interval(key))
    return {key: out[key] for key in values}


# --------------------------------------------------------------------------- differences


def bootstrap_tail_p(count: int, resamples: int) -> float:
    """A bootstrap tail's p-value, (count + 1) / (B + 1): B resamples cannot show one below that, and a p of
    0 would pass any multiple-testing threshold (Benjamini-Hochberg across slices)."""
    return (count + 1) / (resamples + 1)


def compare_values(
    key: str,
    a: np.ndarray,
    b: np.ndarray,
    settings: StatSettings = DEFAULT_STAT_SETTINGS,
    *,
    ids_a: Sequence[str] | np.ndarray | None = None,
    ids_b: Sequence[str] | np.ndarray | None = None,
) -> Difference:
    """b minus a on `key`. With ids, the items both were measured on are paired (probe items can
    depend on the model); without, a and b must hold the same queries in the same order."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if ids_a is not None and ids_b is not None:
        _, ia, ib = np.intersect1d(np.asarray(ids_a, dtype=str), np.asarray(ids_b, dtype=str), return_indices=True)
        a, b = a[ia], b[ib]
    if a.shape != b.shape:
        raise EvaluationError(
            f"{key}: a paired comparison needs the same queries for both models, got "
            f"{a.shape[0]} and {b.shape[0]}; evaluate both on the same view"
        )
    hib = direction_of(key)
    kind = _statistic(key)
    if a.size == 0:
        nan = math.nan
        return Difference(key, nan, nan, nan, nan, nan, 0, nan, _test(key), hib)
    reference, value = statistic(a, kind), statistic(b, kind)
    delta = value - reference
    if _test(key) == "mcnemar":  # 0/1 outcomes: everything follows from the discordant counts
        test = mcnemar_exact(_zero_one(key, a) > 0.5, _zero_one(key, b) > 0.5)
        low, high = tango_interval(test.gained, test.lost, len(a), settings.confidence)
        return Difference(
            key,
            reference,
            value,
            delta,
            low,
            high,
            len(a),
            test.p_value,
            "mcnemar",
            hib,
            test.gained,
            test.lost,
            "tango",
        )
    samples = difference_distribution(a, b, statistic_name=kind, resamples=settings.resamples, seed=settings.seed)
    low, high = _interval_of(
        key, delta, samples, lambda: jackknife(b, kind) - jackknife(a, kind), settings, paired=True
    )
    tail = int(min(np.count_nonzero(samples <= 0), np.count_nonzero(samples >= 0)))
    p = min(1.0, 2.0 * bootstrap_tail_p(tail, samples.size))
    return Difference(
        key,
        reference,
        value,
        delta,
        low,
        high,
        len(a),
        p,
        "bootstrap",
        hib,
        interval=_difference_interval(key),
        samples=samples,
    )


def compare_evaluations(a: Evaluation, b: Evaluation, settings: StatSettings | None = None) -> Comparison:
    """Every metric two evaluations of the same catalogue share, paired query by query."""
    settings = settings or StatSettings.from_dict(a.settings)
    if a.data.get("fingerprint") != b.data.get("fingerprint"):
        raise EvaluationError(
            "the two evaluations ran on different catalogues (data fingerprints differ); "
            "evaluate both checkpoints on the same --data and --categories"
        )
    differences: dict[str, Difference] = {}
    for key in a.metrics:
        if key not in b.metrics or parse_key(key) is None:
            continue
        (ids_a, va), (ids_b, vb) = a.per_query(key), b.per_query(key)
        if tuple(ids_a) != tuple(ids_b):
            raise EvaluationError(
                f"{key}: the two evaluations measured different queries; a paired comparison "
                "needs the same items in the same order (same data, categories, seed)"
            )
        differences[key] = compare_values(key, va, vb, settings)
    if not differences:
        raise EvaluationError("the two evaluations share no view; evaluate both with the same --categories/--views")
    flip_lists = {
        prefix: flips(r.ranks, b.rankings[prefix].ranks, FLIP_K, r.book_ids, r.titles)
        for prefix, r in a.rankings.items()
        if prefix in b.rankings
    }
    return Comparison(dict(a.model), dict(b.model), differences, flip_lists)


def compare_many(evaluations: Sequence[Evaluation], settings: StatSettings | None = None) -> list[Comparison]:
    """Each evaluation after the first against the first."""
    if len(evaluations) < 2:
        raise EvaluationError("compare needs at least two checkpoints")
    return [compare_evaluations(evaluations[0], other, settings) for other in evaluations[1:]]


# --------------------------------------------------------------------------- registry reads


def _interval_of(
    key: str,
    value: float,
    dist: np.ndarray,
    jack: Callable[[], np.ndarray],
    settings: StatSettings,
    *,
    paired: bool = False,
) -> tuple[float, float]:
    """The declared bootstrap interval: BCa (jackknife acceleration) or the plain percentile one."""
    method = _difference_interval(key) if paired else _interval(key)
    if method in ("bca", "paired-bca"):
        return bca_interval(value, dist, jack(), settings.confidence)
    return percentile_interval(dist, settings.confidence)


def _difference_interval(key: str) -> str:
    found = lookup(key)
    return "paired-percentile" if found is None else found.difference_interval


def _zero_one(key: str, values: np.ndarray) -> np.ndarray:
    """Per-query outcomes of a proportion metric, which must be 0 or 1."""
    if not np.isin(values, (0.0, 1.0)).all():
        raise EvaluationError(
            f"{key} is declared a per-query 0/1 outcome (test mcnemar), but its values are not "
            "all 0 or 1; declare it with test='bootstrap'"
        )
    return values


def _test(key: str) -> str:
    found = lookup(key)
    return "bootstrap" if found is None else found.test


def _interval(key: str) -> str:
    found = lookup(key)
    return "percentile" if found is None else found.interval
