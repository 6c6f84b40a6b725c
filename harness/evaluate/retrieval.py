"""Duplicate-aware cross-modal retrieval: for every query, the rank of its best correct answer.

Definitions (both directions use the same ones):

- A query's positives are the candidates that share its group id (every edition of the same
  book), so a cover whose title also belongs to another edition is not punished for ranking
  that edition's title first.
- Score = dot product of the embeddings (cosine similarity for L2-normalised embeddings).
- rank = 1 + the number of *negative* candidates whose score is >= the best positive's score.
  A negative tied with the best positive is ranked above it (pessimistic, deterministic ties).
- The metrics over these ranks (recall@k, mrr, median_rank, ...) are declared in
  harness.evaluate.metrics.

Equivalence with CLIP_benchmark's ``zeroshot_retrieval``: with one caption per image and no
duplicate groups, ``image_to_text/recall@k`` here is their ``text_retrieval_recall@k`` (an image
query retrieves texts) and ``text_to_image/recall@k`` is their ``image_retrieval_recall@k``.
Both count a query as a hit when any positive is in the top k. The numbers are equal whenever
scores have no ties; with ties, ``torch.topk`` picks arbitrarily and we count the tie against the
query.

Scale: scores are computed in row chunks (memory O(N·d + chunk·N), never N×N; the chunk loop is
harness.evaluate.score_chunks). One product serves both directions: rows give image-to-text ranks,
columns text-to-image. Row thresholds come from the chunk itself; column thresholds are predicted in
a cheap pre-pass, checked against the chunk values, and recounted where not bit-exact. Engines
(harness.evaluate.engines) run rank_jobs' row blocks locally or on Spark executors and join them
with finish_ranks: the same ranks, bit for bit. A gallery too large for one task is streamed in
column pieces instead (harness.evaluate.pieces), row thresholds predicted like the column ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from harness.errors import EvaluationError
from harness.evaluate.score_chunks import (
    Positives,
    chunk_rows,
    predicted_column_thresholds,
    recount_columns,
    scan_chunks,
)

DIRECTIONS = ("image_to_text", "text_to_image")
DEFAULT_KS = (1, 5, 10)
# Score-matrix chunk budget: rows per chunk are chosen so one chunk of float32 scores fits it.
DEFAULT_CHUNK_BYTES = 128 * 2**20


@dataclass(frozen=True)
class DirectionRanks:
    """Per-query ranks of one retrieval direction over one candidate pool."""

    direction: str
    ranks: np.ndarray  # int64, 1-based rank of each query's best positive
    pool_size: int

    def __len__(self) -> int:
        return len(self.ranks)


def check_ks(ks: Sequence[int], pool_size: int, *, where: str) -> tuple[int, ...]:
    """Validate recall cut-offs against the pool they are measured in."""
    ks = tuple(int(k) for k in ks)
    if not ks:
        raise EvaluationError(f"no k given for recall@k in {where}; pass e.g. --ks 1,5,10")
    bad = [k for k in ks if k < 1 or k > pool_size]
    if bad:
        raise EvaluationError(
            f"recall@{bad[0]} asked for in {where}, whose candidate pool holds only {pool_size} items; "
            f"use k between 1 and {pool_size} or a larger view")
    return ks


def retrieval_ranks(
    images: np.ndarray,
    texts: np.ndarray,
    groups: Sequence,
    *,
    pool_images: np.ndarray | None = None,
    pool_texts: np.ndarray | None = None,
    pool_groups: Sequence | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    where: str = "view",
) -> dict[str, DirectionRanks]:
    """Ranks in both directions. Item i is (images[i], texts[i], groups[i]).

    The candidate pool is the items themselves unless `pool_*` (e.g. the whole catalogue, which
    must contain the items) is given: image queries then search `pool_texts`, text queries
    `pool_images`.
    """
    jobs = rank_jobs(images, texts, groups, pool_images=pool_images, pool_texts=pool_texts,
                     pool_groups=pool_groups, chunk_bytes=chunk_bytes, where=where)
    return job_ranks(jobs, [finish_ranks(j.plan, [rank_block(j.plan, j.rows, j.cols.T.contiguous())], j.rows, j.cols)
                            for j in jobs])


@dataclass(frozen=True, eq=False)
class RankJob:
    """Rows (queries) ranked against columns; `directions` names the row (and column) ranks."""

    directions: tuple[str, ...]
    rows: torch.Tensor
    cols: torch.Tensor
    plan: "RankPlan"
    pool_size: int


def rank_jobs(images: np.ndarray, texts: np.ndarray, groups: Sequence, *, pool_images: np.ndarray | None = None,
              pool_texts: np.ndarray | None = None, pool_groups: Sequence | None = None,
              chunk_bytes: int = DEFAULT_CHUNK_BYTES, where: str = "view") -> list[RankJob]:
    """The checked, planned products behind retrieval_ranks (any engine runs their blocks)."""
    images = _as_matrix(images, "image embeddings", where)
    texts = _as_matrix(texts, "text embeddings", where)
    if len(images) != len(texts) or len(images) != len(groups):
        raise EvaluationError(
            f"{where}: {len(images)} image and {len(texts)} text embeddings for {len(groups)} items; "
            "embed the same catalogue rows for both")
    if pool_images is None and pool_texts is None and pool_groups is None:
        codes_q, _ = _codes(groups, groups)
        plan = plan_ranks(images, texts, codes_q, codes_q, rank_cols=True, chunk_bytes=chunk_bytes, where=where)
        return [RankJob(DIRECTIONS, images, texts, plan, len(images))]
    if pool_images is None or pool_texts is None or pool_groups is None:
        raise EvaluationError(f"{where}: a candidate pool needs pool_images, pool_texts and pool_groups together")
    pool_images = _as_matrix(pool_images, "pool image embeddings", where)
    pool_texts = _as_matrix(pool_texts, "pool text embeddings", where)
    codes_q, codes_p = _codes(groups, pool_groups)
    return [RankJob(("image_to_text",), images, pool_texts, plan_ranks(
                images, pool_texts, codes_q, codes_p, rank_cols=False, chunk_bytes=chunk_bytes, where=where),
                len(pool_texts)),
            RankJob(("text_to_image",), texts, pool_images, plan_ranks(
                texts, pool_images, codes_q, codes_p, rank_cols=False, chunk_bytes=chunk_bytes, where=where),
                len(pool_images))]


def job_ranks(jobs: Sequence[RankJob], results: Sequence[tuple[np.ndarray, np.ndarray | None]],
              ) -> dict[str, DirectionRanks]:
    """Per direction ranks from each job's (row ranks, column ranks)."""
    return {direction: DirectionRanks(direction, ranks, job.pool_size)
            for job, ranked in zip(jobs, results) for direction, ranks in zip(job.directions, ranked)}


