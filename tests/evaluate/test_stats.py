from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import BookclipError, EvaluationError
from harness.evaluate.compare import compare_values
from harness.evaluate.stats import (
    Estimate,
    binomial_two_sided_p,
    bootstrap_estimates,
    flips,
    jackknife,
    mcnemar_exact,
    resample_indices,
    resampled_statistic,
    statistic,
    statistic_rows,
)
from harness.settings import StatSettings


def test_bootstrap_equals_a_plain_loop_with_the_same_draws():
    rng = np.random.default_rng(0)
    hits = (rng.random(200) < 0.3).astype(float)
    ranks = rng.integers(1, 50, 200).astype(float)
    got = bootstrap_estimates(
        {"recall": hits, "median_rank": ranks}, statistics={"median_rank": "median"}, resamples=300, seed=11
    )
    draws = np.random.default_rng(11).integers(0, 200, size=(300, 200))  # one block at this size
    means = [hits[row].mean() for row in draws]
    medians = [np.median(ranks[row]) for row in draws]
    assert got["recall"].value == pytest.approx(hits.mean())
    assert (got["recall"].ci_low, got["recall"].ci_high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert got["median_rank"].value == np.median(ranks)
    assert (got["median_rank"].ci_low, got["median_rank"].ci_high) == pytest.approx(
        tuple(np.quantile(medians, [0.025, 0.975]))
    )
    assert got["recall"].n == 200


def test_percentile_statistic_equals_a_plain_loop_and_pairs():
    rng = np.random.default_rng(5)
    a, b = rng.normal(0.0, 1.0, 300), rng.normal(0.3, 1.0, 300)
    got = bootstrap_estimates({"drop": a}, statistics={"drop": "p90"}, resamples=200, seed=2)["drop"]
    draws = np.random.default_rng(2).integers(0, 300, size=(200, 300))
    assert got.value == pytest.approx(np.quantile(a, 0.9))
    assert (got.ci_low, got.ci_high) == pytest.approx(
        tuple(np.quantile([np.quantile(a[row], 0.9) for row in draws], [0.025, 0.975]))
    )
    diff = compare_values("probes/typo/similarity_drop_p90", a, b, StatSettings(200, seed=2))
    assert diff.delta == pytest.approx(np.quantile(b, 0.9) - np.quantile(a, 0.9))
    assert diff.interval == "paired-percentile"
    deltas = [np.quantile(b[row], 0.9) - np.quantile(a[row], 0.9) for row in draws]
    assert (diff.ci_low, diff.ci_high) == pytest.approx(tuple(np.quantile(deltas, [0.025, 0.975])))


@pytest.mark.parametrize("name", ["p", "p100", "p-1", "mode", "P90", " p90"])
def test_unknown_statistic_is_an_evaluation_error(name):
    with pytest.raises(EvaluationError, match="unknown statistic"):
        bootstrap_estimates({"x": np.ones(10)}, statistics={"x": name}, resamples=10)


def test_bootstrap_is_seeded():
    v = {"x": np.random.default_rng(1).random(500)}
    assert bootstrap_estimates(v, seed=3) == bootstrap_estimates(v, seed=3)
    assert bootstrap_estimates(v, seed=3) != bootstrap_estimates(v, seed=4)


def test_bootstrap_ci_agrees_with_the_normal_approximation():
    # a proportion of 0.4 over 2,000 queries: half-width ~ 1.96 * sqrt(p (1 - p) / n)
    hits = np.zeros(2000)
    hits[:800] = 1.0
    est = bootstrap_estimates({"r": hits}, resamples=2000, seed=0)["r"]
    half = 1.96 * math.sqrt(0.4 * 0.6 / 2000)
    assert est.ci_low == pytest.approx(0.4 - half, abs=0.004)
    assert est.ci_high == pytest.approx(0.4 + half, abs=0.004)


def test_resample_blocks_cover_every_resample():
    blocks = list(resample_indices(3_000_000, resamples=5, seed=0))
    assert sum(len(b) for b in blocks) == 5 and len(blocks) > 1
    assert all(b.shape[1] == 3_000_000 and b.max() < 3_000_000 for b in blocks)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40), st.integers(0, 1000))
def test_interval_is_ordered_and_inside_the_data_range(values, seed):
    v = np.array(values)
    estimates = bootstrap_estimates({"m": v, "med": v}, statistics={"med": "median"}, resamples=50, seed=seed)
    for est in estimates.values():
        assert v.min() - 1e-9 <= est.ci_low <= est.ci_high <= v.max() + 1e-9


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=40), st.integers(-5, 5))
def test_paired_shift_gives_an_exact_delta(ranks, shift):
    a = np.array(ranks, dtype=float)
    b = a + shift  # every query moves by the same amount: no uncertainty left in the difference
    for key in ("heldout/image_to_text/mean_rank", "heldout/image_to_text/median_rank"):
        est = compare_values(key, a, b, StatSettings(100))
        assert est.delta == pytest.approx(shift)
        assert est.ci_low == pytest.approx(shift) and est.ci_high == pytest.approx(shift)


