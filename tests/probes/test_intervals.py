"""Probe metric samples: canonical order, and estimates and paired differences by book_id through the
comparison engine (the statistic comes from the metric registry)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.evaluate.compare import compare_values, estimate
from harness.probes.intervals import MetricSample, metric_dict
from harness.settings import StatSettings

values = st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=40).map(np.array)
KEYS = {"mean": "probes/typo/similarity_drop_mean", "median": "probes/typo/similarity_drop_p50"}


def ids(n: int) -> np.ndarray:
    return np.array([f"b{i:03d}" for i in range(n)])


@settings(max_examples=40, deadline=None)
@given(v=values, statistic=st.sampled_from(["mean", "median"]), seed=st.integers(0, 9), perm_seed=st.integers(0, 9))
def test_estimate_is_seeded_and_independent_of_item_order(
    v: np.ndarray, statistic: str, seed: int, perm_seed: int
) -> None:
    sample = MetricSample(ids(len(v)), v)
    perm = np.random.default_rng(perm_seed).permutation(len(v))
    shuffled = MetricSample(ids(len(v))[perm], v[perm])
    key, stats = KEYS[statistic], StatSettings(200, seed=seed)
    m = estimate(key, sample.values, stats)
    assert m == estimate(key, shuffled.values, stats)
    expected = np.median(v) if statistic == "median" else np.mean(v)
    assert math.isclose(m.value, expected, rel_tol=1e-12, abs_tol=1e-12) and m.n == len(v)
    assert v.min() - 1e-9 <= m.ci_low <= m.ci_high <= v.max() + 1e-9


def test_empty_sample_is_nan_with_n_zero_and_null_in_json() -> None:
    m = estimate("probes/typo/flip_rate", MetricSample(np.array([], dtype=str), np.array([])).values)
    assert m.n == 0 and math.isnan(m.value)
    assert metric_dict(m) == {"value": None, "ci_low": None, "ci_high": None, "n": 0, "interval": "clopper-pearson"}


def test_interval_narrows_with_more_items() -> None:
    rng = np.random.default_rng(0)
    stats = StatSettings(500)
    small = estimate("probes/typo/flip_rate", MetricSample(ids(20), rng.random(20) < 0.5).values, stats)
    large = estimate("probes/typo/flip_rate", MetricSample(ids(2000), rng.random(2000) < 0.5).values, stats)
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low) / 3


@settings(max_examples=40, deadline=None)
@given(v=values, shift=st.floats(-3, 3, allow_nan=False))
def test_paired_difference_of_a_constant_shift_is_exact(v: np.ndarray, shift: float) -> None:
    base, other = MetricSample(ids(len(v)), v), MetricSample(ids(len(v))[::-1], (v + shift)[::-1])
    d = compare_values(
        KEYS["mean"], base.values, other.values, StatSettings(200), ids_a=base.book_ids, ids_b=other.book_ids
    )
    # pairing by book_id: every resample sees the same shift
    assert d.n == len(v) and math.isclose(d.delta, shift, abs_tol=1e-9)
    assert math.isclose(d.ci_low, shift, abs_tol=1e-9) and math.isclose(d.ci_high, shift, abs_tol=1e-9)
