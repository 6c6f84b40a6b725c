"""The tile loop under every ranking pass: fast scores, certified counts, and the pairs scored exactly.

Scores are computed one tile at a time (`tile_rows` query rows against `tile_cols` gallery columns)
by a fast kernel (harness.evaluate.kernels). Every query's exact threshold (the exact score of its
best positive) is known before any tile is computed, so a tile's counts simply add up: any tiling,
any split of rows or columns over workers, any kernel gives the same ranks. Per query the fast
scores fall in three parts: above its band (certainly >= the threshold: counted), below it
(certainly not), and inside it; the pairs inside a band are scored exactly and counted when the
exact score is >= the threshold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from harness.evaluate.kernels import Kernel, exact_scores

TILE_ROWS = 1024  # query rows per tile: 512-row tiles ran the GEMM about 1.5x slower; columns fill the budget


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


@dataclass(frozen=True)
class Band:
    """Per query: the exact score of its best positive, and the float32 edges of the band around it
    where a fast score cannot be trusted (below `lo`: certainly lower; above `hi`: certainly higher)."""

    exact: np.ndarray  # float64
    lo: np.ndarray  # float32
    hi: np.ndarray  # float32

    def __getitem__(self, index: slice) -> Band:
        return Band(self.exact[index], self.lo[index], self.hi[index])


@dataclass(frozen=True)
class TileTotals:
    """Counts of one block of rows against some columns: negatives at or above each row's threshold and
    (when columns are ranked too) each column's, the pairs scored fast and those scored exactly."""

    row_above: np.ndarray
    col_above: np.ndarray | None
    width: int  # columns counted against
    pairs: int
    rescored: int


