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

from dataclasses import dataclass

import numpy as np
import torch

from harness.evaluate.kernels import Kernel, exact_scores

TILE_ROWS = 512  # query rows per tile: tall enough for an efficient GEMM; columns fill the tile budget


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
) -> TileTotals:
    """Certified counts of `rows` against `cols` (both on one device): `positives` are the (row, column)
    pairs never counted, `row_band` the rows' bands, `col_band` the columns' (None: rows only)."""
    n_rows, n_cols = rows.shape[0], cols.shape[0]
    tile_r, tile_c = shape
    row_above = np.zeros(n_rows, dtype=np.int64)
    col_above = np.zeros(n_cols, dtype=np.int64) if col_band is not None else None
    pos_rows, pos_cols = positives
    rescored = 0
    scores = torch.empty((min(tile_r, n_rows), min(tile_c, n_cols)), dtype=torch.float32, device=rows.device)
    # one counting thread: more would compete with the matrix library's threads, which spin between products
    mask = np.empty(scores.numel(), dtype=bool) if rows.device.type == "cpu" else None
    screen = True  # until a tile shows that its lowest band edge lets through too many scores
    for r0 in range(0, n_rows, tile_r):
        r1 = min(r0 + tile_r, n_rows)
        lo, hi = np.searchsorted(pos_rows, (r0, r1))
        chunk_pos_rows, chunk_pos_cols = pos_rows[lo:hi] - r0, pos_cols[lo:hi]
        for c0 in range(0, n_cols, tile_c):
            c1 = min(c0 + tile_c, n_cols)
            s = kernel.scores(rows[r0:r1], cols[c0:c1].T, scores[: r1 - r0, : c1 - c0])
            inside = (chunk_pos_cols >= c0) & (chunk_pos_cols < c1)
            s[
                torch.as_tensor(chunk_pos_rows[inside], device=s.device),
                torch.as_tensor(chunk_pos_cols[inside] - c0, device=s.device),
            ] = -torch.inf
            cb = col_band[c0:c1] if col_band is not None else None
            if mask is not None:  # a contiguous mask of the tile's shape
                tile_mask = mask[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
                (above_r, above_c, band_r, band_c), screen = certify_numpy(
                    s.numpy(), tile_mask, row_band[r0:r1], cb, screen=screen
                )
            else:
                above_r, above_c, band_r, band_c = certify_torch(s, row_band[r0:r1], cb)
            row_above[r0:r1] += above_r
            if col_above is not None and above_c is not None:
                col_above[c0:c1] += above_c
            rescored += _rescore(rows, cols, r0, c0, band_r, band_c, row_band, col_band, row_above, col_above)
    return TileTotals(row_above, col_above, n_cols, n_rows * n_cols - len(pos_rows), rescored)


Found = tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]


def certify_numpy(
    s: np.ndarray,
    m: np.ndarray,
    rb: Band,
    cb: Band | None,
    *,
    screen: bool = True,
) -> tuple[Found, bool]:
    """A tile's certified counts: per row the scores above its band and the pairs inside it; with `cb`, per
    column. `m` is a contiguous bool scratch of the tile's shape. With `screen`, one comparison against the
    tile's lowest band edge comes first: when few scores pass it (a model whose positives stand out), they
    are classified one by one for rows and columns at once. Returns the counts and whether the screen did."""
    if screen:
        floor = min(rb.lo.min(), cb.lo.min()) if cb is not None else rb.lo.min()
        np.greater_equal(s, floor, out=m)
        if np.count_nonzero(m) * SPARSE <= m.size:
            r, c = np.divmod(np.flatnonzero(m), m.shape[1])
            values = s[r, c]
            above_r, band_r = _classify(values, r, c, rb.lo[r], rb.hi[r], r, m.shape[0])
            if cb is None:
                return (above_r, None, band_r, None), True
            above_c, band_c = _classify(values, r, c, cb.lo[c], cb.hi[c], c, m.shape[1])
            return (above_r, above_c, band_r, band_c), True
    above_r, band_r = _side(s, m, rb.lo[:, None], rb.hi[:, None], axis=1)
    if cb is None:
        return (above_r, None, band_r, None), False
    above_c, band_c = _side(s, m, cb.lo[None, :], cb.hi[None, :], axis=0)
    return (above_r, above_c, band_r, band_c), False


