"""Uncertainty and significance for per-query metrics.

- Percentile bootstrap CIs (seeded, vectorised; every metric of one query set is resampled with
  the same indices, so CIs of related metrics are consistent).
- The bootstrap distribution of the difference between two checkpoints on the same queries (each
  resample draws the same queries for both, which removes the between-query variance from the
  delta); harness.evaluate.compare turns it into a CI and a test.
- McNemar's exact test on per-query hits (a two-sided binomial test on the discordant pairs).
- Flip lists: the queries one checkpoint gets right at k and the other does not.

A metric's statistic over its per-query values is "mean" (the default), "median" or "pNN", the
NN-th percentile (e.g. "p90" for the tail of a similarity drop).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import EvaluationError
from harness.settings import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES
from harness.settings import confidence as check_confidence

STATISTIC = re.compile(r"^(?:mean|median|p(?:[1-9]?\d))$")
# Resample indices are drawn in blocks of at most this many entries (32 MiB of int64).
_BLOCK_ENTRIES = 4_000_000


@dataclass(frozen=True)
class Estimate:
    """A statistic over n queries with its confidence interval, and how that interval was made."""

    value: float
    ci_low: float
    ci_high: float
    n: int
    interval: str = "percentile"

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "interval": self.interval,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Estimate:
        def num(x: Any) -> float:
            return math.nan if x is None else float(x)

        return cls(
            num(d["value"]), num(d["ci_low"]), num(d["ci_high"]), int(d["n"]), str(d.get("interval", "percentile"))
        )


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test on paired hits: `gained` = miss -> hit, `lost` = hit -> miss."""

    gained: int
    lost: int
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {"gained": self.gained, "lost": self.lost, "p_value": self.p_value}


@dataclass(frozen=True)
class Flip:
    """One query whose hit at k changed between two checkpoints."""

    index: int
    book_id: str
    title: str
    rank_a: int
    rank_b: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "book_id": self.book_id,
            "title": self.title,
            "rank_a": self.rank_a,
            "rank_b": self.rank_b,
        }


@dataclass(frozen=True)
class Flips:
    """Queries improved (miss at k -> hit) and regressed (hit -> miss) from checkpoint a to b."""

    k: int
    improved: tuple[Flip, ...]
    regressed: tuple[Flip, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "improved": [f.to_dict() for f in self.improved],
            "regressed": [f.to_dict() for f in self.regressed],
        }


