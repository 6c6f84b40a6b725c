"""The tile counts: numpy (CPU) and torch (GPU) give the same counts and band pairs; packed counting is exact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.evaluate.kernels import round_down, round_up
from harness.evaluate.score_chunks import Band, certify_numpy, certify_torch, col_counts, row_counts


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (300, 1000), (256, 4101), (600, 8)])
def test_packed_counts_equal_plain_sums(shape):
    mask = np.random.default_rng(sum(shape)).random(shape) < 0.4
    np.testing.assert_array_equal(row_counts(mask), mask.sum(axis=1))
    np.testing.assert_array_equal(col_counts(mask), mask.sum(axis=0))
    full = np.ones((600, 600), dtype=bool)  # lanes would overflow past 255 without the grouping
    assert (row_counts(full) == 600).all() and (col_counts(full) == 600).all()


def _band(values: np.ndarray, half: float) -> Band:
    return Band(values, round_down(values - half), round_up(values + half))


@pytest.mark.parametrize("seed", range(4))
def test_torch_counts_equal_numpy_counts(seed):
    rng = np.random.default_rng(seed)
    rows, cols = 37, 53
    scores = np.round(rng.standard_normal((rows, cols)), 2).astype(np.float32)  # many near the thresholds
    rb = _band(np.round(rng.standard_normal(rows), 2), 0.02)
    cb = _band(np.round(rng.standard_normal(cols), 2), 0.02)
    mask = np.empty(scores.shape, dtype=bool)
    want, _ = certify_numpy(scores, mask, rb, cb)
    got = certify_torch(torch.from_numpy(scores), rb, cb)
    for a, b in zip(want[:2], got[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(want[2:], got[2:], strict=True):
        pairs = lambda p: sorted(zip(p[0].tolist(), p[1].tolist(), strict=True))  # noqa: E731
        assert pairs(a) == pairs(b) and len(pairs(a)) > 0
    above_rows = (scores > rb.hi[:, None]).sum(axis=1)
    np.testing.assert_array_equal(want[0], above_rows)


@pytest.mark.parametrize("seed", range(4))
def test_screened_counts_equal_the_per_side_counts(seed):
    """A tile whose scores mostly sit far below every band: the one-comparison screen classifies the few
    that pass it, and gives what comparing per row and per column gives."""
    rng = np.random.default_rng(seed)
    rows, cols = 64, 1000
    scores = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    rb = _band(rng.uniform(0.15, 0.2, rows), 1e-3)
    cb = _band(rng.uniform(0.15, 0.2, cols), 1e-3)
    near = rng.integers(0, rows, 40), rng.integers(0, cols, 40)
    scores[near] = rb.exact[near[0]].astype(np.float32)  # some right at a row's threshold: inside its band
    scores[rng.integers(0, rows, 20), rng.integers(0, cols, 20)] = 0.5  # some certainly above
    mask = np.empty(scores.shape, dtype=bool)
    screened, used = certify_numpy(scores, mask, rb, cb, screen=True)
    plain, unused = certify_numpy(scores, mask, rb, cb, screen=False)
    assert used and not unused
    pairs = lambda p: sorted(zip(p[0].tolist(), p[1].tolist(), strict=True))  # noqa: E731
    for a, b in zip(screened[:2], plain[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(screened[2:], plain[2:], strict=True):
        assert pairs(a) == pairs(b)
    assert len(pairs(screened[2])) >= 30 and screened[0].sum() >= 15
