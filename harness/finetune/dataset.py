"""Training items straight from the decoded-image cache: uint8 covers, token ids, group codes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class CoverBatches(torch.utils.data.Dataset):
    """Indexable view over the memory-mapped (N, S, S, 3) uint8 covers and pre-tokenised captions.

    Whole micro-batches are fetched at once (`__getitems__`), one fancy-index read of the
    cache; normalisation to floats happens on the training device.
    """

    def __init__(self, images: np.ndarray, tokens: torch.Tensor, groups: torch.Tensor) -> None:
        if not (len(images) == len(tokens) == len(groups)):
            raise ValueError(
                f"images ({len(images)}), tokens ({len(tokens)}) and groups ({len(groups)}) differ in length"
            )
        self.images, self.tokens, self.groups = images, tokens, groups

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.array(self.images[index])), self.tokens[index], self.groups[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        order = np.asarray(indices)
        return (
            torch.from_numpy(np.ascontiguousarray(self.images[order])),
            self.tokens[torch.from_numpy(order)],
            self.groups[torch.from_numpy(order)],
        )

    @staticmethod
    def collate(batch: Any) -> tuple[torch.Tensor, ...]:
        micro_batch: tuple[torch.Tensor, ...] = batch  # already whole: (images, tokens, groups)
        return micro_batch
