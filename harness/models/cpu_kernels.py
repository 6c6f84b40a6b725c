"""oneDNN matrix products for a model's linear and attention layers on CPU (float32, same numbers).

PyTorch's CPU `F.linear` goes to MKL's sgemm. On AMD EPYC, MKL dispatches to its AVX2 code path
(about 65-100 GFLOP/s a core here), while oneDNN's JIT kernels, also inside PyTorch, use AVX-512 and
run the same float32 products 2-2.5x faster. `onednn_kernels(module)` routes every `nn.Linear` and
every self-attention `nn.MultiheadAttention` of a module through oneDNN for the duration of a
`with` block, forward and backward, and restores the module's own forwards afterwards. Weights are
not copied or changed, so the model's fingerprint and state dict are untouched; the products are
still float32 with float32 accumulation (differences of the order of float32 rounding).

Anything the replacement does not cover (another dtype or device, boolean masks, key padding masks,
cross-attention, `need_weights=True`) runs the module's own forward. Set BOOKCLIP_CPU_MATMUL=default
to turn the routing off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

from harness.settings import switched_off

ENV_SWITCH = "BOOKCLIP_CPU_MATMUL"
_MARK = "_bookclip_onednn"


def onednn_available() -> bool:
    """True when this PyTorch build has oneDNN's float32 linear kernel and the switch is not off."""
    if switched_off(ENV_SWITCH, "mkl"):
        return False
    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _mm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    # x (..., K) @ weight (N, K)^T + bias (N), float32 on oneDNN
    out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return out


class _Linear(torch.autograd.Function):
    """F.linear with oneDNN products in forward and backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _mm(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        grad2 = grad.reshape(-1, grad.shape[-1])
        if ctx.needs_input_grad[0]:
            grad_x = _mm(grad, weight.t().contiguous(), None)
        if ctx.needs_input_grad[1]:
            # (N, M) x (K, M)^T: the products' shared dimension is the batch, as views, no copies
            grad_w = _mm(grad2.t(), x.reshape(-1, x.shape[-1]).t(), None)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad2.sum(0)
        return grad_x, grad_w, grad_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear, on oneDNN for float32 CPU tensors (with autograd), else PyTorch's own."""
    if (
        x.device.type != "cpu"
        or x.dtype != torch.float32
        or weight.dtype != torch.float32
        or x.dim() < 2
        or x.shape[-1] == 0
        or x.numel() == 0
        or (bias is not None and bias.dtype != torch.float32)
    ):
        return F.linear(x, weight, bias)
    if torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    ):
        out: torch.Tensor = _Linear.apply(x, weight, bias)
        return out
    return _mm(x, weight, bias)


def _linear_forward(module: torch.nn.Linear) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(x: torch.Tensor) -> torch.Tensor:
        return linear(x, module.weight, module.bias)

    return forward


def _attention_forward(module: torch.nn.MultiheadAttention) -> Callable[..., tuple[torch.Tensor, torch.Tensor | None]]:
    """Self-attention as nn.MultiheadAttention computes it (packed in-projection, SDPA, out-projection)."""
    own: Callable[..., tuple[torch.Tensor, torch.Tensor | None]] = type(module).forward.__get__(module)

    def forward(
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        supported = (
            not need_weights
            and key_padding_mask is None
            and not is_causal
            and query is key
            and key is value
            and query.dim() == 3
            and module.batch_first
            and module._qkv_same_embed_dim
            and module.in_proj_weight is not None
            and module.bias_k is None
            and module.bias_v is None
            and not module.add_zero_attn
            and (attn_mask is None or (attn_mask.is_floating_point() and attn_mask.dim() == 2))
        )
        if not supported:
            return own(
                query,
                key,
                value,
                key_padding_mask=key_padding_mask,
                need_weights=need_weights,
                attn_mask=attn_mask,
                average_attn_weights=average_attn_weights,
                is_causal=is_causal,
            )
        batch, length, width = query.shape
        heads = module.num_heads
        qkv = linear(query, module.in_proj_weight, module.in_proj_bias)
        q, k, v = qkv.view(batch, length, 3, heads, width // heads).permute(2, 0, 3, 1, 4).unbind(0)
        dropout = module.dropout if module.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        out = out.transpose(1, 2).reshape(batch, length, width)
        return linear(out, module.out_proj.weight, module.out_proj.bias), None

    return forward


@contextlib.contextmanager
def onednn_kernels(module: torch.nn.Module, *, enabled: bool = True) -> Iterator[bool]:
    """Inside the block, `module`'s linear and self-attention layers multiply on oneDNN (see the module
    docstring). Yields whether the routing is on; a module already inside such a block is left as it is."""
    on = (
        enabled
        and onednn_available()
        and not getattr(module, _MARK, False)
        and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in module.parameters())
    )
    if not on:
        yield False
        return
    patched: list[torch.nn.Module] = []
    try:
        setattr(module, _MARK, True)
        for sub in module.modules():
            if "forward" in vars(sub):  # someone else's instance-level forward: leave it alone
                continue
            if isinstance(sub, torch.nn.Linear) and type(sub).forward is torch.nn.Linear.forward:
                sub.forward = _linear_forward(sub)  # type: ignore[method-assign,assignment]  # per instance; deleted below
            elif (
                isinstance(sub, torch.nn.MultiheadAttention)
                and type(sub).forward is torch.nn.MultiheadAttention.forward
            ):
                sub.forward = _attention_forward(sub)  # type: ignore[method-assign]  # per instance; deleted below
            else:
                continue
            patched.append(sub)
        yield True
    finally:
        for sub in patched:
            del sub.forward
        with contextlib.suppress(AttributeError):
            delattr(module, _MARK)
