"""normalise on the decoded-image cache gives the floats of the model's own PIL preprocess."""

from __future__ import annotations

import torch

from harness.evaluate.pixels import channel_stats, normalise


def test_the_model_preprocess_and_the_cache_path_give_the_same_floats(real_bookcovers) -> None:
    from harness.data import load_catalogue
    from harness.data.image_cache import cover_pixels
    from harness.models import load

    model = load("tiny:vit-xs")
    catalogue, _ = load_catalogue(real_bookcovers)
    m, s = channel_stats(model.mean, model.std)
    for i in range(0, len(catalogue), 700):
        ours = normalise(torch.from_numpy(cover_pixels(catalogue, i, model.image_size).copy())[None], m, s)[0]
        assert torch.equal(ours, model.preprocess(catalogue.open_image(i)))