def query_ranks(
    queries: np.ndarray,
    query_groups: Sequence,
    candidates: np.ndarray,
    candidate_groups: Sequence,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    where: str = "view",
) -> np.ndarray:
    """Ranks of one direction: each query's best positive among `candidates`."""
    queries = _as_matrix(queries, "query embeddings", where)
    candidates = _as_matrix(candidates, "candidate embeddings", where)
    codes_q, codes_c = _codes(query_groups, candidate_groups)
    ranks, _ = _ranks(queries, candidates, codes_q, codes_c, rank_cols=False, chunk_bytes=chunk_bytes, where=where)
    return ranks


# --------------------------------------------------------------------------- internals

def _as_matrix(x: np.ndarray | torch.Tensor, what: str, where: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().to("cpu", torch.float32)
    if t.ndim != 2:
        raise EvaluationError(f"{where}: {what} must be a 2-D (items x dim) array, got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise EvaluationError(f"{where} is empty: no items to rank; check the view's categories and the split")
    if bool(torch.isfinite(t.sum(dim=1)).all()):  # fast path: a NaN/inf anywhere makes its row sum non-finite
        return t.contiguous()
    finite = torch.isfinite(t).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        first = int(torch.nonzero(~finite)[0, 0])
        raise EvaluationError(
            f"{where}: {what} hold NaN/inf in {bad} rows (first row {first}); the model produced non-finite "
            "outputs: check its weights (fingerprint) or rebuild the embedding cache")
    return t.contiguous()


def _codes(groups_a: Sequence, groups_b: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Map group ids of both sides onto shared integer codes."""
    a = np.asarray(groups_a).astype(str)
    b = np.asarray(groups_b).astype(str)
    _, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    inverse = inverse.astype(np.int64)
    return inverse[: len(a)], inverse[len(a):]


def _ranks(
    rows_emb: torch.Tensor,
    cols_emb: torch.Tensor,
    row_codes: np.ndarray,
    col_codes: np.ndarray,
    *,
    rank_cols: bool,
    chunk_bytes: int,
    where: str,
    predicted_col_thresholds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Ranks of rows among columns (and, with rank_cols, of columns among rows) in one pass:
    plan_ranks, rank_block over all rows, finish_ranks (the steps an engine may spread over workers).
    `predicted_col_thresholds` replaces the pre-pass prediction (any gives exact ranks)."""
    plan = plan_ranks(rows_emb, cols_emb, row_codes, col_codes, rank_cols=rank_cols, chunk_bytes=chunk_bytes,
                      where=where, predicted_col_thresholds=predicted_col_thresholds)
    block = rank_block(plan, rows_emb, cols_emb.T.contiguous())
    return finish_ranks(plan, [block], rows_emb, cols_emb)


@dataclass(frozen=True)
class RankPlan:
    """What every block of rows needs to rank itself: positives by column, predicted column thresholds
    (rank_cols only) and the chunk height. Row blocks that start at multiples of `chunk` compute
    exactly the matrix products of the one-block pass, so their ranks are bit-identical."""

    by_col: Positives
    row_codes: np.ndarray
    col_thr: np.ndarray | None
    chunk: int
    n_rows: int
    n_cols: int


@dataclass(frozen=True)
class BlockRanks:
    """One block's share: ranks of its rows; with rank_cols, per column the negatives of the block at
    or above the predicted threshold and the block's best positive score."""

    start: int
    row_ranks: np.ndarray
    col_above: np.ndarray | None
    col_exact: np.ndarray | None


def plan_ranks(rows_emb: torch.Tensor, cols_emb: torch.Tensor, row_codes: np.ndarray, col_codes: np.ndarray, *,
               rank_cols: bool, chunk_bytes: int = DEFAULT_CHUNK_BYTES, where: str = "view",
               predicted_col_thresholds: np.ndarray | None = None) -> RankPlan:
    """Check the inputs and prepare the blocks' shared state (no N x N work)."""
    if rows_emb.shape[1] != cols_emb.shape[1]:
        raise EvaluationError(
            f"{where}: embedding widths differ ({rows_emb.shape[1]} vs {cols_emb.shape[1]}); "
            "embed both sides with the same model")
    n_rows, n_cols = rows_emb.shape[0], cols_emb.shape[0]
    n_codes = int(max(row_codes.max(initial=-1), col_codes.max(initial=-1))) + 1
    by_col = Positives.build(col_codes, n_codes)
    row_counts = by_col.ends[row_codes] - by_col.starts[row_codes]
    if (row_counts == 0).any():
        first = int(np.argmax(row_counts == 0))
        raise EvaluationError(
            f"{where}: query {first} has no correct answer in the candidate pool "
            f"({int((row_counts == 0).sum())} such queries); the pool must contain every query's group")
    col_thr = None
    if rank_cols:
        by_row = Positives.build(row_codes, n_codes)
        if ((by_row.ends[col_codes] - by_row.starts[col_codes]) == 0).any():
            raise EvaluationError(f"{where}: a candidate has no correct answer among the queries; "
                                  "rank both directions over the same items")
        col_thr = (predicted_column_thresholds(rows_emb, cols_emb, by_col, row_codes, n_cols)
                   if predicted_col_thresholds is None
                   else np.asarray(predicted_col_thresholds, dtype=np.float32))
    return RankPlan(by_col, row_codes, col_thr, chunk_rows(n_cols, chunk_bytes), n_rows, n_cols)


def block_starts(plan: RankPlan, blocks: int, end: int | None = None) -> list[int]:
    """Start rows of about `blocks` blocks of whole chunks of rows [0, end) (default: every row; the last
    block takes the remainder)."""
    n_chunks = -(-(plan.n_rows if end is None else end) // plan.chunk)
    per_block = max(1, -(-n_chunks // max(1, blocks)))
    return [c * plan.chunk for c in range(0, n_chunks, per_block)]


def rank_block(plan: RankPlan, rows_block: torch.Tensor, cols_t: torch.Tensor, *, start: int = 0) -> BlockRanks:
    """Ranks of one block of rows (`start` = its first row, a multiple of plan.chunk) against every
    column (`cols_t`: the columns' embeddings transposed, contiguous)."""
    codes = plan.row_codes[start:start + rows_block.shape[0]]
    above, _, col_above, col_exact = scan_chunks(rows_block, cols_t, plan.chunk,
                                                 lambda r0, r1: plan.by_col.pairs(codes[r0:r1]), None, plan.col_thr)
    return BlockRanks(start, 1 + above, col_above, col_exact)


def finish_ranks(plan: RankPlan, blocks: Sequence[BlockRanks], rows_emb: torch.Tensor,
                 cols_emb: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
    """Join the blocks (each start once, in row order) into row ranks and, with rank_cols, exact column
    ranks: columns whose predicted threshold was not bit-identical to the chunks' are recounted."""
    ordered = sorted({b.start: b for b in blocks}.values(), key=lambda b: b.start)
    row_ranks = np.concatenate([b.row_ranks for b in ordered]) if ordered else np.empty(0, np.int64)
    if len(row_ranks) != plan.n_rows:
        raise EvaluationError(f"ranked {len(row_ranks)} of {plan.n_rows} queries; a block is missing")
    if plan.col_thr is None:
        return row_ranks, None
    col_above = np.sum([b.col_above for b in ordered], axis=0, dtype=np.int64)
    col_exact = np.max([b.col_exact for b in ordered], axis=0)
    redo = np.flatnonzero(col_exact != plan.col_thr)
    if len(redo):
        scores = torch.empty((min(plan.chunk, plan.n_rows), plan.n_cols), dtype=torch.float32)
        col_above[redo] = recount_columns(rows_emb, cols_emb.T.contiguous(), plan.by_col, plan.row_codes, col_exact,
                                           redo, plan.chunk, scores)
    return row_ranks, 1 + col_above
