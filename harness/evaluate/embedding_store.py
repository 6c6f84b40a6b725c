"""Embeddings kept in a folder, in row parts, read back a block at a time.

At scale the driver should not hold every embedding: the Spark engine's executors write what they
embed here (one part per task, rows start:stop of both modalities as .npy files) and the ranking
tasks read their query blocks and gallery pieces from here; the driver keeps the plan and O(N)
numbers (harness.evaluate.engines.spark). The folder must be one every executor and the driver see
at the same path: the cache folder on one machine, a shared mount (e.g. /dbfs/...) on a cluster.

`StoredMatrix` is the lazy (rows x dim) float32 view of one modality that Embeddings carries in
place of an array: indexing it selects rows without reading them; np.asarray reads them. The
functions that scan a whole matrix (norms, products with a few vectors) stream it in row chunks,
so their memory is a chunk, not the matrix.
"""

from __future__ import annotations

import os
import shutil
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from harness.errors import EvaluationError

Modality = Literal["image", "text"]
MODALITIES: tuple[Modality, ...] = ("image", "text")
STREAM_BYTES = 4 * 2**20  # row chunk when streaming a matrix (norms, products with a few vectors)


@dataclass(frozen=True)
class Part:
    """Rows start:stop of the store, both modalities; what its writer measured of them."""

    start: int
    stop: int
    nonfinite: int  # rows holding a NaN or an inf, in either modality
    max_abs: float  # largest absolute coordinate (finite ones)

    def file(self, folder: str, modality: Modality) -> str:
        return os.path.join(folder, f"{modality}-{self.start:012d}.npy")


def write_part(folder: str, start: int, images: np.ndarray, texts: np.ndarray) -> Part:
    """Write rows start:start+len(images) of both modalities (atomically: a retried task rewrites the same
    bytes under the same name) and return what a reader needs to know of them."""
    part = Part(start, start + len(images), 0, 0.0)
    finite = np.ones(len(images), dtype=bool)
    largest = 0.0
    for modality, array in zip(MODALITIES, (images, texts), strict=True):
        array = np.ascontiguousarray(array, dtype=np.float32)
        ok = np.isfinite(array)
        finite &= ok.all(axis=1)
        if array.size:
            largest = max(largest, float(np.abs(np.where(ok, array, 0.0)).max()))
        target = part.file(folder, modality)
        scratch = f"{target}.{uuid.uuid4().hex}.tmp"
        with open(scratch, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(scratch, target)
    return Part(part.start, part.stop, int((~finite).sum()), largest)


class EmbeddingStore:
    """A folder of parts covering rows 0:n without gaps. `owned` stores are removed when the last object
    that refers to them is gone (or at exit)."""

    def __init__(self, folder: str, parts: list[Part], dim: int, *, owned: bool = False) -> None:
        self.folder = folder
        self.parts = sorted(parts, key=lambda p: p.start)
        self.dim = dim
        self.starts = np.array([p.start for p in self.parts], dtype=np.int64)
        self.n = self.parts[-1].stop if self.parts else 0
        if [p.start for p in self.parts] != [0, *(p.stop for p in self.parts[:-1])]:
            raise ValueError(f"embedding store {folder}: its parts do not cover rows 0:{self.n} once each")
        if owned:
            weakref.finalize(self, shutil.rmtree, folder, True)

    def _open(self, part: Part, modality: Modality) -> np.ndarray:
        path = part.file(self.folder, modality)
        try:
            mapped: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise EvaluationError(f"embedding store part {path} is unreadable ({type(exc).__name__}: {exc})") from None
        if mapped.shape != (part.stop - part.start, self.dim) or mapped.dtype != np.float32:
            raise EvaluationError(
                f"embedding store part {path} holds {mapped.dtype} {mapped.shape}, not float32 "
                f"({part.stop - part.start}, {self.dim}); it was changed after it was written"
            )
        return mapped

    @staticmethod
    def new_folder(root: str | Path) -> str:
        folder = os.path.join(str(root), f"store-{uuid.uuid4().hex}")
        os.makedirs(folder)
        return folder

    @property
    def nonfinite(self) -> int:
        return sum(p.nonfinite for p in self.parts)

    @property
    def max_abs(self) -> float:
        return max((p.max_abs for p in self.parts), default=0.0)

    def matrix(self, modality: Modality) -> StoredMatrix:
        return StoredMatrix(self, modality, None)

    def read(self, modality: Modality, rows: np.ndarray | slice) -> np.ndarray:
        """Rows of one modality, as a new (len(rows) x dim) float32 array, in the order asked."""
        if isinstance(rows, slice):
            rows = np.arange(self.n)[rows]
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= self.n:
            raise IndexError(f"rows outside 0:{self.n} asked of the embedding store {self.folder}")
        which = np.searchsorted(self.starts, rows, side="right") - 1
        for k in np.unique(which):
            part = self.parts[int(k)]
            mine = np.flatnonzero(which == k)
            mapped = self._open(part, modality)
            local = rows[mine] - part.start
            if len(local) and (np.diff(local) == 1).all():  # a contiguous run: one slice read
                out[mine] = mapped[local[0] : local[-1] + 1]
            else:
                out[mine] = mapped[local]
            del mapped
        return out


@dataclass(frozen=True, eq=False)
class StoredMatrix:
    """Rows `rows` (all rows when None) of one modality of a store, not read until asked for."""

    store: EmbeddingStore
    modality: Modality
    rows: np.ndarray | None = field(default=None)

    @property
    def row_ids(self) -> np.ndarray:
        """The store rows this matrix holds, in order."""
        return np.arange(self.store.n, dtype=np.int64) if self.rows is None else self.rows

    @property
    def shape(self) -> tuple[int, int]:
        return (self.store.n if self.rows is None else len(self.rows), self.store.dim)

    @property
    def ndim(self) -> int:
        return 2

    @property
    def dtype(self) -> np.dtype[np.float32]:
        return np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> StoredMatrix:
        """The selected rows, still in the store (boolean masks and integer arrays, like numpy)."""
        chosen = np.asarray(self.row_ids[index], dtype=np.int64).reshape(-1)
        return StoredMatrix(self.store, self.modality, chosen)

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        out = self.read(0, len(self))
        return out if dtype is None else out.astype(dtype, copy=False)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows start:stop of this matrix as an array."""
        if self.rows is None:
            return self.store.read(self.modality, slice(start, stop))
        return self.store.read(self.modality, self.rows[start:stop])

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, rows) in chunks of about STREAM_BYTES."""
        step = max(1, STREAM_BYTES // (4 * self.store.dim))
        for start in range(0, len(self), step):
            yield start, self.read(start, min(len(self), start + step))
