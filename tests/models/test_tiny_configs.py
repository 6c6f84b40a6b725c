from __future__ import annotations

import pytest

from harness.errors import ModelError
from harness.models import DEFAULT_TINY, build_model, get_tiny_config, list_tiny


def test_registry_has_at_least_two_configs_including_the_default() -> None:
    names = list_tiny()
    assert len(names) >= 2
    assert DEFAULT_TINY in names
    assert names == sorted(names)


@pytest.mark.parametrize("name", list_tiny())
def test_each_config_is_a_small_vit_with_clip_bpe_and_short_context(name: str) -> None:
    config = get_tiny_config(name)
    vision, text = config["vision_cfg"], config["text_cfg"]
    assert vision["image_size"] == 64 and vision["patch_size"] == 8
    assert text["vocab_size"] == 49408 and text["context_length"] == 32
    assert text["width"] == 64  # keeps the 49408-row token embedding small
    model = build_model(config, 0)
    assert model.token_embedding.weight.shape == (49408, 64)
    assert model.visual.conv1.weight.shape[-1] == 8


def test_default_config_checkpoint_fits_16_mb() -> None:
    model = build_model(get_tiny_config(DEFAULT_TINY), 0)
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert size <= 16 * 1024 * 1024


def test_get_tiny_config_returns_an_independent_copy() -> None:
    first = get_tiny_config(DEFAULT_TINY)
    first["vision_cfg"]["width"] = 1
    assert get_tiny_config(DEFAULT_TINY)["vision_cfg"]["width"] != 1


def test_unknown_name_is_a_one_line_model_error_listing_names() -> None:
    with pytest.raises(ModelError) as info:
        get_tiny_config("vit-huge")
    message = str(info.value)
    assert "\n" not in message and "vit-huge" in message
    assert all(name in message for name in list_tiny())
