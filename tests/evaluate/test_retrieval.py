from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import EvaluationError
from harness.evaluate.metrics import retrieval_names, statistic_of, values_from_ranks
from harness.evaluate.retrieval import Certificate, check_ks, query_ranks, retrieval_ranks
from harness.evaluate.stats import statistic


def brute_force_ranks(queries: np.ndarray, q_groups, candidates: np.ndarray, c_groups) -> np.ndarray:
    """Reference: full score matrix in float64, rank = 1 + negatives scoring >= the best positive."""
    scores = queries.astype(np.float64) @ candidates.astype(np.float64).T
    q_groups, c_groups = np.asarray(q_groups), np.asarray(c_groups)
    ranks = []
    for i in range(len(queries)):
        positive = c_groups == q_groups[i]
        best = scores[i, positive].max()
        ranks.append(1 + int(np.sum(~positive & (scores[i] >= best))))
    return np.array(ranks)


@st.composite
def tied_items(draw):
    """Small integer embeddings (exact dot products, many ties) with duplicate groups."""
    n = draw(st.integers(1, 24))
    d = draw(st.integers(1, 5))
    palette = draw(st.lists(st.lists(st.integers(-2, 2), min_size=d, max_size=d), min_size=1, max_size=6))
    pick = st.integers(0, len(palette) - 1)
    images = np.array([palette[draw(pick)] for _ in range(n)], dtype=np.float32)
    texts = np.array([palette[draw(pick)] for _ in range(n)], dtype=np.float32)
    groups = np.array([f"g{draw(st.integers(0, max(0, n // 2)))}" for _ in range(n)])
    rows_per_chunk = draw(st.integers(1, n))
    return images, texts, groups, rows_per_chunk


@settings(max_examples=150, deadline=None)
@given(tied_items())
def test_both_directions_equal_brute_force_exactly(items):
    images, texts, groups, rows_per_chunk = items
    got = retrieval_ranks(images, texts, groups, chunk_bytes=4 * len(texts) * rows_per_chunk)
    assert np.array_equal(got["image_to_text"].ranks, brute_force_ranks(images, groups, texts, groups))
    assert np.array_equal(got["text_to_image"].ranks, brute_force_ranks(texts, groups, images, groups))


@settings(max_examples=80, deadline=None)
@given(tied_items(), st.data())
def test_pool_larger_than_view_equals_brute_force(items, data):
    images, texts, groups, rows_per_chunk = items
    view = np.array(sorted(set(data.draw(st.lists(st.integers(0, len(images) - 1), min_size=1)))))
    got = retrieval_ranks(
        images[view],
        texts[view],
        groups[view],
        pool_images=images,
        pool_texts=texts,
        pool_groups=groups,
        chunk_bytes=4 * len(texts) * rows_per_chunk,
    )
    assert np.array_equal(got["image_to_text"].ranks, brute_force_ranks(images[view], groups[view], texts, groups))
    assert np.array_equal(got["text_to_image"].ranks, brute_force_ranks(texts[view], groups[view], images, groups))
    assert got["image_to_text"].pool_size == len(texts)


@settings(max_examples=60, deadline=None)
@given(tied_items(), st.sampled_from(["float32", "tf32", "bfloat16"]), st.integers(1, 30))
def test_any_kernel_and_tile_shape_gives_the_same_ranks(items, kernel, tile_cols):
    images, texts, groups, rows_per_chunk = items
    got = retrieval_ranks(
        images, texts, groups, kernel=kernel, tile_rows=rows_per_chunk, chunk_bytes=4 * rows_per_chunk * tile_cols
    )
    assert np.array_equal(got["image_to_text"].ranks, brute_force_ranks(images, groups, texts, groups))
    assert np.array_equal(got["text_to_image"].ranks, brute_force_ranks(texts, groups, images, groups))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kernel", ["float32", "bfloat16"])
