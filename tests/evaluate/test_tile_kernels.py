"""The compiled exact score (CPU) equals the torch form (GPU) bit for bit: one definition, two devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.evaluate.kernels import exact_scores, torch_exact_scores
from harness.evaluate.tile_kernels import exact_pairs


@pytest.mark.parametrize("dim", [1, 2, 3, 7, 64, 500, 512, 768, 1024])
def test_compiled_exact_scores_equal_the_torch_definition_bit_for_bit(dim):
    rng = np.random.default_rng(dim)
    # a wide range of magnitudes so that the order of additions shows in the last bits
    rows = (rng.standard_normal((40, dim)) * np.exp(rng.uniform(-8, 8, (40, dim)))).astype(np.float32)
    cols = (rng.standard_normal((30, dim)) * np.exp(rng.uniform(-8, 8, (30, dim)))).astype(np.float32)
    ri, ci = rng.integers(0, 40, 2000), rng.integers(0, 30, 2000)
    padded = 1 << max(0, (dim - 1).bit_length())
    want = torch_exact_scores(torch.from_numpy(rows), torch.from_numpy(cols), ri, ci)
    got = exact_pairs(rows, cols, ri, ci, padded)
    np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
    dispatched = exact_scores(torch.from_numpy(rows), torch.from_numpy(cols), ri, ci)
    np.testing.assert_array_equal(dispatched.view(np.int64), want.view(np.int64))


def test_other_orders_differ_so_the_test_above_can_fail():
    rng = np.random.default_rng(0)
    rows = (rng.standard_normal((40, 768)) * np.exp(rng.uniform(-8, 8, (40, 768)))).astype(np.float32)
    ri = rng.integers(0, 40, 2000)
    sequential = np.einsum("ij,ij->i", rows[ri].astype(np.float64), rows[ri[::-1]].astype(np.float64))
    tree = exact_pairs(rows, rows, ri, ri[::-1], 1024)
    assert (sequential != tree).any()
