"""A gallery cut into column pieces, for galleries larger than one task should hold.

A task holds one block of query rows and one piece of the gallery's columns, so its memory is its
block, its piece and one tile of scores, whatever N is; nothing N x N exists anywhere, and only
counts come back. Every query's exact threshold is in the plan before any piece is scored
(harness.evaluate.retrieval), so a task's counts need nothing from other pieces: the driver adds
them up (retrieval.finish_ranks) and the ranks are exact whatever the pieces, the blocks, the
tile shape, the kernel or the device of each task.
"""

from __future__ import annotations

from harness.evaluate.retrieval import RankJob


def gallery_bytes(job: RankJob) -> int:
    """Size of the job's gallery (its columns) as float32."""
    return 4 * int(job.cols.shape[0]) * int(job.cols.shape[1])


def piece_bounds(n_cols: int, dim: int, budget: int) -> list[int]:
    """Column boundaries of pieces of at most `budget` bytes of float32 columns (at least one column each)."""
    width = max(1, budget // (4 * dim))
    return [*range(0, n_cols, width), n_cols]


def block_count(n_rows: int, dim: int, budget: int, blocks: int) -> int:
    """Query blocks for `n_rows` rows: at least `blocks`, and none larger than `budget` bytes."""
    return max(blocks, -(-n_rows * dim * 4 // budget))
