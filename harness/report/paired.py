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
    """Paired bootstrap of metric(new) - metric(old) from per-query ranks (harness.evaluate.stats)."""
    from harness.evaluate.stats import paired_bootstrap as paired

    fn = rank_metric(name)
    if fn is None:
        raise KeyError(name)
    new = np.asarray(new_ranks, dtype=np.float64)
    old = np.asarray(old_ranks, dtype=np.float64)
    if new.shape != old.shape or new.ndim != 1 or new.size == 0:
        raise ValueError(f"paired ranks need two equal, non-empty 1-d arrays, got {new.shape} and {old.shape}")
    per_query = (lambda r: r) if name.endswith("_rank") else (lambda r: fn(r[:, None]))  # per-query values
    diff = paired({name: per_query(old)}, {name: per_query(new)}, statistics={name: "median" if name == "median_rank" else "mean"},
                  resamples=resamples, confidence=confidence, seed=seed)[name]
    new_value, old_value = float(fn(new)), float(fn(old))
    return PairedDifference(new=new_value, old=old_value, delta=diff.value, ci_low=diff.ci_low,
                            ci_high=diff.ci_high, n=diff.n, confidence=confidence, resamples=resamples)
