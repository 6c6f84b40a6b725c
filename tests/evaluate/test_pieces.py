"""The gallery in column pieces (harness.evaluate.pieces) gives the one-pass ranks bit for bit, here in
this process (tests/spark runs the same tasks on executors)."""
from __future__ import annotations

import numpy as np
import pytest

from harness import settings
from harness.errors import ConfigError
from harness.evaluate import pieces
from harness.evaluate.engines.spark import failure_hook, gallery_budget
from harness.evaluate.retrieval import job_ranks, plan_ranks, rank_jobs, retrieval_ranks


def run_here(index: int, piece: tuple, items: list[tuple]) -> list[pieces.PieceCounts]:
    return [pieces.rank_piece(piece, item) for item in items]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def items():
    """Editions (duplicate groups) far apart, exact ties; 301 items: a width that is not a multiple of 4."""
    rng = np.random.default_rng(3)
    n, d = 301, 16
    images = _unit(rng.standard_normal((n, d)))
    texts = _unit(images + 0.8 * rng.standard_normal((n, d)))
    texts[20:26] = texts[20]
    images[7] = images[8]
    groups = np.array([f"g{i}" for i in range(n)], dtype=object)
    for a, b in ((1, 290), (30, 31), (40, 300)):
        groups[b] = groups[a]
    return images, texts, groups.astype(str)


def _streamed(images, texts, groups, *, chunk_rows: int, budget: int, **pool):
    jobs = rank_jobs(images, texts, groups, chunk_bytes=4 * len(pool.get("pool_texts", texts)) * chunk_rows, **pool)
    results = [pieces.stream_ranks(job, budget=budget, blocks=3, run=run_here) for job in jobs]
    return job_ranks(jobs, [(rows, cols) for rows, cols, _ in results]), [record for _, _, record in results]


def _assert_equal(got, want) -> None:
    assert set(got) == set(want)
    for direction in want:
        assert got[direction].ranks.dtype == want[direction].ranks.dtype
        np.testing.assert_array_equal(got[direction].ranks, want[direction].ranks)


@pytest.mark.parametrize("chunk_rows", [7, 16, 64])
@pytest.mark.parametrize("budget", [1, 4 * 16 * 191])  # 64-column pieces; 128-column pieces
def test_pieces_give_the_one_pass_ranks(items, chunk_rows: int, budget: int) -> None:
    images, texts, groups = items
    want = retrieval_ranks(images, texts, groups, chunk_bytes=4 * len(texts) * chunk_rows)
    got, [record] = _streamed(images, texts, groups, chunk_rows=chunk_rows, budget=budget)
    _assert_equal(got, want)
    assert record.pieces == (4 if budget == 1 else 2)
    q = np.arange(0, len(groups), 2)  # a catalogue pool: row ranks only
    pool = {"pool_images": images, "pool_texts": texts, "pool_groups": groups}
    want = retrieval_ranks(images[q], texts[q], groups[q], chunk_bytes=4 * len(texts) * chunk_rows, **pool)
    got, _ = _streamed(images[q], texts[q], groups[q], chunk_rows=chunk_rows, budget=budget, **pool)
    _assert_equal(got, want)


@pytest.mark.parametrize("failing", ["tail", "all"])
def test_chunk_heights_whose_slices_differ_are_ranked_on_the_driver(items, monkeypatch, failing: str) -> None:
    """Rows of a chunk height whose sliced products are not the full-width ones (on MKL: 2, 3, 6, 7, 10 or
    11 rows against a width that is not a multiple of 4) go to rank_block on the driver; forced here."""
    images, texts, groups = items
    chunk = 16
    monkeypatch.setattr(pieces, "_pieces_match", lambda rows, *_: failing == "tail" and rows.shape[0] == chunk)
    want = retrieval_ranks(images, texts, groups, chunk_bytes=4 * len(texts) * chunk)
    got, [record] = _streamed(images, texts, groups, chunk_rows=chunk, budget=1)
    _assert_equal(got, want)
    assert record.driver_rows == (len(groups) % chunk if failing == "tail" else len(groups))


