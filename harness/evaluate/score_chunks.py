"""The chunk loop under every ranking pass, and the positive pairs it takes out.

Scores are computed `chunk` rows at a time against a matrix of columns (all of the gallery, or one
column piece of it), so no pass holds more than one chunk of scores. harness.evaluate.retrieval
(row blocks against the whole gallery) and harness.evaluate.pieces (row blocks against column
pieces) both run `scan_chunks`; its counts are exact integers, so the ranks they assemble are the
same whichever engine ran the chunks.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Positives:
    """Positive (row, column) pairs in CSR form by row, for a slice of rows."""

    order: np.ndarray  # columns sorted by code
    starts: np.ndarray  # per code: first index into `order`
    ends: np.ndarray

    @classmethod
    def build(cls, codes_cols: np.ndarray, n_codes: int) -> Positives:
        order = np.argsort(codes_cols, kind="stable")
        sorted_codes = codes_cols[order]
        starts = np.searchsorted(sorted_codes, np.arange(n_codes), side="left")
        ends = np.searchsorted(sorted_codes, np.arange(n_codes), side="right")
        return cls(order, starts, ends)

    def pairs(self, row_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(local row index, column, per-row count) of every positive pair of these rows."""
        counts = self.ends[row_codes] - self.starts[row_codes]
        total = int(counts.sum())
        rows = np.repeat(np.arange(len(row_codes)), counts)
        offsets = np.cumsum(counts) - counts
        within = np.arange(total) - np.repeat(offsets, counts)
        cols = self.order[np.repeat(self.starts[row_codes], counts) + within]
        return rows, cols, counts