@pytest.mark.parametrize("tile_rows, chunk_bytes", [(1, 4 * 1 * 97), (7, 4 * 7 * 520), (64, 8 * 2**20)])
def test_near_ties_equal_the_float64_brute_force(near_ties, threads, kernel, tile_rows, chunk_bytes):
    """Identical vectors, one-ulp neighbours, placeholder covers and gaps below 1e-7: every query's rank is
    the float64 brute force's, at 1, 2 and 3 threads (row tiles shared by worker threads, each with its own
    column counts), with float32 or bfloat16 products, for three tile heights."""
    images, texts, groups, want_i2t, want_t2i = near_ties
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        certificate = Certificate()
        got = retrieval_ranks(
            images, texts, groups, kernel=kernel, tile_rows=tile_rows, chunk_bytes=chunk_bytes, certificate=certificate
        )
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(got["image_to_text"].ranks, want_i2t)
    np.testing.assert_array_equal(got["text_to_image"].ranks, want_t2i)
    assert certificate.rescored > 0 and certificate.kernel == kernel  # the near-ties were scored exactly


def test_row_tiles_are_shared_by_one_worker_thread_a_torch_thread(near_ties, monkeypatch):
    """At 3 torch threads the CPU tiles are certified by 3 worker threads (products on one core each), and
    torch's thread count is what it was afterwards."""
    import threading

    from harness.evaluate import tile_kernels

    images, texts, groups, want_i2t, _ = near_ties
    names: set[str] = set()
    certify = tile_kernels.certify_tile

    def recorded(*args):
        names.add(threading.current_thread().name)
        return certify(*args)

    monkeypatch.setattr(tile_kernels, "certify_tile", recorded)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        got = retrieval_ranks(images, texts, groups, tile_rows=7, chunk_bytes=4 * 7 * 520)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(got["image_to_text"].ranks, want_i2t)
    assert len(names) == 3 and all(name.startswith("bookclip-tiles") for name in names)


def test_a_worker_threads_failure_is_raised_to_the_caller(near_ties, monkeypatch):
    import threading

    from harness.evaluate import tile_kernels

    images, texts, groups, *_ = near_ties
    certify = tile_kernels.certify_tile

    def failing(*args):
        if threading.current_thread().name == "bookclip-tiles-1":
            raise MemoryError("worker 1 ran out")
        return certify(*args)

    monkeypatch.setattr(tile_kernels, "certify_tile", failing)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(MemoryError, match="worker 1 ran out"):
            retrieval_ranks(images, texts, groups, tile_rows=7, chunk_bytes=4 * 7 * 520)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_float32_rounding_alone_would_misrank_the_near_ties(near_ties):
    """The data is hard enough to matter: ranking by the float32 product's own scores differs somewhere."""
    images, texts, groups, want_i2t, _ = near_ties
    scores = (torch.from_numpy(images) @ torch.from_numpy(texts).T).numpy()
    positive = groups[:, None] == groups[None, :]
    best = np.where(positive, scores, -np.inf).max(axis=1)
    naive = 1 + ((scores >= best[:, None]) & ~positive).sum(axis=1)
    assert (naive != want_i2t).any()


def test_duplicate_titles_are_both_correct_answers():
    # two editions of one book share a title embedding; either title is a hit for either cover
    images = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    texts = np.array([[0.95, 0.05], [0.95, 0.05], [0.0, 1.0]], dtype=np.float32)
    dup_aware = retrieval_ranks(images, texts, ["a", "a", "b"])
    naive = retrieval_ranks(images, texts, ["a1", "a2", "b"])
    assert dup_aware["image_to_text"].ranks.tolist() == [1, 1, 1]
    # identical title embeddings tie; counted as a miss for one edition without grouping
    assert naive["image_to_text"].ranks.tolist() == [2, 2, 1]


def test_ties_are_ranked_pessimistically():
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    c = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert query_ranks(q, ["x"], c, ["x", "y", "z", "w"]).tolist() == [3]


