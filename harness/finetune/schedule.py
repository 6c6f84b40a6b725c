"""Optimiser parameter groups and the learning-rate schedule (linear warm-up, then cosine)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

# parameters that are not weight matrices: no weight decay (as in CLIP / open_clip training)
_NO_DECAY_NAMES = ("logit_scale", "logit_bias", "embedding", "class_embedding", "positional_embedding")


def decays(name: str, param: torch.Tensor) -> bool:
    """True for weight matrices; False for gains, biases, logit_scale and embeddings."""
    if param.ndim < 2 or name.endswith(".bias"):
        return False
    return not any(key in name for key in _NO_DECAY_NAMES)


def param_groups(module: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups over trainable parameters, in a stable order: decayed, then not."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in module.named_parameters():
        if param.requires_grad:
            (decay if decays(name, param) else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """LR multiplier for step s (0-based): linear ramp to 1 over warm-up, cosine to `min_ratio` at the end."""
    warmup = min(warmup_steps, max(total_steps - 1, 0))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        span = max(total_steps - warmup, 1)
        progress = min((step - warmup) / span, 1.0)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor
