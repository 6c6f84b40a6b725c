"""Build open_clip models from a config dict, and load weights into them with errors that name the tensor."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from harness.errors import CheckpointError, ModelError

if TYPE_CHECKING:
    from open_clip.model import CLIP, CustomTextCLIP

# keys of an open_clip model config that the model class takes as constructor arguments
_MODEL_KWARGS = (
    "embed_dim",
    "vision_cfg",
    "text_cfg",
    "quick_gelu",
    "init_logit_scale",
    "init_logit_bias",
    "nonscalar_logit_scale",
)


def build_model(config: Mapping[str, Any], seed: int = 0) -> CLIP | CustomTextCLIP:
    """A randomly initialised open_clip model (CLIP, or CustomTextCLIP for custom text towers), in eval mode.

    The same config and seed give bit-identical weights; the caller's global RNG state is left untouched.
    """
    import open_clip

    cfg = copy.deepcopy(dict(config))
    if "embed_dim" not in cfg or "vision_cfg" not in cfg or "text_cfg" not in cfg:
        raise ModelError("model config needs 'embed_dim', 'vision_cfg' and 'text_cfg' (an open_clip model config)")
    custom_text = bool(cfg.get("custom_text")) or "hf_model_name" in cfg["text_cfg"]
    # weights come from our checkpoints, never from a tower's own pretrained download
    if "hf_model_name" in cfg["text_cfg"]:
        cfg["text_cfg"]["hf_model_pretrained"] = False
    if "timm_model_name" in cfg["vision_cfg"]:
        cfg["vision_cfg"]["timm_model_pretrained"] = False
    kwargs = {key: cfg[key] for key in _MODEL_KWARGS if key in cfg}
    if "multimodal_cfg" in cfg:
        raise ModelError("CoCa models (config with 'multimodal_cfg') are not supported; use a CLIP architecture")
    model_class = open_clip.model.CustomTextCLIP if custom_text else open_clip.model.CLIP
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = model_class(**kwargs)
        except Exception as exc:  # noqa: BLE001 - open_clip raises many types for a bad config
            raise ModelError(
                f"cannot build a model from this config ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}); check the architecture config"
            ) from None
    return model.eval()


# config keys that make open_clip fetch code or weights from outside (Hugging Face, timm)
_EXTERNAL_TOWER_KEYS = (
    ("text_cfg", "hf_model_name"),
    ("text_cfg", "hf_tokenizer_name"),
    ("vision_cfg", "timm_model_name"),
)


def check_config_against_shapes(
    config: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]], *, source: str
) -> None:
    """Before anything is allocated: the config builds (on the meta device, no memory) into exactly the
    tensors, by name and shape, that the file's header lists. A header that names a config far larger
    than its tensors (width=65536 over a tiny file) is refused here, not after allocating it."""
    if not isinstance(config, Mapping):
        raise CheckpointError(f"{source}: the model config is not an object; the checkpoint is damaged")
    for tower, key in _EXTERNAL_TOWER_KEYS:
        section = config.get(tower)
        if isinstance(section, Mapping) and section.get(key):
            raise CheckpointError(
                f"{source}: config {tower}.{key}={section[key]!r} needs a tower from outside "
                "(Hugging Face / timm), which checkpoint files may not name; use a CLIP "
                "transformer config"
            )
    with torch.device("meta"):
        module = build_model(config, 0)
    expected = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    extra_buffers = {name for name, _ in module.named_buffers()} - set(expected)
    given = {k: tuple(v) for k, v in shapes.items() if k not in _IGNORABLE_EXTRA and k not in extra_buffers}
    _check_names_and_shapes(expected, given, source)


def _check_names_and_shapes(
    expected: Mapping[str, tuple[int, ...]], given: Mapping[str, tuple[int, ...]], source: str
) -> None:
    missing = [name for name in expected if name not in given]
    unexpected = [name for name in given if name not in expected]
    mismatched = [name for name in expected if name in given and given[name] != expected[name]]
    summary = f"{len(mismatched)} wrong shape, {len(missing)} missing, {len(unexpected)} unexpected"
    # walk the architecture's own order so the first problem named is the first tensor that differs
    for name in expected:
        if name not in given:
            raise CheckpointError(
                f"{source}: tensor {name!r} is missing ({summary}); the file does not hold this architecture's weights"
            )
        if given[name] != expected[name]:
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {list(given[name])} but the architecture "
                f"expects {list(expected[name])} ({summary}); the checkpoint is for another "
                "configuration"
            )
    if unexpected:
        raise CheckpointError(
            f"{source}: unexpected tensor {unexpected[0]!r} ({summary}); the file holds a different architecture"
        )


# tensors that OpenAI's TorchScript archives carry beside the weights, and non-persistent buffers
_IGNORABLE_EXTRA = ("input_resolution", "context_length", "vocab_size")


def load_weights(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Copy `state_dict` into `module`, checking names and shapes first.

    Raises CheckpointError naming the first missing or mismatching tensor in the module's own order,
    else the first unexpected one.
    Values are cast to the module's dtype (OpenAI ships a partly float16 state dict).
    """
    expected = module.state_dict()
    extra_buffers = {name for name, _ in module.named_buffers()} - set(expected)  # non-persistent (attn_mask)
    given = {k: v for k, v in state_dict.items() if k not in _IGNORABLE_EXTRA and k not in extra_buffers}
    missing = [name for name in expected if name not in given]
    unexpected = [name for name in given if name not in expected]
    mismatched = [
        name for name in expected if name in given and tuple(given[name].shape) != tuple(expected[name].shape)
    ]
    summary = f"{len(mismatched)} wrong shape, {len(missing)} missing, {len(unexpected)} unexpected"
    # walk the architecture's own order so the first problem named is the first tensor that differs
    for name in expected:
        if name not in given:
            raise CheckpointError(
                f"{source}: tensor {name!r} is missing ({summary}); the file does not hold this architecture's weights"
            )
        want, got = tuple(expected[name].shape), tuple(given[name].shape)
        if want != got:
            raise CheckpointError(
                f"{source}: tensor {name!r} has shape {list(got)} but the architecture "
                f"expects {list(want)} ({summary}); the checkpoint is for another configuration"
            )
        if expected[name].is_floating_point() and not given[name].is_floating_point():
            raise CheckpointError(
                f"{source}: tensor {name!r} has dtype {given[name].dtype}, "
                "expected floating point; the file is not this model's weights"
            )
    if unexpected:
        raise CheckpointError(
            f"{source}: unexpected tensor {unexpected[0]!r} ({summary}); the file holds a different architecture"
        )
    with torch.no_grad():
        module.load_state_dict(given, strict=True)
