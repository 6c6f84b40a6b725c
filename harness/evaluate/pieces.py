"""Ranks with the gallery cut into column pieces, for galleries larger than one task should hold.

The broadcast path (retrieval.rank_block) gives every task the whole gallery. Here a task holds one
block of query rows and one piece of the gallery's columns, so its memory is its block, its piece and
one chunk of scores, whatever N is; nothing N x N exists anywhere, and only counts come back.

A task cannot see a query's best positive when that positive lives in another piece, so the
thresholds are predicted on the driver from small products, for rows as retrieval.plan_ranks does
for columns. Each task counts, for its rows, the negatives of its piece at or above the predicted
row threshold and reports the best positive score it saw per row (-inf when none of the row's
positives is in its piece); in the same-items case it does the same per column of its piece against
the predicted column thresholds. The driver sums the counts over pieces and takes the maxima of the
best scores, which are the exact thresholds; rows and columns whose prediction was not bit-identical
are counted again in a second pass over the pieces, with the exact thresholds.

Bit-identity with the local engine. Every chunk of rows starts where the local engine's does, piece
boundaries are multiples of 64 columns and no piece is narrower than 64 (a narrower tail joins the
last piece), so a task computes the local engine's matrix products restricted to its columns. Whether
a BLAS library returns the same bits for a column slice as for the full width is its own choice of
kernel: MKL does for these pieces except for chunks of 2, 3, 6, 7, 10 or 11 rows against a gallery
whose width is not a multiple of 4 (other slices, narrower than 64 columns, differ too). So before
streaming, each chunk height in use is checked once, on its first chunk, against the full-width
product on the driver; the rows of a height that fails are ranked on the driver by rank_block, the
local engine's own computation, and take part in the counts of the columns like any block.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from harness.errors import EvaluationError
from harness.evaluate.retrieval import RankJob, RankPlan, block_starts, rank_block
from harness.evaluate.score_chunks import (
    chunk_scores,
    predicted_row_thresholds,
    recount_columns,
    scan_chunks,
)

ALIGN = 64  # piece boundaries are multiples of this many columns, and no piece is narrower


@dataclass(frozen=True)
class PieceCounts:
    """One task's result: its block of rows (from `start`) against the piece of columns from `c0`."""

    start: int
    c0: int
    row_above: np.ndarray  # per row: negatives in the piece scoring >= the row threshold
    row_best: np.ndarray  # per row: best positive score in the piece (-inf: none there)
    col_above: np.ndarray | None  # same items: per column, negatives in the block >= the column threshold
    col_best: np.ndarray | None  # same items: per column, best positive score in the block


@dataclass
class StreamRecord:
    """How one product was streamed (for the run report)."""

    pieces: int
    blocks: int
    tasks: int = 0
    passes: int = 0
    recounted_rows: int = 0
    recounted_cols: int = 0
    driver_rows: int = 0  # rows whose chunk height failed the slice check, ranked on the driver


# run(piece index, piece, items) -> one PieceCounts per item, any order: rank_piece(piece, item) each,
# wherever the engine runs them (`piece` is what a task shares with the others of its piece).
Runner = Callable[[int, tuple, list[tuple]], list[PieceCounts]]


def gallery_bytes(job: RankJob) -> int:
    """Size of the job's gallery (its columns) as float32."""
    return 4 * int(job.cols.shape[0]) * int(job.cols.shape[1])


