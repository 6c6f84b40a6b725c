"""Item 1: the embedding cache is keyed by the model's identity, not by its weights alone.

Two checkpoints with the same weights but another architecture config (quick_gelu, the text
tower's pool_type) or another preprocessing must never share cache entries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.data import load_catalogue
from harness.evaluate.embed import embed, embed_with_stats
from harness.models import load, save_checkpoint


@pytest.fixture
def same_weights(tmp_path: Path):
    """Three checkpoints of tiny:vit-xs@3's weights: as built, with quick_gelu, with pool_type=last."""
    model = load("tiny:vit-xs@3")
    paths = {}
    for name, change in (
        ("plain", {}),
        ("quick_gelu", {"quick_gelu": True}),
        ("pool_last", {"text_cfg": {**model.config["text_cfg"], "pool_type": "last"}}),
    ):
        config = {**model.config, **change}
        paths[name] = tmp_path / f"{name}.safetensors"
        save_checkpoint(paths[name], model.state_dict(), config=config)
    return {name: load(str(p)) for name, p in paths.items()}


def test_same_weights_other_config_have_one_fingerprint_and_distinct_identities(same_weights) -> None:
    fingerprints = {m.fingerprint for m in same_weights.values()}
    identities = {m.identity for m in same_weights.values()}
    assert len(fingerprints) == 1  # provenance still names the weights
    assert len(identities) == 3


def test_cached_embeddings_follow_the_architecture_not_the_weights(same_weights, catalogue_dir, fresh_cache) -> None:
    catalogue, _ = load_catalogue(catalogue_dir(8))
    uncached = {name: embed(m, catalogue, cache=False) for name, m in same_weights.items()}
    # the configs really change the numbers (else this test proves nothing)
    assert not np.allclose(uncached["plain"].images, uncached["quick_gelu"].images, atol=1e-4)
    assert not np.allclose(uncached["plain"].texts, uncached["pool_last"].texts, atol=1e-4)
    for name, model in same_weights.items():  # fill the cache in turn, each must be its own entry
        emb, stats = embed_with_stats(model, catalogue)
        assert stats.images != "hit" and stats.texts != "hit", (name, stats)
        np.testing.assert_allclose(emb.images, uncached[name].images, atol=1e-5)
        np.testing.assert_allclose(emb.texts, uncached[name].texts, atol=1e-5)
    for name, model in same_weights.items():  # second round: served from the cache, still its own numbers
        emb, stats = embed_with_stats(model, catalogue)
        assert (stats.images, stats.texts) == ("hit", "hit")
        np.testing.assert_allclose(emb.images, uncached[name].images, atol=1e-5)


def test_other_preprocessing_or_context_length_is_another_identity(tmp_path: Path) -> None:
    model = load("tiny:vit-xs@3")
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(a, model.state_dict(), config=model.config)
    save_checkpoint(
        b,
        model.state_dict(),
        config=model.config,
        metadata={"preprocess": {"image_size": 64, "interpolation": "bilinear"}},
    )
    assert load(str(a)).identity != load(str(b)).identity
    assert load(str(a)).identity == load(str(a)).identity  # stable across loads
    tokenizer_parts = load(str(a)).identity_parts()["tokenizer"]
    assert tokenizer_parts["kind"] == "clip-bpe" and tokenizer_parts["context_length"] == 32


def test_identity_follows_weight_updates() -> None:
    import torch

    model = load("tiny:vit-xs@3")
    before = model.identity
    with torch.no_grad():
        next(model.module.parameters()).add_(1.0)
    assert model.identity != before