def test_mispredicted_thresholds_are_recounted_in_a_second_pass(items) -> None:
    images, texts, groups = items
    want = retrieval_ranks(images, texts, groups, chunk_bytes=4 * len(texts) * 16)
    [job] = rank_jobs(images, texts, groups, chunk_bytes=4 * len(texts) * 16)
    plan = plan_ranks(job.rows, job.cols, job.plan.row_codes, _col_codes(groups), rank_cols=True,
                      chunk_bytes=4 * len(texts) * 16)
    off = np.arange(len(groups)) % 3 == 0  # a third of the predictions one float step low, a third high
    col_thr = np.where(off, np.nextafter(plan.col_thr, np.float32(np.inf)), plan.col_thr).astype(np.float32)
    plan = plan_ranks(job.rows, job.cols, job.plan.row_codes, _col_codes(groups), rank_cols=True,
                      chunk_bytes=4 * len(texts) * 16, predicted_col_thresholds=col_thr)
    job = type(job)(job.directions, job.rows, job.cols, plan, job.pool_size)
    row_thr = _row_thresholds(job)
    row_thr = np.where(off, np.nextafter(row_thr, np.float32(-np.inf)), row_thr).astype(np.float32)
    rows, cols, record = pieces.stream_ranks(job, budget=1, blocks=3, run=run_here, predicted_row_thr=row_thr)
    np.testing.assert_array_equal(rows, want["image_to_text"].ranks)
    np.testing.assert_array_equal(cols, want["text_to_image"].ranks)
    assert record.passes == 2 and record.recounted_rows >= off.sum() and record.recounted_cols >= off.sum()


def _col_codes(groups: np.ndarray) -> np.ndarray:
    _, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return codes.astype(np.int64)


def _row_thresholds(job) -> np.ndarray:
    from harness.evaluate.score_chunks import predicted_row_thresholds

    return predicted_row_thresholds(job.rows, job.cols, job.plan.by_col, job.plan.row_codes)


def test_piece_bounds_are_aligned_and_within_the_budget() -> None:
    for n_cols in (64, 65, 127, 128, 700, 701, 5000):
        for budget_cols in (1, 64, 127, 128, 200, 1000, 10_000):
            bounds = pieces.piece_bounds(n_cols, 8, 4 * 8 * budget_cols)
            widths = np.diff(bounds)
            assert bounds[0] == 0 and bounds[-1] == n_cols
            assert all(b % pieces.ALIGN == 0 for b in bounds[:-1])
            assert (widths >= min(pieces.ALIGN, n_cols)).all()
            assert (widths <= max(budget_cols, 2 * pieces.ALIGN - 1)).all()


def test_gallery_budget_and_failure_hook_settings(monkeypatch) -> None:
    monkeypatch.delenv("BOOKCLIP_SPARK_GALLERY_MB", raising=False)
    assert gallery_budget(None) == settings.DEFAULT_SPARK_GALLERY_MIB * 2**20
    assert gallery_budget(4096) == 4096
    monkeypatch.setenv("BOOKCLIP_SPARK_GALLERY_MB", "0.5")
    assert gallery_budget(None) == 2**19
    for bad in ("lots", "0", "-1", "nan"):
        monkeypatch.setenv("BOOKCLIP_SPARK_GALLERY_MB", bad)
        with pytest.raises(ConfigError, match="BOOKCLIP_SPARK_GALLERY_MB"):
            gallery_budget(None)
    with pytest.raises(ConfigError, match="gallery_bytes"):
        gallery_budget(0)
    assert failure_hook(None) == (None, None) and failure_hook("3") == (None, 3)
    assert failure_hook("ranking:1") == ("ranking", 1)
    with pytest.raises(ConfigError, match="BOOKCLIP_SPARK_FAIL_PARTITION"):
        failure_hook("scoring:1")
