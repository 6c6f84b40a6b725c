"""The local engine: embeddings (cached) and certified exact ranks in this process, on its CPU or GPU."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.evaluate.kernels import DEFAULT_KERNEL, get_kernel
from harness.evaluate.retrieval import DEFAULT_CHUNK_BYTES, Certificate, DirectionRanks, Matrix, retrieval_ranks

if TYPE_CHECKING:
    from harness.evaluate.embed import Embeddings


class LocalEngine:
    """Ranks on `device` (default: the device of the model it last embedded with, else the CPU) with the
    fast `kernel`; neither changes a rank (harness.evaluate.retrieval)."""

    name = "local"

    def __init__(
        self,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        tile_rows: int | None = None,
        kernel: str = DEFAULT_KERNEL,
        device: str | None = None,
    ) -> None:
        self.chunk_bytes = chunk_bytes
        self.tile_rows = tile_rows
        self.kernel = get_kernel(kernel, "engine kernel").name
        self.device = device
        self._model_device: str | None = None
        self.certificate = Certificate(kernel=self.kernel)

    def embed(self, model: Any, catalogue: Any, *, template: str, batch_size: int) -> Embeddings:
        from harness.evaluate.embed import embed

        self._model_device = str(getattr(model, "device", "cpu"))
        return embed(model, catalogue, template=template, batch_size=batch_size)

    @property
    def rank_device(self) -> str:
        return self.device or self._model_device or "cpu"

    def retrieval_ranks(
        self,
        images: Matrix,
        texts: Matrix,
        groups: Sequence | np.ndarray,
        *,
        pool_images: Matrix | None = None,
        pool_texts: Matrix | None = None,
        pool_groups: Sequence | np.ndarray | None = None,
        where: str = "view",
    ) -> dict[str, DirectionRanks]:
        return retrieval_ranks(
            images,
            texts,
            groups,
            pool_images=pool_images,
            pool_texts=pool_texts,
            pool_groups=pool_groups,
            chunk_bytes=self.chunk_bytes,
            tile_rows=self.tile_rows,
            kernel=self.kernel,
            device=self.rank_device,
            where=where,
            certificate=self.certificate,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "embeddings": "driver (embedding cache)",
            "ranks": {"where": f"driver ({self.rank_device})", "exact": self.certificate.to_dict()},
            "zero_shot": "driver",
            "probes": "driver",
        }