def tile_shape(n_rows: int, n_cols: int, tile_bytes: int, tile_rows: int | None = None) -> tuple[int, int]:
    """(rows, columns) of a tile: `tile_rows` (default TILE_ROWS) rows, and as many columns as fit
    `tile_bytes` of float32 scores."""
    rows = max(1, min(n_rows, tile_rows or TILE_ROWS))
    return rows, max(1, min(n_cols, tile_bytes // (4 * rows)))


def scan_tiles(
    rows: torch.Tensor,
    cols: torch.Tensor,
    positives: tuple[np.ndarray, np.ndarray],
    row_band: Band,
    col_band: Band | None,
    kernel: Kernel,
    shape: tuple[int, int],
    *,
    compiled: bool | None = None,
) -> TileTotals:
    """Certified counts of `rows` against `cols` (both on one device): `positives` are the (row, column)
    pairs never counted, `row_band` the rows' bands, `col_band` the columns' (None: rows only). On CPU
    (`compiled`, by default) each tile is certified by one compiled pass, row tiles shared by one worker
    thread a torch thread (_scan_cpu); on a GPU by torch comparisons, with the band pairs gathered and
    scored exactly. All give the same counts."""
    if rows.device.type == "cpu" if compiled is None else compiled:
        return _scan_cpu(rows, cols, positives, row_band, col_band, kernel, shape)
    n_rows, n_cols = rows.shape[0], cols.shape[0]
    tile_r, tile_c = shape
    row_above = np.zeros(n_rows, dtype=np.int64)
    col_above = np.zeros(n_cols, dtype=np.int64) if col_band is not None else None
    pos_rows, pos_cols = positives
    rescored = 0
    scores = torch.empty((min(tile_r, n_rows), min(tile_c, n_cols)), dtype=torch.float32, device=rows.device)
    for r0 in range(0, n_rows, tile_r):
        r1 = min(r0 + tile_r, n_rows)
        lo, hi = np.searchsorted(pos_rows, (r0, r1))
        chunk_pos_rows, chunk_pos_cols = pos_rows[lo:hi] - r0, pos_cols[lo:hi]
        for c0 in range(0, n_cols, tile_c):
            c1 = min(c0 + tile_c, n_cols)
            s = _tile_scores(kernel, rows[r0:r1], cols[c0:c1], scores, (chunk_pos_rows, chunk_pos_cols), c0)
            cb = col_band[c0:c1] if col_band is not None else None
            rb = row_band[r0:r1]
            above_r, above_c, band_r, band_c = certify_torch(s, rb, cb)
            row_above[r0:r1] += above_r
            if col_above is not None and above_c is not None:
                col_above[c0:c1] += above_c
            rescored += _rescore(rows, cols, r0, c0, band_r, band_c, row_band, col_band, row_above, col_above)
    return TileTotals(row_above, col_above, n_cols, n_rows * n_cols - len(pos_rows), rescored)


def _scan_cpu(
    rows: torch.Tensor,
    cols: torch.Tensor,
    positives: tuple[np.ndarray, np.ndarray],
    row_band: Band,
    col_band: Band | None,
    kernel: Kernel,
    shape: tuple[int, int],
) -> TileTotals:
    """scan_tiles on CPU: each worker thread takes whole row tiles (their products on one core, then one
    compiled certifying pass) and keeps its own column counts. A product on every core followed by a
    one-core pass left the other cores spinning in the matrix library's thread pool (counted as CPU time)."""
    from harness.evaluate.tile_kernels import certify_tile  # compiled on first use: imported when needed

    n_rows, n_cols = rows.shape[0], cols.shape[0]
    tile_r, tile_c = shape
    starts = list(range(0, n_rows, tile_r))
    workers = max(1, min(torch.get_num_threads(), len(starts)))
    row_above = np.zeros(n_rows, dtype=np.int64)
    col_counts = [np.zeros(n_cols, dtype=np.int64) for _ in range(workers)] if col_band is not None else None
    pos_rows, pos_cols = positives
    rows_np, cols_np = rows.numpy(), cols.numpy()
    no_cols = np.zeros(0, dtype=np.float32)
    padded = 1 << max(0, int(rows.shape[1] - 1).bit_length())

    def work(worker: int) -> int:
        if workers > 1:
            torch.set_num_threads(1)  # per thread: the matrix library's threads follow the calling thread
        scores = torch.empty((min(tile_r, n_rows), min(tile_c, n_cols)), dtype=torch.float32)
        col_above = col_counts[worker] if col_counts is not None else np.zeros(0, dtype=np.int64)
        rescored = 0
        for r0 in starts[worker::workers]:
            r1 = min(r0 + tile_r, n_rows)
            lo, hi = np.searchsorted(pos_rows, (r0, r1))
            chunk_pos_rows, chunk_pos_cols = pos_rows[lo:hi] - r0, pos_cols[lo:hi]
            rb = row_band[r0:r1]
            for c0 in range(0, n_cols, tile_c):
                c1 = min(c0 + tile_c, n_cols)
                s = _tile_scores(kernel, rows[r0:r1], cols[c0:c1], scores, (chunk_pos_rows, chunk_pos_cols), c0)
                cb = col_band[c0:c1] if col_band is not None else None
                rescored += certify_tile(
                    s.numpy(),
                    rows_np[r0:r1],
                    cols_np[c0:c1],
                    rb.lo,
                    rb.hi,
                    rb.exact,
                    row_above[r0:r1],
                    cb.lo if cb is not None else no_cols,
                    cb.hi if cb is not None else no_cols,
                    cb.exact if cb is not None else no_cols.astype(np.float64),
                    col_above[c0:c1] if cb is not None else col_above,
                    cb is not None,
                    padded,
                )
        return rescored

    if workers == 1:
        rescored = work(0)
    else:
        previous = torch.get_num_threads()
        try:
            rescored = sum(_one_thread_each(work, workers))
        finally:
            torch.set_num_threads(previous)
    col_above = None if col_counts is None else np.sum(col_counts, axis=0)
    return TileTotals(row_above, col_above, n_cols, n_rows * n_cols - len(pos_rows), rescored)


def _one_thread_each(work: Callable[[int], int], workers: int) -> list[int]:
    """work(0), ..., work(workers - 1), each on a thread of its own (a pool may run two on one thread);
    the first exception of any is raised here."""
    results = [0] * workers
    failures: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            results[worker] = work(worker)
        except BaseException as exc:  # handed to the calling thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(w,), name=f"bookclip-tiles-{w}") for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results


def _tile_scores(
    kernel: Kernel,
    rows: torch.Tensor,
    cols: torch.Tensor,
    scores: torch.Tensor,
    positives: tuple[np.ndarray, np.ndarray],
    c0: int,
) -> torch.Tensor:
    """One tile's fast scores in `scores`, its positive pairs (the rows' positives, columns from c0) set to
    -inf so they are never counted."""
    s = kernel.scores(rows, cols.T, scores[: rows.shape[0], : cols.shape[0]])
    pos_rows, pos_cols = positives
    inside = (pos_cols >= c0) & (pos_cols < c0 + cols.shape[0])
    s[
        torch.as_tensor(pos_rows[inside], device=s.device),
        torch.as_tensor(pos_cols[inside] - c0, device=s.device),
    ] = -torch.inf
    return s


Found = tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]


def certify_torch(s: torch.Tensor, rb: Band, cb: Band | None) -> Found:
    """A tile's counts on a GPU: per row (and with `cb`, per column) the scores above its band, and the
    (row, column) pairs inside a band, to be scored exactly by `_rescore`."""

    def side(lo: np.ndarray, hi: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        lo_t, hi_t = torch.as_tensor(lo, device=s.device), torch.as_tensor(hi, device=s.device)
        above = (s > hi_t).sum(dim=axis)
        r, c = torch.nonzero((s >= lo_t) & (s <= hi_t), as_tuple=True)
        return above.cpu().numpy().astype(np.int64), (r.cpu().numpy(), c.cpu().numpy())

    above_r, band_r = side(rb.lo[:, None], rb.hi[:, None], 1)
    if cb is None:
        return above_r, None, band_r, None
    above_c, band_c = side(cb.lo[None, :], cb.hi[None, :], 0)
    return above_r, above_c, band_r, band_c


def _rescore(
    rows: torch.Tensor,
    cols: torch.Tensor,
    r0: int,
    c0: int,
    band_r: tuple[np.ndarray, np.ndarray],
    band_c: tuple[np.ndarray, np.ndarray] | None,
    row_band: Band,
    col_band: Band | None,
    row_above: np.ndarray,
    col_above: np.ndarray | None,
) -> int:
    """Score the pairs inside a band exactly (each pair once) and count those at or above the threshold."""
    r = band_r[0] + r0
    c = band_r[1] + c0
    n_row_pairs = len(r)
    if band_c is not None:
        r = np.concatenate([r, band_c[0] + r0])
        c = np.concatenate([c, band_c[1] + c0])
    if not len(r):
        return 0
    keys, first, back = np.unique(r * cols.shape[0] + c, return_index=True, return_inverse=True)
    exact = exact_scores(rows, cols, r[first], c[first])[back]
    rr, cc = r[:n_row_pairs], c[:n_row_pairs]
    np.add.at(row_above, rr, exact[:n_row_pairs] >= row_band.exact[rr])
    if band_c is not None and col_above is not None and col_band is not None:
        rr, cc = r[n_row_pairs:], c[n_row_pairs:]
        np.add.at(col_above, cc, exact[n_row_pairs:] >= col_band.exact[cc])
    return len(keys)
