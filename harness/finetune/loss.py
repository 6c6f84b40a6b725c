"""Symmetric contrastive (InfoNCE) loss over features gathered from every rank.

Each rank computes the full global loss; gradients flow only through its own slice of the
gathered features (as open_clip's ClipLoss with `gather_with_grad=False`). That slice's
gradient is scaled by the world size, so DDP's gradient average equals the gradient of the
global loss: N processes with batch B/N train exactly like one process with batch B.

Editions of the same book (same group id) inside a batch are not negatives: their
off-diagonal pairs are removed from the softmax denominators. Negative group ids mark rows
captioned with their category's zero-shot prompt (FinetuneConfig.category_prompt_fraction), one
id per category: such rows are contrasted only with each other (a cover against the other
categories' prompts, a prompt against the other categories' covers), never with title rows, so
the batch holds two problems: the titles' retrieval as before, and zero-shot category.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; multiplies the incoming gradient by `factor`."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor  # type: ignore[attr-defined]
        return x.view_as(x)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None  # type: ignore[attr-defined]


def gather_with_local_grad(tensor: torch.Tensor, *, grad_factor: float = 1.0) -> torch.Tensor:
    """Concatenate `tensor` from every rank (rank order); only the local slice keeps a gradient,
    multiplied by `grad_factor`."""
    world = world_size()
    if world == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world)]
    dist.all_gather(parts, tensor.detach().contiguous())
    local = _ScaleGrad.apply(tensor, grad_factor) if tensor.requires_grad and grad_factor != 1.0 else tensor
    parts[dist.get_rank()] = local
    return torch.cat(parts, dim=0)


def same_group_mask(group_ids: torch.Tensor) -> torch.Tensor:
    """Bool (N, N): True where two different items are not to be used as negatives: they share a group,
    or one is a category-prompt row (negative group id) and the other is not."""
    same = group_ids[:, None] == group_ids[None, :]
    prompt = group_ids < 0
    same |= prompt[:, None] != prompt[None, :]
    return same & ~torch.eye(len(group_ids), dtype=torch.bool, device=group_ids.device)


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor, group_ids: torch.Tensor
) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy; row i's positive is column i.

    `image_features` and `text_features` are L2-normalised (N, d); `logit_scale` is the
    already-exponentiated temperature; `group_ids` (N,) integer codes.
    """
    logits = logit_scale * image_features @ text_features.T
    logits = logits.masked_fill(same_group_mask(group_ids), float("-inf"))
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def distributed_contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor, group_ids: torch.Tensor
) -> torch.Tensor:
    """The global contrastive loss over all ranks' batches (identical value on every rank).

    Its backward under DDP's gradient averaging gives the exact gradient of the global loss:
    local feature gradients count `world` times (each rank sees only its own slice), the
    replicated `logit_scale` once.
    """
    world = world_size()
    return contrastive_loss(
        gather_with_local_grad(image_features, grad_factor=world),
        gather_with_local_grad(text_features, grad_factor=world),
        logit_scale,
        gather_with_local_grad(group_ids),
    )