def _classify(
    values: np.ndarray, r: np.ndarray, c: np.ndarray, lo: np.ndarray, hi: np.ndarray, owner: np.ndarray, n: int
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Scores (at rows r, columns c) against each owner's band edges: per owner the count above, and the pairs
    inside the band."""
    at_least = values >= lo
    inside = at_least & (values <= hi)
    return np.bincount(owner[at_least & ~inside], minlength=n), (r[inside], c[inside])


SPARSE = 256  # at most one score in this many at or above the band's lower edge: find them, don't compare again


def _side(
    s: np.ndarray,
    m: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    axis: int,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Per row (axis 1) or column (axis 0): scores above the band, and the (row, column) pairs inside it."""
    count = row_counts if axis == 1 else col_counts
    np.greater_equal(s, lo, out=m)
    if np.count_nonzero(m) * SPARSE <= m.size:  # few: classify them one by one
        r, c = np.divmod(np.flatnonzero(m), m.shape[1])
        owner, edge = (r, hi[r, 0]) if axis == 1 else (c, hi[0, c])
        inside = s[r, c] <= edge
        above = np.bincount(owner[~inside], minlength=m.shape[1 - axis])
        return above, (r[inside], c[inside])
    at_least = count(m)
    np.greater(s, hi, out=m)
    above = count(m)
    some = np.flatnonzero(at_least - above)
    if not len(some):
        return above, (np.empty(0, np.int64), np.empty(0, np.int64))
    if axis == 1:
        sub = s[some]
        r, c = np.nonzero((sub >= lo[some]) & (sub <= hi[some]))
        return above, (some[r], c)
    sub = s[:, some]
    r, c = np.nonzero((sub >= lo[:, some]) & (sub <= hi[:, some]))
    return above, (r, some[c])


LANE_MAX = 255  # a uint8 lane of a uint64 word holds sums up to 255


def row_counts(mask: np.ndarray) -> np.ndarray:
    """True values per row of a C-contiguous bool matrix, eight at a time: the matrix read as uint64 words
    whose eight byte lanes are summed together (at most 255 words at once, so no lane carries)."""
    n, width = mask.shape
    whole = width - width % 8
    counts = np.zeros(n, dtype=np.int64)
    if whole:
        words = np.ascontiguousarray(mask[:, :whole]).view(np.uint64)
        for w0 in range(0, words.shape[1], LANE_MAX):
            lanes = np.add.reduce(words[:, w0 : w0 + LANE_MAX], axis=1)
            counts += np.add.reduce(lanes.view(np.uint8).reshape(n, 8), axis=1, dtype=np.int64)
    if whole < width:
        counts += np.add.reduce(mask[:, whole:].view(np.uint8), axis=1, dtype=np.int64)
    return counts


def col_counts(mask: np.ndarray) -> np.ndarray:
    """True values per column of a C-contiguous bool matrix, by the same uint64 lanes (255 rows at once)."""
    n, width = mask.shape
    whole = width - width % 8
    counts = np.zeros(width, dtype=np.int64)
    if whole:
        words = np.ascontiguousarray(mask[:, :whole]).view(np.uint64)
        for r0 in range(0, n, LANE_MAX):
            counts[:whole] += np.add.reduce(words[r0 : r0 + LANE_MAX], axis=0).view(np.uint8)
    if whole < width:
        counts[whole:] += np.add.reduce(mask[:, whole:].view(np.uint8), axis=0, dtype=np.int64)
    return counts


def certify_torch(s: torch.Tensor, rb: Band, cb: Band | None) -> Found:
    """certify_numpy's counts with torch, for tiles on a GPU."""

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