def piece_bounds(n_cols: int, dim: int, budget: int) -> list[int]:
    """Column boundaries of pieces of at most `budget` bytes (4 * dim a column): multiples of 64 columns and
    none narrower than 64 (a narrower tail joins the last piece), so at least 64 columns whatever the budget."""
    fits = budget // (4 * dim)
    width = max(ALIGN, (fits - (ALIGN - 1)) // ALIGN * ALIGN)  # leaves room for a tail of up to 63 columns
    bounds = list(range(0, n_cols, width))
    if len(bounds) > 1 and n_cols - bounds[-1] < ALIGN:
        bounds.pop()
    return [*bounds, n_cols]


def rank_piece(piece: tuple, item: tuple) -> PieceCounts:
    """What one task runs: a block of query rows against one column piece.

    piece: (chunk rows, first column, the piece's columns transposed (d x width), their predicted or exact
    thresholds or None); item: (first row, the rows, their thresholds, positive pairs as (row in the block,
    column in the piece) sorted by row)."""
    chunk, c0, piece_t, col_thr = piece
    start, rows, row_thr, pos_rows, pos_cols = item

    def chunk_pairs(r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = np.searchsorted(pos_rows, (r0, r1))
        local = pos_rows[lo:hi] - r0
        return local, pos_cols[lo:hi], np.bincount(local, minlength=r1 - r0)

    above, best, col_above, col_best = scan_chunks(torch.from_numpy(rows), torch.from_numpy(piece_t), chunk,
                                                   chunk_pairs, row_thr, col_thr)
    return PieceCounts(start, c0, above, best, col_above, col_best)


def stream_ranks(job: RankJob, *, budget: int, blocks: int, run: Runner,
                 predicted_row_thr: np.ndarray | None = None,
                 ) -> tuple[np.ndarray, np.ndarray | None, StreamRecord]:
    """Row ranks and (same items) column ranks of `job`, its gallery cut into pieces of at most `budget`
    bytes and its queries into at least `blocks` blocks of at most `budget` bytes; `run` runs the tasks of
    one piece. `predicted_row_thr` replaces the prediction (any gives exact ranks). Equal to the local
    engine's ranks bit for bit."""
    plan, rows, cols = job.plan, job.rows, job.cols
    cols_t = cols.T.contiguous()
    bounds = piece_bounds(plan.n_cols, cols.shape[1], budget)
    end = streamable_rows(plan, rows, cols_t, bounds)
    row_thr = (predicted_row_thresholds(rows, cols, plan.by_col, plan.row_codes) if predicted_row_thr is None
               else np.asarray(predicted_row_thr, dtype=np.float32))
    starts = block_starts(plan, max(blocks, -(-end * rows.shape[1] * 4 // budget)), end) if end else []
    spans = list(zip(starts, [*starts[1:], end]))
    pairs = {a: _pairs_by_piece(plan, a, b, bounds) for a, b in spans}
    record = StreamRecord(pieces=len(bounds) - 1, blocks=len(spans), driver_rows=plan.n_rows - end)

    def one_pass(row_t: np.ndarray, col_t: np.ndarray | None, chosen: list[tuple[int, int]]) -> _Sums:
        sums = _Sums(plan)
        if not chosen:
            return sums
        record.passes += 1
        for p, (c0, c1) in enumerate(pairwise(bounds)):
            piece = (plan.chunk, c0, cols_t[:, c0:c1].contiguous().numpy(), None if col_t is None else col_t[c0:c1])
            items = [(a, rows[a:b].numpy(), row_t[a:b], *pairs[a][p]) for a, b in chosen]
            got = {(r.start, r.c0): r for r in run(p, piece, items)}  # each task's result once
            if set(got) != {(a, c0) for a, _ in chosen}:
                raise EvaluationError(f"ranked {len(got)} of {len(chosen)} query blocks against columns {c0}:{c1}; "
                                      "a task's result is missing")
            record.tasks += len(items)
            sums.add(got.values())
        return sums

    first = one_pass(row_thr, plan.col_thr, spans)
    row_ranks = 1 + first.row_above
    if end < plan.n_rows:  # chunk heights whose sliced products differ: the local engine's computation
        block = rank_block(plan, rows[end:], cols_t, start=end)
        row_ranks[end:] = block.row_ranks
        if block.col_above is not None and block.col_exact is not None:
            first.add_columns(0, block.col_above, block.col_exact)
    redo_rows = np.flatnonzero(first.row_best[:end] != row_thr[:end])
    redo_cols = (np.flatnonzero(first.col_best != plan.col_thr) if plan.col_thr is not None
                 else np.empty(0, dtype=np.int64))
    if len(redo_rows) or len(redo_cols):
        chosen = spans if len(redo_cols) else [(a, b) for a, b in spans if ((redo_rows >= a) & (redo_rows < b)).any()]
        second = one_pass(first.row_best, first.col_best, chosen)
        row_ranks[redo_rows] = 1 + second.row_above[redo_rows]
        if len(redo_cols):
            first.col_above[redo_cols] = second.col_above[redo_cols]
            if end < plan.n_rows:
                scores = torch.empty((min(plan.chunk, plan.n_rows - end), plan.n_cols), dtype=torch.float32)
                first.col_above[redo_cols] += recount_columns(rows[end:], cols_t, plan.by_col, plan.row_codes[end:],
                                                              first.col_best, redo_cols, plan.chunk, scores)
    record.recounted_rows, record.recounted_cols = len(redo_rows), len(redo_cols)
    return row_ranks, None if plan.col_thr is None else 1 + first.col_above, record


def streamable_rows(plan: RankPlan, rows: torch.Tensor, cols_t: torch.Tensor, bounds: list[int]) -> int:
    """End of the rows whose chunk products the pieces reproduce bit for bit: each chunk height in use (the
    chunk, and the last chunk's remainder) is checked once, on its first chunk, against the full width."""
    n, chunk = plan.n_rows, plan.chunk
    tail = n % chunk
    end = n - tail if tail and not _pieces_match(rows[n - tail:], cols_t, bounds) else n
    return 0 if n >= chunk and not _pieces_match(rows[:chunk], cols_t, bounds) else end


def _pieces_match(rows: torch.Tensor, cols_t: torch.Tensor, bounds: list[int]) -> bool:
    m = rows.shape[0]
    full = chunk_scores(rows, cols_t, 0, m, torch.empty((m, cols_t.shape[1]), dtype=torch.float32))
    for c0, c1 in pairwise(bounds):
        part = chunk_scores(rows, cols_t[:, c0:c1].contiguous(), 0, m, torch.empty((m, c1 - c0), dtype=torch.float32))
        if not np.array_equal(part, full[:, c0:c1]):
            return False
    return True


def _pairs_by_piece(plan: RankPlan, a: int, b: int, bounds: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The positive pairs of rows a:b per piece: (row in the block, column in the piece), sorted by row."""
    rows, cols, _ = plan.by_col.pairs(plan.row_codes[a:b])
    piece = np.searchsorted(bounds, cols, side="right") - 1
    order = np.argsort(piece, kind="stable")  # stable: rows stay sorted within a piece
    cuts = np.searchsorted(piece[order], np.arange(len(bounds)))
    return [(rows[order[i:j]], cols[order[i:j]] - bounds[p]) for p, (i, j) in enumerate(pairwise(cuts))]


class _Sums:
    """Counts summed and best scores maximised over the tasks of one pass."""

    def __init__(self, plan: RankPlan) -> None:
        self.row_above = np.zeros(plan.n_rows, dtype=np.int64)
        self.row_best = np.full(plan.n_rows, -np.inf, dtype=np.float32)
        ranked_cols = plan.col_thr is not None
        self.col_above = np.zeros(plan.n_cols, dtype=np.int64) if ranked_cols else None
        self.col_best = np.full(plan.n_cols, -np.inf, dtype=np.float32) if ranked_cols else None

    def add(self, results: Iterable[PieceCounts]) -> None:
        for r in results:
            rows = slice(r.start, r.start + len(r.row_above))
            self.row_above[rows] += r.row_above
            np.maximum(self.row_best[rows], r.row_best, out=self.row_best[rows])
            if r.col_above is not None and r.col_best is not None:
                self.add_columns(r.c0, r.col_above, r.col_best)

    def add_columns(self, c0: int, above: np.ndarray, best: np.ndarray) -> None:
        assert self.col_above is not None and self.col_best is not None
        cols = slice(c0, c0 + len(above))
        self.col_above[cols] += above
        np.maximum(self.col_best[cols], best, out=self.col_best[cols])
