"""Compiled loops for ranking on CPU: one pass over a tile of fast scores that counts, per query row and
per gallery column, the scores above its band and scores the pairs inside a band exactly.

These are the CPU form of two definitions that live elsewhere: a band (harness.evaluate.score_chunks.Band)
and the exact score (harness.evaluate.kernels: float64 products of the float32 coordinates, zero-padded to
a power of two, summed by elementwise halving). The exact score here adds the same operands in the same
order, with no fused multiply-add and no reassociation (numba's default, fastmath off), so it equals the
torch form bit for bit; tests/evaluate/test_tile_kernels.py checks that on many shapes.

Compiled on first use and cached on disk (numba's cache: next to this file, or the user's cache folder
where that is read-only), so only a process's first tile pays the compile.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def exact_pair(x: np.ndarray, y: np.ndarray, buf: np.ndarray) -> float:  # pragma: no cover - compiled
    """exact(x, y) for two float32 vectors; `buf` is float64 scratch of the padded length (a power of two)."""
    dim = x.shape[0]
    width = buf.shape[0]
    for k in range(dim):
        buf[k] = np.float64(x[k]) * np.float64(y[k])
    for k in range(dim, width):
        buf[k] = 0.0
    while width > 1:
        width //= 2
        for k in range(width):
            buf[k] += buf[k + width]
    return float(buf[0])


@njit(cache=True, nogil=True)
def exact_pairs(
    rows: np.ndarray, cols: np.ndarray, row_index: np.ndarray, col_index: np.ndarray, padded: int
) -> np.ndarray:  # pragma: no cover - compiled
    """exact(rows[i], cols[j]) for each pair of the two index arrays."""
    out = np.empty(row_index.shape[0], dtype=np.float64)
    buf = np.empty(padded, dtype=np.float64)
    for p in range(row_index.shape[0]):
        out[p] = exact_pair(rows[row_index[p]], cols[col_index[p]], buf)
    return out


@njit(cache=True, nogil=True)
def certify_tile(
    s: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    row_exact: np.ndarray,
    row_above: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    col_exact: np.ndarray,
    col_above: np.ndarray,
    with_cols: bool,
    padded: int,
) -> int:  # pragma: no cover - compiled
    """Add to row_above[i] (and, with_cols, col_above[j]) the tile's scores s[i, j] certainly above the row's
    (column's) band, plus the pairs inside a band whose exact score reaches its threshold. `rows` and `cols`
    are the tile's float32 embeddings. Returns the number of pairs scored exactly (each pair once)."""
    n_rows, n_cols = s.shape
    flags = np.zeros(((n_cols + 7) // 8) * 8, dtype=np.uint8)
    words = flags.view(np.uint64)  # eight flags a word: a row's flags are skipped a word at a time
    counts = np.zeros(n_cols, dtype=np.int32)  # per tile: fewer than 2**31 rows
    buf = np.empty(padded, dtype=np.float64)
    rescored = 0
    for i in range(n_rows):
        lo, hi = row_lo[i], row_hi[i]
        above = 0
        if with_cols:  # two loops without a branch, so the compiler vectorises them
            for j in range(n_cols):
                v = s[i, j]
                row_up, col_up = v > hi, v > col_hi[j]  # scores are never NaN: not above and not below is inside
                above += row_up
                counts[j] += col_up
                flags[j] = np.uint8(((v >= lo) & ~row_up) | (((v >= col_lo[j]) & ~col_up) << 1))
        else:
            for j in range(n_cols):
                v = s[i, j]
                row_up = v > hi
                above += row_up
                flags[j] = np.uint8((v >= lo) & ~row_up)
        row_above[i] += above
        for w in range(words.shape[0]):
            if words[w] == 0:
                continue
            for j in range(w * 8, min(w * 8 + 8, n_cols)):
                f = flags[j]
                if f == 0:
                    continue
                exact = exact_pair(rows[i], cols[j], buf)
                rescored += 1
                if f & 1 and exact >= row_exact[i]:
                    row_above[i] += 1
                if f & 2 and exact >= col_exact[j]:
                    counts[j] += 1
    if with_cols:
        for j in range(n_cols):
            col_above[j] += counts[j]
    return rescored
