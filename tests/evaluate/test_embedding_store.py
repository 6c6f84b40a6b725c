"""The embedding store gives back the rows written, in any selection; ranks planned from a store equal
ranks from the same arrays in memory (the near-tie data's float64 brute force)."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

from harness.errors import EvaluationError
from harness.evaluate.embedding_store import EmbeddingStore, StoredMatrix, write_part
from harness.evaluate.retrieval import rank_jobs, retrieval_ranks


def _store(folder: str, images: np.ndarray, texts: np.ndarray, cuts: list[int], *, owned: bool = False):
    parts = [write_part(folder, a, images[a:b], texts[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    return EmbeddingStore(folder, parts, images.shape[1], owned=owned)


@pytest.fixture
def arrays():
    rng = np.random.default_rng(3)
    return rng.standard_normal((50, 8)).astype(np.float32), rng.standard_normal((50, 8)).astype(np.float32)


def test_reads_give_back_the_rows_written_in_any_selection(tmp_path, arrays) -> None:
    images, texts = arrays
    store = _store(str(tmp_path), images, texts, [0, 7, 8, 30, 50])  # parts of 7, 1, 22 and 20 rows
    cover, caption = store.matrix("image"), store.matrix("text")
    np.testing.assert_array_equal(np.asarray(cover), images)
    np.testing.assert_array_equal(np.asarray(caption), texts)
    picks = np.array([49, 0, 7, 7, 31, 8, 6])  # across parts, repeated, out of order
    np.testing.assert_array_equal(np.asarray(cover[picks]), images[picks])
    mask = np.arange(50) % 3 == 0
    np.testing.assert_array_equal(np.asarray(caption[mask]), texts[mask])
    nested = cover[10:40][np.array([0, 29, 5])]  # a selection of a selection
    np.testing.assert_array_equal(np.asarray(nested), images[10:40][[0, 29, 5]])
    assert nested.shape == (3, 8) and len(cover[mask]) == int(mask.sum())
    chunks = list(cover.chunks())
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), images)
    assert store.nonfinite == 0 and store.max_abs == pytest.approx(float(np.abs([images, texts]).max()))


def test_writers_count_non_finite_rows_and_parts_must_cover_every_row(tmp_path, arrays) -> None:
    images, texts = arrays
    images = images.copy()
    images[3, 2] = np.nan
    texts = texts.copy()
    texts[40, 0] = np.inf
    store = _store(str(tmp_path), images, texts, [0, 25, 50])
    assert store.nonfinite == 2 and np.isfinite(store.max_abs)
    with pytest.raises(EvaluationError, match="NaN/inf in 2 rows"):
        rank_jobs(store.matrix("image"), store.matrix("text"), [str(i) for i in range(50)], keep_stored=True)
    parts = store.parts
    with pytest.raises(ValueError, match="do not cover rows"):
        EmbeddingStore(str(tmp_path), [parts[1]], 8)  # rows 0:25 missing
    with pytest.raises(IndexError, match="outside 0:50"):
        store.read("image", np.array([50]))


def test_an_owned_store_is_removed_with_the_last_matrix_that_refers_to_it(tmp_path, arrays) -> None:
    folder = EmbeddingStore.new_folder(tmp_path)
    matrix: StoredMatrix | None = _store(folder, *arrays, [0, 50], owned=True).matrix("text")[np.arange(5)]
    gc.collect()
    assert os.path.isdir(folder)  # the selection still refers to the store
    matrix = None
    gc.collect()
    assert matrix is None and not os.path.exists(folder)


def test_ranks_planned_from_a_store_equal_the_float64_brute_force(tmp_path, near_ties) -> None:
    images, texts, groups, want_i2t, want_t2i = near_ties
    store = _store(str(tmp_path), images, texts, [0, 100, 101, 333, len(groups)])
    cover, caption = store.matrix("image"), store.matrix("text")
    jobs = rank_jobs(cover, caption, groups, keep_stored=True)
    assert isinstance(jobs[0].rows, StoredMatrix)  # planned without reading the matrices into memory
    in_memory = rank_jobs(images, texts, groups)
    for band in ("row_band", "col_band"):  # the same exact thresholds, from a store or from memory
        np.testing.assert_array_equal(getattr(jobs[0].plan, band).exact, getattr(in_memory[0].plan, band).exact)
    got = retrieval_ranks(cover, caption, groups, chunk_bytes=4 * 5 * 61)  # the local engine reads them
    np.testing.assert_array_equal(got["image_to_text"].ranks, want_i2t)
    np.testing.assert_array_equal(got["text_to_image"].ranks, want_t2i)