def test_metrics_match_an_independent_implementation():
    rng = np.random.default_rng(3)
    n, d = 60, 8
    images = rng.normal(size=(n, d)).astype(np.float32)
    texts = (images + rng.normal(scale=1.5, size=(n, d))).astype(np.float32)
    groups = [f"g{i // 2}" for i in range(n)]  # pairs of editions
    ranks = retrieval_ranks(images, texts, groups)["image_to_text"].ranks
    # independent: sort every row with torch, find the first position holding any positive
    scores = torch.from_numpy(images) @ torch.from_numpy(texts).T
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    g = torch.tensor([i // 2 for i in range(n)])
    first_hit = (g[order] == g[:, None]).float().argmax(dim=1) + 1
    expected = first_hit.numpy()
    assert np.array_equal(ranks, expected)
    for k in (1, 5, 10):
        assert metric_value(ranks, f"recall@{k}") == pytest.approx(float(np.mean(expected <= k)))
    assert metric_value(ranks, "mrr") == pytest.approx(float(np.mean(1.0 / expected)))
    assert metric_value(ranks, "median_rank") == pytest.approx(float(np.median(expected)))
    assert metric_value(ranks, "mean_rank") == pytest.approx(float(np.mean(expected)))


def clip_benchmark_recall(scores: torch.Tensor, positive: torch.Tensor, k: int) -> float:
    """CLIP_benchmark's definition: a query is a hit if any positive is among its top-k by torch.topk."""
    top = torch.topk(scores, k, dim=1).indices
    hits = positive.gather(1, top).any(dim=1)
    return hits.float().mean().item()


def test_equals_clip_benchmark_on_one_caption_per_image():
    rng = np.random.default_rng(7)
    n, d = 80, 16
    images = rng.normal(size=(n, d)).astype(np.float32)
    texts = (images + rng.normal(scale=2.0, size=(n, d))).astype(np.float32)
    ranks = retrieval_ranks(images, texts, [str(i) for i in range(n)])
    scores = torch.from_numpy(texts) @ torch.from_numpy(images).T  # their layout: texts x images
    positive = torch.eye(n, dtype=torch.bool)
    for k in (1, 5, 10):
        assert metric_value(ranks["text_to_image"].ranks, f"recall@{k}") == pytest.approx(
            clip_benchmark_recall(scores, positive, k)
        )  # their image_retrieval_recall@k
        assert metric_value(ranks["image_to_text"].ranks, f"recall@{k}") == pytest.approx(
            clip_benchmark_recall(scores.T, positive.T, k)
        )  # their text_retrieval_recall@k


def test_chunking_does_not_change_ranks_on_float_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 32)).astype(np.float32)
    y = rng.normal(size=(300, 32)).astype(np.float32)
    groups = [f"g{i % 250}" for i in range(300)]
    whole = retrieval_ranks(x, y, groups)
    chunked = retrieval_ranks(x, y, groups, chunk_bytes=4 * 300 * 7)
    for direction in whole:
        assert np.array_equal(whole[direction].ranks, chunked[direction].ranks)


def metric_value(ranks, name):
    """A registered retrieval metric from ranks: its per-query values under its statistic."""
    return statistic(values_from_ranks(ranks, name), statistic_of(name))


def test_metric_names_follow_ks():
    assert retrieval_names((1, 3)) == ("recall@1", "recall@3", "mrr", "median_rank", "mean_rank")


@pytest.mark.parametrize(
    "images, texts, groups, message",
    [
        (np.zeros((0, 4)), np.zeros((0, 4)), [], "empty"),
        (np.array([[np.nan, 1.0]]), np.array([[1.0, 0.0]]), ["a"], "NaN"),
        (np.ones((2, 3)), np.ones((2, 4)), ["a", "b"], "widths differ"),
        (np.ones((2, 3)), np.ones((3, 3)), ["a", "b"], "embed the same catalogue rows"),
        (np.full((2, 3), 1e30), np.ones((2, 3)), ["a", "b"], "too large to score in float32"),
    ],
)
def test_bad_input_is_one_line_evaluation_error(images, texts, groups, message):
    with pytest.raises(EvaluationError, match=message) as info:
        retrieval_ranks(images, texts, groups)
    assert "\n" not in str(info.value)


def test_query_without_positive_in_pool_is_an_error():
    with pytest.raises(EvaluationError, match="no correct answer"):
        query_ranks(np.ones((1, 2)), ["a"], np.ones((2, 2)), ["b", "c"])


def test_k_larger_than_pool_is_an_error():
    assert check_ks([1, 5], 5, where="heldout") == (1, 5)
    with pytest.raises(EvaluationError, match=r"recall@10 .* heldout.* only 5 items"):
        check_ks([1, 10], 5, where="heldout")
