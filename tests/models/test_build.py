from __future__ import annotations

import pytest
import torch

from harness.errors import CheckpointError, ModelError
from harness.models import build_model, fingerprint_state_dict, get_tiny_config, load_weights


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    config = get_tiny_config("vit-xs")
    a, b, c = build_model(config, 0), build_model(config, 0), build_model(config, 1)
    fa, fb, fc = (fingerprint_state_dict(m.state_dict()) for m in (a, b, c))
    assert fa == fb
    assert fa != fc


def test_caller_rng_state_is_untouched() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(get_tiny_config("vit-xs"), 7)
    assert torch.equal(torch.rand(3), expected)


def test_built_model_is_in_eval_mode() -> None:
    assert not build_model(get_tiny_config("vit-xs"), 0).training


def test_config_without_towers_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="embed_dim"):
        build_model({"embed_dim": 8}, 0)


def test_load_weights_copies_values() -> None:
    config = get_tiny_config("vit-xs")
    source, target = build_model(config, 1), build_model(config, 2)
    load_weights(target, source.state_dict(), source="test")
    assert fingerprint_state_dict(target.state_dict()) == fingerprint_state_dict(source.state_dict())


def test_wrong_shape_names_the_first_mismatching_tensor() -> None:
    small = build_model(get_tiny_config("vit-xs"), 0)
    other = build_model(get_tiny_config("vit-s"), 0)
    with pytest.raises(CheckpointError) as info:
        load_weights(small, other.state_dict(), source="other.safetensors")
    message = str(info.value)
    assert "\n" not in message and "other.safetensors" in message
    theirs = other.state_dict()
    first = next(k for k, v in small.state_dict().items() if k not in theirs or theirs[k].shape != v.shape)
    assert f"tensor {first!r}" in message


def test_single_wrong_shape_is_named_with_both_shapes() -> None:
    model = build_model(get_tiny_config("vit-xs"), 0)
    sd = dict(model.state_dict())
    sd["text_projection"] = torch.zeros(64, 65)
    with pytest.raises(CheckpointError, match=r"'text_projection' has shape \[64, 65\].*expects \[64, 64\]"):
        load_weights(model, sd, source="x")


def test_missing_and_unexpected_tensors_are_named() -> None:
    model = build_model(get_tiny_config("vit-xs"), 0)
    sd = dict(model.state_dict())
    del sd["ln_final.bias"]
    with pytest.raises(CheckpointError, match="'ln_final.bias' is missing"):
        load_weights(model, sd, source="x")
    sd = {**model.state_dict(), "extra.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match="unexpected tensor 'extra.weight'"):
        load_weights(model, sd, source="x")
