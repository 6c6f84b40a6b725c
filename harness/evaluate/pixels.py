"""From decoded cover pixels to model input: the one normalisation evaluation and training share."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def channel_stats(
    mean: Sequence[float],
    std: Sequence[float],
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's per-channel mean and std, shaped to broadcast over an NCHW batch."""
    return (
        torch.tensor(list(mean), dtype=torch.float32, device=device).view(1, 3, 1, 1),
        torch.tensor(list(std), dtype=torch.float32, device=device).view(1, 3, 1, 1),
    )


def normalise(pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC covers (the decoded-image cache) to the float NCHW input a CLIP model expects:
    what ToTensor + Normalize do after the model's resize and crop."""
    x = pixels.permute(0, 3, 1, 2).float().div_(255.0)
    return x.sub_(mean).div_(std)
