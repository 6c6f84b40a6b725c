"""Duplicate-aware cross-modal retrieval: for every query, the rank of its best correct answer.

Definitions (both directions, every engine, every machine use the same ones):

- A query's positives are the candidates that share its group id (every edition of the same
  book), so a cover whose title also belongs to another edition is not punished for ranking
  that edition's title first.
- Score = the exact dot product of the float32 embeddings, accumulated in float64 in a fixed
  order (harness.evaluate.kernels.exact_scores; cosine similarity for L2-normalised embeddings).
  It does not depend on the BLAS library, the instruction set, the thread count or the device,
  and identical vectors tie exactly.
- rank = 1 + the number of *negative* candidates whose score is >= the best positive's score.
  A negative tied with the best positive is ranked above it (pessimistic, deterministic ties).
- The metrics over these ranks (recall@k, mrr, median_rank, ...) are declared in
  harness.evaluate.metrics.

How they are computed fast. Every positive pair is scored exactly, so each query's threshold
(its best positive's exact score) is known before the big product. The product itself comes
from a fast kernel (float32, TF32 or bfloat16, on a CPU or a GPU) that states a rigorous bound on
its error (harness.evaluate.kernels): a fast score farther than the bound from the threshold is
certainly on its side of it, and only the pairs within the bound (the band) are scored exactly.
rank = 1 + the negatives certainly above + those in the band whose exact score is >= the threshold.
The counts are exact integers, so tiles of any shape, on any worker, add up to the same ranks.

Equivalence with CLIP_benchmark's ``zeroshot_retrieval``: with one caption per image and no
duplicate groups, ``image_to_text/recall@k`` here is their ``text_retrieval_recall@k`` (an image
query retrieves texts) and ``text_to_image/recall@k`` is their ``image_retrieval_recall@k``.
Both count a query as a hit when any positive is in the top k. The numbers are equal whenever
scores have no ties; with ties, ``torch.topk`` picks arbitrarily and we count the tie against the
query.

Scale: scores are computed tile by tile (harness.evaluate.score_chunks; memory O(N·d + tile),
never N×N). One product serves both directions: rows give image-to-text ranks, columns
text-to-image. Engines (harness.evaluate.engines) run blocks of rows against the gallery, or
against column pieces of it (harness.evaluate.pieces), locally, on a GPU or on Spark executors,
and add their counts with finish_ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harness.errors import EvaluationError
from harness.evaluate.embedding_store import StoredMatrix
from harness.evaluate.kernels import (
    DEFAULT_KERNEL,
    Kernel,
    certified_bound,
    exact_scores,
    get_kernel,
    round_down,
    round_up,
)
from harness.evaluate.score_chunks import Band, Positives, TileTotals, scan_tiles, tile_shape

Matrix = np.ndarray | torch.Tensor | StoredMatrix  # (items x dim) embeddings, in memory or in a store
DIRECTIONS = ("image_to_text", "text_to_image")
DEFAULT_KS = (1, 5, 10)
# Score tile budget: 1,024 rows by 4,096 columns of float32 scores. Measured at N = 30,000 (CPU time of the
# tile products alone): 1,024 x 4,096 tiles 6.25 s, 1,024 x 8,192 6.59 s, 512 x 4,096 10.7 s, one bare
# chunked product 8.2 s; 4,096 columns keep the compiled counting pass's per-column arrays in the L1 cache
# (1.1 ns a score, against 2.5 ns at 8,192 columns).
DEFAULT_CHUNK_BYTES = 16 * 2**20


@dataclass(frozen=True)
class DirectionRanks:
    """Per-query ranks of one retrieval direction over one candidate pool."""

    direction: str
    ranks: np.ndarray  # int64, 1-based rank of each query's best positive
    pool_size: int

    def __len__(self) -> int:
        return len(self.ranks)


@dataclass
class Certificate:
    """How the ranks of some products were certified (for the run report)."""

    kernel: str = DEFAULT_KERNEL
    relative_bound: float = 0.0  # |fast - exact| <= relative_bound * ||x|| ||y|| (+ absolute_bound)
    absolute_bound: float = 0.0
    pairs: int = 0  # negative pairs scored by the fast kernel
    rescored: int = 0  # of those, scored exactly because they fell inside a band

    def add(self, plan: RankPlan, totals: RankTotals) -> None:
        self.kernel = plan.kernel.name
        self.relative_bound = max(self.relative_bound, plan.relative_bound)
        self.absolute_bound = max(self.absolute_bound, plan.absolute_bound)
        self.pairs += totals.pairs
        self.rescored += totals.rescored

    def to_dict(self) -> dict[str, object]:
        share = self.rescored / self.pairs if self.pairs else 0.0
        return {
            "definition": "float64 exact scores; fast scores certified by a rigorous error bound",
            "kernel": self.kernel,
            "relative_bound": self.relative_bound,
            "absolute_bound": self.absolute_bound,
            "pairs": self.pairs,
            "rescored_pairs": self.rescored,
            "rescored_share": share,
        }


def check_ks(ks: Sequence[int], pool_size: int, *, where: str) -> tuple[int, ...]:
    """Validate recall cut-offs against the pool they are measured in."""
    ks = tuple(int(k) for k in ks)
    if not ks:
        raise EvaluationError(f"no k given for recall@k in {where}; pass e.g. --ks 1,5,10")
    bad = [k for k in ks if k < 1 or k > pool_size]
    if bad:
        raise EvaluationError(
            f"recall@{bad[0]} asked for in {where}, whose candidate pool holds only {pool_size} items; "
            f"use k between 1 and {pool_size} or a larger view"
        )
    return ks


def retrieval_ranks(
    images: Matrix,
    texts: Matrix,
    groups: Sequence | np.ndarray,
    *,
    pool_images: Matrix | None = None,
    pool_texts: Matrix | None = None,
    pool_groups: Sequence | np.ndarray | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    tile_rows: int | None = None,
    kernel: str = DEFAULT_KERNEL,
    device: str = "cpu",
    where: str = "view",
    certificate: Certificate | None = None,
) -> dict[str, DirectionRanks]:
    """Ranks in both directions. Item i is (images[i], texts[i], groups[i]).

    The candidate pool is the items themselves unless `pool_*` (e.g. the whole catalogue, which
    must contain the items) is given: image queries then search `pool_texts`, text queries
    `pool_images`. The fast products run with `kernel` on `device`, in tiles of `tile_rows` rows and
    `chunk_bytes` of scores; none of these changes a rank. `certificate` collects how they were certified.
    """
    jobs = rank_jobs(
        images,
        texts,
        groups,
        pool_images=pool_images,
        pool_texts=pool_texts,
        pool_groups=pool_groups,
        chunk_bytes=chunk_bytes,
        tile_rows=tile_rows,
        kernel=kernel,
        where=where,
    )
    results = []
    for job in jobs:
        assert isinstance(job.rows, torch.Tensor) and isinstance(job.cols, torch.Tensor)  # not keep_stored
        rows, cols = job.rows.to(device), job.cols.to(device)
        totals = finish_ranks(job.plan, [rank_block(job.plan, rows, cols)])
        if certificate is not None:
            certificate.add(job.plan, totals)
        results.append((totals.row_ranks, totals.col_ranks))
    return job_ranks(jobs, results)


@dataclass(frozen=True, eq=False)
class RankJob:
    """Rows (queries) ranked against columns; `directions` names the row (and column) ranks."""

    directions: tuple[str, ...]
    rows: torch.Tensor | StoredMatrix  # stored only where rank_jobs was asked to keep them so
    cols: torch.Tensor | StoredMatrix
    plan: RankPlan
    pool_size: int


def rank_jobs(
    images: Matrix,
    texts: Matrix,
    groups: Sequence | np.ndarray,
    *,
    pool_images: Matrix | None = None,
    pool_texts: Matrix | None = None,
    pool_groups: Sequence | np.ndarray | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    tile_rows: int | None = None,
    kernel: str = DEFAULT_KERNEL,
    where: str = "view",
    keep_stored: bool = False,
) -> list[RankJob]:
    """The checked, planned products behind retrieval_ranks (any engine runs their blocks). Stored matrices
    (harness.evaluate.embedding_store) stay in their store with `keep_stored` (the plan streams them; the
    engine's tasks read their blocks), else they are read here."""
    images = _checked(images, "image embeddings", where, keep_stored)
    texts = _checked(texts, "text embeddings", where, keep_stored)
    options = {"chunk_bytes": chunk_bytes, "tile_rows": tile_rows, "kernel": kernel, "where": where}
    if len(images) != len(texts) or len(images) != len(groups):
        raise EvaluationError(
            f"{where}: {len(images)} image and {len(texts)} text embeddings for {len(groups)} items; "
            "embed the same catalogue rows for both"
        )
    if pool_images is None and pool_texts is None and pool_groups is None:
        codes_q, _ = _codes(groups, groups)
        plan = plan_ranks(images, texts, codes_q, codes_q, rank_cols=True, **options)  # type: ignore[arg-type]
        return [RankJob(DIRECTIONS, images, texts, plan, len(images))]
    if pool_images is None or pool_texts is None or pool_groups is None:
        raise EvaluationError(f"{where}: a candidate pool needs pool_images, pool_texts and pool_groups together")
    pool_images = _checked(pool_images, "pool image embeddings", where, keep_stored)
    pool_texts = _checked(pool_texts, "pool text embeddings", where, keep_stored)
    codes_q, codes_p = _codes(groups, pool_groups)
    return [
        RankJob(
            ("image_to_text",),
            images,
            pool_texts,
            plan_ranks(images, pool_texts, codes_q, codes_p, rank_cols=False, **options),  # type: ignore[arg-type]
            len(pool_texts),
        ),
        RankJob(
            ("text_to_image",),
            texts,
            pool_images,
            plan_ranks(texts, pool_images, codes_q, codes_p, rank_cols=False, **options),  # type: ignore[arg-type]
            len(pool_images),
        ),
    ]


def job_ranks(
    jobs: Sequence[RankJob],
    results: Sequence[tuple[np.ndarray, np.ndarray | None]],
) -> dict[str, DirectionRanks]:
    """Per direction ranks from each job's (row ranks, column ranks)."""
    # a one-direction job's column ranks are None: zip stops at its one direction
    return {
        direction: DirectionRanks(direction, ranks, job.pool_size)
        for job, ranked in zip(jobs, results, strict=True)
        for direction, ranks in zip(job.directions, ranked, strict=False)
        if ranks is not None
    }


def query_ranks(
    queries: np.ndarray | torch.Tensor,
    query_groups: Sequence,
    candidates: np.ndarray | torch.Tensor,
    candidate_groups: Sequence,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    where: str = "view",
) -> np.ndarray:
    """Ranks of one direction: each query's best positive among `candidates`."""
    queries = _as_matrix(queries, "query embeddings", where)
    candidates = _as_matrix(candidates, "candidate embeddings", where)
    codes_q, codes_c = _codes(query_groups, candidate_groups)
    plan = plan_ranks(queries, candidates, codes_q, codes_c, rank_cols=False, chunk_bytes=chunk_bytes, where=where)
    return finish_ranks(plan, [rank_block(plan, queries, candidates)]).row_ranks


# --------------------------------------------------------------------------- internals


def _checked(x: Matrix, what: str, where: str, keep_stored: bool) -> torch.Tensor | StoredMatrix:
    """`x` checked as _as_matrix does; a stored matrix kept in its store by what its writers measured."""
    if not (keep_stored and isinstance(x, StoredMatrix)):
        return _as_matrix(x, what, where)
    if len(x) == 0:
        raise EvaluationError(f"{where} is empty: no items to rank; check the view's categories and the split")
    if x.store.nonfinite:
        raise EvaluationError(
            f"{where}: {what} hold NaN/inf in {x.store.nonfinite} rows; the model produced non-finite "
            "outputs: check its weights (fingerprint)"
        )
    _check_largest(x.store.max_abs, x.shape[1], what, where)
    return x


def _as_matrix(x: Matrix, what: str, where: str) -> torch.Tensor:
    if isinstance(x, StoredMatrix):
        x = np.asarray(x)
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().to("cpu", torch.float32)
    if t.ndim != 2:
        raise EvaluationError(f"{where}: {what} must be a 2-D (items x dim) array, got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise EvaluationError(f"{where} is empty: no items to rank; check the view's categories and the split")
    if bool(torch.isfinite(t.sum(dim=1)).all()):  # fast path: a NaN/inf anywhere makes its row sum non-finite
        return _bounded(t.contiguous(), what, where)
    finite = torch.isfinite(t).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        first = int(torch.nonzero(~finite)[0, 0])
        raise EvaluationError(
            f"{where}: {what} hold NaN/inf in {bad} rows (first row {first}); the model produced non-finite "
            "outputs: check its weights (fingerprint) or rebuild the embedding cache"
        )
    return _bounded(t.contiguous(), what, where)


MAX_NORM = 2.0**40  # scores of vectors this long stay far from float32 overflow (3.4e38)


def _bounded(t: torch.Tensor, what: str, where: str) -> torch.Tensor:
    _check_largest(float(t.abs().max()) if t.numel() else 0.0, t.shape[1], what, where)
    return t


def _check_largest(largest: float, dim: int, what: str, where: str) -> None:
    if largest * np.sqrt(dim) > MAX_NORM:
        raise EvaluationError(
            f"{where}: {what} hold values up to {largest:.3g}, too large to score in float32; "
            "embeddings are expected near unit length: check the model's output"
        )


def _codes(groups_a: Sequence | np.ndarray, groups_b: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map group ids of both sides onto shared integer codes."""
    a = np.asarray(groups_a).astype(str)
    b = np.asarray(groups_b).astype(str)
    _, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    inverse = inverse.astype(np.int64)
    return inverse[: len(a)], inverse[len(a) :]


@dataclass(frozen=True)
class RankPlan:
    """What every block of rows needs to count itself against any columns: positives by column, each row's
    (and, rank_cols, each column's) exact threshold and band, the kernel and the tile shape."""

    by_col: Positives
    row_codes: np.ndarray
    row_band: Band
    col_band: Band | None
    kernel: Kernel
    relative_bound: float
    absolute_bound: float
    tile: tuple[int, int]
    n_rows: int
    n_cols: int

    def positives(self, start: int, stop: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """Positive pairs of rows start:stop within columns c0:c1, as (row, column) from (start, c0), by row."""
        rows, cols, _ = self.by_col.pairs(self.row_codes[start:stop])
        inside = (cols >= c0) & (cols < c1)
        return rows[inside], cols[inside] - c0


@dataclass(frozen=True)
class BlockCounts:
    """One block of rows (from row `start`) counted against the columns from `c0`."""

    start: int
    c0: int
    totals: TileTotals


@dataclass(frozen=True)
class RankTotals:
    """Ranks of a product's rows (and columns), with the pairs scored fast and exactly."""

    row_ranks: np.ndarray
    col_ranks: np.ndarray | None
    pairs: int
    rescored: int


def plan_ranks(
    rows_emb: torch.Tensor | StoredMatrix,
    cols_emb: torch.Tensor | StoredMatrix,
    row_codes: np.ndarray,
    col_codes: np.ndarray,
    *,
    rank_cols: bool,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    tile_rows: int | None = None,
    kernel: str = DEFAULT_KERNEL,
    where: str = "view",
) -> RankPlan:
    """Check the inputs, score every positive pair exactly and set each query's band (no N x N work)."""
    if rows_emb.shape[1] != cols_emb.shape[1]:
        raise EvaluationError(
            f"{where}: embedding widths differ ({rows_emb.shape[1]} vs {cols_emb.shape[1]}); "
            "embed both sides with the same model"
        )
    n_rows, n_cols = rows_emb.shape[0], cols_emb.shape[0]
    n_codes = int(max(row_codes.max(initial=-1), col_codes.max(initial=-1))) + 1
    by_col = Positives.build(col_codes, n_codes)
    row_counts = by_col.ends[row_codes] - by_col.starts[row_codes]
    if (row_counts == 0).any():
        first = int(np.argmax(row_counts == 0))
        raise EvaluationError(
            f"{where}: query {first} has no correct answer in the candidate pool "
            f"({int((row_counts == 0).sum())} such queries); the pool must contain every query's group"
        )
    if rank_cols:
        by_row = Positives.build(row_codes, n_codes)
        if ((by_row.ends[col_codes] - by_row.starts[col_codes]) == 0).any():
            raise EvaluationError(
                f"{where}: a candidate has no correct answer among the queries; "
                "rank both directions over the same items"
            )
    chosen = get_kernel(kernel)
    relative, absolute = certified_bound(chosen, int(rows_emb.shape[1]))
    rows_norm, cols_norm = _norms(rows_emb), _norms(cols_emb)
    pair_rows, pair_cols, counts = by_col.pairs(row_codes)
    exact = _exact_pairs(rows_emb, cols_emb, pair_rows, pair_cols)
    row_best = np.maximum.reduceat(exact, np.cumsum(counts) - counts)  # every row has a positive
    margin = 1 + 1e-9  # the norms' own float64 rounding
    row_band = _band(row_best, relative * rows_norm * cols_norm.max() * margin + absolute)
    col_band = None
    if rank_cols:
        col_best = np.full(n_cols, -np.inf)
        np.maximum.at(col_best, pair_cols, exact)
        col_band = _band(col_best, relative * cols_norm * rows_norm.max() * margin + absolute)
    return RankPlan(
        by_col,
        row_codes,
        row_band,
        col_band,
        chosen,
        relative,
        absolute,
        tile_shape(n_rows, n_cols, chunk_bytes, tile_rows),
        n_rows,
        n_cols,
    )


def _norms(matrix: torch.Tensor | StoredMatrix) -> np.ndarray:
    """Each row's float64 norm (a stored matrix streamed in chunks)."""
    if isinstance(matrix, torch.Tensor):
        norms: np.ndarray = torch.linalg.vector_norm(matrix, dim=1, dtype=torch.float64).numpy()
        return norms
    # filled in place: small per-chunk results kept between the chunks' large freed buffers would pin them
    # in the heap (the driver's resident size grew by the whole matrix at N = 100,000)
    out = np.empty(len(matrix), dtype=np.float64)
    for start, rows in matrix.chunks():
        out[start : start + len(rows)] = torch.linalg.vector_norm(torch.from_numpy(rows), dim=1, dtype=torch.float64)
    return out


PAIR_CHUNK = 8_192  # positive pairs scored per read of a stored matrix (at most 2 x 8,192 rows read at once)


def _exact_pairs(
    rows: torch.Tensor | StoredMatrix, cols: torch.Tensor | StoredMatrix, pair_rows: np.ndarray, pair_cols: np.ndarray
) -> np.ndarray:
    """exact_scores of the pairs; from a store, a chunk of pairs at a time, reading only the rows they use
    (the exact score does not depend on where its operands came from)."""
    if isinstance(rows, torch.Tensor) and isinstance(cols, torch.Tensor):
        return exact_scores(rows, cols, pair_rows, pair_cols)
    out = np.empty(len(pair_rows), dtype=np.float64)
    for p0 in range(0, len(out), PAIR_CHUNK):
        r_ids, r_at = np.unique(pair_rows[p0 : p0 + PAIR_CHUNK], return_inverse=True)
        c_ids, c_at = np.unique(pair_cols[p0 : p0 + PAIR_CHUNK], return_inverse=True)
        out[p0 : p0 + PAIR_CHUNK] = exact_scores(_gather(rows, r_ids), _gather(cols, c_ids), r_at, c_at)
    return out


def _gather(matrix: torch.Tensor | StoredMatrix, ids: np.ndarray) -> torch.Tensor:
    if isinstance(matrix, torch.Tensor):
        return matrix[torch.from_numpy(ids)].contiguous()
    return torch.from_numpy(np.asarray(matrix[ids]))


def _band(exact: np.ndarray, half_width: np.ndarray) -> Band:
    return Band(exact, round_down(exact - half_width), round_up(exact + half_width))


def block_starts(plan: RankPlan, blocks: int) -> list[int]:
    """Start rows of about `blocks` blocks of rows (the last block takes the remainder)."""
    per_block = max(1, -(-plan.n_rows // max(1, blocks)))
    return list(range(0, plan.n_rows, per_block))


def rank_block(
    plan: RankPlan, rows_block: torch.Tensor, cols: torch.Tensor, *, start: int = 0, c0: int = 0
) -> BlockCounts:
    """Certified counts of one block of rows (from row `start`) against columns `cols` (from column `c0`: the
    whole gallery or one piece of it), both float32 on one device, rows x d and columns x d."""
    stop, c1 = start + rows_block.shape[0], c0 + cols.shape[0]
    col_band = plan.col_band[c0:c1] if plan.col_band is not None else None
    totals = scan_tiles(
        rows_block,
        cols,
        plan.positives(start, stop, c0, c1),
        plan.row_band[start:stop],
        col_band,
        plan.kernel,
        plan.tile,
    )
    return BlockCounts(start, c0, totals)


def finish_ranks(plan: RankPlan, blocks: Sequence[BlockCounts]) -> RankTotals:
    """Add the blocks' counts (each (start, c0) once) into row ranks and, with rank_cols, column ranks."""
    unique = {(b.start, b.c0): b for b in blocks}.values()
    row_above = np.zeros(plan.n_rows, dtype=np.int64)
    covered = np.zeros(plan.n_rows, dtype=np.int64)  # columns each row was counted against
    col_above = np.zeros(plan.n_cols, dtype=np.int64) if plan.col_band is not None else None
    pairs = rescored = 0
    for b in unique:
        t = b.totals
        rows = slice(b.start, b.start + len(t.row_above))
        row_above[rows] += t.row_above
        covered[rows] += t.width
        if col_above is not None and t.col_above is not None:
            col_above[b.c0 : b.c0 + t.width] += t.col_above
        pairs += t.pairs
        rescored += t.rescored
    if not (covered == plan.n_cols).all():
        missing = int((covered != plan.n_cols).sum())
        raise EvaluationError(
            f"ranked {plan.n_rows - missing} of {plan.n_rows} queries against the whole gallery; "
            "a block's result is missing or counted twice"
        )
    return RankTotals(1 + row_above, None if col_above is None else 1 + col_above, pairs, rescored)