def test_paired_ci_is_narrower_than_unpaired_for_correlated_checkpoints():
    rng = np.random.default_rng(5)
    a = (rng.random(1000) < 0.5).astype(float)
    b = a.copy()
    b[rng.choice(np.flatnonzero(a == 0), 40, replace=False)] = 1.0  # b fixes 40 of a's misses
    paired = compare_values("heldout/image_to_text/recall@1", a, b, StatSettings(1000))
    single = bootstrap_estimates({"r": b}, resamples=1000, seed=0)["r"]
    assert paired.delta == pytest.approx(0.04)
    assert paired.ci_low > 0  # a consistent gain is significant when paired
    assert paired.ci_high - paired.ci_low < (single.ci_high - single.ci_low) / 2


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60))
def test_binomial_p_matches_exact_fractions(k, extra):
    n = k + extra
    k_small = min(k, n - k)
    exact = 2 * sum(Fraction(math.comb(n, i), 2**n) for i in range(k_small + 1)) if n else Fraction(1)
    assert binomial_two_sided_p(k, n) == pytest.approx(float(min(exact, Fraction(1))), rel=1e-9)


def test_mcnemar_counts_discordant_pairs():
    a = np.array([1, 1, 1, 0, 0, 0, 0, 1], dtype=bool)
    b = np.array([1, 0, 0, 1, 1, 1, 1, 1], dtype=bool)
    m = mcnemar_exact(a, b)
    assert (m.gained, m.lost) == (4, 2)
    assert m.p_value == pytest.approx(2 * (1 + 6 + 15) / 64)
    assert mcnemar_exact(a, a).p_value == 1.0
    assert mcnemar_exact(np.zeros(10, bool), np.ones(10, bool)).p_value == pytest.approx(2 / 1024)


def test_flips_list_improved_and_regressed_with_titles():
    f = flips(np.array([1, 7, 3, 20]), np.array([6, 2, 3, 1]), 5, ["a", "b", "c", "d"], ["A", "B", "C", "D"])
    assert [(x.book_id, x.title, x.rank_a, x.rank_b) for x in f.improved] == [("d", "D", 20, 1), ("b", "B", 7, 2)]
    assert [(x.book_id, x.rank_a, x.rank_b) for x in f.regressed] == [("a", 1, 6)]
    assert f.to_dict()["k"] == 5


def test_estimate_round_trips_through_a_dict():
    e = Estimate(0.5, 0.4, 0.6, 100)
    assert Estimate.from_dict(e.to_dict()) == e


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: bootstrap_estimates({"r": np.array([])}), "empty"),
        (lambda: bootstrap_estimates({"r": np.array([1.0, np.nan])}), "NaN"),
        (lambda: bootstrap_estimates({"r": np.ones(3)}, confidence=1.5), "confidence"),
        (lambda: compare_values("heldout/image_to_text/mrr", np.ones(3), np.ones(4)), "same queries"),
        (lambda: mcnemar_exact(np.ones(3, bool), np.ones(4, bool)), "same queries"),
    ],
)
def test_bad_input_is_a_one_line_error(call, message):
    with pytest.raises(BookclipError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(1, 12), min_size=2, max_size=40),  # ranks: many ties
    name=st.sampled_from(["mean", "median", "p10", "p25", "p50", "p90", "p99"]),
)
def test_jackknife_equals_leaving_each_query_out_bit_for_bit(values, name):
    """The jackknife computes a median or percentile once per case of where the left-out value sorts;
    it must give exactly what computing the statistic without each query in turn gives."""
    v = np.asarray(values, dtype=np.float64) + np.linspace(0, 0.5, len(values)) * (len(values) % 3 == 0)
    want = np.array([statistic(np.delete(v, i), name) for i in range(len(v))])
    got = jackknife(v, name)
    if name == "mean":
        np.testing.assert_allclose(got, want, rtol=1e-12)  # the mean's formula is its own, as before
    else:
        np.testing.assert_array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 12), min_size=1, max_size=60),
    st.lists(st.floats(-1e300, 1e300, allow_nan=False), min_size=1, max_size=30),
    st.integers(1, 9),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["median", "mean", "p90"]),
)
def test_resampled_statistic_equals_the_statistic_of_each_resample_bit_for_bit(ranks, floats, rows, seed, name):
    """The counting median against np.median on tied ranks (integers 1..12) and on wide floats (sums of the
    two middle values near the float64 limit), even and odd sizes."""
    rng = np.random.default_rng(seed)
    for values in (np.asarray(ranks, dtype=np.float64), np.asarray(floats, dtype=np.float64)):
        idx = rng.integers(0, len(values), size=(rows, len(values)))
        expected = statistic_rows(values[idx], name)
        assert np.array_equal(resampled_statistic(values, idx, name), expected, equal_nan=True)
