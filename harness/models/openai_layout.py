"""OpenAI's CLIP state-dict layout (also open_clip's CLIP): recognise it and infer the architecture.

The inference follows open_clip's `build_model_from_openai_state_dict`, but returns the config as
data so it can be stored with a checkpoint. Attention heads cannot be read from weights: like OpenAI,
we take width // 64. OpenAI trained with QuickGELU, so inferred configs use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from harness.errors import CheckpointError

_REQUIRED = ("text_projection", "positional_embedding", "token_embedding.weight", "ln_final.weight")


def is_openai_layout(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return all(key in state_dict for key in _REQUIRED) and (
        "visual.proj" in state_dict or "visual.attnpool.positional_embedding" in state_dict
    )


def _count_blocks(state_dict: Mapping[str, torch.Tensor], prefix: str) -> int:
    return len({key[len(prefix) :].split(".")[0] for key in state_dict if key.startswith(prefix)})


def config_from_openai_state_dict(state_dict: Mapping[str, torch.Tensor], *, source: str) -> dict[str, Any]:
    """The open_clip model config of an OpenAI-layout state dict, read from tensor shapes."""
    if not is_openai_layout(state_dict):
        missing = [key for key in (*_REQUIRED, "visual.proj") if key not in state_dict]
        raise CheckpointError(
            f"{source}: not a CLIP state dict in OpenAI/open_clip layout (no {missing[0]!r}); "
            "for other open_clip architectures use the spec open_clip:<arch>/<file>"
        )
    try:
        if "visual.proj" in state_dict:
            conv = state_dict["visual.conv1.weight"]
            width, patch = int(conv.shape[0]), int(conv.shape[-1])
            grid = round((state_dict["visual.positional_embedding"].shape[0] - 1) ** 0.5)
            vision_cfg: dict[str, Any] = {
                "image_size": patch * grid,
                "patch_size": patch,
                "width": width,
                "layers": _count_blocks(state_dict, "visual.transformer.resblocks."),
            }
        else:
            layers = [_count_blocks(state_dict, f"visual.layer{b}.") for b in (1, 2, 3, 4)]
            out_width = round((state_dict["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
            vision_cfg = {
                "image_size": out_width * 32,
                "layers": layers,
                "width": int(state_dict["visual.layer1.0.conv1.weight"].shape[0]),
            }
        text_width = int(state_dict["ln_final.weight"].shape[0])
        text_cfg = {
            "context_length": int(state_dict["positional_embedding"].shape[0]),
            "vocab_size": int(state_dict["token_embedding.weight"].shape[0]),
            "width": text_width,
            "heads": max(1, text_width // 64),
            "layers": _count_blocks(state_dict, "transformer.resblocks."),
        }
        return {
            "embed_dim": int(state_dict["text_projection"].shape[1]),
            "quick_gelu": True,
            "vision_cfg": vision_cfg,
            "text_cfg": text_cfg,
        }
    except (KeyError, IndexError) as exc:
        raise CheckpointError(f"{source}: OpenAI-layout state dict lacks {exc}; the file is incomplete") from exc
