"""Retrieval metrics recomputed from per-query ranks, and a paired bootstrap of their difference.

A run stores, per `<view>/<direction>`, the 1-based rank of the best positive for every
query. Every retrieval metric follows from those ranks (hit@k = rank <= k, reciprocal rank =
1/rank), so two runs over the same items can be compared query by query.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

_RECALL = re.compile(r"^recall@(\d+)$")
_CHUNK_CELLS = 4_000_000  # resamples x queries per chunk: bounds memory on large views


def rank_metric(name: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function of a (..., n) rank array reducing the last axis to the metric, or None.

    Known: recall@k, mrr, median_rank, mean_rank.
    """
    match = _RECALL.match(name)
    if match:
        k = int(match.group(1))
        return lambda ranks: (ranks <= k).mean(axis=-1)
    if name == "mrr":
        return lambda ranks: (1.0 / ranks).mean(axis=-1)
    if name == "median_rank":
        return lambda ranks: np.median(ranks, axis=-1)
    if name == "mean_rank":
        return lambda ranks: ranks.mean(axis=-1)
    return None


def metric_from_ranks(name: str, ranks: np.ndarray | list[int]) -> float:
    """One retrieval metric from 1-based ranks (raises KeyError for an unknown metric)."""
    fn = rank_metric(name)
    if fn is None:
        raise KeyError(name)
    return float(fn(np.asarray(ranks, dtype=np.float64)))


def recall_curve(ranks: np.ndarray | list[int], ks: np.ndarray | list[int]) -> np.ndarray:
    """Recall@k for every k in `ks`, from 1-based ranks."""
    ranks = np.sort(np.asarray(ranks, dtype=np.float64))
    if ranks.size == 0:
        return np.full(len(ks), np.nan)
    return np.searchsorted(ranks, np.asarray(ks, dtype=np.float64), side="right") / ranks.size


@dataclass(frozen=True)
class PairedDifference:
    """new minus old on the same queries, with a percentile bootstrap CI."""

    new: float
    old: float
    delta: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float
    resamples: int


def paired_bootstrap(name: str, new_ranks: np.ndarray, old_ranks: np.ndarray, *,
                     confidence: float = 0.95, resamples: int = 1000, seed: int = 0) -> PairedDifference:
    """Paired bootstrap of metric(new) - metric(old): the same resampled queries on both sides."""
    fn = rank_metric(name)
    if fn is None:
        raise KeyError(name)
    new = np.asarray(new_ranks, dtype=np.float64)
    old = np.asarray(old_ranks, dtype=np.float64)
    if new.shape != old.shape or new.ndim != 1 or new.size == 0:
        raise ValueError(f"paired ranks need two equal, non-empty 1-d arrays, got {new.shape} and {old.shape}")
    n = new.size
    rng = np.random.default_rng(seed)
    deltas = np.empty(resamples)
    step = max(1, _CHUNK_CELLS // n)
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        deltas[start:stop] = fn(new[idx]) - fn(old[idx])
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(deltas, [tail, 1.0 - tail])
    new_value, old_value = float(fn(new)), float(fn(old))
    return PairedDifference(new=new_value, old=old_value, delta=new_value - old_value,
                            ci_low=float(low), ci_high=float(high), n=n,
                            confidence=confidence, resamples=resamples)
