from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report.paired import metric_from_ranks, paired_bootstrap, recall_curve

RANKS = st.lists(st.integers(1, 500), min_size=1, max_size=200)


@given(RANKS, st.integers(1, 50))
def test_metrics_follow_from_ranks(ranks, k):
    r = np.array(ranks)
    assert metric_from_ranks(f"recall@{k}", r) == pytest.approx(np.mean(r <= k))
    assert metric_from_ranks("mrr", r) == pytest.approx(np.mean(1.0 / r))
    assert metric_from_ranks("median_rank", r) == pytest.approx(np.median(r))
    assert metric_from_ranks("mean_rank", r) == pytest.approx(np.mean(r))
    # reciprocal rank is 1 on a hit@1 and at most 1/2 otherwise
    assert metric_from_ranks("recall@1", r) <= metric_from_ranks("mrr", r) + 1e-12


@given(RANKS)
def test_recall_curve_is_monotone_and_matches_recall_at_k(ranks):
    ks = [1, 2, 5, 10, 100, 1000]
    curve = recall_curve(ranks, ks)
    assert np.all(np.diff(curve) >= 0)
    assert curve[-1] == 1.0
    for k, value in zip(ks, curve):
        assert value == pytest.approx(metric_from_ranks(f"recall@{k}", ranks))


def test_unknown_metric_raises_key_error():
    with pytest.raises(KeyError):
        metric_from_ranks("ndcg", [1, 2])


@settings(max_examples=25, deadline=None)
@given(RANKS, st.sampled_from(["recall@5", "mrr", "median_rank", "mean_rank"]))
def test_identical_ranks_differ_by_exactly_zero(ranks, metric):
    diff = paired_bootstrap(metric, ranks, ranks, resamples=100)
    assert (diff.delta, diff.ci_low, diff.ci_high) == (0.0, 0.0, 0.0)


def test_bootstrap_is_seeded_antisymmetric_and_covers_a_real_difference():
    rng = np.random.default_rng(5)
    old = rng.integers(1, 40, size=400)
    new = np.maximum(1, old - rng.integers(0, 6, size=400))  # the new model ranks every query at least as well
    a = paired_bootstrap("recall@5", new, old, seed=3)
    b = paired_bootstrap("recall@5", new, old, seed=3)
    c = paired_bootstrap("recall@5", old, new, seed=3)
    assert a == b
    assert c.delta == pytest.approx(-a.delta)
    assert (c.ci_low, c.ci_high) == pytest.approx((-a.ci_high, -a.ci_low))
    assert 0 < a.ci_low <= a.delta <= a.ci_high
    assert a.n == 400 and a.resamples == 1000
    wider = paired_bootstrap("recall@5", new, old, seed=3, confidence=0.99)
    assert wider.ci_low <= a.ci_low and wider.ci_high >= a.ci_high


def test_bootstrap_rejects_unpaired_shapes():
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap("mrr", [1, 2, 3], [1, 2])