def resample_indices(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Iterator[np.ndarray]:
    """Bootstrap index blocks (rows = resamples, columns = n draws with replacement), in seed order."""
    if n <= 0:
        raise EvaluationError("cannot bootstrap an empty set of queries; the view has no items")
    if resamples < 1:
        raise EvaluationError(f"bootstrap needs at least 1 resample, got {resamples}; use e.g. 1000")
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, _BLOCK_ENTRIES // n))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def bootstrap_estimates(
    values: Mapping[str, np.ndarray],
    *,
    statistics: Mapping[str, str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Percentile CIs of the statistic of each per-query array (`statistics[name]`, default mean)."""
    check_confidence(confidence)
    arrays = _checked(values)
    kinds = _kinds(arrays, statistics)
    dists = bootstrap_distributions(arrays, statistics=kinds, resamples=resamples, seed=seed)
    return {name: _estimate(statistic(v, kinds[name]), dists[name], confidence, len(v)) for name, v in arrays.items()}


def bootstrap_distributions(
    values: Mapping[str, np.ndarray],
    *,
    statistics: Mapping[str, str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The bootstrap distribution of each array's statistic; every array is resampled with the same indices."""
    arrays = _checked(values)
    kinds = _kinds(arrays, statistics)
    n = _common_length(arrays)
    dists: dict[str, list[np.ndarray]] = {name: [] for name in arrays}
    for idx in resample_indices(n, resamples, seed):
        for name, v in arrays.items():
            dists[name].append(resampled_statistic(v, idx, kinds[name]))
    return {name: np.concatenate(d) for name, d in dists.items()}


def resampled_statistic(v: np.ndarray, idx: np.ndarray, name: str = "mean") -> np.ndarray:
    """statistic_rows(v[idx], name): the statistic of each resample (row of `idx`) of a 1-D float64 `v`.

    A median is read from counts, equal bit for bit to np.median: a resample's order statistics are those
    of its draws' positions in v sorted, so one counting pass over the block finds the middle two, where
    np.median partitions every row (1.5 to 2 times the time of a median rank's bootstrap)."""
    if name != "median" or idx.ndim != 2 or idx.shape[1] == 0 or not np.isfinite(v).all():
        return statistic_rows(v[idx], name)
    n = len(v)
    order = np.argsort(v, kind="stable")
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    rows, draws = idx.shape
    counts = np.bincount((np.arange(rows)[:, None] * n + position[idx]).ravel(), minlength=rows * n).reshape(rows, n)
    np.cumsum(counts, axis=1, out=counts)  # row r, column j: draws of r at sorted positions <= j
    ordered = v[order]
    low: np.ndarray = ordered[(counts > (draws - 1) // 2).argmax(axis=1)]
    if draws % 2:
        return low
    middle: np.ndarray = (low + ordered[(counts > draws // 2).argmax(axis=1)]) / 2  # np.median's mean of two
    return middle


def jackknife(values: np.ndarray, statistic_name: str = "mean") -> np.ndarray:
    """The statistic with each query left out in turn (n values)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:  # nothing to leave out: no acceleration
        return np.full(len(v), statistic(v, statistic_name) if len(v) else np.nan)
    if statistic_name == "mean":
        left_out: np.ndarray = (v.sum() - v) / max(len(v) - 1, 1)
        return left_out
    # A median or percentile reads two order statistics (low, high) of the n - 1 values left. Leaving out a
    # value that sorts at or below `low`, between them, or above `high` leaves the same two order
    # statistics for every member of that case: one statistic() per case instead of one per query.
    _check_statistic(statistic_name)
    order = np.argsort(v, kind="stable")
    position = np.empty(len(v), dtype=np.int64)
    position[order] = np.arange(len(v))
    q = 0.5 if statistic_name == "median" else int(statistic_name[1:]) / 100.0
    low = int(np.floor((len(v) - 2) * q))
    high = min(low + 1, len(v) - 2)
    case = np.where(position <= low, 0, np.where(position <= high, 1, 2))
    left_out = np.empty(len(v), dtype=np.float64)
    for c in np.unique(case):
        members = np.flatnonzero(case == c)
        left_out[members] = statistic(np.delete(v, members[0]), statistic_name)
    return left_out


def bca_interval(value: float, dist: np.ndarray, jack: np.ndarray, confidence: float) -> tuple[float, float]:
    """Efron's bias-corrected and accelerated interval from a bootstrap distribution and the
    jackknife values of the same statistic (it corrects the percentile interval's skew)."""
    from statistics import NormalDist

    normal = NormalDist()
    below = (np.count_nonzero(dist < value) + 0.5 * np.count_nonzero(dist == value)) / dist.size
    z0 = normal.inv_cdf(min(max(below, 1e-6), 1 - 1e-6))
    spread = jack.mean() - jack
    denominator = 6.0 * float(np.sum(spread**2)) ** 1.5
    accel = float(np.sum(spread**3)) / denominator if denominator > 0 else 0.0
    levels = []
    for q in ((1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0):
        zq = z0 + normal.inv_cdf(q)
        levels.append(normal.cdf(z0 + zq / (1.0 - accel * zq)) if accel * zq < 1 else (0.0 if q < 0.5 else 1.0))
    low, high = np.quantile(dist, levels)
    return float(low), float(high)


def difference_distribution(
    a: np.ndarray, b: np.ndarray, *, statistic_name: str = "mean", resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> np.ndarray:
    """Bootstrap distribution of statistic(b) - statistic(a), resampling the queries jointly.

    The same seed draws the same resamples as every other function here, so distributions of
    several metrics over one set of queries are paired with each other too.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise EvaluationError(f"paired comparison needs the same queries on both sides, got {a.shape} and {b.shape}")
    _check_statistic(statistic_name)
    return np.concatenate(
        [
            resampled_statistic(b, idx, statistic_name) - resampled_statistic(a, idx, statistic_name)
            for idx in resample_indices(len(a), resamples, seed)
        ]
    )


def mcnemar_exact(hits_a: np.ndarray, hits_b: np.ndarray) -> McNemar:
    """Two-sided exact McNemar test: P(as extreme a split of the discordant pairs | fair coin)."""
    hits_a, hits_b = np.asarray(hits_a, dtype=bool), np.asarray(hits_b, dtype=bool)
    if hits_a.shape != hits_b.shape:
        raise EvaluationError(f"McNemar needs the same queries for both checkpoints: {hits_a.shape} vs {hits_b.shape}")
    gained = int(np.sum(~hits_a & hits_b))
    lost = int(np.sum(hits_a & ~hits_b))
    return McNemar(gained, lost, binomial_two_sided_p(min(gained, lost), gained + lost))


def binomial_two_sided_p(k: int, n: int) -> float:
    """min(1, 2 * P(X <= k)) for X ~ Binomial(n, 1/2), k <= n/2; computed in log space for large n."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    log_terms = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(k + 1)])
    log_cdf = np.logaddexp.reduce(log_terms) - n * math.log(2.0)
    return float(min(1.0, 2.0 * math.exp(log_cdf)))


def flips(
    ranks_a: np.ndarray,
    ranks_b: np.ndarray,
    k: int,
    book_ids: Sequence[str],
    titles: Sequence[str],
) -> Flips:
    """Queries whose hit at k differs between checkpoint a and b, largest rank change first."""
    ranks_a, ranks_b = np.asarray(ranks_a), np.asarray(ranks_b)
    if ranks_a.shape != ranks_b.shape or len(ranks_a) != len(book_ids) or len(book_ids) != len(titles):
        raise EvaluationError(
            "flip lists need per-query ranks, ids and titles of the same queries for both "
            "checkpoints; evaluate both on the same view"
        )
    hit_a, hit_b = ranks_a <= k, ranks_b <= k

    def listed(mask: np.ndarray) -> tuple[Flip, ...]:
        idx = np.flatnonzero(mask)
        idx = idx[np.argsort(-np.abs(ranks_a[idx] - ranks_b[idx]), kind="stable")]
        return tuple(Flip(i, str(book_ids[i]), str(titles[i]), int(ranks_a[i]), int(ranks_b[i])) for i in idx.tolist())

    return Flips(int(k), listed(~hit_a & hit_b), listed(hit_a & ~hit_b))


# --------------------------------------------------------------------------- internals


def _checked(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays = {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}
    for name, v in arrays.items():
        if v.ndim != 1:
            raise EvaluationError(f"per-query values of {name} must be 1-D, got shape {v.shape}")
        if not np.isfinite(v).all():
            raise EvaluationError(f"per-query values of {name} hold NaN/inf; check the embeddings for NaN")
    return arrays


def _common_length(arrays: Mapping[str, np.ndarray]) -> int:
    lengths = {len(v) for v in arrays.values()}
    if len(lengths) != 1:
        raise EvaluationError(f"per-query arrays differ in length ({sorted(lengths)}); compare the same queries")
    n = lengths.pop()
    if n == 0:
        raise EvaluationError("cannot compute a statistic over an empty view; check its categories and the split")
    return n


def statistic(v: np.ndarray, name: str = "mean") -> float:
    """The named statistic (mean, median, pNN) of one array of per-query values."""
    return float(statistic_rows(v, name))


def statistic_rows(v: np.ndarray, name: str = "mean") -> np.ndarray:
    """The named statistic over the last axis: one value per row of a 2-D block (a 0-d array for 1-D)."""
    if name == "mean":
        out: np.ndarray = np.asarray(v.mean(axis=-1))
    elif name == "median":
        out = np.asarray(np.median(v, axis=-1))
    else:
        _check_statistic(name)
        out = np.asarray(np.quantile(v, int(name[1:]) / 100.0, axis=-1))
    return out


def _check_statistic(name: str) -> None:
    if not isinstance(name, str) or not STATISTIC.match(name):
        raise EvaluationError(f"unknown statistic {name!r}; use mean, median or pNN (a percentile, e.g. p90)")


def _kinds(arrays: Mapping[str, np.ndarray], statistics: Mapping[str, str] | None) -> dict[str, str]:
    statistics = dict(statistics or {})  # may name metrics absent here (one mapping serves many calls)
    for kind in statistics.values():
        _check_statistic(kind)
    return {name: statistics.get(name, "mean") for name in arrays}


def percentile_interval(dist: np.ndarray, confidence: float) -> tuple[float, float]:
    """The two-sided percentile interval of a bootstrap distribution."""
    low, high = np.quantile(dist, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return float(low), float(high)


def _estimate(value: float, dist: np.ndarray, confidence: float, n: int) -> Estimate:
    low, high = percentile_interval(dist, confidence)
    return Estimate(float(value), low, high, int(n))


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values): a test is a discovery at false-discovery rate
    `level` when its q-value is at most `level`. NaN p-values stay NaN and do not count as tests."""
    p = np.asarray(p_values, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m == 0:
        return q
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return q
