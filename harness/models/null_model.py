"""The null model: the same embedding for every cover and every title.

Every score ties, so every rank is the worst one and no metric can prefer it over a real model;
a gate that a null model passes is a gate that measures nothing. It has the default tiny
architecture's shapes (so it loads and reports like any model) but no weights of its own: it can be
evaluated and probed, not fine-tuned or interpolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from harness.models.clip_model import ClipModel


class NullModel(ClipModel):
    is_null = True

    def identity_parts(self) -> dict[str, Any]:
        return {**super().identity_parts(), "null": "constant"}  # never another model's cache entries

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
        return torch.ones(images.shape[0], self.embed_dim)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings, not one string")
        return torch.ones(len(texts), self.embed_dim)


def null_model(spec: str) -> NullModel:
    from harness.models.build import build_model
    from harness.models.clip_model import PreprocessConfig, image_size_of
    from harness.models.tiny import DEFAULT_TINY, get_tiny_config
    from harness.models.tokenizer import tokenizer_for

    config = get_tiny_config(DEFAULT_TINY)
    return NullModel(
        build_model(config, 0),
        config=config,
        spec=spec,
        tokenizer=tokenizer_for(config),
        preprocess_config=PreprocessConfig(image_size=image_size_of(config)),
        metadata={"source": "null", "null": "constant"},
    )
