from __future__ import annotations

import pytest
import torch
from PIL import Image

from harness.models import list_tiny, load


def _encode(spec: str, covers: list[tuple[str, Image.Image]]) -> tuple[torch.Tensor, torch.Tensor, int]:
    model = load(spec)
    images = torch.stack([model.preprocess(image) for _, image in covers])
    return model.encode_images(images), model.encode_texts([title for title, _ in covers]), model.embed_dim


@pytest.mark.parametrize("name", list_tiny())
def test_each_tiny_config_encodes_real_covers_and_titles(name: str, real_covers) -> None:
    image_vectors, text_vectors, width = _encode(f"tiny:{name}", real_covers)
    for vectors in (image_vectors, text_vectors):
        assert vectors.shape == (3, width) and vectors.dtype == torch.float32
        assert torch.isfinite(vectors).all()
        norms = vectors.norm(dim=-1)
        assert (norms > 1e-6).all()  # unit-normalisable
        assert torch.allclose((vectors / norms[:, None]).norm(dim=-1), torch.ones(3))
    assert not torch.allclose(image_vectors[0], image_vectors[1])  # different covers, different vectors
    again_images, again_texts, _ = _encode(f"tiny:{name}", real_covers)
    assert torch.equal(image_vectors, again_images) and torch.equal(text_vectors, again_texts)
    other_images, _, _ = _encode(f"tiny:{name}@1", real_covers)
    assert not torch.allclose(image_vectors, other_images)


def test_preprocess_turns_greyscale_and_rgb_covers_into_model_input(real_covers) -> None:
    model = load("tiny:vit-xs")
    modes = {image.mode for _, image in real_covers}
    assert modes == {"RGB", "L"}
    for _, image in real_covers:
        tensor = model.preprocess(image)
        assert tensor.shape == (3, model.image_size, model.image_size) == (3, 64, 64)
    assert model.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))


def test_long_titles_are_truncated_and_counted() -> None:
    model = load("tiny:vit-xs")
    long_title = " ".join(["spirituality"] * 40)
    tokens, truncated = model.tokenizer.tokenize(["The Power of Now", long_title])
    assert truncated == 1 and tokens.shape == (2, model.context_length) == (2, 32)
    assert tokens[1, -1].item() == model.tokenizer.inner.eot_token_id  # pooling token kept
    assert model.truncated_texts == 0
    model.encode_texts(["The Power of Now", long_title, long_title])
    assert model.truncated_texts == 2
    assert torch.equal(model.tokenizer(["The Power of Now"]), tokens[:1])


def test_encoding_is_gradient_free_in_eval_and_tracks_gradients_in_train() -> None:
    model = load("tiny:vit-xs")
    images = torch.randn(2, 3, 64, 64)
    assert not model.encode_images(images).requires_grad
    model.module.train()
    assert model.encode_images(images).requires_grad
    assert model.encode_texts(["a", "b"]).requires_grad


def test_bad_input_shapes_are_refused() -> None:
    model = load("tiny:vit-xs")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model.encode_images(torch.zeros(3, 64, 64))
    with pytest.raises(TypeError):
        model.encode_texts("one title")  # type: ignore[arg-type]


def test_fingerprint_follows_in_place_edits_and_replacements():
    from harness.models import fingerprint_state_dict, load

    model = load("tiny:vit-xs")
    loaded = model.fingerprint
    assert loaded == fingerprint_state_dict(model.state_dict())
    with torch.no_grad():
        model.module.logit_scale.add_(0.5)
    edited = model.fingerprint
    assert edited != loaded and edited == fingerprint_state_dict(model.state_dict())
    original = load("tiny:vit-xs").state_dict()
    model.module.load_state_dict(original)  # copies in place: back to the loaded weights
    assert model.fingerprint == loaded
    model.module.logit_scale.data.add_(1.0)  # .data bypasses the version counters ...
    assert model.fingerprint == loaded
    assert model.refresh_fingerprint() != loaded  # ... which refresh_fingerprint() is for