def scan_chunks(rows_block: torch.Tensor, cols_t: torch.Tensor, chunk: int,
                chunk_pairs: Callable[[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]],
                row_thr: np.ndarray | None, col_thr: np.ndarray | None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The chunk loop every ranking pass runs: scores of `chunk` rows at a time against `cols_t`, positives
    (`chunk_pairs(r0, r1)`: row within the chunk, column, per-row count, grouped by row) taken out, then per
    row the negatives >= its threshold (`row_thr`, or None: its best positive in the chunk, when the chunk
    holds all of them) and per column those >= `col_thr` (when given). Returns (row counts, best positive
    per row (-inf: none here), column counts, best positive per column) of these rows and columns."""
    n_rows, n_cols = rows_block.shape[0], cols_t.shape[1]
    scores = torch.empty((min(chunk, n_rows), n_cols), dtype=torch.float32)
    mask = np.empty((min(chunk, n_rows), n_cols), dtype=bool)
    row_above = np.empty(n_rows, dtype=np.int64)
    row_best = np.empty(n_rows, dtype=np.float32)
    col_above = np.zeros(n_cols, dtype=np.int64) if col_thr is not None else None
    col_best = np.full(n_cols, -np.inf, dtype=np.float32) if col_thr is not None else None
    workers = max(1, min(torch.get_num_threads(), 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for r0 in range(0, n_rows, chunk):
            r1 = min(r0 + chunk, n_rows)
            s = chunk_scores(rows_block, cols_t, r0, r1, scores)
            rows, cols, counts = chunk_pairs(r0, r1)
            pos = s[rows, cols]
            row_best[r0:r1] = best_per_row(pos, counts)
            s[rows, cols] = -np.inf  # positives never count against their own query
            if col_best is not None:
                np.maximum.at(col_best, cols, pos)
            # numpy releases the GIL: count row slices on every core the matrix product uses
            slices = [sl for sl in np.array_split(np.arange(r1 - r0), workers) if len(sl)]
            thr = row_best[r0:r1] if row_thr is None else row_thr[r0:r1]
            jobs = [pool.submit(count_slice, s, mask, sl[0], sl[-1] + 1, thr, col_thr) for sl in slices]
            for sl, job in zip(slices, jobs):
                above_rows, above_cols = job.result()
                row_above[r0 + sl[0]: r0 + sl[-1] + 1] = above_rows
                if col_above is not None:
                    col_above += above_cols
    return row_above, row_best, col_above, col_best


def chunk_rows(n_cols: int, chunk_bytes: int) -> int:
    return int(max(1, min(65_535, chunk_bytes // (4 * max(n_cols, 1)))))


def chunk_scores(rows_emb: torch.Tensor, cols_t: torch.Tensor, r0: int, r1: int,
                 scores: torch.Tensor) -> np.ndarray:
    out = scores[: r1 - r0]
    torch.mm(rows_emb[r0:r1], cols_t, out=out)
    return out.numpy()


def best_per_row(pos: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Largest of each row's positive scores (`pos` grouped by row, `counts` per row); -inf for none."""
    best = np.full(len(counts), -np.inf, dtype=np.float32)
    some = counts > 0
    if len(pos):
        best[some] = np.maximum.reduceat(pos, (np.cumsum(counts) - counts)[some])
    return best


def count_slice(scores: np.ndarray, mask: np.ndarray, a: int, b: int, row_thr: np.ndarray,
                col_thr: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Negatives at or above the thresholds in rows a:b: per row, and per column when col_thr is given."""
    s, m = scores[a:b], mask[a:b]
    np.greater_equal(s, row_thr[a:b, None], out=m)
    above_rows = np.add.reduce(m.view(np.uint8), axis=1, dtype=np.int32)
    if col_thr is None:
        return above_rows, None
    np.greater_equal(s, col_thr[None, :], out=m)
    # uint16 column sums stay exact: a chunk holds fewer than 65,536 rows
    return above_rows, np.add.reduce(m.view(np.uint8), axis=0, dtype=np.uint16)


def predicted_column_thresholds(rows_emb: torch.Tensor, cols_emb: torch.Tensor, by_col: Positives,
                                row_codes: np.ndarray, n_cols: int) -> np.ndarray:
    """Best positive score per column, from small matrix products (usually bit-identical to the chunks')."""
    _, cols, _, pos = positive_scores(rows_emb, cols_emb, by_col, row_codes)
    thr = np.full(n_cols, -np.inf, dtype=np.float32)
    np.maximum.at(thr, cols, pos)
    return thr


def predicted_row_thresholds(rows_emb: torch.Tensor, cols_emb: torch.Tensor, by_col: Positives,
                             row_codes: np.ndarray) -> np.ndarray:
    """Best positive score per row, from the same small products (a miss costs a recount too)."""
    _, _, counts, pos = positive_scores(rows_emb, cols_emb, by_col, row_codes)
    return best_per_row(pos, counts)


def positive_scores(rows_emb: torch.Tensor, cols_emb: torch.Tensor, by_col: Positives, row_codes: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every positive pair (row, column, per-row count, grouped by row) and its score from small products."""
    rows, cols, counts = by_col.pairs(row_codes)
    pos = np.empty(len(rows), dtype=np.float32)
    block = 128  # small products of this size matched the chunk products bit for bit; a miss only costs a recount
    for p0 in range(0, len(rows), block):
        r = torch.from_numpy(rows[p0:p0 + block])
        c = torch.from_numpy(cols[p0:p0 + block])
        # index_select: tensor-indexed gathers are far slower for small blocks
        pos[p0:p0 + block] = torch.mm(rows_emb.index_select(0, r), cols_emb.index_select(0, c).T).diagonal().numpy()
    return rows, cols, counts, pos


def recount_columns(rows_emb: torch.Tensor, cols_t: torch.Tensor, by_col: Positives, row_codes: np.ndarray,
                    col_exact: np.ndarray, redo: np.ndarray, chunk: int, scores: torch.Tensor) -> np.ndarray:
    """Exact counts for a few columns, recomputing the same chunk products as the main pass."""
    above = np.zeros(len(redo), dtype=np.int64)
    thr = col_exact[redo][None, :]
    n_rows = rows_emb.shape[0]
    for r0 in range(0, n_rows, chunk):
        r1 = min(r0 + chunk, n_rows)
        s = chunk_scores(rows_emb, cols_t, r0, r1, scores)
        rows, cols, _ = by_col.pairs(row_codes[r0:r1])
        s[rows, cols] = -np.inf
        above += np.count_nonzero(s[:, redo] >= thr, axis=0)
    return above
