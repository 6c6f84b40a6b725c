"""The local engine: embeddings (cached) and chunked exact ranks in this process."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from harness.evaluate.retrieval import DEFAULT_CHUNK_BYTES, DirectionRanks, retrieval_ranks


class LocalEngine:
    name = "local"

    def __init__(self, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self.chunk_bytes = chunk_bytes

    def embed(self, model: Any, catalogue: Any, *, template: str, batch_size: int) -> Any:
        from harness.evaluate.embed import embed

        return embed(model, catalogue, template=template, batch_size=batch_size)

    def retrieval_ranks(self, images: np.ndarray, texts: np.ndarray, groups: Sequence, *,
                        pool_images: np.ndarray | None = None, pool_texts: np.ndarray | None = None,
                        pool_groups: Sequence | None = None, where: str = "view") -> dict[str, DirectionRanks]:
        return retrieval_ranks(images, texts, groups, pool_images=pool_images, pool_texts=pool_texts,
                               pool_groups=pool_groups, chunk_bytes=self.chunk_bytes, where=where)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "embeddings": "driver (embedding cache)", "ranks": "driver (chunked exact)",
                "zero_shot": "driver", "probes": "driver"}
