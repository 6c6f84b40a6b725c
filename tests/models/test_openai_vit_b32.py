"""ViT-B/32 at full size with random weights (no download), in the layouts real checkpoints come in."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
import torch

from harness.models import build_model, fingerprint_state_dict, load

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vit_b32_openai_state_dict() -> dict[str, torch.Tensor]:
    """A random ViT-B/32 state dict as OpenAI ships one: matrices in float16, the rest float32."""
    import open_clip

    config = open_clip.get_model_config("ViT-B-32")
    config["quick_gelu"] = True
    module = build_model(config, 11)
    open_clip.model.convert_weights_to_lp(module, torch.float16)
    state_dict = {k: v.clone() for k, v in module.state_dict().items()}
    del module
    gc.collect()
    return state_dict


def test_write_up_and_openai_layouts_load_with_the_same_fingerprint(
    vit_b32_openai_state_dict: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    as_fp32 = {k: v.float() for k, v in vit_b32_openai_state_dict.items()}
    expected = fingerprint_state_dict(as_fp32)
    assert any(v.dtype == torch.float16 for v in vit_b32_openai_state_dict.values())

    write_up = tmp_path / "clip_finetuned.pt"  # ~600 MB: one file on disk at a time
    torch.save(
        {
            "epoch": 9,
            "model_state_dict": as_fp32,
            "optimizer_state_dict": {"state": {}, "param_groups": [{"lr": 5e-6}]},
            "loss": 1.5,
        },
        write_up,
    )
    del as_fp32
    from_write_up = load(str(write_up))
    write_up.unlink()
    fingerprint_write_up = from_write_up.fingerprint
    config = from_write_up.config
    image = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    reference_vector = from_write_up.encode_images(image)
    del from_write_up
    gc.collect()

    openai_file = tmp_path / "ViT-B-32.pt"
    torch.save(vit_b32_openai_state_dict, openai_file)
    from_openai = load(str(openai_file))
    openai_file.unlink()

    assert fingerprint_write_up == from_openai.fingerprint == expected
    assert config == from_openai.config
    assert config["embed_dim"] == 512 and config["quick_gelu"] is True
    assert config["vision_cfg"] == {"image_size": 224, "patch_size": 32, "width": 768, "layers": 12}
    assert config["text_cfg"] == {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}
    assert from_openai.image_size == 224 and from_openai.context_length == 77
    assert torch.equal(from_openai.encode_images(image), reference_vector)
    assert from_openai.encode_texts(["The Power of Now"]).shape == (1, 512)
