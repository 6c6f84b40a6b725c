"""Column pieces: bounds within a budget, and counts against pieces that add up to the whole gallery's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.evaluate.pieces import block_count, piece_bounds
from harness.evaluate.retrieval import finish_ranks, rank_block, rank_jobs, retrieval_ranks


@given(st.integers(1, 5000), st.integers(1, 64), st.integers(1, 2**20))
def test_pieces_cover_the_gallery_within_the_budget(n_cols, dim, budget):
    bounds = piece_bounds(n_cols, dim, budget)
    widths = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == n_cols and (widths >= 1).all()
    assert (widths * 4 * dim <= max(budget, 4 * dim)).all()


def test_query_blocks_stay_within_the_budget():
    assert block_count(1000, 8, 4 * 8 * 100, 2) == 10
    assert block_count(10, 8, 2**20, 3) == 3


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 200), st.sampled_from(["float32", "bfloat16"]))
def test_pieces_add_up_to_the_whole_gallery(piece_cols, tile_rows, kernel):
    rng = np.random.default_rng(piece_cols)
    n, d = 120, 6
    images = rng.integers(-2, 3, (n, d)).astype(np.float32)  # many exact ties
    texts = rng.integers(-2, 3, (n, d)).astype(np.float32)
    groups = np.array([f"g{i % 90}" for i in range(n)])
    want = retrieval_ranks(images, texts, groups)
    for job in rank_jobs(
        images,
        texts,
        groups,
        tile_rows=tile_rows,
        kernel=kernel,
        pool_images=images,
        pool_texts=texts,
        pool_groups=groups,
    ) + rank_jobs(images, texts, groups, tile_rows=tile_rows, kernel=kernel):
        bounds = piece_bounds(job.plan.n_cols, d, 4 * d * piece_cols)
        blocks = [
            rank_block(job.plan, job.rows[a : a + 50], job.cols[c0:c1], start=a, c0=c0)
            for a in range(0, n, 50)
            for c0, c1 in zip(bounds, bounds[1:], strict=False)
        ]
        totals = finish_ranks(job.plan, blocks)
        np.testing.assert_array_equal(totals.row_ranks, want[job.directions[0]].ranks)
        if totals.col_ranks is not None:
            np.testing.assert_array_equal(totals.col_ranks, want[job.directions[1]].ranks)


@pytest.mark.parametrize("budget", [4 * 6 * 7, 4 * 6 * 64])
def test_piece_budget_is_respected_for_narrow_budgets(budget):
    assert max(np.diff(piece_bounds(1000, 6, budget))) * 4 * 6 <= budget
