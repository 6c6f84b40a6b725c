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

Scale: scores are computed in row chunks (memory O(N·d + chunk·N), never N×N). One product serves
both directions: rows give image-to-text ranks, columns text-to-image. Row thresholds come from the
chunk itself; column thresholds are predicted in a cheap pre-pass, checked against the chunk values,
and recounted where not bit-exact. Engines (harness.evaluate.engines) run rank_jobs' row blocks
locally or on Spark executors and join them with finish_ranks: the same ranks, bit for bit.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from harness.errors import EvaluationError

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


@dataclass(frozen=True)
class _Positives:
    """Positive (row, column) pairs in CSR form by row, for a slice of rows."""

    order: np.ndarray  # columns sorted by code
    starts: np.ndarray  # per code: first index into `order`
    ends: np.ndarray

    @classmethod
    def build(cls, codes_cols: np.ndarray, n_codes: int) -> "_Positives":
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

    by_col: _Positives
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
    by_col = _Positives.build(col_codes, n_codes)
    row_counts = by_col.ends[row_codes] - by_col.starts[row_codes]
    if (row_counts == 0).any():
        first = int(np.argmax(row_counts == 0))
        raise EvaluationError(
            f"{where}: query {first} has no correct answer in the candidate pool "
            f"({int((row_counts == 0).sum())} such queries); the pool must contain every query's group")
    col_thr = None
    if rank_cols:
        by_row = _Positives.build(row_codes, n_codes)
        if ((by_row.ends[col_codes] - by_row.starts[col_codes]) == 0).any():
            raise EvaluationError(f"{where}: a candidate has no correct answer among the queries; "
                                  "rank both directions over the same items")
        col_thr = (_predicted_column_thresholds(rows_emb, cols_emb, by_col, row_codes, n_cols)
                   if predicted_col_thresholds is None
                   else np.asarray(predicted_col_thresholds, dtype=np.float32))
    return RankPlan(by_col, row_codes, col_thr, _chunk_rows(n_cols, chunk_bytes), n_rows, n_cols)


def block_starts(plan: RankPlan, blocks: int) -> list[int]:
    """Start rows of about `blocks` blocks of whole chunks (the last block takes the remainder)."""
    n_chunks = -(-plan.n_rows // plan.chunk)
    per_block = max(1, -(-n_chunks // max(1, blocks)))
    return [c * plan.chunk for c in range(0, n_chunks, per_block)]


def rank_block(plan: RankPlan, rows_block: torch.Tensor, cols_t: torch.Tensor, *, start: int = 0) -> BlockRanks:
    """Ranks of one block of rows (`start` = its first row, a multiple of plan.chunk) against every
    column (`cols_t`: the columns' embeddings transposed, contiguous)."""
    n_rows, n_cols, chunk, rank_cols = rows_block.shape[0], plan.n_cols, plan.chunk, plan.col_thr is not None
    by_col, col_thr = plan.by_col, plan.col_thr
    row_codes_block = plan.row_codes[start:start + n_rows]
    scores = torch.empty((min(chunk, n_rows), n_cols), dtype=torch.float32)
    mask = np.empty((min(chunk, n_rows), n_cols), dtype=bool)
    row_ranks = np.empty(n_rows, dtype=np.int64)
    col_above = np.zeros(n_cols, dtype=np.int64) if rank_cols else None
    col_exact = np.full(n_cols, -np.inf, dtype=np.float32) if rank_cols else None
    workers = max(1, min(torch.get_num_threads(), 8))
    pool = ThreadPoolExecutor(max_workers=workers)
    for r0 in range(0, n_rows, chunk):
        r1 = min(r0 + chunk, n_rows)
        s = _chunk_scores(rows_block, cols_t, r0, r1, scores)
        rows, cols, counts = by_col.pairs(row_codes_block[r0:r1])
        pos = s[rows, cols]
        row_thr = np.maximum.reduceat(pos, np.cumsum(counts) - counts)
        s[rows, cols] = -np.inf  # positives never count against their own query
        if rank_cols:
            np.maximum.at(col_exact, cols, pos)
        # numpy releases the GIL: count row slices on every core the matrix product uses
        slices = np.array_split(np.arange(r1 - r0), workers)
        jobs = [pool.submit(_count_slice, s, mask, sl[0], sl[-1] + 1, row_thr, col_thr)
                for sl in slices if len(sl)]
        for sl, job in zip(slices, jobs):
            above_rows, above_cols = job.result()
            row_ranks[r0 + sl[0]: r0 + sl[-1] + 1] = 1 + above_rows
            if rank_cols:
                col_above += above_cols
    pool.shutdown()
    return BlockRanks(start, row_ranks, col_above, col_exact)


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
        col_above[redo] = _recount_columns(rows_emb, cols_emb.T.contiguous(), plan.by_col, plan.row_codes, col_exact,
                                           redo, plan.chunk, scores)
    return row_ranks, 1 + col_above


def _chunk_rows(n_cols: int, chunk_bytes: int) -> int:
    return int(max(1, min(65_535, chunk_bytes // (4 * max(n_cols, 1)))))


def _chunk_scores(rows_emb: torch.Tensor, cols_t: torch.Tensor, r0: int, r1: int,
                  scores: torch.Tensor) -> np.ndarray:
    out = scores[: r1 - r0]
    torch.mm(rows_emb[r0:r1], cols_t, out=out)
    return out.numpy()


def _count_slice(scores: np.ndarray, mask: np.ndarray, a: int, b: int, row_thr: np.ndarray,
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


def _predicted_column_thresholds(rows_emb: torch.Tensor, cols_emb: torch.Tensor, by_col: _Positives,
                                 row_codes: np.ndarray, n_cols: int) -> np.ndarray:
    """Best positive score per column, from small matrix products (usually bit-identical to the chunks')."""
    rows, cols, _ = by_col.pairs(row_codes)
    pos = np.empty(len(rows), dtype=np.float32)
    block = 128  # small products of this size matched the chunk products bit for bit; a miss only costs a recount
    for p0 in range(0, len(rows), block):
        r = torch.from_numpy(rows[p0:p0 + block])
        c = torch.from_numpy(cols[p0:p0 + block])
        # index_select: tensor-indexed gathers are far slower for small blocks
        pos[p0:p0 + block] = torch.mm(rows_emb.index_select(0, r), cols_emb.index_select(0, c).T).diagonal().numpy()
    thr = np.full(n_cols, -np.inf, dtype=np.float32)
    np.maximum.at(thr, cols, pos)
    return thr


def _recount_columns(rows_emb: torch.Tensor, cols_t: torch.Tensor, by_col: _Positives, row_codes: np.ndarray,
                     col_exact: np.ndarray, redo: np.ndarray, chunk: int, scores: torch.Tensor) -> np.ndarray:
    """Exact counts for a few columns, recomputing the same chunk products as the main pass."""
    above = np.zeros(len(redo), dtype=np.int64)
    thr = col_exact[redo][None, :]
    n_rows = rows_emb.shape[0]
    for r0 in range(0, n_rows, chunk):
        r1 = min(r0 + chunk, n_rows)
        s = _chunk_scores(rows_emb, cols_t, r0, r1, scores)
        rows, cols, _ = by_col.pairs(row_codes[r0:r1])
        s[rows, cols] = -np.inf
        above += np.count_nonzero(s[:, redo] >= thr, axis=0)
    return above
