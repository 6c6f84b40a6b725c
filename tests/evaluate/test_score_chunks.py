"""The tile counts: the compiled CPU pass and the torch (GPU) comparisons give the counts of a float64
brute force over the same embeddings, on tiles with many scores inside the bands."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.evaluate.kernels import KERNELS, certified_bound, exact_scores, round_down, round_up
from harness.evaluate.score_chunks import Band, scan_tiles


def _band(values: np.ndarray, half: np.ndarray) -> Band:
    return Band(values, round_down(values - half), round_up(values + half))


def _tied_embeddings(seed: int, n: int, dim: int) -> torch.Tensor:
    """Unit vectors with many exact copies and one-ulp neighbours: scores crowd every band."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((max(2, n // 4), dim)).astype(np.float32)
    x = base[rng.integers(0, len(base), n)]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    nudge = rng.random(n) < 0.3
    x[nudge, 0] = np.nextafter(x[nudge, 0], np.float32(2))
    return torch.from_numpy(np.ascontiguousarray(x))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kernel", ["float32", "bfloat16"])
@pytest.mark.parametrize("tile", [(1, 5), (7, 13), (64, 4096)])
def test_compiled_and_torch_tiles_count_what_a_brute_force_counts(seed, kernel, tile):
    rows, cols = _tied_embeddings(seed, 45, 24), _tied_embeddings(seed + 10, 61, 24)
    positives = (np.arange(45), np.arange(45) % 61)  # one positive per row
    exact = exact_scores(rows, cols, *np.divmod(np.arange(45 * 61), 61)).reshape(45, 61)
    row_thr = exact[positives]
    col_thr = exact.max(axis=0)  # any threshold per column will do for counting
    relative, absolute = certified_bound(KERNELS[kernel], 24)
    row_band = _band(row_thr, np.full(45, relative + absolute))
    col_band = _band(col_thr, np.full(61, relative + absolute))
    negative = np.ones((45, 61), dtype=bool)
    negative[positives] = False
    want_rows = ((exact >= row_thr[:, None]) & negative).sum(axis=1)
    want_cols = ((exact >= col_thr[None, :]) & negative).sum(axis=0)
    results = []
    for compiled in (True, False):
        t = scan_tiles(rows, cols, positives, row_band, col_band, KERNELS[kernel], tile, compiled=compiled)
        np.testing.assert_array_equal(t.row_above, want_rows)
        np.testing.assert_array_equal(t.col_above, want_cols)
        results.append(t.rescored)
        rows_only = scan_tiles(rows, cols, positives, row_band, None, KERNELS[kernel], tile, compiled=compiled)
        np.testing.assert_array_equal(rows_only.row_above, want_rows)
        assert rows_only.col_above is None
    assert results[0] == results[1] > 0  # the same pairs scored exactly, each once
